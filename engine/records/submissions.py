"""Submissions: what each completed task submitted, kept as its own immutable record.

The instance data (the case variables gateways and scripts read) is one flat namespace in which a
later task may overwrite a name an earlier one wrote. A submission is not: it is written once, in
the transaction that completes the task, and never changed. Pages, the API and exports read what a
task recorded from here, and a form opens with exactly its own earlier answers (see `prefill`).

Form keywords read here (all optional, in the form's JSON Schema):
- `x-reviews`: element ids whose latest submission a reviewing task shows and decides on.
- `x-decision`: the reviewing form's decision field; `x-sent-back`: its values that send the
  reviewed submission back (default `["sent_back"]`).
- `x-visibility: "internal"` on a field: country users never see it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.orm import Session

from engine.bpmn.forms import FormDefinition, load_form
from engine.people.access import Actor
from engine.people.permissions import sees_internal
from engine.records import history
from engine.store.db import write_later
from engine.store.models import HumanTask, Instance, Submission
from engine.store.pg import PIPELINED
from engine.store.prepared import execute

INTERNAL = "internal"
"""`x-visibility` value of a field only staff see."""


@dataclass(frozen=True)
class SubmissionInfo:
    """One task's submission, as read by pages, the API and exports."""

    id: int
    instance_id: int
    element_id: str
    element_name: str
    task_id: str
    round: int
    form_file: str | None
    ui_form_file: str | None
    lane: str | None
    submitted_by: str
    submitted_at: datetime
    data: dict[str, Any]
    attachments: list[dict[str, Any]]

    @classmethod
    def of(cls, row: Submission) -> SubmissionInfo:
        """The read view of a submission row."""
        return cls(
            id=row.id,
            instance_id=row.instance_id,
            element_id=row.element_id,
            element_name=row.element_name,
            task_id=row.task_id,
            round=row.round,
            form_file=row.form_file,
            ui_form_file=row.ui_form_file,
            lane=row.lane,
            submitted_by=row.submitted_by,
            submitted_at=row.submitted_at,
            data=dict(row.data or {}),
            attachments=list(row.attachments or []),
        )

    def to_dict(self) -> dict[str, Any]:
        """The API's and the export's shape (dates ISO 8601 UTC)."""
        return {
            "id": self.id,
            "instance_id": self.instance_id,
            "element_id": self.element_id,
            "element_name": self.element_name,
            "task_id": self.task_id,
            "round": self.round,
            "lane": self.lane,
            "submitted_by": self.submitted_by,
            "submitted_at": self.submitted_at.isoformat(),
            "data": self.data,
            "attachments": self.attachments,
        }


_ROUND = (
    select(func.count(Submission.id))
    .where(
        Submission.instance_id == bindparam("round_instance"),
        Submission.element_id == bindparam("round_element"),
    )
    .scalar_subquery()
    + 1
)
_INSERT = (
    insert(cast(Table, Submission.__table__))
    .values(round=_ROUND)
    .inline()
    .execution_options(**{PIPELINED: True})
)
"""One prebuilt statement (its SQL is compiled once) that counts the round as it inserts. No one
reads the new row's id (`inline`: no RETURNING), so on PostgreSQL it goes to the server with
the statements after it (`PIPELINED`)."""


def record(
    session: Session,
    ht: HumanTask,
    data: Mapping[str, Any],
    files: Sequence[Mapping[str, Any]],
    *,
    actor: str,
    now: datetime,
) -> None:
    """Keep what `ht` submitted (called inside the completion's transaction). Its round is
    counted by the INSERT itself, under the write lock (the instance's version is checked there,
    so no other round can slip in); in a `lock_late` transaction it waits for it (`write_later`)."""
    params = {
        "instance_id": ht.instance_id,
        "element_id": ht.element_id,
        "element_name": ht.name,
        "task_id": ht.id,
        "form_file": ht.form_file,
        "ui_form_file": ht.ui_form_file,
        "lane": ht.lane,
        "submitted_by": actor,
        "submitted_at": now,
        "data": dict(data),
        "attachments": [dict(f) for f in files],
        "round_instance": ht.instance_id,
        "round_element": ht.element_id,
    }
    write_later(session, lambda: execute(session, _INSERT, params))


def listing(
    session: Session, instance_id: int, element_id: str | None = None
) -> list[SubmissionInfo]:
    """An instance's submissions (of one element, or all), in the order they were made."""
    query = select(Submission).where(Submission.instance_id == instance_id)
    if element_id:
        query = query.where(Submission.element_id == element_id)
    rows = session.execute(query.order_by(Submission.submitted_at, Submission.id)).scalars()
    return [SubmissionInfo.of(r) for r in rows]


def form_of(instance: Instance, sub: SubmissionInfo) -> FormDefinition | None:
    """The form a submission was made with (from the instance's version snapshot)."""
    return load_form(instance.process_version.forms, sub.form_file, sub.ui_form_file)


# ------------------------------------------------------------------------------ visibility


def internal_fields(schema: Mapping[str, Any]) -> set[str]:
    """Top-level fields the form marks `x-visibility: internal`."""
    props = schema.get("properties") or {}
    return {
        k for k, v in props.items() if isinstance(v, Mapping) and v.get("x-visibility") == INTERNAL
    }


def visible_data(
    form: FormDefinition | None, data: Mapping[str, Any], actor: Actor
) -> dict[str, Any]:
    """`data` without the fields `actor` may not see."""
    if form is None or sees_internal(actor):
        return dict(data)
    hidden = internal_fields(form.schema)
    return {k: v for k, v in data.items() if k not in hidden}


