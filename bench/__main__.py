"""`python -m bench [--quick] [--only B1,B3]`: run the benchmarks, print and save their tables."""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import engine_steps, flow_runs, http_runs, sandbox_calls, startup, timer_runs
from bench.common import Table, pg_available, pg_version

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    """The machine the numbers came from, as Markdown."""
    free = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout
    pg = pg_version() if pg_available() else "not reachable"
    cores = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    return (
        f"- cores (`nproc`): {cores}\n"
        f"- load average at the start: {_load()}\n"
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, PostgreSQL {pg}\n"
        f"- {platform.platform()}\n\n```\n{free.strip()}\n```\n"
    )


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} (1 min), {five:.1f} (5 min), {fifteen:.1f} (15 min)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="small sizes (under 2 minutes)")
    parser.add_argument("--only", default="", help="comma-separated ids, e.g. B1,B3")
    args = parser.parse_args(argv)
    only = {x.strip().upper() for x in args.only.split(",") if x.strip()}
    quick = args.quick
    b1_step: list[float] = []

    def run_b1() -> Table:
        table = engine_steps.b1(quick)
        b1_step.append(float(table.rows[2][2].replace(",", "")))
        return table

    runs: list[tuple[str, Callable[[], Table]]] = [
        ("B1", run_b1),
        ("B2", lambda: http_runs.b2(quick, b1_step[0] if b1_step else None)),
        ("B3", lambda: engine_steps.b3(quick)),
        ("B4", lambda: timer_runs.b4(quick)),
        ("B5", lambda: http_runs.b5(quick)),
        ("B6", lambda: timer_runs.b6(quick)),
        ("B7", lambda: timer_runs.b7(quick)),
        ("B8", lambda: sandbox_calls.b8(quick)),
        ("B9", lambda: startup.b9(quick)),
        ("B10", lambda: flow_runs.b10(quick)),
    ]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{stamp}{'-quick' if quick else ''}.md"
    header = f"# Benchmarks {stamp} ({'quick' if quick else 'full'})\n\n{machine()}\n"
    out.write_text(header)
    print(header)
    started = time.monotonic()
    for ident, run in runs:
        if only and ident not in only:
            continue
        t0 = time.monotonic()
        try:
            table = run()
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others
            table = Table(ident, "failed", [])
            table.note(f"failed: {type(exc).__name__}: {exc}")
        table.seconds = time.monotonic() - t0
        table.note(f"load average when it ended: {_load()}")
        text = table.markdown()
        print(text, flush=True)
        with out.open("a") as f:
            f.write(text + "\n")
    total = time.monotonic() - started
    if quick and not only:  # issue 18: the whole quick run stays under 150 s
        verdict = "met" if total < 150 else "**missed**"
        line = f"goal `make bench-quick` < 150 s: {total:.0f} s, {verdict}"
        with out.open("a") as f:
            f.write(f"- {line}\n")
        print(line, file=sys.stderr)
    print(f"total {total:.0f} s; saved {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
