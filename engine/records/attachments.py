"""Documents uploaded in task forms: stored once per content (SHA-256), recorded per upload,
attached when their task completes, and proven by the audit history.

A file is stored before its form is submitted, so a form refused for another reason keeps it.
Completing the task checks each attachment id the data names (uploaded for this task and field),
marks it attached in the same transaction and puts `{id, filename, size, sha256}` in the
`task_completed` event; `verify_attachments` recomputes the stored files' hashes against those
events. Storage sits behind `Store` (`engine.records.file_store`): the local filesystem now, an
S3-compatible bucket later.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bpmn.forms import FileRule, FormDefinition, file_fields
from engine.errors import InvalidData, NotFound
from engine.people.access import Actor
from engine.people.permissions import may_see_instance
from engine.records import history
from engine.records.file_store import LocalStore as LocalStore  # engine.core builds it here
from engine.records.file_store import Store as Store
from engine.records.filetypes import FileRefused, check
from engine.records.submissions import hidden_for
from engine.store.models import Attachment, AuditEvent, HumanTask, Instance


@dataclass(frozen=True)
class AttachmentInfo:
    """An attachment as pages, the API and the audit event show it."""

    id: str
    filename: str
    size: int
    sha256: str
    content_type: str
    field: str | None
    state: str
    uploaded_by: str
    uploaded_at: datetime
    task_id: str | None
    instance_id: int | None

    @classmethod
    def of(cls, row: Attachment) -> AttachmentInfo:
        """The read view of an attachment row."""
        return cls(
            id=row.id,
            filename=row.filename,
            size=row.size,
            sha256=row.sha256,
            content_type=row.content_type,
            field=row.field,
            state=row.state,
            uploaded_by=row.uploaded_by,
            uploaded_at=row.uploaded_at,
            task_id=row.task_id,
            instance_id=row.instance_id,
        )

    def reference(self) -> dict[str, Any]:
        """What the `task_completed` event records (and its hash therefore proves)."""
        return {
            "id": self.id,
            "field": self.field,
            "filename": self.filename,
            "size": self.size,
            "sha256": self.sha256,
        }


def store_upload(
    session: Session,
    store: Store,
    ht: HumanTask,
    form: FormDefinition | None,
    field: str,
    filename: str,
    content: bytes,
    actor: Actor,
    *,
    now: datetime,
    max_mb: float,
) -> AttachmentInfo:
    """Check and store one file for a file field of an open task the actor may act on."""
    rule = (file_fields(form.schema, max_mb) if form else {}).get(field)
    if rule is None:
        raise InvalidData(
            f"'{ht.name}' has no file field '{field}'.",
            {field or "field": "This form has no such file field."},
        )
    try:
        checked = check(filename, content, rule.accept, rule.max_bytes)
    except FileRefused as refused:
        raise InvalidData(refused.message, {field: refused.message}) from refused
    sha = hashlib.sha256(content).hexdigest()
    store.put(sha, content)
    row = Attachment(
        id=str(uuid4()),
        sha256=sha,
        size=len(content),
        filename=checked.filename,
        content_type=checked.kind.content_type,
        uploaded_by=actor.username,
        uploaded_at=now,
        task_id=ht.id,
        instance_id=ht.instance_id,
        field=field,
        state="uploaded",
    )
    session.add(row)
    session.flush()
    return AttachmentInfo.of(row)


def value_at(data: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (`actions.0.report`) of form data, or None."""
    value: Any = data
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _may_attach(row: Attachment, ht: HumanTask, path: str) -> bool:
    """Uploaded for this task and field, or (a form sent back and submitted again) already
    attached to the same field of an earlier task of the same instance."""
    if row.field != path:
        return False
    if row.task_id == ht.id:
        return True
    return row.state == "attached" and row.instance_id == ht.instance_id


def attach(
    session: Session,
    ht: HumanTask,
    form: FormDefinition | None,
    data: Mapping[str, Any],
    *,
    max_mb: float,
    mark: bool = True,
) -> list[dict[str, Any]]:
    """Check every attachment id in a task's submitted data and mark each attached; returns
    their references for the audit event. Raises `InvalidData` naming the field otherwise.

    `mark=False` only checks (a draft may hold only files uploaded for this task)."""
    rules: dict[str, FileRule] = file_fields(form.schema, max_mb) if form else {}
    refs: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    for path in rules:
        value = value_at(data, path)
        ids = value if isinstance(value, list) else [value] if value else []
        for attachment_id in ids:
            row = session.get(Attachment, attachment_id) if isinstance(attachment_id, str) else None
            if row is None or not _may_attach(row, ht, path):
                errors[path] = "This file was not uploaded for this task. Upload it again."
                continue
            if mark:
                row.state = "attached"
            refs.append(AttachmentInfo.of(row).reference())
    if errors:
        raise InvalidData(f"{len(errors)} file field(s) need attention.", errors)
    return refs


def hidden_fields(instance: Instance, actor: Actor) -> set[str]:
    """The internal fields of the instance's forms when `actor` may not see them (a country
    user): documents uploaded in them are neither listed nor served to that actor."""
    return hidden_for(instance, actor)


def lookup(
    session: Session, attachment_id: str, actor: Actor
) -> tuple[AttachmentInfo, Instance | None]:
    """An attachment the actor may download: an attached one if they may see its instance, a
    not yet submitted one only by whoever uploaded it. Anything else is `NotFound`, so ids do
    not reveal other countries' documents."""
    row = session.get(Attachment, attachment_id)
    missing = NotFound(f"Attachment {attachment_id} does not exist.")
    if row is None:
        raise missing
    instance = session.get(Instance, row.instance_id) if row.instance_id is not None else None
    if row.state == "attached":
        if instance is None or not may_see_instance(actor, instance):
            raise missing
        if _top(row.field) in hidden_fields(instance, actor):
            raise missing
    elif row.uploaded_by != actor.username:
        raise missing
    return AttachmentInfo.of(row), instance


