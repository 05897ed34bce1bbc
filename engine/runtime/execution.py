"""Running a restored workflow: load and lock, engine steps, errors, and the rows they keep.

Every function works inside the caller's transaction: it loads the instance row (locked), restores
the workflow with its version's live spec, acts, writes the task, timer and audit rows and the new
state, and flushes. The optimistic lock on `Instance.lock_version` turns a concurrent change into
`Conflict`.
"""

from __future__ import annotations

import ast
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import delete, event, inspect, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from engine.bpmn.serialization import SpecCache, dump_state, load_state
from engine.clock import Clock, add_duration, use_clock
from engine.errors import (
    Conflict,
    EngineError,
    Forbidden,
    InstanceNotRunnable,
    NotExecutable,
    NotFound,
)
from engine.people.access import Actor
from engine.people.permissions import may_see_country
from engine.records.history import Recorder
from engine.store.models import HumanTask, Instance, ProcessVersion, TimerJob

ACTIVE = ("running", "suspended", "error")

TIMER_CHANNEL = "pathfinder_timers"
"""PostgreSQL NOTIFY channel: a transaction that writes a timer job notifies it (payload: the
earliest due time written, ISO 8601), so sleeping workers in other processes wake up."""

log = logging.getLogger("pathfinder.execution")


STATUS_KEYS = ("stage", "status")
"""Data keys whose changes are recorded as `status_changed` events (plus every `*_status`)."""


