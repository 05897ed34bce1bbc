"""The task and timer rows of a loaded instance, kept equal to its workflow's READY manual tasks
and waiting timers; only what changed is written."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import delete, event, select, text, update
from sqlalchemy.orm import Session

from engine.clock import add_duration, use_clock
from engine.runtime.context import (
    ACTIVE,
    TIMER_CHANNEL,
    Loaded,
    Runtime,
    element_id_of,
    element_name_of,
    properties,
)
from engine.store.db import new_row, write_later
from engine.store.models import HumanTask, TimerJob

log = logging.getLogger("pathfinder.execution")


def ready_by_id(wf: BpmnWorkflow) -> dict[str, Task]:
    """The workflow's READY manual tasks by task id."""
    return {str(t.id): t for t in wf.get_tasks(state=TaskState.READY, manual=True)}


def timer_element(task: Task) -> str:
    """The element id a timer job row names (the spec name for SpiffWorkflow's own tasks)."""
    return element_id_of(task) or str(task.task_spec.name)


def live_timers(loaded: Loaded) -> dict[str, tuple[Task, datetime]]:
    """The waiting timers that have job rows: those of running, suspended or failed instances
    (as `run_engine` last saw them, when it ran just before)."""
    if loaded.row.status not in ACTIVE:
        return {}
    return loaded.waiting if loaded.waiting is not None else waiting_timers(loaded.wf)


def _due_at(loaded: Loaded, task: Task) -> datetime | None:
    due_in = properties(task).get("dueIn")
    if not due_in:
        return None
    now = loaded.rt.now()
    try:
        text = due_in.strip()
        if not text.upper().startswith("P"):
            with use_clock(loaded.rt.clock):
                text = str(loaded.wf.script_engine.evaluate(task, text))
        if text.upper().startswith("P"):
            return datetime.fromisoformat(add_duration(now.isoformat(), text))
        due = datetime.fromisoformat(text)
        return due if due.tzinfo else due.replace(tzinfo=UTC)
    except Exception:  # noqa: BLE001 - a bad due date must not stop the work itself
        loaded.recorder.record(
            "warning",
            element_id=element_id_of(task),
            data={"message": f"Could not compute the due date from dueIn={due_in!r}."},
        )
        return None


def sync_tasks(loaded: Loaded) -> None:
    """Write the task rows that changed: cancel rows of tasks no longer ready, add new ones."""
    session, row, now = loaded.session, loaded.row, loaded.rt.now()
    ready = loaded.ready_run if loaded.ready_run is not None else ready_by_id(loaded.wf)
    loaded.ready_saved, loaded.ready_run = ready, None
    existing: dict[str, HumanTask]
    if loaded.ready_rows is None:
        existing = {
            t.id: t
            for t in session.execute(
                select(HumanTask).where(HumanTask.instance_id == row.id, HumanTask.state == "ready")
            ).scalars()
        }
    else:
        # Only rows that stopped being ready are read (most often the task just completed,
        # already in the session); the rest are known from the workflow as loaded.
        existing = {}
        for task_id in sorted(loaded.ready_rows - ready.keys()):
            ht = session.get(HumanTask, task_id)
            if ht is not None and ht.state == "ready":
                existing[task_id] = ht
        existing.update({tid: _KNOWN for tid in loaded.ready_rows & ready.keys()})
    for task_id, ht in existing.items():
        if task_id not in ready:
            ht.state = "cancelled"
            ht.completed_at = now
            loaded.recorder.record(
                "task_cancelled",
                element_id=ht.element_id,
                element_name=ht.name,
                data={"task_id": task_id},
            )
    for task_id, task in ready.items():
        if task_id in existing:
            continue
        props = properties(task)
        ext = getattr(task.task_spec, "extensions", None) or {}
        values = {
            "id": task_id,
            "instance_id": row.id,
            "process_key": row.process_key,
            "element_id": element_id_of(task) or task.task_spec.name,
            "name": element_name_of(task),
            "lane": getattr(task.task_spec, "lane", None),
            "country": row.country,
            "form_file": props.get("formJsonSchemaFilename"),
            "ui_form_file": props.get("formUiSchemaFilename"),
            "instructions": ext.get("instructionsForEndUser"),
            "state": "ready",
            "due_at": _due_at(loaded, task),
            "created_at": now,
        }
        ht = new_row(HumanTask, values)  # to be inserted (`writes.insert_tasks` or the flush)
        loaded.added_rows.append(ht)  # written by `save`
        loaded.recorder.record(
            "task_ready",
            element_id=ht.element_id,
            element_name=ht.name,
            data={
                "task_id": task_id,
                "lane": ht.lane,
                "due_at": ht.due_at.isoformat() if ht.due_at else None,
            },
        )


