"""Engine steps on a loaded instance: automatic steps, due timers (cycles bounded), the audit
events they leave (elements completed, gateway decisions, status changes) and incidents."""

from __future__ import annotations

import ast
import contextlib
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine.clock import use_clock
from engine.errors import (
    EngineError,
)
from engine.runtime.context import (
    EngineGuardError,
    Loaded,
    StepFailed,
    data_objects,
    element_id_of,
    element_name_of,
    from_element,
    jsonable,
)
from engine.runtime.rows import may_wait_on_timers, scan, timer_due, waiting_timers

STATUS_KEYS = ("stage", "status")
"""Data keys whose changes are recorded as `status_changed` events (plus every `*_status`)."""


def _condition_text(condition: Any) -> str:
    if condition is None:
        return "default"
    if isinstance(condition, str):
        return condition
    args = getattr(condition, "args", None)
    return str(args[0]) if args else str(condition)


def _gateway_decision(task: Task) -> dict[str, Any] | None:
    conds = getattr(task.task_spec, "cond_task_specs", None)
    if not conds:
        return None
    chosen = [
        c.task_spec.name
        for c in task.children
        if c.state & (TaskState.DEFINITE_MASK | TaskState.FINISHED_MASK)
    ]
    names: set[str] = set()
    flows = []
    for cond, target in conds:
        text = _condition_text(cond)
        flows.append({"condition": text, "target": target})
        if cond is None:
            continue
        with contextlib.suppress(SyntaxError):
            names.update(
                n.id for n in ast.walk(ast.parse(text, mode="eval")) if isinstance(n, ast.Name)
            )
    visible = {**data_objects(task.workflow.top_workflow), **task.data}
    values = {n: jsonable(visible[n]) for n in sorted(names) if n in visible}
    return {"chosen": chosen, "flows": flows, "values": values}


def _status_key(key: str) -> bool:
    return key in STATUS_KEYS or key.endswith("_status")


def absorb(
    loaded: Loaded, changed: Mapping[str, Any], actor: str | None, element_id: str | None
) -> None:
    """Fold changed task data into the instance variables; record status changes."""
    if not changed:
        return
    data = dict(loaded.row.data or {})
    for key, value in changed.items():
        value = jsonable(value)
        old = data.get(key)
        if old == value:
            continue
        data[key] = value
        if _status_key(key):
            loaded.recorder.record(
                "status_changed",
                actor=actor,
                element_id=element_id,
                data={"variable": key, "old": old, "new": value},
            )
    loaded.row.data = data


def _after_engine_task(loaded: Loaded, task: Task) -> None:
    element = element_id_of(task)
    if element is None:
        return
    payload: dict[str, Any] = {"from": from_element(task), "type": type(task.task_spec).__name__}
    decision = _gateway_decision(task)
    if decision is not None:
        loaded.recorder.record(
            "gateway_decision",
            element_id=element,
            element_name=element_name_of(task),
            data=decision,
        )
    loaded.recorder.record(
        "element_completed", element_id=element, element_name=element_name_of(task), data=payload
    )
    parent_data = task.parent.data if task.parent is not None else {}
    changed = {k: v for k, v in task.data.items() if k not in parent_data or parent_data[k] != v}
    absorb(loaded, data_objects(loaded.wf), None, element)
    absorb(loaded, changed, None, element)


