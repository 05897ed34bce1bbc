"""B8: what running scripts in sandbox processes costs, per call and per persisted step.

Goal (issue 14): a step with one script costs at most 1 ms more than with scripts run in the
server's own process (`PATHFINDER_SCRIPT_PROCESSES=0`).
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime

from bench.common import ADMIN, Stats, Table, met, sqlite_engine, timed, workdir
from engine import Engine, VirtualClock
from engine.bpmn.sandbox import SandboxPool
from engine.bpmn.scripting import make_script_engine

SCRIPTED = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  id="defs_scripted" targetNamespace="http://bpmn.io/schema/bpmn">
<bpmn:process id="scripted" isExecutable="true">
<bpmn:startEvent id="start" />
<bpmn:userTask id="a" name="A" />
<bpmn:scriptTask id="calc" name="Calculate"><bpmn:script>total = sum(items) * 2
label = f"{len(items)} items"</bpmn:script></bpmn:scriptTask>
<bpmn:userTask id="b" name="B" />
<bpmn:endEvent id="end" />
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="a" />
<bpmn:sequenceFlow id="f2" sourceRef="a" targetRef="calc" />
<bpmn:sequenceFlow id="f3" sourceRef="calc" targetRef="b" />
<bpmn:sequenceFlow id="f4" sourceRef="b" targetRef="end" />
</bpmn:process>
</bpmn:definitions>
"""
DATA = {"items": list(range(20)), "notes": "x" * 500}


def _calls(pool: SandboxPool | None, n: int) -> list[float]:
    env = make_script_engine(VirtualClock(datetime.now(UTC)), pool=pool).environment
    env.execute("total = sum(items) * 2", dict(DATA))  # start the workers outside the timing
    return [timed(lambda: env.execute("total = sum(items) * 2", dict(DATA)))[0] for _ in range(n)]


def _steps(engine: Engine, n: int) -> list[float]:
    engine.deploy({"scripted.bpmn": SCRIPTED}, {}, "bench")
    samples = []
    for _ in range(n):
        inst = engine.start("scripted", dict(DATA), ADMIN)
        [task] = engine.ready_tasks(inst.id)
        ms, _ = timed(lambda t=task: engine.complete(t.id, {}, ADMIN))  # runs the script
        samples.append(ms)
    return samples


def b8(quick: bool) -> Table:
    calls, steps = (200, 30) if quick else (2000, 200)
    table = Table(
        "B8",
        "sandbox processes: cost per script call and per step with one script",
        ["measure", "in-process ms (median)", "sandbox ms (median)", "difference ms", "goal"],
    )
    pool = SandboxPool(processes=2, memory_mb=512)
    try:
        here, there = Stats.of(_calls(None, calls)), Stats.of(_calls(pool, calls))
        table.add("one script call", here.median, there.median, there.median - here.median, "-")
        with workdir() as folder:
            local = _steps(sqlite_engine(folder, "here", script_processes=0), steps)
            pooled = _steps(sqlite_engine(folder, "pool", script_processes=2), steps)
        diff = statistics.median(pooled) - statistics.median(local)
        table.add(
            "complete a task, then one script (SQLite)",
            statistics.median(local),
            statistics.median(pooled),
            diff,
            met(diff <= 1.0),
        )
    finally:
        pool.close()
    table.note(f"{calls} calls, {steps} steps; 2 sandbox processes, 512 MB each")
    return table
