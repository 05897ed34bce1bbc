"""Human tasks: completing with validated form data, claiming, assigning, drafts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine.bpmn import forms as form_defs
from engine.bpmn.given_rows import with_given_rows
from engine.clock import use_clock
from engine.errors import N_, Conflict, Forbidden, InvalidData, NotFound, NotReady
from engine.people.access import Actor
from engine.people.permissions import (
    check_may_act,
    may_act_for_others,
    may_see_instance,
    may_take_over,
)
from engine.records import attachments, submissions
from engine.records.history import Recorder
from engine.runtime.context import Loaded, Runtime, data_objects, from_element, jsonable
from engine.runtime.execution import (
    StaleRead,
    load,
    lock_instance,
    lock_task,
    open_rows,
    require_running,
    restore,
    save,
)
from engine.runtime.steps import absorb, mark_error, run_engine
from engine.runtime.writes import update_task
from engine.store.models import AuditEvent, HumanTask, Instance, User


def ready_task(session: Session, task_id: str) -> HumanTask:
    """The task row, or NotFound."""
    ht = session.get(HumanTask, task_id)
    if ht is None:
        raise NotFound(N_("Task %(task_id)s does not exist."), params={"task_id": task_id})
    return ht


def open_task(session: Session, actor: Actor, task_id: str) -> HumanTask:
    """The READY task row the actor may act on (NotFound, Forbidden or NotReady otherwise)."""
    return _check_open(session, actor, ready_task(session, task_id))


def _check_open(session: Session, actor: Actor, ht: HumanTask) -> HumanTask:
    check_may_act(session, actor, ht)
    if ht.state != "ready":
        raise NotReady(
            N_("'%(task)s' is no longer open: it was %(state)s by %(user)s.")
            if ht.completed_by
            else N_("'%(task)s' is no longer open: it was %(state)s."),
            params={"task": ht.name, "state": ht.state, "user": ht.completed_by},
            task_id=ht.id,
            state=ht.state,
        )
    return ht


@dataclass(frozen=True)
class OpenedTask:
    """A READY task the actor may act on, with its form: checked and loaded once, then handed
    to `complete_task` / `save_draft` so one request does neither twice."""

    task: HumanTask
    form: form_defs.FormDefinition | None


def open_with_form(session: Session, actor: Actor, task_id: str) -> OpenedTask:
    """The open task (as `open_task`) and its form definition (None for a form-less task)."""
    ht = open_task(session, actor, task_id)
    return OpenedTask(ht, form_of(session, ht))


def form_of(session: Session, ht: HumanTask) -> form_defs.FormDefinition | None:
    """The task's form definition from its instance's process version (None: no form)."""
    instance = session.get(Instance, ht.instance_id)
    assert instance is not None
    version = instance.process_version
    return form_defs.load_form(version.forms, ht.form_file, ht.ui_form_file)


def complete_task(
    session: Session,
    rt: Runtime,
    task_id: str,
    data: Mapping[str, Any],
    actor: Actor,
    *,
    expected_version: int | None = None,
    max_upload_mb: float = 20.0,
    opened: OpenedTask | None = None,
    visible_only: bool = False,
) -> tuple[Instance, list[HumanTask]]:
    """Complete a READY human task with validated form data and run the instance on; returns
    the instance and its open tasks afterwards (oldest first), known from what the completion
    wrote rather than read again. `visible_only`: a task of an instance the actor may not see
    (`may_see_instance`, the API's rule) is `NotFound`, checked inside this transaction.

    Attachment ids in file fields must name files uploaded for this task and field; they are
    marked attached here and their hashes go into the `task_completed` event. `opened` is the
    task already checked and its form already loaded in this transaction (`open_with_form`).
    Rows are written by `save` (`engine.runtime.writes`); in a `lock_late` transaction (SQLite)
    all else runs on a read snapshot, and if the instance changed meanwhile (`StaleRead`) it runs
    once more under the write lock, meeting the change as if it had waited (`NotReady`...)."""
    with session.no_autoflush:
        for again in (False, True):
            try:
                loaded = _complete_task(
                    session,
                    rt,
                    task_id,
                    data,
                    actor,
                    expected_version,
                    max_upload_mb=max_upload_mb,
                    opened=None if again else opened,  # the task is opened again, current
                    visible_only=visible_only,
                )
                break
            except StaleRead:
                if again:  # cannot happen: the second run holds the lock
                    raise
                session.expunge_all()  # what the snapshot read, and the step's objects
        return loaded.row, open_rows(loaded)


def _check_claim(actor: Actor, ht: HumanTask) -> None:
    if ht.claimed_by and ht.claimed_by != actor.username and not may_act_for_others(actor):
        raise Conflict(
            N_("'%(task)s' is claimed by %(user)s."),
            params={"task": ht.name, "user": ht.claimed_by},
            task_id=ht.id,
        )


def _open_locked(
    session: Session, rt: Runtime, actor: Actor, task_id: str, *, visible_only: bool
) -> tuple[HumanTask, Loaded]:
    """The open task and its loaded instance, for a completion that did not open the task
    before: the instance locked, the task read current, with its process model's lane roles
    (`lock_task`). `visible_only`: another country's task is `NotFound` as `may_see_instance`
    says (the API's rule), checked here rather than in a read of its own."""
    found = lock_task(session, task_id)
    if found is None or (visible_only and not may_see_instance(actor, found[0])):
        raise NotFound(N_("Task %(task_id)s does not exist."), params={"task_id": task_id})
    row, ht, _model = found  # the model stays referenced: the lane check finds it in the session
    _check_open(session, actor, ht)
    _check_claim(actor, ht)
    return ht, restore(session, rt, row)


def _complete_task(
    session: Session,
    rt: Runtime,
    task_id: str,
    data: Mapping[str, Any],
    actor: Actor,
    expected_version: int | None,
    *,
    max_upload_mb: float,
    opened: OpenedTask | None = None,
    visible_only: bool = False,
) -> Loaded:
    if opened is None:
        ht, loaded = _open_locked(session, rt, actor, task_id, visible_only=visible_only)
    else:
        ht = opened.task
        _check_claim(actor, ht)
        loaded = load(session, rt, ht.instance_id)
        if session.get_bind().dialect.name != "sqlite":
            # Another writer may have completed it while we waited for the row lock. (A SQLite
            # write transaction holds the database from its first statement: `ht` is fresh.)
            session.refresh(ht)
    row = loaded.row
    if ht.state != "ready":
        raise NotReady(
            N_("'%(task)s' is no longer open: it was %(state)s by %(user)s."),
            params={"task": ht.name, "state": ht.state, "user": ht.completed_by},
            task_id=task_id,
        )
    require_running(row)
    if expected_version is not None and row.lock_version != expected_version:
        raise Conflict(
            N_("This instance changed since you opened the task. Reload to see the latest state."),
            instance_id=row.id,
        )
    form = (
        opened.form
        if opened
        else form_defs.load_form(loaded.version.forms, ht.form_file, ht.ui_form_file)
    )
    if form is not None:  # rows the case gives (the workplan's indicators) keep their values
        data = with_given_rows(form.schema, data, row.data or {})
    clean = form_defs.validate(form, data, today=rt.now().date())
    files = attachments.attach(session, ht, form, clean, max_mb=max_upload_mb)
    task = loaded.wf.get_task_from_id(UUID(task_id))
    if task is None or task.state != TaskState.READY:
        raise NotReady(N_("'%(task)s' is not ready."), params={"task": ht.name}, task_id=task_id)
    out = form_defs.outputs(form, clean)
    task.set_data(**jsonable(out))
    try:
        with use_clock(rt.clock):
            task.run()
    except Exception as exc:  # noqa: BLE001 - a failing post-script becomes an incident
        mark_error(loaded, exc)
    done = {"state": "completed", "completed_at": rt.now(), "completed_by": actor.username}
    update_task(session, ht, {**done, "draft": None})  # even one saved after our snapshot
    loaded.recorder.record(
        "task_completed",
        actor=actor.username,
        element_id=ht.element_id,
        element_name=ht.name,
        data={
            "task_id": task_id,
            "lane": ht.lane,
            "submitted": jsonable(clean),
            "from": from_element(task),
            **({"attachments": files} if files else {}),
        },
    )
    submissions.record(
        session, ht, jsonable(clean), files, actor=actor.username, now=loaded.recorder.at
    )
    absorb(loaded, data_objects(loaded.wf), actor.username, ht.element_id)
    absorb(loaded, out, actor.username, ht.element_id)
    if row.status == "running":
        run_engine(loaded)
    save(loaded)
    return loaded


def claim(
    session: Session, task_id: str, actor: Actor, assignee: str | None = None, *, now: datetime
) -> HumanTask:
    """Claim a task for `actor` (or, for the Secretariat and admins, assign it to `assignee`)."""
    ht = open_task(session, actor, task_id)
    target = assignee or actor.username
    if assignee and assignee != actor.username and not may_act_for_others(actor):
        raise Forbidden(N_("Only the Secretariat and admins assign tasks to colleagues."))
    if target != actor.username:
        _require_may_act(session, ht, target)
    if ht.claimed_by and ht.claimed_by != actor.username and not may_act_for_others(actor):
        raise Conflict(
            N_("'%(task)s' is already claimed by %(user)s."),
            params={"task": ht.name, "user": ht.claimed_by},
            task_id=task_id,
        )
    row = lock_instance(session, ht.instance_id)
    session.refresh(ht)
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
    ht = open_task(session, actor, task_id)
    if ht.claimed_by is None:
        return ht
    if ht.claimed_by != actor.username and not may_act_for_others(actor):
        raise Forbidden(
            N_("'%(task)s' is claimed by %(user)s; only they can release it."),
            params={"task": ht.name, "user": ht.claimed_by},
        )
    row = lock_instance(session, ht.instance_id)
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


def take_over(
    session: Session, task_id: str, actor: Actor, reason: str, *, now: datetime
) -> HumanTask:
    """Move a task someone else holds to `actor`, with the reason on the audit trail."""
    ht = open_task(session, actor, task_id)
    if not may_take_over(actor):
        raise Forbidden(N_("Only the Secretariat and admins take over a colleague's task."))
    reason = reason.strip()
    if not reason:
        raise InvalidData(
            N_("Say why you take it over."), {"reason": N_("Say why you take it over.")}
        )
    if ht.claimed_by in (None, actor.username):
        return claim(session, task_id, actor, now=now)
    row = lock_instance(session, ht.instance_id)
    session.refresh(ht)
    previous, ht.claimed_by = ht.claimed_by, actor.username
    row.updated_at = now
    Recorder(session, row, now).record(
        "task_taken_over",
        actor=actor.username,
        element_id=ht.element_id,
        element_name=ht.name,
        data={
            "task_id": task_id,
            "claimed_by": actor.username,
            "previous": previous,
            "reason": reason,
        },
    )
    _flush(session, row)
    return ht


def held_since(session: Session, ht: HumanTask) -> datetime | None:
    """When the task's current holder got it (from the audit trail)."""
    kinds = ("task_claimed", "task_assigned", "task_taken_over")
    events = session.execute(
        select(AuditEvent)
        .where(AuditEvent.instance_id == ht.instance_id, AuditEvent.kind.in_(kinds))
        .order_by(AuditEvent.seq.desc())
    ).scalars()
    return next((e.at for e in events if (e.data or {}).get("task_id") == ht.id), None)


def _require_may_act(session: Session, ht: HumanTask, username: str) -> None:
    """Refuse to assign a task to anyone who could not act on it (unknown, inactive, wrong role
    or country): they would get the mail and the task would be stuck."""
    user = session.execute(select(User).where(User.username == username)).scalar()
    refusal = InvalidData(
        f"'{username}' cannot be assigned '{ht.name}'.",
        {"assignee": "Choose an active colleague whose role and country may act on this task."},
    )
    if user is None or not user.active:
        raise refusal
    try:
        check_may_act(session, Actor(user.username, user.roles or (), user.country), ht)
    except (Forbidden, NotFound) as exc:  # another country's task is NotFound to its users
        raise refusal from exc


def save_draft(
    session: Session,
    task_id: str,
    data: Mapping[str, Any],
    actor: Actor,
    *,
    max_kb: int = 256,
    max_upload_mb: float = 20.0,
    opened: OpenedTask | None = None,
) -> HumanTask:
    """Keep unfinished form input on the task (not part of the instance data).

    Not validated against the form (it is unfinished), but held to what a submission is: file
    fields may name only files uploaded for this task, and the draft is at most `max_kb`."""
    ht = opened.task if opened else open_task(session, actor, task_id)
    draft = jsonable(dict(data))
    if len(json.dumps(draft, default=str)) > max_kb * 1024:
        raise InvalidData(
            f"This draft is larger than {max_kb} KB; shorten the answers or submit the form.",
            {"_draft": f"At most {max_kb} KB."},
        )
    if ht.form_file:
        form = opened.form if opened else form_of(session, ht)
        attachments.attach(session, ht, form, draft, max_mb=max_upload_mb, mark=False)
    ht.draft = draft
    ht.draft_by = actor.username
    session.flush()
    return ht


def _flush(session: Session, row: Instance) -> None:
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(
            N_("This instance was changed by someone else. Reload and try again.")
        ) from exc