def run_engine(loaded: Loaded, rounds: int = 1000, *, fail_fast: bool = False) -> None:
    """Run automatic steps and fire due timers until the instance waits; on failure put it in
    the error state (or, with `fail_fast`, raise `StepFailed` and leave that to the caller).

    SpiffWorkflow refreshes timers only at the end of `do_engine_steps`, so a timer found due
    there is run by the next round; a cycle that missed several occurrences fires one per round,
    each recorded in order.
    """
    rt = loaded.rt
    steps = 0
    deadline = time.monotonic() + rt.max_seconds
    fired: dict[str, int] = {}
    started: dict[str, int] = {}

    def out_of_time(element_id: str | None) -> EngineGuardError:
        return EngineGuardError(
            f"The engine worked on this instance for more than {rt.max_seconds:g} s without it "
            "waiting for a person or a timer (setting PATHFINDER_ENGINE_RUN_SECONDS). "
            "The instance was stopped.",
            element_id,
        )

    def will(task: Task) -> None:
        nonlocal steps
        steps += 1
        if time.monotonic() > deadline:
            raise out_of_time(element_id_of(task))
        # SpiffWorkflow re-checks waiting timers after every step, so an owing cycle fires again
        # inside one `do_engine_steps`: each occurrence starts with a child of the timer task.
        timer = task.parent
        if timer is not None and _cycle_of(timer) is not None:
            tid = str(timer.id)
            started[tid] = started.get(tid, 0) + 1
            _bound_cycle(loaded, timer, max(rt.max_timer_catch_up - started[tid], 0))
        if task.workflow.depth > rt.max_call_depth:
            caller = task.workflow.top_workflow.get_task_from_id(task.workflow.parent_task_id)
            raise EngineGuardError(
                f"Call activities are nested more than {rt.max_call_depth} deep "
                "(a process that calls itself without end?). The instance was stopped.",
                element_id_of(caller) if caller is not None else element_id_of(task),
            )
        if steps > rt.max_steps:
            raise EngineGuardError(
                f"More than {rt.max_steps} automatic steps ran without waiting for a person or a "
                "timer (an endless loop?). The instance was stopped.",
                element_id_of(task),
            )

    wf = loaded.wf
    loaded.waiting = loaded.ready_run = None
    try:
        with use_clock(rt.clock):
            # The waiting timers are scanned once per round (a walk of the whole task tree) and
            # again only when `_bound_cycles` moved a cycle on; not at all before the first
            # round when no process of the workflow has a timer event.
            waiting = waiting_timers(wf) if may_wait_on_timers(wf) else {}
            for _ in range(rounds):
                if time.monotonic() > deadline:
                    raise out_of_time(None)
                if _bound_cycles(loaded, waiting, fired):
                    waiting = waiting_timers(wf)
                before = waiting
                cycles = {tid: _cycle_of(task) for tid, (task, _) in before.items()}
                wf.do_engine_steps(
                    will_complete_task=will,
                    did_complete_task=lambda t: _after_engine_task(loaded, t),
                )
                ready: dict[str, Task] | None
                ready, waiting, automatic = scan(wf)  # one walk: the timers and READY tasks
                fired_now = _record_fired(loaded, before, waiting, cycles)
                for tid, count in fired_now.items():
                    fired[tid] = fired.get(tid, 0) + count
                if automatic:
                    continue
                # A cycle scheduled in this run is checked now, not first when it fires.
                if _bound_cycles(loaded, waiting, fired):
                    waiting, ready = waiting_timers(wf), None
                # After a firing another round runs only if a timer is due (a cycle still owing
                # an occurrence): with nothing ready and nothing due it would change nothing.
                if not fired_now or not _any_due(waiting, rt.now()):
                    loaded.waiting, loaded.ready_run = waiting, ready
                    return
            raise EngineGuardError(
                f"The engine ran {rounds} rounds of steps and timers on this instance without it "
                "waiting (a timer that keeps firing?). The instance was stopped.",
                None,
            )
    except EngineError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure inside the model becomes an incident
        if fail_fast:
            element_id, element_name = _failing_element(loaded, exc)
            raise StepFailed(f"{type(exc).__name__}: {exc}", element_id, element_name) from exc
        mark_error(loaded, exc)


def _any_due(waiting: Mapping[str, tuple[Task, datetime]], now: datetime) -> bool:
    return any(due <= now for _, due in waiting.values())


def _bound_cycles(
    loaded: Loaded, waiting: dict[str, tuple[Task, datetime]], fired: Mapping[str, int]
) -> bool:
    """`_bound_cycle` for every waiting cycle timer, given what each fired in this run; True
    when one skipped occurrences (its due time moved)."""
    moved = False
    for tid, (task, _) in waiting.items():
        if _cycle_of(task) is not None:
            allowed = max(loaded.rt.max_timer_catch_up - fired.get(tid, 0), 0)
            moved = _bound_cycle(loaded, task, allowed) or moved
    return moved


