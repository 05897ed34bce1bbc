"""B9: what a `pathfinder` process costs to start (CPU of `--help`, time until the server answers).

Every restart after a crash, every CLI call and every worker start pays the import cost, so it is
measured on the real entry point in fresh processes, beside the bare interpreter as a baseline.
"""

from __future__ import annotations

import os
import resource
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.common import Table, met, server_cpu_seconds, workdir

BIN = Path(sys.executable).parent
PATHFINDER = str(BIN / "pathfinder")
HELP_CPU_TARGET = 0.5
"""Seconds of CPU `pathfinder --help` may use."""
SERVER_START_TARGET = 1.5
"""Seconds from launching `pathfinder serve` until /healthz answers."""


def _child_cpu(argv: list[str], env: dict[str, str] | None = None) -> float:
    """CPU seconds (user + system) one run of `argv` used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, capture_output=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_start(env: dict[str, str]) -> tuple[float, float]:
    """(seconds until /healthz answers, CPU seconds the server used by then)."""
    port = _free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [PATHFINDER, "serve", "--port", str(port), "--no-worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = started + 60
        while time.perf_counter() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    return time.perf_counter() - started, server_cpu_seconds(proc.pid)
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("the server did not answer within 60 s")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def b9(quick: bool) -> Table:
    runs = 3 if quick else 7
    table = Table(
        "B9",
        f"process start-up, median of {runs} fresh processes",
        ["measure", "median", "target", ""],
    )
    python = sys.executable
    baseline = [_child_cpu([python, "-c", "pass"]) for _ in range(runs)]
    table.add("bare interpreter, CPU (s)", statistics.median(baseline), "-", "baseline")
    help_cpu = [_child_cpu([PATHFINDER, "--help"]) for _ in range(runs)]
    ok = statistics.median(help_cpu) < HELP_CPU_TARGET
    table.add("`pathfinder --help`, CPU (s)", statistics.median(help_cpu), "< 0.5", met(ok))
    engine_cpu = [_child_cpu([python, "-c", "import engine"]) for _ in range(runs)]
    table.add("`import engine`, CPU (s)", statistics.median(engine_cpu), "-", "")
    skipped = [_child_cpu([python, "-c", "import rfc3987_syntax"]) for _ in range(runs)]
    table.add("`import rfc3987_syntax` (now skipped), CPU (s)", statistics.median(skipped), "-", "")
    with workdir() as folder:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{folder / 'start.db'}",
            "PATHFINDER_VAR_DIR": str(folder / "var"),
            "PATHFINDER_SECRET_KEY": "bench",
        }
        subprocess.run([PATHFINDER, "db", "upgrade"], check=True, capture_output=True, env=env)
        samples = [_server_start(env) for _ in range(runs)]
    wall = statistics.median(s[0] for s in samples)
    cpu = statistics.median(s[1] for s in samples)
    table.add("`pathfinder serve` until /healthz answers (s)", wall, "< 1.5", met(wall < 1.5))
    table.add("server CPU by then (s)", cpu, "-", "")
    load = os.getloadavg()[0]
    table.note(
        f"load average {load:.1f} on {os.cpu_count()} cores while measuring: on a busy machine the "
        "wall time exceeds the server's CPU time, which is what a quiet machine would wait"
    )
    table.note(
        "before: every `pathfinder` process imported the whole engine and jsonschema's optional "
        "`rfc3987_syntax` checker (about 2.2 s CPU, 1.2 s of it building that checker's grammar)"
    )
    return table
