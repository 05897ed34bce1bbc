"""B1 (throughput of persisted steps) and B3 (ageing: steps on long-running loops)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from bench.common import (
    ADMIN,
    Stats,
    Table,
    deploy,
    met,
    progress,
    sqlite_engine,
    timed,
    workdir,
)
from engine import Engine
from engine.bpmn.serialization import dump_state, load_state
from engine.runtime.execution import version_of


def _specs(engine: Engine, key: str) -> Any:
    with engine.session() as s:
        pv = version_of(s, key, None)
        return engine.runtime.specs.get(pv.id, pv.dialect, pv.spec_json)


def _raw_steps(
    engine: Engine, n: int, persist: bool, cpu: list[float] | None = None
) -> list[float]:
    """Per-step ms of raw SpiffWorkflow on FIVE: in memory, or JSON load/save around each step
    (and each step's thread CPU ms appended to `cpu`)."""
    spec, subs = _specs(engine, "five")
    steps: list[float] = []
    cpu = [] if cpu is None else cpu
    for _ in range(n):
        wf = BpmnWorkflow(spec, subs)
        wf.do_engine_steps()
        state = dump_state("spiff", wf) if persist else ""
        while True:
            start, start_cpu = time.perf_counter(), time.thread_time()
            if persist:
                wf = load_state("spiff", state, (spec, subs))
            ready = wf.get_tasks(state=TaskState.READY, manual=True)
            if not ready:
                break
            ready[0].run()
            wf.do_engine_steps()
            if persist:
                state = dump_state("spiff", wf)
            steps.append((time.perf_counter() - start) * 1000)
            cpu.append((time.thread_time() - start_cpu) * 1000)
    return steps


def _engine_steps(engine: Engine, instance_id: int, cpu: list[float]) -> list[float]:
    """`complete_all` with each step's thread CPU ms appended to `cpu`."""
    steps = []
    while ready := engine.ready_tasks(instance_id):
        start, start_cpu = time.perf_counter(), time.thread_time()
        engine.complete(ready[0].id, {}, ADMIN)
        steps.append((time.perf_counter() - start) * 1000)
        cpu.append((time.thread_time() - start_cpu) * 1000)
    return steps


def b1(quick: bool) -> Table:
    n = 100 if quick else 500
    table = Table(
        "B1",
        f"5-user-task process, {n} instances, per step (ms)",
        [
            "mode",
            "steps",
            "median",
            "p95",
            "p99",
            "ratio to raw in-memory",
            "ratio to raw + JSON",
            "goal ≤ 5 × raw + JSON",
        ],
    )
    with workdir() as folder:
        engine = sqlite_engine(folder)
        deploy(engine, "FIVE")
        raw_mem = Stats.of(_raw_steps(engine, n, persist=False))
        json_cpu: list[float] = []
        raw_json = Stats.of(_raw_steps(engine, n, persist=True, cpu=json_cpu))
        steps: list[float] = []
        starts: list[float] = []
        step_cpu: list[float] = []
        for i in range(n):
            ms, inst = timed(lambda: engine.start("five", {}, ADMIN))
            starts.append(ms)
            steps += _engine_steps(engine, inst.id, step_cpu)
            progress("B1 engine instances", i + 1, n)
        persisted = Stats.of(steps)
    base, json_base = raw_mem.median, raw_json.median
    for label, st in (
        ("raw SpiffWorkflow, in memory", raw_mem),
        ("raw + JSON load/save", raw_json),
    ):
        table.add(
            label,
            st.n,
            st.median,
            st.p95,
            st.p99,
            f"{st.median / base:.1f}×",
            f"{st.median / json_base:.1f}×",
            "-",
        )
    table.add(
        "engine.complete, SQLite file",
        persisted.n,
        persisted.median,
        persisted.p95,
        persisted.p99,
        f"{persisted.median / base:.1f}×",
        f"{persisted.median / json_base:.1f}×",
        met(persisted.median <= 5 * json_base),
    )
    st = Stats.of(starts)
    table.add("engine.start (for reference)", st.n, st.median, st.p95, st.p99, "-", "-", "-")
    table.note(
        f"throughput: {1000 / persisted.median:,.0f} persisted steps/s on one thread "
        f"(raw in memory {1000 / base:,.0f}/s)"
    )
    cpu_json, cpu_step = statistics.median(json_cpu), statistics.median(step_cpu)
    table.note(
        f"thread CPU per step (median; steadier than wall time on a shared machine): raw + JSON "
        f"{cpu_json:.2f} ms, engine.complete {cpu_step:.2f} ms ({cpu_step / cpu_json:.1f}×)"
    )
    table.note(
        "issue 18's goal: the persisted step at most 5 × raw SpiffWorkflow with the same JSON "
        "load/save per step (engine.bpmn.serialization, as the engine stores it); both "
        "medians from this run"
    )
    return table


@contextmanager
def _pruning(enabled: bool) -> Iterator[None]:
    if enabled:
        yield
        return
    with mock.patch("engine.bpmn.serialization.prune_state", lambda *a, **k: 0):
        yield


def _cycle_steps(engine: Engine, iterations: int, samples: int) -> tuple[list[float], int]:
    """Run `iterations` review cycles on a new instance, then time `samples` further steps."""
    inst = engine.start("cycle", {"cycle": 0, "done": False}, ADMIN)
    for _ in range(iterations * 2):
        [task] = engine.ready_tasks(inst.id)
        engine.complete(task.id, {}, ADMIN)
    out = []
    for _ in range(samples):
        [task] = engine.ready_tasks(inst.id)
        ms, _ = timed(lambda t=task: engine.complete(t.id, {}, ADMIN))
        out.append(ms)
    return out, len(engine.instance(inst.id).state)


def b3(quick: bool) -> Table:
    samples = 10 if quick else 30
    cases = [(1, True), (50, True), (200, True), (50, False)]
    if not quick:
        cases.append((200, False))
    table = Table(
        "B3",
        "complete one task on an instance that already ran N review cycles (ms)",
        ["iterations", "pruning", "state size", "median", "p95", "ratio to 1", "target ≤ 1.5×"],
    )
    with workdir() as folder:
        engine = sqlite_engine(folder)
        deploy(engine, "REVIEW_CYCLE")
        base = None
        for i, (iterations, prune) in enumerate(cases):
            with _pruning(prune):
                steps, size = _cycle_steps(engine, iterations, samples)
            st = Stats.of(steps)
            base = base or st.median
            ratio = st.median / base
            target = met(ratio <= 1.5) if iterations == 200 and prune else "-"
            table.add(
                iterations,
                "on" if prune else "off (as before)",
                f"{size / 1024:,.0f} KB",
                st.median,
                st.p95,
                f"{ratio:.2f}×",
                target,
            )
            progress("B3 cases", i + 1, len(cases))
    table.note(
        f"{samples} steps timed per case after the N cycles; a cycle is 2 user tasks, a script and "
        "a gateway. 'off' patches pruning out (engine/archive.py) to show the old growth."
    )
    return table
