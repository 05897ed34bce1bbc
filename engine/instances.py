"""Instance lifecycle: start, run engine steps, complete tasks, suspend, resume, cancel, retry.

Every function here works inside the caller's transaction: it loads the instance row, restores
the workflow, acts, writes the task, timer and audit rows and the new state, and flushes. The
optimistic lock on `Instance.lock_version` turns a concurrent change into `Conflict`.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine import forms as form_defs
from engine.access import Actor, may_act_in_lane, may_see_country, may_start
from engine.clock import Clock, add_duration, use_clock
from engine.errors import (
    Conflict,
    EngineError,
    Forbidden,
    InstanceNotRunnable,
    InvalidData,
    NotExecutable,
    NotFound,
    NotReady,
)
from engine.history import Recorder
from engine.models import HumanTask, Instance, ProcessModel, ProcessVersion, TimerJob
from engine.serialization import SpecCache, dump_state, load_state

ACTIVE = ("running", "suspended", "error")
STATUS_KEYS = ("stage", "status")
"""Data keys whose changes are recorded as `status_changed` events (plus every `*_status`)."""


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

    def now(self) -> datetime:
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
    fired: list[TimerJob] = field(default_factory=list)


# ---------------------------------------------------------------------------- loading / saving


def _version(session: Session, process_key: str, version: int | None) -> ProcessVersion:
    query = select(ProcessVersion).where(ProcessVersion.process_key == process_key)
    if version is not None:
        query = query.where(ProcessVersion.version == version)
    pv = session.execute(query.order_by(ProcessVersion.version.desc()).limit(1)).scalar()
    if pv is None:
        what = f"version {version} of " if version is not None else ""
        raise NotFound(f"No {what}process model '{process_key}' is deployed.", process_key=process_key)
    return pv


def _specs(rt: Runtime, pv: ProcessVersion) -> tuple[Any, dict[str, Any]]:
    if not pv.executable or pv.spec_json is None:
        raise NotExecutable(
            f"Process '{pv.process_key}' version {pv.version} cannot be started: "
            f"{pv.not_executable_reason or 'it is not executable'}",
            process_key=pv.process_key,
            version=pv.version,
        )
    return rt.specs.get(pv.id, pv.dialect, pv.spec_json)


def load(session: Session, rt: Runtime, instance_id: int) -> Loaded:
    """Load an instance and restore its workflow with the live spec of its version."""
    row = session.get(Instance, instance_id)
    if row is None:
        raise NotFound(f"Instance {instance_id} does not exist.", instance_id=instance_id)
    pv = row.process_version
    wf = load_state(pv.dialect, row.state, _specs(rt, pv))
    wf.script_engine = rt.script_engine
    return Loaded(session, rt, row, pv, wf, Recorder(session, row, rt.now()))


def _save(loaded: Loaded) -> None:
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
    except StaleDataError as exc:
        raise Conflict(
            "This instance was changed by someone else in the meantime. Reload and try again.",
            instance_id=row.id,
        ) from exc


def _stage(loaded: Loaded) -> str | None:
    stage = loaded.row.data.get("stage")
    if isinstance(stage, str):
        return stage
    ready = loaded.wf.get_tasks(state=TaskState.READY, manual=True)
    return _element_name(ready[0]) if ready else None


# ---------------------------------------------------------------------------- task helpers


def _element_id(task: Task) -> str | None:
    return getattr(task.task_spec, "bpmn_id", None)


def _element_name(task: Task) -> str:
    spec = task.task_spec
    return str(getattr(spec, "bpmn_name", None) or getattr(spec, "description", None) or spec.name)


def _from_element(task: Task) -> str | None:
    parent = task.parent
    while parent is not None and _element_id(parent) is None:
        parent = parent.parent
    return _element_id(parent) if parent is not None else None


def _properties(task: Task) -> dict[str, str]:
    ext = getattr(task.task_spec, "extensions", None) or {}
    props = ext.get("properties") or {}
    return dict(props) if isinstance(props, Mapping) else {}


def _jsonable(value: Any) -> Any:
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
        c.task_spec.name for c in task.children if c.state & (TaskState.DEFINITE_MASK | TaskState.FINISHED_MASK)
    ]
    names: set[str] = set()
    flows = []
    for cond, target in conds:
        text = _condition_text(cond)
        flows.append({"condition": text, "target": target})
        if cond is None:
            continue
        try:
            names.update(n.id for n in ast.walk(ast.parse(text, mode="eval")) if isinstance(n, ast.Name))
        except SyntaxError:
            pass
    values = {n: _jsonable(task.data[n]) for n in sorted(names) if n in task.data}
    return {"chosen": chosen, "flows": flows, "values": values}


def _status_key(key: str) -> bool:
    return key in STATUS_KEYS or key.endswith("_status")


def _absorb(loaded: Loaded, changed: Mapping[str, Any], actor: str | None, element_id: str | None) -> None:
    """Fold changed task data into the instance variables; record status changes."""
    if not changed:
        return
    data = dict(loaded.row.data or {})
    for key, value in changed.items():
        value = _jsonable(value)
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
    element = _element_id(task)
    if element is None:
        return
    payload: dict[str, Any] = {"from": _from_element(task), "type": type(task.task_spec).__name__}
    decision = _gateway_decision(task)
    if decision is not None:
        loaded.recorder.record(
            "gateway_decision", element_id=element, element_name=_element_name(task), data=decision
        )
    loaded.recorder.record(
        "element_completed", element_id=element, element_name=_element_name(task), data=payload
    )
    parent_data = task.parent.data if task.parent is not None else {}
    changed = {k: v for k, v in task.data.items() if k not in parent_data or parent_data[k] != v}
    _absorb(loaded, changed, None, element)


def run_engine(loaded: Loaded) -> None:
    """Run automatic steps until the instance waits; on failure put it in the error state."""
    rt = loaded.rt
    steps = 0

    def will(task: Task) -> None:
        nonlocal steps
        steps += 1
        if task.workflow.depth > rt.max_call_depth:
            raise EngineGuardError(
                f"Call activities are nested more than {rt.max_call_depth} deep "
                "(a process that calls itself without end?). The instance was stopped.",
                _element_id(task),
            )
        if steps > rt.max_steps:
            raise EngineGuardError(
                f"More than {rt.max_steps} automatic steps ran without waiting for a person or a "
                "timer (an endless loop?). The instance was stopped.",
                _element_id(task),
            )

    try:
        with use_clock(rt.clock):
            loaded.wf.do_engine_steps(
                will_complete_task=will, did_complete_task=lambda t: _after_engine_task(loaded, t)
            )
    except EngineError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure inside the model becomes an incident
        _mark_error(loaded, exc)


def _failing_element(loaded: Loaded, exc: Exception) -> tuple[str | None, str | None]:
    if isinstance(exc, EngineGuardError):
        return exc.element_id, None
    task = getattr(exc, "task", None)
    if task is not None:
        return _element_id(task), _element_name(task)
    spec = getattr(exc, "task_spec", None)
    if spec is not None:
        return getattr(spec, "bpmn_id", None), getattr(spec, "bpmn_name", None)
    errored = loaded.wf.get_tasks(state=TaskState.ERROR)
    if errored:
        return _element_id(errored[0]), _element_name(errored[0])
    return None, None


def _mark_error(loaded: Loaded, exc: Exception) -> None:
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


# ---------------------------------------------------------------------------- row synchronisation


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
            element_id=_element_id(task),
            data={"message": f"Could not compute the due date from dueIn={due_in!r}."},
        )
        return None


def _sync_tasks(loaded: Loaded) -> None:
    session, row, now = loaded.session, loaded.row, loaded.rt.now()
    ready = {str(t.id): t for t in loaded.wf.get_tasks(state=TaskState.READY, manual=True)}
    existing = {
        t.id: t
        for t in session.execute(
            select(HumanTask).where(HumanTask.instance_id == row.id, HumanTask.state == "ready")
        ).scalars()
    }
    for task_id, ht in existing.items():
        if task_id not in ready:
            ht.state = "cancelled"
            ht.completed_at = now
            loaded.recorder.record(
                "task_cancelled", element_id=ht.element_id, element_name=ht.name, data={"task_id": task_id}
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
            element_id=_element_id(task) or task.task_spec.name,
            name=_element_name(task),
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
        loaded.recorder.record(
            "task_ready",
            element_id=ht.element_id,
            element_name=ht.name,
            data={"task_id": task_id, "lane": ht.lane, "due_at": ht.due_at.isoformat() if ht.due_at else None},
        )


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


def waiting_timers(wf: BpmnWorkflow) -> dict[str, tuple[Task, datetime]]:
    """Waiting timer tasks of a workflow with their due times, by task id."""
    out: dict[str, tuple[Task, datetime]] = {}
    for task in wf.get_tasks(state=TaskState.WAITING):
        if isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition):
            due = _timer_due(task)
            if due is not None:
                out[str(task.id)] = (task, due)
    return out


def _sync_timers(loaded: Loaded) -> None:
    session, row = loaded.session, loaded.row
    current = waiting_timers(loaded.wf) if row.status in ("running", "suspended", "error") else {}
    jobs = {
        j.task_id: j for j in session.execute(select(TimerJob).where(TimerJob.instance_id == row.id)).scalars()
    }
    for task_id, job in jobs.items():
        if task_id not in current:
            session.delete(job)
    for task_id, (task, due) in current.items():
        job = jobs.get(task_id)
        if job is None:
            session.add(
                TimerJob(
                    instance_id=row.id,
                    task_id=task_id,
                    element_id=_element_id(task) or task.task_spec.name,
                    kind=type(task.task_spec.event_definition).__name__,
                    due_at=due,
                    state="waiting",
                    attempts=0,
                )
            )
            loaded.recorder.record(
                "timer_scheduled",
                element_id=_element_id(task),
                element_name=_element_name(task),
                data={"due_at": due.isoformat(), "task_id": task_id},
            )
        elif _aware(job.due_at) != due:
            job.due_at = due
            loaded.recorder.record(
                "timer_scheduled",
                element_id=_element_id(task),
                element_name=_element_name(task),
                data={"due_at": due.isoformat(), "task_id": task_id, "next_cycle": True},
            )


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------- operations


def _require_running(row: Instance) -> None:
    if row.status != "running":
        raise InstanceNotRunnable(
            f"Instance {row.id} is {row.status}; it must be running for this.",
            instance_id=row.id,
            status=row.status,
        )


def _require_visible(actor: Actor, row: Instance) -> None:
    if not may_see_country(actor, row.country):
        raise Forbidden("This instance belongs to another country.", instance_id=row.id)


def start(
    session: Session,
    rt: Runtime,
    process_key: str,
    data: Mapping[str, Any],
    actor: Actor,
    version: int | None = None,
) -> Instance:
    """Start an instance of a process (latest version unless given) and run it until it waits."""
    pv = _version(session, process_key, version)
    model = session.get(ProcessModel, process_key)
    if not may_start(actor, model.start_roles if model else ()):
        raise Forbidden(f"Your roles do not allow starting '{process_key}'.", process_key=process_key)
    specs = _specs(rt, pv)
    data = _jsonable(dict(data))
    country = data.get("country")
    if country is not None:
        if not isinstance(country, str) or len(country) != 3 or not country.isalpha():
            raise InvalidData(
                "The country must be an ISO 3166-1 alpha-3 code.", {"country": "Use a code such as NPL."}
            )
        country = data["country"] = country.upper()
        if actor.has("country") and not may_see_country(actor, country):
            raise Forbidden("You may only start processes for your own country.")
        active = session.execute(
            select(Instance.id).where(
                Instance.process_key == process_key,
                Instance.country == country,
                Instance.status.in_(ACTIVE),
            )
        ).scalar()
        if active is not None:
            raise Conflict(
                f"{country} already has an active '{process_key}' instance (#{active}).",
                instance_id=active,
            )
    now = rt.now()
    wf = BpmnWorkflow(specs[0], specs[1], script_engine=rt.script_engine)
    wf.task_tree.data.update(data)
    for task in wf.get_tasks(state=TaskState.READY):
        task.data.update(data)
    row = Instance(
        process_version_id=pv.id,
        process_key=process_key,
        status="running",
        business_key=country,
        country=country,
        label=str(data.get("country_name") or data.get("label") or country or process_key),
        data=data,
        state="{}",
        started_by=actor.username,
        created_at=now,
        updated_at=now,
        audit_count=0,
    )
    session.add(row)
    session.flush()
    loaded = Loaded(session, rt, row, pv, wf, Recorder(session, row, now))
    loaded.recorder.record(
        "instance_started", actor=actor.username, data={"data": data, "version": pv.version}
    )
    run_engine(loaded)
    _save(loaded)
    return row


def ready_task(session: Session, task_id: str) -> HumanTask:
    """The task row, or NotFound."""
    ht = session.get(HumanTask, task_id)
    if ht is None:
        raise NotFound(f"Task {task_id} does not exist.", task_id=task_id)
    return ht


def check_may_act(session: Session, actor: Actor, ht: HumanTask) -> None:
    """Refuse when the actor's roles, country or the task's claim do not allow acting on it."""
    model = session.get(ProcessModel, ht.process_key)
    lane_roles = model.lane_roles if model else {}
    if not may_see_country(actor, ht.country):
        raise Forbidden("This task belongs to another country.", task_id=ht.id)
    if not may_act_in_lane(actor, ht.lane, lane_roles):
        raise Forbidden(f"Only the '{ht.lane}' lane's role may act on this task.", task_id=ht.id)


def _open_task(session: Session, actor: Actor, task_id: str) -> HumanTask:
    ht = ready_task(session, task_id)
    check_may_act(session, actor, ht)
    if ht.state != "ready":
        who = f" by {ht.completed_by}" if ht.completed_by else ""
        raise NotReady(
            f"'{ht.name}' is no longer open: it was {ht.state}{who}.", task_id=task_id, state=ht.state
        )
    return ht


def complete_task(
    session: Session,
    rt: Runtime,
    task_id: str,
    data: Mapping[str, Any],
    actor: Actor,
    *,
    expected_version: int | None = None,
) -> Instance:
    """Complete a READY human task with validated form data and run the instance on."""
    ht = _open_task(session, actor, task_id)
    if ht.claimed_by and ht.claimed_by != actor.username and not actor.has("admin", "secretariat"):
        raise Conflict(f"'{ht.name}' is claimed by {ht.claimed_by}.", task_id=task_id)
    loaded = load(session, rt, ht.instance_id)
    row = loaded.row
    _require_running(row)
    if expected_version is not None and row.lock_version != expected_version:
        raise Conflict(
            "This instance changed since you opened the task. Reload to see the latest state.",
            instance_id=row.id,
        )
    form = form_defs.load_form(loaded.version.forms, ht.form_file, ht.ui_form_file)
    clean = form_defs.validate(form, data)
    task = loaded.wf.get_task_from_id(UUID(task_id))
    if task is None or task.state != TaskState.READY:
        raise NotReady(f"'{ht.name}' is not ready.", task_id=task_id)
    task.set_data(**_jsonable(clean))
    try:
        with use_clock(rt.clock):
            task.run()
    except Exception as exc:  # noqa: BLE001 - a failing post-script becomes an incident
        _mark_error(loaded, exc)
    now = rt.now()
    ht.state = "completed"
    ht.completed_at = now
    ht.completed_by = actor.username
    ht.draft = None
    loaded.recorder.record(
        "task_completed",
        actor=actor.username,
        element_id=ht.element_id,
        element_name=ht.name,
        data={"task_id": task_id, "lane": ht.lane, "submitted": _jsonable(clean), "from": _from_element(task)},
    )
    _absorb(loaded, clean, actor.username, ht.element_id)
    if row.status == "running":
        run_engine(loaded)
    _save(loaded)
    return row


def claim(session: Session, task_id: str, actor: Actor, assignee: str | None = None, *, now: datetime) -> HumanTask:
    """Claim a task for `actor` (or, for the Secretariat and admins, assign it to `assignee`)."""
    ht = _open_task(session, actor, task_id)
    target = assignee or actor.username
    if assignee and assignee != actor.username and not actor.has("admin", "secretariat"):
        raise Forbidden("Only the Secretariat and admins assign tasks to colleagues.")
    if ht.claimed_by and ht.claimed_by != actor.username and not actor.has("admin", "secretariat"):
        raise Conflict(f"'{ht.name}' is already claimed by {ht.claimed_by}.", task_id=task_id)
    row = session.get(Instance, ht.instance_id)
    assert row is not None
    ht.claimed_by = target
    row.updated_at = now
    Recorder(session, row, now).record(
        "task_claimed" if target == actor.username else "task_assigned",
        actor=actor.username,
        element_id=ht.element_id,
        element_name=ht.name,
        data={"task_id": task_id, "claimed_by": target},
    )
    _flush(session, row)
    return ht


def unclaim(session: Session, task_id: str, actor: Actor, *, now: datetime) -> HumanTask:
    """Release a claim so anyone in the lane may take the task."""
    ht = _open_task(session, actor, task_id)
    if ht.claimed_by is None:
        return ht
    if ht.claimed_by != actor.username and not actor.has("admin", "secretariat"):
        raise Forbidden(f"'{ht.name}' is claimed by {ht.claimed_by}; only they can release it.")
    row = session.get(Instance, ht.instance_id)
    assert row is not None
    previous, ht.claimed_by = ht.claimed_by, None
    row.updated_at = now
    Recorder(session, row, now).record(
        "task_unclaimed",
        actor=actor.username,
        element_id=ht.element_id,
        element_name=ht.name,
        data={"task_id": task_id, "was_claimed_by": previous},
    )
    _flush(session, row)
    return ht


def save_draft(session: Session, task_id: str, data: Mapping[str, Any], actor: Actor) -> HumanTask:
    """Keep unfinished form input on the task (not validated, not part of the instance data)."""
    ht = _open_task(session, actor, task_id)
    ht.draft = _jsonable(dict(data))
    ht.draft_by = actor.username
    session.flush()
    return ht


def _flush(session: Session, row: Instance) -> None:
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict("This instance was changed by someone else. Reload and try again.") from exc


def _admin_load(session: Session, rt: Runtime, instance_id: int, actor: Actor) -> Loaded:
    if not actor.has("admin", "secretariat"):
        raise Forbidden("Only admins and the Secretariat manage instances.")
    return load(session, rt, instance_id)


def suspend(session: Session, rt: Runtime, instance_id: int, actor: Actor, reason: str = "") -> Instance:
    """Pause an instance: its tasks cannot be completed and its timers do not fire."""
    loaded = _admin_load(session, rt, instance_id, actor)
    if loaded.row.status not in ("running", "error"):
        raise InstanceNotRunnable(f"Instance {instance_id} is {loaded.row.status}; it cannot be suspended.")
    previous = loaded.row.status
    loaded.row.status = "suspended"
    loaded.recorder.record("instance_suspended", actor=actor.username, data={"reason": reason, "was": previous})
    _save(loaded)
    return loaded.row


def resume(session: Session, rt: Runtime, instance_id: int, actor: Actor) -> Instance:
    """Resume a suspended instance; timers that fell due meanwhile fire now."""
    loaded = _admin_load(session, rt, instance_id, actor)
    if loaded.row.status != "suspended":
        raise InstanceNotRunnable(f"Instance {instance_id} is {loaded.row.status}, not suspended.")
    loaded.row.status = "error" if loaded.row.error_message else "running"
    loaded.recorder.record("instance_resumed", actor=actor.username)
    if loaded.row.status == "running":
        _fire_in(loaded)
    _save(loaded)
    return loaded.row


def cancel(session: Session, rt: Runtime, instance_id: int, actor: Actor, reason: str = "") -> Instance:
    """Stop an instance for good: open tasks are cancelled and its timers removed."""
    loaded = _admin_load(session, rt, instance_id, actor)
    if loaded.row.status not in ACTIVE:
        raise InstanceNotRunnable(f"Instance {instance_id} is {loaded.row.status}; it cannot be cancelled.")
    loaded.wf.cancel()
    loaded.row.status = "cancelled"
    loaded.row.completed_at = rt.now()
    loaded.recorder.record("instance_cancelled", actor=actor.username, data={"reason": reason})
    _save(loaded)
    return loaded.row


def retry(session: Session, rt: Runtime, instance_id: int, actor: Actor) -> Instance:
    """Run an errored instance again from the failed step (after its cause was fixed)."""
    loaded = _admin_load(session, rt, instance_id, actor)
    row = loaded.row
    if row.status != "error":
        raise InstanceNotRunnable(f"Instance {instance_id} is {row.status}, not in error.")
    for task in loaded.wf.get_tasks(state=TaskState.ERROR):
        task._set_state(TaskState.READY)
    row.status = "running"
    failed = row.error_element_id
    row.error_element_id = row.error_message = None
    loaded.recorder.record("instance_retried", actor=actor.username, element_id=failed)
    for job in session.execute(select(TimerJob).where(TimerJob.instance_id == row.id)).scalars():
        if job.state == "incident":
            job.state, job.attempts, job.next_attempt_at, job.last_error = "waiting", 0, None, None
    _fire_in(loaded)
    _save(loaded)
    return row


def send_message(
    session: Session, rt: Runtime, instance_id: int, name: str, payload: Mapping[str, Any], actor: Actor
) -> Instance:
    """Deliver a BPMN message (for example `withdrawal`) to a waiting instance."""
    loaded = load(session, rt, instance_id)
    _require_visible(actor, loaded.row)
    _require_running(loaded.row)
    definition = _message_definition(loaded.wf, name)
    if definition is None:
        raise NotReady(f"Instance {instance_id} is not waiting for the message '{name}'.", message=name)
    if not actor.has("admin", "secretariat", "country"):
        raise Forbidden(f"Your roles do not allow sending '{name}'.")
    loaded.recorder.record("message_received", actor=actor.username, data={"message": name, "payload": dict(payload)})
    with use_clock(rt.clock):
        loaded.wf.send_event(BpmnEvent(definition, _jsonable(dict(payload))))
    _absorb(loaded, payload, actor.username, None)
    run_engine(loaded)
    _save(loaded)
    return loaded.row


def _message_definition(wf: BpmnWorkflow, name: str) -> Any:
    specs: Iterable[Any] = [t.task_spec for t in wf.get_tasks(state=TaskState.WAITING)]
    for spec in specs:
        ev = getattr(spec, "event_definition", None)
        if ev is not None and getattr(ev, "name", None) == name:
            return type(ev)(name)
    return None


def fire_due(session: Session, rt: Runtime, instance_id: int) -> list[TimerJob]:
    """Fire the instance's due timers (each owed cycle in turn) and run it on."""
    loaded = load(session, rt, instance_id)
    if loaded.row.status != "running":
        return []
    _fire_in(loaded)
    _save(loaded)
    return loaded.fired


def _fire_in(loaded: Loaded, limit: int = 1000) -> None:
    """Refresh timers until nothing more is due; each firing is recorded in order."""
    now = loaded.rt.now()
    for _ in range(limit):
        due = {tid: d for tid, (_t, d) in waiting_timers(loaded.wf).items() if d <= now}
        if not due or loaded.row.status != "running":
            return
        before = {tid: (t, d) for tid, (t, d) in waiting_timers(loaded.wf).items()}
        with use_clock(loaded.rt.clock):
            loaded.wf.refresh_timers()
        after = waiting_timers(loaded.wf)
        progressed = False
        for tid, (task, due_at) in sorted(before.items(), key=lambda kv: kv[1][1]):
            if tid in due and (tid not in after or after[tid][1] != due_at):
                progressed = True
                loaded.recorder.record(
                    "timer_fired",
                    element_id=_element_id(task),
                    element_name=_element_name(task),
                    data={"due_at": due_at.isoformat(), "task_id": tid},
                )
        run_engine(loaded)
        if not progressed:
            return

