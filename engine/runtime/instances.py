"""Instance lifecycle: start, suspend, resume, cancel, retry, messages, due timers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bpmn.messages import MessageRefused, MessageRule, waiting_message, waiting_messages
from engine.bpmn.messages import check as check_message
from engine.bpmn.serialization import load_state
from engine.clock import use_clock
from engine.errors import (
    N_,
    Conflict,
    Forbidden,
    InstanceNotRunnable,
    InvalidData,
    NotFound,
    NotReady,
)
from engine.people.access import Actor
from engine.people.permissions import may_manage_instances, may_see_country, may_start
from engine.records.history import Recorder
from engine.runtime import message_start
from engine.runtime.context import ACTIVE, Loaded, Runtime, StepFailed, jsonable
from engine.runtime.execution import (
    load,
    open_rows,
    require_running,
    require_visible,
    save,
    specs_of,
    version_to_start,
)
from engine.runtime.steps import run_engine
from engine.states import InstanceStatus
from engine.store.models import HumanTask, Instance, TimerJob


def start(
    session: Session,
    rt: Runtime,
    process_key: str,
    data: Mapping[str, Any],
    actor: Actor,
    version: int | None = None,
) -> Instance:
    """Start an instance of a process (latest version unless given) and run it until it waits."""
    return _start(session, rt, process_key, data, actor, version).row


def start_with_open(
    session: Session,
    rt: Runtime,
    process_key: str,
    data: Mapping[str, Any],
    actor: Actor,
    version: int | None = None,
) -> tuple[Instance, list[HumanTask]]:
    """`start`, with the new instance's open tasks (oldest first), known from what the start
    wrote rather than read again."""
    loaded = _start(session, rt, process_key, data, actor, version)
    return loaded.row, open_rows(loaded)


def _start(
    session: Session,
    rt: Runtime,
    process_key: str,
    data: Mapping[str, Any],
    actor: Actor,
    version: int | None,
) -> Loaded:
    pv, model = version_to_start(session, rt, process_key, version)
    if not may_start(actor, model.start_roles):
        raise Forbidden(
            f"Your roles do not allow starting '{process_key}'.", process_key=process_key
        )
    specs = specs_of(rt, pv)
    data = dict(jsonable(dict(data)))
    country = data.get("country")
    if country is not None:
        if not isinstance(country, str) or len(country) != 3 or not country.isalpha():
            raise InvalidData(
                "The country must be an ISO 3166-1 alpha-3 code.",
                {"country": "Use a code such as NPL."},
            )
        country = data["country"] = country.upper()
        if actor.has("country") and not may_see_country(actor, country):
            raise Forbidden(N_("You may only start processes for your own country."))
        active = session.execute(
            select(Instance.id).where(
                Instance.process_key == process_key,
                Instance.country == country,
                Instance.status.in_(ACTIVE),
            )
        ).scalar()
        if active is not None:
            raise Conflict(
                N_("%(country)s already has an active '%(process)s' instance (#%(instance)s)."),
                params={"country": country, "process": process_key, "instance": active},
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
        status=InstanceStatus.RUNNING,
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
    loaded.ready_rows, loaded.timer_rows = frozenset(), {}  # a new instance has no rows yet
    loaded.recorder.record(
        "instance_started", actor=actor.username, data={"data": data, "version": pv.version}
    )
    run_engine(loaded)
    message_start.deliver(loaded, data, actor.username)  # a message start waits for the start data
    save(loaded)
    return loaded


def _admin_load(session: Session, rt: Runtime, instance_id: int, actor: Actor) -> Loaded:
    if not may_manage_instances(actor):
        raise Forbidden(N_("Only admins and the Secretariat manage instances."))
    return load(session, rt, instance_id)


def suspend(
    session: Session, rt: Runtime, instance_id: int, actor: Actor, reason: str = ""
) -> Instance:
    """Pause an instance: its tasks cannot be completed and its timers do not fire."""
    loaded = _admin_load(session, rt, instance_id, actor)
    if loaded.row.status not in (InstanceStatus.RUNNING, InstanceStatus.ERROR):
        raise InstanceNotRunnable(
            N_("Instance %(instance)s is %(state)s; it cannot be suspended."),
            params={"instance": instance_id, "state": loaded.row.status},
        )
    previous = loaded.row.status
    loaded.row.status = InstanceStatus.SUSPENDED
    loaded.recorder.record(
        "instance_suspended", actor=actor.username, data={"reason": reason, "was": previous}
    )
    save(loaded)
    return loaded.row


def resume(session: Session, rt: Runtime, instance_id: int, actor: Actor) -> Instance:
    """Resume a suspended instance; timers that fell due meanwhile fire now."""
    loaded = _admin_load(session, rt, instance_id, actor)
    if loaded.row.status != InstanceStatus.SUSPENDED:
        raise InstanceNotRunnable(
            N_("Instance %(instance)s is %(state)s, not suspended."),
            params={"instance": instance_id, "state": loaded.row.status},
        )
    loaded.row.status = InstanceStatus.ERROR if loaded.row.error_message else "running"
    loaded.recorder.record("instance_resumed", actor=actor.username)
    if loaded.row.status == InstanceStatus.RUNNING:
        run_engine(loaded)
    save(loaded)
    return loaded.row


def cancel(
    session: Session, rt: Runtime, instance_id: int, actor: Actor, reason: str = ""
) -> Instance:
    """Stop an instance for good: open tasks are cancelled and its timers removed."""
    loaded = _admin_load(session, rt, instance_id, actor)
    if loaded.row.status not in ACTIVE:
        raise InstanceNotRunnable(
            N_("Instance %(instance)s is %(state)s; it cannot be cancelled."),
            params={"instance": instance_id, "state": loaded.row.status},
        )
    reason = reason.strip()
    if not reason:
        message = N_("Give the reason for cancelling: it is recorded in the case's history.")
        raise InvalidData(message, {"reason": message})
    loaded.wf.cancel()
    loaded.row.status = InstanceStatus.CANCELLED
    loaded.row.completed_at = rt.now()
    loaded.recorder.record("instance_cancelled", actor=actor.username, data={"reason": reason})
    save(loaded)
    return loaded.row


def retry(session: Session, rt: Runtime, instance_id: int, actor: Actor) -> Instance:
    """Run an errored instance again from the failed step (after its cause was fixed)."""
    loaded = _admin_load(session, rt, instance_id, actor)
    row = loaded.row
    if row.status != InstanceStatus.ERROR:
        raise InstanceNotRunnable(
            N_("Instance %(instance)s is %(state)s, not in error."),
            params={"instance": instance_id, "state": row.status},
        )
    for task in loaded.wf.get_tasks(state=TaskState.ERROR):
        task._set_state(TaskState.READY)
    row.status = InstanceStatus.RUNNING
    failed = row.error_element_id
    row.error_element_id = row.error_message = None
    loaded.recorder.record("instance_retried", actor=actor.username, element_id=failed)
    for job in session.execute(select(TimerJob).where(TimerJob.instance_id == row.id)).scalars():
        if job.state == "incident":
            job.state, job.attempts, job.next_attempt_at, job.last_error = "waiting", 0, None, None
    run_engine(loaded)
    save(loaded)
    return row


def send_message(
    session: Session,
    rt: Runtime,
    instance_id: int,
    name: str,
    payload: Mapping[str, Any],
    actor: Actor,
) -> Instance:
    """Deliver a BPMN message (for example `withdrawal`) to a waiting instance.

    The catch event's model decides who may send it and which payload fields it may carry
    (`engine.messages`); the payload reaches the model only through the event (its message
    variable), never straight into the instance variables.
    """
    loaded = load(session, rt, instance_id)
    require_visible(actor, loaded.row)
    require_running(loaded.row)
    rule = waiting_message(loaded.wf, name)
    if rule is None:
        raise NotReady(
            N_("Instance %(instance)s is not waiting for the message '%(message)s'."),
            params={"instance": instance_id, "message": name},
            message_name=name,
        )
    check_message(rule, actor, payload)
    loaded.recorder.record(
        "message_received",
        actor=actor.username,
        element_id=rule.element_id,
        element_name=rule.element_name,
        data={"message": name, "payload": jsonable(dict(payload))},
    )
    with use_clock(rt.clock):
        loaded.wf.send_event(BpmnEvent(rule.definition, jsonable(dict(payload))))
    try:
        run_engine(loaded, fail_fast=True)
    except StepFailed as err:
        # The model could not use the message (say, a date that is not one): refuse it and
        # roll back, so the case keeps waiting for a corrected message instead of stopping.
        where = f" at '{err.element_name or err.element_id}'" if err.element_id else ""
        raise MessageRefused(
            f"The message '{name}' was not recorded: the process could not use it{where} "
            f"({err.message}). Nothing was changed; correct it and send it again.",
            message_name=name,
        ) from err
    save(loaded)
    return loaded.row


def message_rules(session: Session, rt: Runtime, instance_id: int) -> list[MessageRule]:
    """What the instance's model declares for each message it is waiting for."""
    row = session.get(Instance, instance_id)
    if row is None:
        raise NotFound(f"Instance {instance_id} does not exist.", instance_id=instance_id)
    if row.status != InstanceStatus.RUNNING or not row.process_version.executable:
        return []
    wf = load_state(row.process_version.dialect, row.state, specs_of(rt, row.process_version))
    return waiting_messages(wf)


def fire_due(session: Session, rt: Runtime, instance_id: int, worker: str | None = None) -> bool:
    """Fire the instance's due timers (each owed cycle in turn) and run it on; True when it
    still has timer jobs afterwards (their leases are to be handed back), False when none is left.

    A failing step raises `StepFailed` (the caller's transaction rolls back, so the timer stays
    due and the job can be retried) instead of putting the instance in error.
    """
    with session.no_autoflush:  # the rows go out together when `save` flushes
        loaded = load(session, rt, instance_id)
        loaded.worker = worker
        if loaded.row.status != InstanceStatus.RUNNING:
            return True
        run_engine(loaded, fail_fast=True)
        save(loaded)
    return bool(loaded.timer_rows)