_KNOWN: Any = object()
"""Stands for a task row known to exist and stay ready (not read from the database)."""


def timer_due(task: Task) -> datetime | None:
    """When a waiting timer task is next due (None when it will not fire again)."""
    value = task._get_internal_data("event_value")
    if isinstance(value, dict):
        value = value.get("next") if value.get("cycles", 0) != 0 else None
    if not isinstance(value, str):
        return None
    try:
        due = TimerEventDefinition.parse_time_or_duration(value)
    except Exception:  # noqa: BLE001 - an unparsable value is reported as an instance error elsewhere
        return None
    return due if isinstance(due, datetime) else None


def _has_timer(definition: Any) -> bool:
    """A timer event, or an event-based gateway / multiple event that races one."""
    if isinstance(definition, TimerEventDefinition):
        return True
    return isinstance(definition, MultipleEventDefinition) and any(
        isinstance(d, TimerEventDefinition) for d in definition.event_definitions
    )


_TIMED: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()
"""Process spec -> whether any of its task specs is a timer event (parsed specs are cached
per version and immutable, so this is worked out once per spec)."""


def may_wait_on_timers(wf: BpmnWorkflow) -> bool:
    """Whether the workflow's process or any process it calls has a timer event: when none
    has, `waiting_timers` is empty whatever the state, and need not walk the task tree."""
    return any(_timed(spec) for spec in (wf.spec, *getattr(wf, "subprocess_specs", {}).values()))


def _timed(spec: Any) -> bool:
    found = _TIMED.get(spec)
    if found is None:
        found = _TIMED[spec] = any(
            _has_timer(getattr(ts, "event_definition", None)) for ts in spec.task_specs.values()
        )
    return found


def waiting_timers(wf: BpmnWorkflow) -> dict[str, tuple[Task, datetime]]:
    """Waiting timer tasks of a workflow with their due times, by task id."""
    out: dict[str, tuple[Task, datetime]] = {}
    for task in wf.get_tasks(state=TaskState.WAITING):
        if _has_timer(getattr(task.task_spec, "event_definition", None)):
            due = timer_due(task)
            if due is not None:
                out[str(task.id)] = (task, due)
    return out


def scan(
    wf: BpmnWorkflow,
) -> tuple[dict[str, Task], dict[str, tuple[Task, datetime]], bool]:
    """One walk of the task tree for what `ready_by_id`, `waiting_timers` and a check for a
    READY automatic task would each walk it for: the READY manual tasks by task id, the waiting
    timers with their due times by task id, and whether an automatic task is READY. Each walk
    costs about as much as a step's own work in SpiffWorkflow; a step took six."""
    ready: dict[str, Task] = {}
    waiting: dict[str, tuple[Task, datetime]] = {}
    automatic = False
    for task in wf.get_tasks(state=TaskState.READY | TaskState.WAITING):
        if task.has_state(TaskState.READY):
            if task.task_spec.manual:
                ready[str(task.id)] = task
            else:
                automatic = True
        elif _has_timer(getattr(task.task_spec, "event_definition", None)):
            due = timer_due(task)
            if due is not None:
                waiting[str(task.id)] = (task, due)
    return ready, waiting, automatic


