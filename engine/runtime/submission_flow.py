"""One posted task form, handled in one transaction: files first, then a draft or a completion.

The task page posts the fields and files of a form together. `submit` checks the task and the
actor once, loads the form once, lets the caller turn the posted fields into data with that form,
stores each file (a refused file is reported by field, the others are kept), then saves a draft or
completes the task. A completion the form refuses, or that another writer beat, rolls back to a
savepoint, so the uploads are still committed and the page can show them beside the errors (with
no uploads, the whole transaction rolls back: the completion's step then runs before the write
lock, as the API's does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.exc import StaleDataError

from engine.bpmn.forms import FormDefinition, field_errors, file_fields
from engine.errors import N_, Conflict, InvalidData
from engine.people import permissions
from engine.people.access import Actor
from engine.records import attachments
from engine.records.attachments import AttachmentInfo
from engine.records.file_store import Store
from engine.runtime import tasks
from engine.runtime.context import Runtime
from engine.store.db import drop_later

STALE = N_("Someone else changed this at the same moment. Reload and try again.")

EMPTY_FORM = FormDefinition(schema={"type": "object", "properties": {}}, ui_schema={})
"""What a task without a form shows and parses: no fields."""


class SubmitAction(StrEnum):
    """What a posted task form asks for."""

    COMPLETE = "complete"
    """Validate and complete the task; the instance runs on."""
    SAVE_DRAFT = "save_draft"
    """Keep the unfinished input on the task."""
    KEEP = "keep"
    """Only store the files (the page adds or removes a row and shows the form again)."""


@dataclass(frozen=True)
class Upload:
    """One file posted for a file field of the form."""

    field: str
    """The field's dotted path (`report`, `evidence.0.file`)."""
    filename: str
    """The name the browser sent (sanitised before it is stored)."""
    content: bytes
    """The file's bytes."""


@dataclass(frozen=True)
class SubmitResult:
    """What became of one posted form."""

    task_name: str
    """The task's name, for the page's confirmation."""
    values: dict[str, Any]
    """The posted data with the ids of the files stored, to show the form again with."""
    stored: tuple[AttachmentInfo, ...] = ()
    """The files stored by this post."""
    errors: dict[str, str] = field(default_factory=dict)
    """Refusals by field path (files refused, or the form's validation); empty when done."""
    conflict: Conflict | None = None
    """Why someone else's change won (the instance moved on since the page was rendered); the
    web shows its message in the reader's language."""
    done: bool = False
    """Whether the draft was saved or the task completed."""
    element_id: str | None = None
    """The task's element id (to show its name in the reader's language)."""


def submit(
    session: Session,
    rt: Runtime,
    store: Store,
    actor: Actor,
    task_id: str,
    *,
    parse: Callable[[FormDefinition], dict[str, Any]],
    uploads: Sequence[Upload] = (),
    action: SubmitAction = SubmitAction.COMPLETE,
    expected_version: int | None = None,
    now: datetime,
    max_upload_mb: float,
    max_draft_kb: int,
) -> SubmitResult:
    """Handle one posted task form (see the module docstring); `parse` turns the posted
    fields into data with the task's form."""
    try:
        opened = tasks.open_with_form(session, actor, task_id)
    except Conflict as err:  # no longer open (done by someone else): keep what was typed
        ht = permissions.visible_task(session, actor, task_id)
        values = parse(tasks.form_of(session, ht) or EMPTY_FORM)
        return SubmitResult(ht.name or "", values, conflict=err)
    form = opened.form or EMPTY_FORM
    values = parse(form)
    refused, stored = _store(
        session, store, opened, form, values, uploads, actor, now, max_upload_mb
    )
    name = opened.task.name or ""
    if action == SubmitAction.KEEP:
        return SubmitResult(name, values, stored)
    if refused:
        errors = {**field_errors(form.schema, values, now.date()), **refused}
        return SubmitResult(name, values, stored, errors=errors)
    # Stored files stay whatever becomes of the completion; with none, nothing is written
    # yet (the completion's step may run before the write lock, `transaction(lock_late=True)`)
    # and a refusal rolls back the whole transaction.
    savepoint = session.begin_nested() if stored else None
    try:
        if action == SubmitAction.SAVE_DRAFT:
            tasks.save_draft(
                session,
                task_id,
                values,
                actor,
                max_kb=max_draft_kb,
                max_upload_mb=max_upload_mb,
                opened=opened,
            )
        else:
            tasks.complete_task(
                session,
                rt,
                task_id,
                values,
                actor,
                expected_version=expected_version,
                max_upload_mb=max_upload_mb,
                opened=opened,
            )
        session.flush()
    except InvalidData as err:
        _undo(session, savepoint)
        return SubmitResult(name, values, stored, errors=dict(err.errors))
    except Conflict as err:
        _undo(session, savepoint)
        return SubmitResult(name, values, stored, conflict=err)
    except StaleDataError:
        _undo(session, savepoint)
        return SubmitResult(name, values, stored, conflict=Conflict(STALE))
    if savepoint is not None:
        savepoint.commit()
    return SubmitResult(name, values, stored, done=True, element_id=opened.task.element_id)


def _undo(session: Session, savepoint: SessionTransaction | None) -> None:
    """Undo a refused draft or completion: back to the savepoint after the stored files, or
    the whole transaction when nothing was stored (with the writes it kept for later)."""
    if savepoint is not None:
        savepoint.rollback()
    else:
        drop_later(session)
        session.rollback()


def _store(
    session: Session,
    store: Store,
    opened: tasks.OpenedTask,
    form: FormDefinition,
    values: dict[str, Any],
    uploads: Sequence[Upload],
    actor: Actor,
    now: datetime,
    max_mb: float,
) -> tuple[dict[str, str], tuple[AttachmentInfo, ...]]:
    """Store every posted file of a file field; their ids go into `values`."""
    rules = file_fields(form.schema, max_mb)
    refused: dict[str, str] = {}
    stored: list[AttachmentInfo] = []
    for upload in uploads:
        rule = rules.get(upload.field)
        if rule is None or not upload.filename:
            continue
        try:
            info = attachments.store_upload(
                session,
                store,
                opened.task,
                form,
                upload.field,
                upload.filename,
                upload.content,
                actor,
                now=now,
                max_mb=max_mb,
            )
        except InvalidData as err:
            refused.update(err.errors)
            continue
        _put(values, upload.field, info.id, rule.multiple)
        stored.append(info)
    return refused, tuple(stored)


def _put(values: dict[str, Any], path: str, value: Any, multiple: bool) -> None:
    """Put a stored file's id at a dotted path (appended for a several-files field)."""
    *parents, last = path.split(".")
    target = values
    for part in parents:
        target = target.setdefault(part, {})
    current = target.get(last)
    earlier = current if isinstance(current, list) else [current] if current else []
    target[last] = [*earlier, value] if multiple else value
