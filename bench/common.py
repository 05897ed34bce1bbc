"""Shared by every benchmark: timing statistics, Markdown tables, fresh databases, progress."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from engine import Actor, Engine, Settings

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
"""Where the PostgreSQL benchmarks create (and drop) their own databases."""

ADMIN = Actor("bench", roles=("admin",))
SECRETARIAT = Actor("sam", roles=("secretariat",))
COUNTRY = Actor("nima", roles=("country",), country="NPL")


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its descendants (live ones, and the children each
    has reaped), from /proc: for `pathfinder serve`, granian's main process, its worker
    processes and their script sandboxes (whichever thread started them)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pending, seen = [pid], set()
    while pending:
        p = pending.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            tasks = list(Path(f"/proc/{p}/task").iterdir())
        except OSError:
            continue
        # utime, stime, cutime, cstime (fields 14-17; index from after the name)
        total += sum(int(x) for x in fields[11:15]) / tick
        for task in tasks:
            try:
                pending += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return total


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass
class Stats:
    """Summary of a list of samples (milliseconds unless said otherwise)."""

    n: int
    median: float
    p95: float
    p99: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        med = statistics.median(samples) if samples else float("nan")
        return cls(len(samples), med, percentile(samples, 95), percentile(samples, 99))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Run `fn`; return (elapsed milliseconds, its result)."""
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1000, result


def fmt(value: float | int | str | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return f"{value:,}"
    if value != value:  # NaN
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def met(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "**missed**")


@dataclass
class Table:
    """One benchmark's result: a title, a note, a Markdown table."""

    id: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, *cells: Any) -> None:
        self.rows.append([fmt(c) if not isinstance(c, str) else c for c in cells])

    def note(self, text: str) -> None:
        self.notes.append(text)

    def markdown(self) -> str:
        lines = [f"### {self.id}: {self.title}", ""]
        if self.rows:
            lines.append("| " + " | ".join(self.columns) + " |")
            lines.append("|" + "---|" * len(self.columns))
            lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in self.rows]
            lines.append("")
        lines += [f"- {n}" for n in self.notes]
        lines.append(f"- ran in {self.seconds:.1f} s")
        return "\n".join(lines) + "\n"


def progress(label: str, done: int, total: int, width: int = 30) -> None:
    """A one-line progress bar on stderr (no dependency)."""
    if not sys.stderr.isatty() and done not in (0, total) and done % max(1, total // 10):
        return
    filled = int(width * done / max(total, 1))
    end = "\n" if done >= total else ""
    sys.stderr.write(
        f"\r  {label:<28} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}{end}"
    )
    sys.stderr.flush()


@contextmanager
def workdir() -> Iterator[Path]:
    """A temporary folder for SQLite files, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="pf-bench-") as tmp:
        yield Path(tmp)


def sqlite_engine(folder: Path, name: str = "bench", **settings: Any) -> Engine:
    """An engine on a fresh, migrated SQLite file with the system clock."""
    return Engine.for_tests(folder / f"{name}.db", **settings)


def pg_available() -> bool:
    try:
        eng = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return False


def pg_version() -> str:
    eng = create_engine(PG_ADMIN_URL)
    with eng.connect() as conn:
        version = str(conn.execute(text("show server_version")).scalar())
    eng.dispose()
    return version


def fresh_pg_database(name: str) -> str:
    """Drop and re-create database `name` and migrate it; return its URL."""
    from engine.store.migrate import upgrade

    url = make_url(PG_ADMIN_URL)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    target = url.set(database=name).render_as_string(hide_password=False)
    upgrade(target)
    return target


def drop_pg_database(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def pg_engine(name: str, **settings: Any) -> Engine:
    """An engine on a fresh, migrated PostgreSQL database `name`."""
    return Engine.from_settings(Settings(database_url=fresh_pg_database(name), **settings))


def deploy(engine: Engine, *names: str) -> None:
    """Deploy the named models of `bench.processes` (e.g. "FIVE")."""
    from bench import processes

    engine.deploy({f"{n.lower()}.bpmn": getattr(processes, n) for n in names}, {}, actor="bench")


def complete_all(engine: Engine, instance_id: int, actor: Actor = ADMIN) -> list[float]:
    """Complete the instance's ready tasks until none is left; return each step's milliseconds."""
    steps = []
    while True:
        ready = engine.ready_tasks(instance_id)
        if not ready:
            return steps
        ms, _ = timed(lambda t=ready[0]: engine.complete(t.id, {}, actor))
        steps.append(ms)