def _bound_cycle(loaded: Loaded, task: Task, allowed: int) -> bool:
    """Stop a cycle that repeats faster than the minimum period (computed at run time); let a
    cycle owing occurrences fire at most `allowed` more of them in this run: the older rest are
    skipped (recorded as `timer_skipped`) and it waits for its next future one. True when
    occurrences were skipped."""
    rt = loaded.rt
    cycle = _cycle_of(task)
    if cycle is None:
        return False
    left, seconds = cycle
    if seconds < rt.min_timer_period:
        raise EngineGuardError(
            f"The timer cycle repeats every {seconds:g} s; the shortest period allowed is "
            f"{rt.min_timer_period:g} s (setting PATHFINDER_MIN_TIMER_PERIOD). "
            "The instance was stopped.",
            element_id_of(task),
        )
    due_at = timer_due(task)
    now = rt.now()
    if due_at is None or due_at >= now:
        return False
    step = timedelta(seconds=seconds)
    owed = int((now - due_at) / step) + 1
    if left >= 0:
        owed = min(owed, left)
    skipped = owed - allowed
    if skipped <= 0:
        return False
    value = dict(task._get_internal_data("event_value"))
    value["next"] = (due_at + skipped * step).isoformat()
    if left >= 0:
        value["cycles"] = left - skipped
    task._set_internal_data(event_value=value)
    loaded.skipped.setdefault(str(task.id), []).append((due_at, due_at + skipped * step))
    loaded.recorder.record(
        "timer_skipped",
        element_id=element_id_of(task),
        element_name=element_name_of(task),
        data={
            "task_id": str(task.id),
            "skipped": skipped,
            "first_due_at": due_at.isoformat(),
            "next_due_at": value["next"],
            "message": f"{skipped} owed occurrence(s) skipped: at most {rt.max_timer_catch_up} "
            "are caught up in one run (setting PATHFINDER_MAX_TIMER_CATCH_UP).",
        },
    )
    return True


def _record_fired(
    loaded: Loaded,
    before: dict[str, tuple[Task, datetime]],
    after: dict[str, tuple[Task, datetime]],
    cycles: Mapping[str, tuple[int, float] | None],
) -> dict[str, int]:
    """Record a `timer_fired` event per occurrence that fired between the waiting timers
    `before` and `after` a round of steps, in due order.

    SpiffWorkflow may advance a cycle timer several occurrences in one `do_engine_steps` (it
    updates waiting tasks more than once), so each owed occurrence is counted from the cycle's
    state before and after.
    """
    now = loaded.rt.now()
    occurrences: list[tuple[datetime, str, Task]] = []
    for tid, (task, due_at) in before.items():
        moved_on = tid not in after or after[tid][1] != due_at
        if due_at <= now and moved_on and task.state != TaskState.CANCELLED:
            later = after[tid][1] if tid in after else None
            for at in _occurrences(due_at, cycles.get(tid), later):
                if not any(a <= at < b for a, b in loaded.skipped.get(tid, ())):
                    occurrences.append((at, tid, task))
    for at, tid, task in sorted(occurrences, key=lambda o: (o[0], o[1])):
        loaded.recorder.record(
            "timer_fired",
            element_id=element_id_of(task),
            element_name=element_name_of(task),
            data={"due_at": at.isoformat(), "task_id": tid}
            | ({"worker": loaded.worker} if loaded.worker else {}),
        )
    counts: dict[str, int] = {}
    for _, tid, _ in occurrences:
        counts[tid] = counts.get(tid, 0) + 1
    return counts


def _cycle_of(task: Task) -> tuple[int, float] | None:
    """(cycles left, seconds between occurrences) of a cycle timer; None for other timers."""
    value = task._get_internal_data("event_value")
    if isinstance(value, dict) and "duration" in value:
        return int(value.get("cycles", 0)), float(value["duration"] or 0)
    return None


def _occurrences(
    due_at: datetime, cycle: tuple[int, float] | None, next_due: datetime | None
) -> list[datetime]:
    """The due times that fired: one for a plain timer; for a cycle each step from `due_at` up
    to its new next time (or every cycle it had left, when it finished)."""
    if cycle is None or cycle[1] <= 0:
        return [due_at]
    left, seconds = cycle
    step = timedelta(seconds=seconds)
    count = max(1, round((next_due - due_at) / step) if next_due is not None else left)
    return [due_at + i * step for i in range(count)]


def _failing_element(loaded: Loaded, exc: Exception) -> tuple[str | None, str | None]:
    if isinstance(exc, EngineGuardError):
        return exc.element_id, None
    task = getattr(exc, "task", None)
    if task is not None:
        return element_id_of(task), element_name_of(task)
    spec = getattr(exc, "task_spec", None)
    if spec is not None:
        return getattr(spec, "bpmn_id", None), getattr(spec, "bpmn_name", None)
    errored = loaded.wf.get_tasks(state=TaskState.ERROR)
    if errored:
        return element_id_of(errored[0]), element_name_of(errored[0])
    return None, None


def mark_error(loaded: Loaded, exc: Exception) -> None:
    """Stop the instance with an incident naming the failing element."""
    element_id, element_name = _failing_element(loaded, exc)
    message = str(exc) or type(exc).__name__
    loaded.row.status = "error"
    loaded.row.error_element_id = element_id
    loaded.row.error_message = message
    loaded.recorder.record(
        "instance_error",
        element_id=element_id,
        element_name=element_name,
        data={"error": message, "type": type(exc).__name__},
    )
