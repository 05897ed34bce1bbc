"""B4 (timer lateness), B6 (scale-out on PostgreSQL) and B7 (worker memory).

Waiting instances are made by starting one instance through the engine and cloning its rows in
bulk (its stored state with the due time rewritten, and its timer job), so 10,000 of them take
seconds, not minutes. Audit chains of clones start at the first event the worker writes.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from bench.common import (
    ADMIN,
    Stats,
    Table,
    deploy,
    drop_pg_database,
    fresh_pg_database,
    met,
    pg_available,
    progress,
    sqlite_engine,
    workdir,
)
from engine import Engine, Settings
from engine.runtime.worker import Worker
from engine.store.models import AuditEvent, Instance, TimerJob

MARK = "2099-01-01T00:00:00+00:00"


def make_waiting(engine: Engine, dues: list[datetime], chunk: int = 1000) -> None:
    """`len(dues)` TIMED instances waiting for their timer, due at `dues`."""
    clone_waiting(engine, waiting_template(engine), dues, chunk)


@dataclass(frozen=True)
class Template:
    """A started TIMED instance whose rows `clone_waiting` copies."""

    columns: dict[str, Any]
    state: str
    task_id: str


def waiting_template(engine: Engine) -> Template:
    """Deploy TIMED and start the instance `clone_waiting` copies (its timer never fires).

    Deploying and starting take seconds (the script sandbox starts), so a caller that wants
    timers due at a given time from now picks that time after this, not before."""
    deploy(engine, "TIMED")
    template = engine.start("timed", {"due": MARK}, ADMIN)
    with engine.session() as s:
        row = s.get_one(Instance, template.id)
        job = s.execute(select(TimerJob).where(TimerJob.instance_id == row.id)).scalar_one()
        base = {c: getattr(row, c) for c in ("process_version_id", "process_key", "status")}
        state, task_id = row.state, job.task_id
    assert MARK in state
    with engine.sessions.begin() as s:  # the template itself never fires
        s.execute(TimerJob.__table__.delete().where(TimerJob.instance_id == template.id))
    return Template(base, state, task_id)


def clone_waiting(
    engine: Engine,
    template: Template,
    dues: list[datetime],
    chunk: int = 1000,
) -> None:
    """Copies of the template instance, waiting for their timer due at `dues` (past or future)."""
    base, state, task_id = template.columns, template.state, template.task_id
    now = datetime.now(UTC)
    with engine.sessions.begin() as s:
        next_id = int(s.execute(select(func.max(Instance.id))).scalar() or 0) + 1
    for start in range(0, len(dues), chunk):
        part = dues[start : start + chunk]
        ids = range(next_id + start, next_id + start + len(part))
        with engine.sessions.begin() as s:
            s.execute(
                insert(Instance),
                [
                    {
                        **base,
                        "id": i,
                        "data": {"due": due.isoformat()},
                        "state": state.replace(MARK, due.isoformat()),
                        "started_by": "bench",
                        "created_at": now,
                        "updated_at": now,
                        "audit_count": 0,
                        "lock_version": 1,
                    }
                    for i, due in zip(ids, part, strict=True)
                ],
            )
            s.execute(
                insert(TimerJob),
                [
                    {
                        "instance_id": i,
                        "task_id": task_id,
                        "element_id": "wait",
                        "kind": "TimerEventDefinition",
                        "due_at": due,
                        "state": "waiting",
                        "attempts": 0,
                    }
                    for i, due in zip(ids, part, strict=True)
                ],
            )
        progress("waiting instances", start + len(part), len(dues))


def fired_count(engine: Engine) -> int:
    """How many `timer_fired` events there are (a cheap poll: the worker shares this process)."""
    with engine.session() as s:
        return int(
            s.execute(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.kind == "timer_fired")
            ).scalar_one()
        )


def fired_events(engine: Engine) -> list[tuple[int, datetime, str]]:
    with engine.session() as s:
        rows = s.execute(
            select(AuditEvent.instance_id, AuditEvent.at, AuditEvent.data).where(
                AuditEvent.kind == "timer_fired"
            )
        ).all()
    return [(r[0], r[1], r[2]["due_at"]) for r in rows]


def b4(quick: bool) -> Table:
    n, spread = (300, 10) if quick else (10_000, 60)
    table = Table(
        "B4",
        f"{n:,} waiting timers due over {spread} s, one worker thread (SQLite)",
        ["measure", "median", "p95", "p99", "max", "target"],
    )
    with workdir() as folder:
        engine = sqlite_engine(folder)
        template = waiting_template(engine)
        # The first timer falls due once the clones are written (a few thousand a second), so
        # lateness measures the worker, not the set-up; a slow set-up is reported below.
        t0 = datetime.now(UTC) + timedelta(seconds=3 + n / 1000)
        dues = [t0 + timedelta(seconds=spread * i / n) for i in range(n)]
        clone_waiting(engine, template, dues)
        ready_at = datetime.now(UTC)
        early = sum(1 for due in dues if due < ready_at)
        worker = Worker(engine, max_sleep=0.05, name="b4")
        thread = threading.Thread(target=worker.run_forever, daemon=True)
        process0, main0 = time.process_time(), time.thread_time()
        thread.start()
        deadline = time.monotonic() + 5 + spread + 120
        while time.monotonic() < deadline:
            done = fired_count(engine)
            progress("B4 timers fired", done, n)
            if done >= n:
                break
            time.sleep(1)
        worker.stop()
        thread.join(10)
        # CPU of the worker thread: the process's, less this (polling) thread's.
        worker_cpu = (time.process_time() - process0) - (time.thread_time() - main0)
        events = fired_events(engine)
        drained, drain_seconds, drain_cpu = drain(engine, template, 300 if quick else 3000)
    late = [
        (at.replace(tzinfo=UTC) - datetime.fromisoformat(due)).total_seconds()
        for _, at, due in events
    ]
    st = Stats.of(late)
    table.add(
        "lateness after due time (s)",
        st.median,
        st.p95,
        st.p99,
        max(late) if late else float("nan"),
        f"p99 ≤ 1 s: {met(st.p99 <= 1.0 if late else False)}",
    )
    rate = drained / drain_seconds
    table.add(
        f"one worker firing {drained:,} due timers (firings/s)",
        rate,
        "-",
        "-",
        "-",
        f"≥ 200/s: {met(rate >= 200)}",
    )
    table.note(f"fired {len(events):,} of {n:,}; lateness = audit `timer_fired.at` - due time")
    if early:
        table.note(f"{early:,} timers were already due when the set-up finished (slow machine)")
    if events:
        per = worker_cpu / len(events)
        table.note(
            f"worker thread CPU per firing: {per * 1000:.1f} ms, i.e. ~{1 / per:,.0f} firings/s "
            "on a core of its own; on a busy machine the thread gets only part of a core. A "
            "worker that keeps up wakes for each due time and fires few per pass, which costs "
            "more per firing than the drain below; one that falls behind fires in big passes. "
            "TIMED's one script (`fired = True`) "
            "is a literal assignment, applied without a sandbox process; other scripts add a "
            "round trip to one"
        )
    per = drain_cpu / drained
    table.note(
        f"firing {drained:,} timers already due (`Worker.run_once` until nothing is left, mail "
        f"pass included): {drain_seconds:.1f} s, {per * 1000:.2f} ms of CPU per firing, i.e. "
        f"~{1 / per:,.0f} firings/s on a core of its own"
    )
    if quick:
        table.note(f"quick mode: {n:,} timers over {spread} s (full: 10,000 over 60 s)")
    table.note(
        f"the worker needs {n / spread:,.0f} firings/s to keep up; lateness grows if it can't"
    )
    return table


def drain(engine: Engine, template: Template, n: int) -> tuple[int, float, float]:
    """One worker's firing rate: `n` timers already due, fired by `Worker.run_once` in this
    thread until none is left; (fired, wall seconds, CPU seconds of this thread)."""
    past = datetime.now(UTC) - timedelta(minutes=5)
    clone_waiting(engine, template, [past + timedelta(milliseconds=i) for i in range(n)])
    worker = Worker(engine, name="b4-drain", listen=False)
    fired, wall0, cpu0 = 0, time.perf_counter(), time.thread_time()
    while got := worker.run_once():
        fired += got
    return fired, time.perf_counter() - wall0, time.thread_time() - cpu0


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _drain(url: str, name: str, start_at: float, out: Any) -> None:
    """A worker process: wait for the common start, fire everything due, report time and RSS."""
    engine = Engine.from_settings(Settings(database_url=url))
    worker = Worker(engine, name=name)
    rss0 = _rss_kb()
    while time.time() < start_at:
        time.sleep(0.01)
    begin = time.time()  # later than start_at if start-up (spawn + imports) took longer
    fired = idle = 0
    while idle < 2:
        got = worker.run_once()
        fired += got
        idle = idle + 1 if got == 0 else 0
    out.put(
        {
            "name": name,
            "fired": fired,
            "begin": begin,
            "end": time.time(),
            "rss0": rss0,
            "rss1": _rss_kb(),
        }
    )


def _run_workers(url: str, workers: int) -> tuple[float, list[dict[str, Any]]]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 8
    procs = [ctx.Process(target=_drain, args=(url, f"w{i}", start_at, out)) for i in range(workers)]
    for p in procs:
        p.start()
    results = [out.get(timeout=900) for _ in procs]
    for p in procs:
        p.join(30)
    return max(r["end"] for r in results) - min(r["begin"] for r in results), results


def _duplicates(engine: Engine) -> tuple[int, int]:
    with engine.session() as s:
        per = s.execute(
            select(AuditEvent.instance_id, func.count())
            .where(AuditEvent.kind == "timer_fired")
            .group_by(AuditEvent.instance_id)
        ).all()
    return sum(1 for _, c in per if c > 1), len(per)


def b6(quick: bool) -> Table:
    n = 200 if quick else 10_000
    table = Table(
        "B6",
        f"{n:,} due timers on PostgreSQL, 1 worker process vs 2",
        ["workers", "seconds", "timers/s", "ratio to 1", "duplicates", "fired", "target"],
    )
    if not pg_available():
        table.note("skipped: PostgreSQL is not reachable at 127.0.0.1:5432")
        return table
    base = None
    for workers in (1, 2):
        name = f"bench_pf_b6_{workers}"
        url = fresh_pg_database(name)
        engine = Engine.from_settings(Settings(database_url=url))
        past = datetime.now(UTC) - timedelta(minutes=5)
        make_waiting(engine, [past + timedelta(milliseconds=i) for i in range(n)])
        seconds, _ = _run_workers(url, workers)
        dups, fired = _duplicates(engine)
        rate = fired / seconds
        base = base or rate
        ok = None if workers == 1 else (rate / base >= 1.6 and dups == 0)
        table.add(workers, seconds, rate, f"{rate / base:.2f}×", dups, fired, met(ok))
        engine.sessions.kw["bind"].dispose()
        drop_pg_database(name)
    table.note("target: 2 workers ≥ 1.6× the throughput of 1, and 0 duplicate firings")
    table.note("workers, PostgreSQL and this script share the machine's 2 cores")
    if quick:
        table.note(f"quick mode: {n:,} timers (full: 10,000)")
    return table


def b7(quick: bool) -> Table:
    n = 300 if quick else 10_000
    table = Table(
        "B7",
        f"resident memory of a worker process firing {n:,} instances (SQLite)",
        ["measure", "value"],
    )
    with workdir() as folder:
        engine = sqlite_engine(folder)
        past = datetime.now(UTC) - timedelta(minutes=5)
        make_waiting(engine, [past + timedelta(milliseconds=i) for i in range(n)])
        url = str(engine.sessions.kw["bind"].url)
        seconds, [result] = _run_workers(url, 1)
    table.add("instances fired", result["fired"])
    table.add("RSS after start-up (MB)", result["rss0"] / 1024)
    table.add("RSS after the run (MB)", result["rss1"] / 1024)
    table.add(
        "growth per 1,000 instances (MB)", (result["rss1"] - result["rss0"]) / 1024 / (n / 1000)
    )
    table.add("seconds", seconds)
    if quick:
        table.note(f"quick mode: {n:,} instances (full: 10,000)")
    return table