def sync_timers(loaded: Loaded) -> None:
    """Write the timer job rows that changed: delete fired or dropped ones, add new ones, move
    the due time of a cycle's next occurrence (one Core statement each, only when needed)."""
    session, row = loaded.session, loaded.row
    current = live_timers(loaded)
    jobs = loaded.timer_rows
    if jobs is None:
        jobs = {
            j.task_id: (j.element_id, _aware(j.due_at))
            for j in session.execute(
                select(TimerJob).where(TimerJob.instance_id == row.id)
            ).scalars()
        }
    fired = {e.data.get("task_id") for e in loaded.recorder.events if e.kind == "timer_fired"}
    gone = sorted(task_id for task_id in jobs if task_id not in current)
    for task_id in gone:
        if task_id not in fired:
            # e.g. a boundary timer dropped because its task was completed first
            element_id, due_at = jobs[task_id]
            loaded.recorder.record(
                "timer_cancelled",
                element_id=element_id,
                element_name=_spec_name(loaded, element_id),
                data={"task_id": task_id, "due_at": due_at.isoformat()},
            )
    if gone and loaded.gone_timers is not None:
        loaded.gone_timers.extend(gone)
    elif gone:
        drop = delete(TimerJob).where(TimerJob.instance_id == row.id, TimerJob.task_id.in_(gone))
        write_later(session, partial(session.execute, drop))
    written: list[datetime] = []
    for task_id, (task, due) in current.items():
        existing = jobs.get(task_id)
        if existing is None:
            written.append(due)
            session.add(
                TimerJob(
                    instance_id=row.id,
                    task_id=task_id,
                    element_id=timer_element(task),
                    kind=type(task.task_spec.event_definition).__name__,
                    due_at=due,
                    state="waiting",
                    attempts=0,
                )
            )
            loaded.recorder.record(
                "timer_scheduled",
                element_id=element_id_of(task),
                element_name=element_name_of(task),
                data={"due_at": due.isoformat(), "task_id": task_id},
            )
        elif existing[1] != due:
            written.append(due)
            move = (
                update(TimerJob)
                .where(TimerJob.instance_id == row.id, TimerJob.task_id == task_id)
                .values(due_at=due)
            )
            write_later(session, partial(session.execute, move))
            loaded.recorder.record(
                "timer_scheduled",
                element_id=element_id_of(task),
                element_name=element_name_of(task),
                data={"due_at": due.isoformat(), "task_id": task_id, "next_cycle": True},
            )
    if written:
        announce_timer(session, loaded.rt, min(written))
    loaded.timer_rows = {tid: (timer_element(task), due) for tid, (task, due) in current.items()}
    loaded.waiting = None


_HOOKED = "pathfinder.timer_hook"
_PENDING = "pathfinder.timer_due"


def announce_timer(session: Session, rt: Runtime, due: datetime) -> None:
    """Let sleeping workers know a timer due at `due` was written in this transaction.

    On PostgreSQL a `NOTIFY` on `TIMER_CHANNEL` (delivered at commit, dropped on rollback) wakes
    workers in other processes; `rt.on_timer_written` is called after commit for a worker in this
    process.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :due)"),
            {"channel": TIMER_CHANNEL, "due": due.isoformat()},
        )
    hook = rt.on_timer_written
    if hook is None:
        return
    pending: dict[Callable[[datetime], None], datetime] = session.info.setdefault(_PENDING, {})
    pending[hook] = min(due, pending.get(hook, due))
    if not session.info.get(_HOOKED):
        session.info[_HOOKED] = True
        event.listen(session, "after_commit", _call_timer_hooks)
        event.listen(session, "after_rollback", lambda s: s.info.pop(_PENDING, None))


def _call_timer_hooks(session: Session) -> None:
    for hook, due in session.info.pop(_PENDING, {}).items():
        try:
            hook(due)
        except Exception:  # noqa: BLE001 - the commit succeeded; a failing hook must not undo it
            log.exception("timer hook failed")


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _spec_name(loaded: Loaded, element_id: str | None) -> str | None:
    """The diagram's name of an element (the process's or one of its subprocesses'), if any."""
    wf = loaded.wf
    for spec in (wf.spec, *wf.subprocess_specs.values()):
        task_spec = spec.task_specs.get(element_id) if element_id else None
        if task_spec is not None:
            name = getattr(task_spec, "bpmn_name", None)
            return str(name) if name else None
    return None