class StepFailed(Exception):
    """A model step failed while a job (a timer firing) ran the instance; raised instead of
    putting the instance in error so the job's transaction rolls back and the job is retried."""

    def __init__(self, message: str, element_id: str | None, element_name: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.element_id = element_id
        self.element_name = element_name


class EngineGuardError(Exception):
    """Raised from inside engine steps to stop runaway work (recursion, endless loops)."""

    def __init__(self, message: str, element_id: str | None) -> None:
        super().__init__(message)
        self.element_id = element_id


@dataclass
class Runtime:
    """The collaborators every instance operation needs."""

    clock: Clock
    script_engine: Any
    specs: SpecCache = field(default_factory=SpecCache)
    max_call_depth: int = 20
    """Call activities nested deeper than this stop the instance with an error."""
    max_steps: int = 10_000
    """Automatic steps in one go beyond which the instance stops (an endless loop)."""
    max_seconds: float = 30.0
    """Wall time one engine run may take before the instance stops."""
    max_timer_catch_up: int = 10
    """Owed occurrences of one timer cycle fired in one run; the rest are skipped."""
    min_timer_period: float = 60.0
    """A cycle computed at run time that repeats more often than this stops the instance."""
    versions: dict[int, ProcessVersion] = field(default_factory=dict)
    """Detached copies of process version rows by id (never changed once deployed), so a
    step does not read the version and its spec again; see `version_by_id`."""
    on_timer_written: Callable[[datetime], None] | None = None
    """Called after the commit of a transaction that wrote a timer job, with the earliest due
    time written (an in-process worker uses it to wake up early). Must not block."""

    def now(self) -> datetime:
        """The current time on the runtime's clock."""
        return self.clock.now()


@dataclass
class Loaded:
    """An instance row with its restored workflow, inside one transaction."""

    session: Session
    rt: Runtime
    row: Instance
    version: ProcessVersion
    wf: BpmnWorkflow
    recorder: Recorder
    worker: str | None = None
    """The timer worker running this instance, if any; recorded on `timer_fired` events."""
    skipped: dict[str, list[tuple[datetime, datetime]]] = field(default_factory=dict)
    """Owed cycle occurrences skipped in this run, [from, to) by timer task id: not fired."""
    ready_rows: frozenset[str] | None = None
    """Ids of the instance's `ready` task rows as loaded (the workflow's READY manual tasks at
    its last save); `save` writes only the difference. None: unknown, so `save` queries them."""
    added_rows: list[HumanTask] = field(default_factory=list)
    """Task rows `save` added (the tasks that became ready in this transaction)."""
    timer_rows: dict[str, tuple[str, datetime]] | None = None
    """The instance's timer job rows as loaded, task id -> (element id, due time); None:
    unknown, so `save` queries them."""


def version_of(session: Session, process_key: str, version: int | None) -> ProcessVersion:
    """The process version to start: the one asked for, else the newest."""
    query = select(ProcessVersion).where(ProcessVersion.process_key == process_key)
    if version is not None:
        query = query.where(ProcessVersion.version == version)
    pv = session.execute(query.order_by(ProcessVersion.version.desc()).limit(1)).scalar()
    if pv is None:
        what = f"version {version} of " if version is not None else ""
        raise NotFound(
            f"No {what}process model '{process_key}' is deployed.", process_key=process_key
        )
    return pv


def specs_of(rt: Runtime, pv: ProcessVersion) -> tuple[Any, dict[str, Any]]:
    """The parsed process and subprocess specs of an executable version (cached)."""
    if not pv.executable or pv.spec_json is None:
        raise NotExecutable(
            f"Process '{pv.process_key}' version {pv.version} cannot be started: "
            f"{pv.not_executable_reason or 'it is not executable'}",
            process_key=pv.process_key,
            version=pv.version,
        )
    return rt.specs.get(pv.id, pv.dialect, pv.spec_json)


MAX_CACHED_VERSIONS = 256


def version_by_id(session: Session, rt: Runtime, version_id: int) -> ProcessVersion:
    """The process version row in `session`, from `rt.versions` without a query when cached.

    A version row is immutable once deployed, so a detached copy of its columns (not its
    relationships: the process model's lane roles do change) can be merged into each session."""
    cached = rt.versions.get(version_id)
    if cached is None:
        return remember_version(rt, session.get_one(ProcessVersion, version_id))
    return session.merge(cached, load=False)


def remember_version(rt: Runtime, pv: ProcessVersion) -> ProcessVersion:
    """Keep a detached copy of `pv`'s columns in `rt.versions`; returns `pv`."""
    if pv.id not in rt.versions:
        columns = {a.key: getattr(pv, a.key) for a in inspect(ProcessVersion).column_attrs}
        copy = ProcessVersion(**columns)
        make_transient_to_detached(copy)
        if len(rt.versions) >= MAX_CACHED_VERSIONS:
            rt.versions.clear()
        rt.versions[pv.id] = copy
    return pv


def lock_instance(session: Session, instance_id: int) -> Instance:
    """The instance row, locked for this transaction (PostgreSQL `FOR UPDATE`; SQLite write
    transactions are already exclusive), so writers on one instance queue up instead of racing."""
    row = session.get(Instance, instance_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise NotFound(f"Instance {instance_id} does not exist.", instance_id=instance_id)
    return row


def load(session: Session, rt: Runtime, instance_id: int) -> Loaded:
    """Load an instance and restore its workflow with the live spec of its version."""
    row = lock_instance(session, instance_id)
    pv = version_by_id(session, rt, row.process_version_id)
    set_committed_value(row, "process_version", pv)  # readable after commit, without a query
    wf = load_state(pv.dialect, row.state, specs_of(rt, pv))
    wf.script_engine = rt.script_engine
    loaded = Loaded(session, rt, row, pv, wf, Recorder(session, row, rt.now()))
    # `save` keeps the task and timer rows equal to the workflow's READY manual tasks and
    # waiting timers, so the restored workflow says which rows exist without a query.
    loaded.ready_rows = frozenset(_ready_by_id(wf))
    loaded.timer_rows = {
        tid: (_timer_element(task), due) for tid, (task, due) in _live_timers(loaded).items()
    }
    return loaded


def _ready_by_id(wf: BpmnWorkflow) -> dict[str, Task]:
    return {str(t.id): t for t in wf.get_tasks(state=TaskState.READY, manual=True)}


def _timer_element(task: Task) -> str:
    return element_id_of(task) or str(task.task_spec.name)


def _live_timers(loaded: Loaded) -> dict[str, tuple[Task, datetime]]:
    """The waiting timers that have job rows: those of running, suspended or failed instances."""
    return waiting_timers(loaded.wf) if loaded.row.status in ACTIVE else {}


def save(loaded: Loaded) -> None:
    """Write the loaded instance back: task and timer rows, audit events, the state."""
    row, wf = loaded.row, loaded.wf
    now = loaded.rt.now()
    _sync_tasks(loaded)
    _sync_timers(loaded)
    if row.status == "running" and wf.is_completed():
        row.status = "completed"
        row.completed_at = now
        loaded.recorder.record("instance_completed", data={"data": row.data})
    row.stage = _stage(loaded)
    row.state = dump_state(loaded.version.dialect, wf)
    row.updated_at = now
    try:
        loaded.session.flush()
    except (StaleDataError, IntegrityError) as exc:
        # Stale version, or (PostgreSQL) the same next task row inserted by a concurrent writer.
        raise Conflict(
            "This instance was changed by someone else in the meantime. Reload and try again.",
            instance_id=row.id,
        ) from exc


def open_rows(loaded: Loaded) -> list[HumanTask]:
    """The instance's open task rows after `save`, oldest first, as `queries.open_tasks` reads
    them after commit: the rows added in memory, and only the ones that stayed open are read."""
    added = {ht.id: ht for ht in loaded.added_rows}
    kept = set(_ready_by_id(loaded.wf)) - added.keys()
    rows = list(added.values())
    if kept or loaded.ready_rows is None:
        query = select(HumanTask).where(
            HumanTask.instance_id == loaded.row.id, HumanTask.state == "ready"
        )
        rows = [r for r in loaded.session.execute(query).scalars() if r.id not in added] + rows
    return sorted(rows, key=lambda ht: (ht.created_at, ht.id))


def _stage(loaded: Loaded) -> str | None:
    stage = loaded.row.data.get("stage")
    if isinstance(stage, str):
        return stage
    ready = loaded.wf.get_tasks(state=TaskState.READY, manual=True)
    return element_name_of(ready[0]) if ready else None


def element_id_of(task: Task) -> str | None:
    """The BPMN element id behind a SpiffWorkflow task (None for its own tasks)."""
    return getattr(task.task_spec, "bpmn_id", None)


def element_name_of(task: Task) -> str:
    """The element's name for people (its id when it has none)."""
    spec = task.task_spec
    return str(getattr(spec, "bpmn_name", None) or getattr(spec, "description", None) or spec.name)


def from_element(task: Task) -> str | None:
    """The element the task was reached from (for the audit trail)."""
    parent = task.parent
    while parent is not None and element_id_of(parent) is None:
        parent = parent.parent
    return element_id_of(parent) if parent is not None else None


def _properties(task: Task) -> dict[str, str]:
    ext = getattr(task.task_spec, "extensions", None) or {}
    props = ext.get("properties") or {}
    return dict(props) if isinstance(props, Mapping) else {}


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of a value (anything JSON cannot hold, such as dates, as a string)."""
    return json.loads(json.dumps(value, default=str))


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


def data_objects(wf: BpmnWorkflow) -> dict[str, Any]:
    """BPMN data objects of the workflow and its running subprocesses (shared across branches)."""
    out: dict[str, Any] = {}
    for workflow in (wf, *sorted(wf.get_active_subprocesses(), key=lambda w: w.depth)):
        out.update({k: v for k, v in (workflow.data_objects or {}).items() if v is not None})
    return out


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
    try:
        with use_clock(rt.clock):
            for _ in range(rounds):
                if time.monotonic() > deadline:
                    raise out_of_time(None)
                before = waiting_timers(wf)
                _bound_cycles(loaded, before, fired)
                before = waiting_timers(wf)
                cycles = {tid: _cycle_of(task) for tid, (task, _) in before.items()}
                wf.do_engine_steps(
                    will_complete_task=will,
                    did_complete_task=lambda t: _after_engine_task(loaded, t),
                )
                fired_now = _record_fired(loaded, before, cycles)
                for tid, count in fired_now.items():
                    fired[tid] = fired.get(tid, 0) + count
                automatic = any(not t.task_spec.manual for t in wf.get_tasks(state=TaskState.READY))
                if not (fired_now or automatic):
                    # A cycle scheduled in this run is checked now, not first when it fires.
                    _bound_cycles(loaded, waiting_timers(wf), fired)
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


def _bound_cycles(
    loaded: Loaded, waiting: dict[str, tuple[Task, datetime]], fired: Mapping[str, int]
) -> None:
    """`_bound_cycle` for every waiting cycle timer, given what each fired in this run."""
    for tid, (task, _) in waiting.items():
        if _cycle_of(task) is not None:
            _bound_cycle(loaded, task, max(loaded.rt.max_timer_catch_up - fired.get(tid, 0), 0))


def _bound_cycle(loaded: Loaded, task: Task, allowed: int) -> None:
    """Stop a cycle that repeats faster than the minimum period (computed at run time); let a
    cycle owing occurrences fire at most `allowed` more of them in this run: the older rest are
    skipped (recorded as `timer_skipped`) and it waits for its next future one."""
    rt = loaded.rt
    cycle = _cycle_of(task)
    if cycle is None:
        return
    left, seconds = cycle
    if seconds < rt.min_timer_period:
        raise EngineGuardError(
            f"The timer cycle repeats every {seconds:g} s; the shortest period allowed is "
            f"{rt.min_timer_period:g} s (setting PATHFINDER_MIN_TIMER_PERIOD). "
            "The instance was stopped.",
            element_id_of(task),
        )
    due_at = _timer_due(task)
    now = rt.now()
    if due_at is None or due_at >= now:
        return
    step = timedelta(seconds=seconds)
    owed = int((now - due_at) / step) + 1
    if left >= 0:
        owed = min(owed, left)
    skipped = owed - allowed
    if skipped <= 0:
        return
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


def _record_fired(
    loaded: Loaded,
    before: dict[str, tuple[Task, datetime]],
    cycles: Mapping[str, tuple[int, float] | None],
) -> dict[str, int]:
    """Record a `timer_fired` event per occurrence that fired since `before`, in due order.

    SpiffWorkflow may advance a cycle timer several occurrences in one `do_engine_steps` (it
    updates waiting tasks more than once), so each owed occurrence is counted from the cycle's
    state before and after.
    """
    now = loaded.rt.now()
    after = waiting_timers(loaded.wf)
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


def _due_at(loaded: Loaded, task: Task) -> datetime | None:
    due_in = _properties(task).get("dueIn")
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


def _sync_tasks(loaded: Loaded) -> None:
    """Write the task rows that changed: cancel rows of tasks no longer ready, add new ones."""
    session, row, now = loaded.session, loaded.row, loaded.rt.now()
    ready = _ready_by_id(loaded.wf)
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
        props = _properties(task)
        ext = getattr(task.task_spec, "extensions", None) or {}
        ht = HumanTask(
            id=task_id,
            instance_id=row.id,
            process_key=row.process_key,
            element_id=element_id_of(task) or task.task_spec.name,
            name=element_name_of(task),
            lane=getattr(task.task_spec, "lane", None),
            country=row.country,
            form_file=props.get("formJsonSchemaFilename"),
            ui_form_file=props.get("formUiSchemaFilename"),
            instructions=ext.get("instructionsForEndUser"),
            state="ready",
            due_at=_due_at(loaded, task),
            created_at=now,
        )
        session.add(ht)
        loaded.added_rows.append(ht)
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


def _timer_due(task: Task) -> datetime | None:
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


def waiting_timers(wf: BpmnWorkflow) -> dict[str, tuple[Task, datetime]]:
    """Waiting timer tasks of a workflow with their due times, by task id."""
    out: dict[str, tuple[Task, datetime]] = {}
    for task in wf.get_tasks(state=TaskState.WAITING):
        if _has_timer(getattr(task.task_spec, "event_definition", None)):
            due = _timer_due(task)
            if due is not None:
                out[str(task.id)] = (task, due)
    return out


def _sync_timers(loaded: Loaded) -> None:
    """Write the timer job rows that changed: delete fired or dropped ones, add new ones, move
    the due time of a cycle's next occurrence (one Core statement each, only when needed)."""
    session, row = loaded.session, loaded.row
    current = _live_timers(loaded)
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
                data={"task_id": task_id, "due_at": due_at.isoformat()},
            )
    if gone:
        session.execute(
            delete(TimerJob).where(TimerJob.instance_id == row.id, TimerJob.task_id.in_(gone))
        )
    written: list[datetime] = []
    for task_id, (task, due) in current.items():
        existing = jobs.get(task_id)
        if existing is None:
            written.append(due)
            session.add(
                TimerJob(
                    instance_id=row.id,
                    task_id=task_id,
                    element_id=_timer_element(task),
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
            session.execute(
                update(TimerJob)
                .where(TimerJob.instance_id == row.id, TimerJob.task_id == task_id)
                .values(due_at=due)
            )
            loaded.recorder.record(
                "timer_scheduled",
                element_id=element_id_of(task),
                element_name=element_name_of(task),
                data={"due_at": due.isoformat(), "task_id": task_id, "next_cycle": True},
            )
    if written:
        announce_timer(session, loaded.rt, min(written))
    loaded.timer_rows = {tid: (_timer_element(task), due) for tid, (task, due) in current.items()}


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


def require_running(row: Instance) -> None:
    """Refuse (`InstanceNotRunnable`) unless the instance is running."""
    if row.status != "running":
        raise InstanceNotRunnable(
            f"Instance {row.id} is {row.status}; it must be running for this.",
            instance_id=row.id,
            status=row.status,
        )


def require_visible(actor: Actor, row: Instance) -> None:
    """`NotFound` when the actor may not see the instance's country."""
    if not may_see_country(actor, row.country):
        raise Forbidden("This instance belongs to another country.", instance_id=row.id)