def visible_schema(form: FormDefinition, actor: Actor) -> FormDefinition:
    """The form without the fields `actor` may not see (for read-only rendering)."""
    if sees_internal(actor):
        return form
    hidden = internal_fields(form.schema)
    if not hidden:
        return form
    schema = dict(form.schema)
    schema["properties"] = {
        k: v for k, v in (schema.get("properties") or {}).items() if k not in hidden
    }
    schema["required"] = [r for r in schema.get("required") or [] if r not in hidden]
    return FormDefinition(schema=schema, ui_schema=form.ui_schema, file=form.file)


def for_actor(session: Session, instance: Instance, actor: Actor) -> list[SubmissionInfo]:
    """An instance's submissions as `actor` may see them (internal fields removed)."""
    out = []
    for sub in listing(session, instance.id):
        form = form_of(instance, sub)
        data = visible_data(form, sub.data, actor)
        hidden = set(sub.data) - set(data)
        files = [f for f in sub.attachments if str(f.get("field", "")).split(".")[0] not in hidden]
        out.append(_replace(sub, data=data, attachments=files))
    return out


def _replace(sub: SubmissionInfo, **changes: Any) -> SubmissionInfo:
    return SubmissionInfo(**{**sub.__dict__, **changes})


# ------------------------------------------------------------------------------- reviews


def reviewed_elements(form: FormDefinition | None) -> list[str]:
    """The element ids a reviewing form declares (`x-reviews`)."""
    if form is None:
        return []
    value = form.schema.get("x-reviews") or []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def under_review(
    session: Session, instance: Instance, form: FormDefinition | None
) -> list[SubmissionInfo]:
    """The latest submission of each element a reviewing form declares, oldest first."""
    out = []
    for element in reviewed_elements(form):
        subs = listing(session, instance.id, element)
        if subs:
            out.append(subs[-1])
    return sorted(out, key=lambda s: (s.submitted_at, s.id))


def _sent_back(form: FormDefinition, data: Mapping[str, Any]) -> bool:
    field = form.schema.get("x-decision")
    values = form.schema.get("x-sent-back") or ["sent_back"]
    return isinstance(field, str) and data.get(field) in values


@dataclass(frozen=True)
class Prefill:
    """What a task's form opens with, and why."""

    values: dict[str, Any]
    source: str
    """draft | sent_back | blank"""
    previous: SubmissionInfo | None = None
    """For `sent_back`: this task's own previous submission."""
    review: SubmissionInfo | None = None
    """For `sent_back`: the reviewing task's submission that sent it back."""


def prefill(session: Session, instance: Instance, ht: HumanTask) -> Prefill:
    """(1) the user's draft; else (2) when the task was sent back, this same element's previous
    answers (with the review that sent them back); else (3) blank. A new round of a recurring
    task therefore never opens with the previous round's answers."""
    if ht.draft is not None:
        return Prefill(dict(ht.draft), "draft")
    own = listing(session, instance.id, ht.element_id)
    if not own:
        return Prefill({}, "blank")
    previous = own[-1]
    later = [
        s
        for s in listing(session, instance.id)
        if (s.submitted_at, s.id) > (previous.submitted_at, previous.id)
        and s.element_id != ht.element_id
    ]
    for review in reversed(later):
        form = form_of(instance, review)
        if form is not None and ht.element_id in reviewed_elements(form):
            if _sent_back(form, review.data):
                return Prefill(dict(previous.data), "sent_back", previous, review)
            break
    return Prefill({}, "blank")


def internal_variables(forms: Mapping[str, str]) -> set[str]:
    """Case variables some form of a version marks internal (from its form snapshot)."""
    out: set[str] = set()
    for name in forms:
        if not name.endswith(".json") or name.endswith(".uischema.json"):
            continue
        form = load_form(forms, name, None)
        if form is not None:
            out |= internal_fields(form.schema)
    return out


def visible_variables(instance: Instance, actor: Actor) -> dict[str, Any]:
    """The instance's case variables as `actor` may see them (internal ones removed)."""
    data = dict(instance.data or {})
    if sees_internal(actor):
        return data
    hidden = internal_variables(instance.process_version.forms)
    return {k: v for k, v in data.items() if k not in hidden}


REDACTED = "(internal)"
"""What country users see instead of an internal value in audit events on pages and the API."""


def redact_event_data(kind: str, data: Mapping[str, Any], hidden: set[str]) -> dict[str, Any]:
    """An audit event's data with internal values replaced by `REDACTED` (for country users on
    pages and in the history API; exports use `history.withhold`, which keeps them verifiable)."""
    out = dict(data)
    if not hidden:
        return out
    out.pop(history.COMMITMENTS, None)
    for outer, keys in history.internal_paths(kind, out, hidden).items():
        if keys is None:
            out[outer] = REDACTED
        else:
            out[outer] = {k: (REDACTED if k in keys else v) for k, v in out[outer].items()}
    return out


def hidden_for(instance: Instance, actor: Actor) -> set[str]:
    """Case variables and fields `actor` may not see in this instance's records."""
    return set() if sees_internal(actor) else internal_variables(instance.process_version.forms)


SHOW_PREVIOUS_ROUND = "x-show-previous-round"
"""Form keyword: show this element's previous round read-only beside the (blank) form, for
reference (last year's indicator values), without filling anything in."""


def previous_round(
    session: Session, instance: Instance, ht: HumanTask, form: FormDefinition | None
) -> SubmissionInfo | None:
    """The element's latest earlier submission, when its form asks to show it for reference."""
    if form is None or not form.schema.get(SHOW_PREVIOUS_ROUND):
        return None
    own = [s for s in listing(session, instance.id, ht.element_id) if s.task_id != ht.id]
    return own[-1] if own else None