def listing(
    session: Session,
    *,
    instance_id: int | None = None,
    task_id: str | None = None,
    hidden_fields: Iterable[str] = (),
) -> list[AttachmentInfo]:
    """Attached documents of an instance or a task, oldest first; without those uploaded in
    `hidden_fields` (the internal fields a country user may not see)."""
    hidden = set(hidden_fields)
    query = select(Attachment).where(Attachment.state == "attached")
    if instance_id is not None:
        query = query.where(Attachment.instance_id == instance_id)
    if task_id is not None:
        query = query.where(Attachment.task_id == task_id)
    rows = session.execute(query.order_by(Attachment.uploaded_at, Attachment.id)).scalars()
    return [AttachmentInfo.of(r) for r in rows if _top(r.field) not in hidden]


def _top(field: str | None) -> str:
    """The top-level form field of an upload's field path (`workplan.0.file` -> `workplan`)."""
    return (field or "").split(".")[0].split("[")[0]


def by_ids(session: Session, ids: Iterable[str]) -> dict[str, AttachmentInfo]:
    """Attachments by id (unknown ids are left out), for showing what a form holds."""
    wanted = {i for i in ids if isinstance(i, str)}
    if not wanted:
        return {}
    rows = session.execute(select(Attachment).where(Attachment.id.in_(wanted))).scalars()
    return {r.id: AttachmentInfo.of(r) for r in rows}


# -- verification --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileProblem:
    """A document the history records that no longer matches what is stored."""

    instance_id: int | None
    seq: int
    element_name: str | None
    attachment_id: str
    filename: str
    problem: str

    @property
    def message(self) -> str:
        """The problem in one sentence, naming the instance, event and file."""
        return (
            f"instance:{self.instance_id}: event #{self.seq} ({self.element_name}): "
            f"file '{self.filename}' ({self.attachment_id}) {self.problem}"
        )


def _check_ref(
    session: Session, store: Store, event: AuditEvent, ref: Mapping[str, Any]
) -> str | None:
    sha = str(ref.get("sha256") or "")
    try:
        found = store.digest(sha)
    except ValueError:
        return "has no valid SHA-256 in the history"
    if found is None:
        return "is missing from storage"
    if found != sha:
        return f"was changed on disk: its SHA-256 is now {found}, the history recorded {sha}"
    row = session.get(Attachment, str(ref.get("id")))
    if row is None or row.sha256 != sha or row.size != ref.get("size"):
        return "no longer matches its attachment record (size or SHA-256 edited)"
    return None


def verify_attachments(
    session: Session, store: Store, instance_id: int | None = None
) -> list[FileProblem]:
    """Recompute the SHA-256 of every file a `task_completed` event recorded (of one instance,
    or all); each missing or changed file is a problem naming the instance, event and file."""
    query = select(AuditEvent).where(AuditEvent.kind == "task_completed")
    if instance_id is not None:
        query = query.where(AuditEvent.instance_id == instance_id)
    problems: list[FileProblem] = []
    for event in session.execute(query.order_by(AuditEvent.id)).scalars().yield_per(500):
        refs: Sequence[Any] = (event.data or {}).get("attachments") or []
        for ref in refs:
            if not isinstance(ref, Mapping):
                continue
            problem = _check_ref(session, store, event, ref)
            if problem:
                problems.append(
                    FileProblem(
                        event.instance_id,
                        event.seq,
                        event.element_name,
                        str(ref.get("id")),
                        str(ref.get("filename")),
                        problem,
                    )
                )
    return problems


# -- uploads never attached ----------------------------------------------------------------------


def remove_stale_uploads(session: Session, *, older_than: datetime, now: datetime) -> list[str]:
    """Delete the records of uploads made before `older_than` that never became part of a
    submitted form (a draft of a still-open task that names one keeps it), recording them in one
    `uploads_removed` event on the system chain. Returns the SHA-256 of each removed upload;
    `unreferenced` says which of those files may then go from storage."""
    rows = session.execute(
        select(Attachment).where(
            Attachment.state == "uploaded", Attachment.uploaded_at < older_than
        )
    ).scalars()
    drafts: dict[str, str] = {}
    stale = []
    for row in rows:
        if row.task_id is not None and row.task_id not in drafts:
            ht = session.get(HumanTask, row.task_id)
            open_draft = ht is not None and ht.state == "ready" and ht.draft
            drafts[row.task_id] = json.dumps(ht.draft) if open_draft and ht else ""
        if row.id in drafts.get(row.task_id or "", ""):
            continue
        stale.append(row)
    if not stale:
        return []
    history.Recorder(session, None, now).record(
        "uploads_removed",
        actor="(worker)",
        data={
            "older_than": history._iso(older_than),
            "uploads": [
                {
                    "id": r.id,
                    "filename": r.filename,
                    "sha256": r.sha256,
                    "instance_id": r.instance_id,
                    "uploaded_by": r.uploaded_by,
                }
                for r in stale
            ],
        },
    )
    for row in stale:
        session.delete(row)
    return [r.sha256 for r in stale]


def unreferenced(session: Session, shas: Iterable[str]) -> set[str]:
    """Those of `shas` that no attachment record names any more (their files may go)."""
    wanted = set(shas)
    if not wanted:
        return set()
    kept = session.execute(select(Attachment.sha256).where(Attachment.sha256.in_(wanted)))
    return wanted - set(kept.scalars())
