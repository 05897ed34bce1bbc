"""Reading the audit trail: search across instances, an instance's timeline with the submitted
data shown as changes, replay of the diagram, verification in words and the per-country report
(exports are `engine.records.exports`).

Everything here only reads. Searches filter on the indexed columns of `audit_events`
(country, kind, actor, each with the time); the hash chains are checked by `engine.history`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from engine.records import history, queries
from engine.records.queries import Page
from engine.store.models import AuditEvent, ProcessVersion

ENGINE_ACTOR = "(engine)"
"""Stands for events without a person (automatic steps, timers) in actor filters."""

DATA_KINDS = (
    "instance_started",
    "task_completed",
    "status_changed",
    "message_received",
    "instance_completed",
)
"""Events that tell what the instance's data was; replayed to show each submission as changes."""

MILESTONE_VARIABLE = "pathfinder_status"
MILESTONES = {
    (None, "candidate"): "candidate",
    ("candidate", "pathfinder"): "pathfinder awarded",
    ("pathfinder", "on_hold"): "put on hold",
    ("on_hold", "pathfinder"): "reinstated",
}
"""(old, new) values of `MILESTONE_VARIABLE` -> how the timeline names that change."""


@dataclass(frozen=True)
class EventFilter:
    """What an auditor searches for; every field narrows the result."""

    country: str | None = None
    """ISO 3166-1 alpha-3 code of the instance's country."""
    kinds: tuple[str, ...] = ()
    """Event kinds (`task_completed`, `gateway_decision`, ...); empty means every kind."""
    actor: str | None = None
    """Username, or `ENGINE_ACTOR` for what the engine did by itself."""
    since: datetime | None = None
    """Events at or after this moment (engine clock)."""
    until: datetime | None = None
    """Events strictly before this moment."""
    instance_id: int | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        """The SQL conditions this filter stands for."""
        where: list[ColumnElement[bool]] = []
        if self.country:
            where.append(AuditEvent.country == self.country.upper())
        if self.kinds:
            where.append(AuditEvent.kind.in_(self.kinds))
        if self.actor == ENGINE_ACTOR:
            where.append(AuditEvent.actor.is_(None))
        elif self.actor:
            where.append(AuditEvent.actor == self.actor)
        if self.since is not None:
            where.append(AuditEvent.at >= self.since)
        if self.until is not None:
            where.append(AuditEvent.at < self.until)
        if self.instance_id is not None:
            where.append(AuditEvent.instance_id == self.instance_id)
        return where

    def describe(self) -> dict[str, Any]:
        """The filter as JSON-ready values (recorded in exports)."""
        out = asdict(self)
        out["kinds"] = list(self.kinds)
        for key in ("since", "until"):
            out[key] = history._iso(out[key]) if out[key] else None
        return {k: v for k, v in out.items() if v not in (None, [])}


def _query(flt: EventFilter) -> Select[Any]:
    return select(AuditEvent).where(*flt.conditions())


def search(
    session: Session, flt: EventFilter, *, page: int = 1, per_page: int = 50
) -> Page[AuditEvent]:
    """Events matching `flt`, newest first, one page at a time."""
    query = _query(flt).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    return queries._paginate(session, query, page, per_page)


def matching(session: Session, flt: EventFilter) -> list[AuditEvent]:
    """Every event matching `flt`, oldest first (for exports)."""
    query = _query(flt).order_by(AuditEvent.at, AuditEvent.chain, AuditEvent.seq)
    return list(session.execute(query).scalars())


def choices(session: Session, instance_id: int | None = None) -> dict[str, list[str]]:
    """Kinds, actors and countries present (for filter menus), optionally within one instance."""
    scope = [AuditEvent.instance_id == instance_id] if instance_id is not None else []

    def distinct(column: Any) -> list[str]:
        rows = session.execute(select(column).where(*scope).distinct()).scalars()
        return sorted(r for r in rows if r)

    actors = distinct(AuditEvent.actor)
    engine_acted = session.execute(
        select(AuditEvent.id).where(*scope, AuditEvent.actor.is_(None)).limit(1)
    ).first()
    return {
        "kinds": distinct(AuditEvent.kind),
        "actors": actors + ([ENGINE_ACTOR] if engine_acted else []),
        "countries": distinct(AuditEvent.country),
    }


# -- the timeline of one instance ---------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One value of a submission compared with what the instance held before."""

    path: str
    """`field`, `field.sub` or `list[0].field`."""
    change: str
    """added | changed | removed | same"""
    old: Any = None
    new: Any = None


@dataclass(frozen=True)
class Entry:
    """One event as the timeline shows it."""

    event: AuditEvent
    version: int | None
    """The process version number the instance ran when this happened."""
    changes: list[Change] = field(default_factory=list)
    """For a completed task: each submitted value against the data before it."""
    milestone: str | None = None
    """For a status change: how people name it (`pathfinder awarded`, `put on hold`, ...)."""

    @property
    def changed(self) -> list[Change]:
        """The data changes of this entry, without the unchanged values."""
        return [c for c in self.changes if c.change != "same"]


def flatten(value: Any, prefix: str) -> dict[str, Any]:
    """Leaf values of nested data by path (`actions[0].budget`); empty containers are leaves."""
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}"))
        return out
    if isinstance(value, list) and value:
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def diff(previous: Mapping[str, Any], submitted: Mapping[str, Any]) -> list[Change]:
    """Each submitted value against the value the data held before (keys not submitted are
    left out: a form only speaks for its own fields)."""
    changes: list[Change] = []
    for key, value in submitted.items():
        old = flatten(previous[key], key) if key in previous else {}
        new = flatten(value, key)
        for path, leaf in new.items():
            if path not in old:
                changes.append(Change(path, "added", None, leaf))
            elif old[path] != leaf:
                changes.append(Change(path, "changed", old[path], leaf))
            else:
                changes.append(Change(path, "same", leaf, leaf))
        changes.extend(
            Change(path, "removed", was, None) for path, was in old.items() if path not in new
        )
    return changes


def _apply(known: dict[str, Any], kind: str, data: Mapping[str, Any]) -> None:
    if kind == "instance_started":
        known.update(data.get("data") or {})
    elif kind == "task_completed":
        known.update(data.get("submitted") or {})
    elif kind == "status_changed" and "variable" in data:
        known[data["variable"]] = data.get("new")
    elif kind == "message_received":
        known.update(data.get("payload") or {})
    elif kind == "instance_completed":
        known.clear()
        known.update(data.get("data") or {})


def submission_diffs(session: Session, instance_id: int, up_to_seq: int) -> dict[int, list[Change]]:
    """Event id -> the changes each task submission made, for submissions up to `up_to_seq`.

    The data before a submission is rebuilt from the events themselves (start data, earlier
    submissions, status changes, messages), so it shows what the audit trail proves.
    """
    rows = session.execute(
        select(AuditEvent.id, AuditEvent.kind, AuditEvent.data)
        .where(
            AuditEvent.instance_id == instance_id,
            AuditEvent.kind.in_(DATA_KINDS),
            AuditEvent.seq <= up_to_seq,
        )
        .order_by(AuditEvent.seq)
    ).all()
    known: dict[str, Any] = {}
    out: dict[int, list[Change]] = {}
    for event_id, kind, data in rows:
        data = data or {}
        if kind == "task_completed":
            out[event_id] = diff(known, data.get("submitted") or {})
        _apply(known, kind, data)
    return out


def milestone(event: AuditEvent) -> str | None:
    """The name of a status change people look for (`pathfinder awarded`, ...), if it is one."""
    data = event.data or {}
    if event.kind != "status_changed" or data.get("variable") != MILESTONE_VARIABLE:
        return None
    old, new = data.get("old"), data.get("new")
    if not isinstance(new, str) or not (old is None or isinstance(old, str)):
        return None
    return MILESTONES.get((old, new)) or new.replace("_", " ")


def version_numbers(session: Session, ids: Iterable[int | None]) -> dict[int, int]:
    """Version numbers of process version ids (for the timeline and the country report)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(ProcessVersion.id, ProcessVersion.version).where(ProcessVersion.id.in_(wanted))
    ).all()
    return {pv_id: number for pv_id, number in rows}


def timeline(
    session: Session,
    instance_id: int,
    *,
    kinds: Sequence[str] = (),
    actor: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[Entry]:
    """An instance's events in the order they happened, filtered and paginated, each with its
    model version, the changes a submission made and the milestone a status change marks."""
    flt = EventFilter(kinds=tuple(kinds), actor=actor, instance_id=instance_id)
    query = _query(flt).order_by(AuditEvent.seq)
    events: Page[AuditEvent] = queries._paginate(session, query, page, per_page)
    versions = version_numbers(session, (e.process_version_id for e in events.items))
    last = max((e.seq for e in events.items), default=0)
    diffs = submission_diffs(session, instance_id, last) if last else {}
    entries = [
        Entry(
            event=e,
            version=versions.get(e.process_version_id or -1),
            changes=diffs.get(e.id, []),
            milestone=milestone(e),
        )
        for e in events.items
    ]
    return Page(entries, events.total, events.page, events.per_page)


def replay(session: Session, instance_id: int, seq: int) -> dict[str, Any]:
    """The diagram as it stood after event `seq`: highlighted elements, the event, its version."""
    event = session.execute(
        select(AuditEvent).where(
            AuditEvent.chain == history.chain_for(instance_id), AuditEvent.seq == seq
        )
    ).scalar_one_or_none()
    return {
        "seq": seq,
        "states": queries.element_states(session, instance_id, up_to_seq=seq),
        "event": summary(event) if event else None,
        "process_version_id": event.process_version_id if event else None,
    }


def summary(event: AuditEvent) -> dict[str, Any]:
    """A few words about an event, for the replay caption."""
    return {
        "seq": event.seq,
        "kind": event.kind,
        "at": history._iso(event.at),
        "actor": event.actor,
        "element_id": event.element_id,
        "element_name": event.element_name,
    }


def versions(session: Session) -> list[ProcessVersion]:
    """Every deployed model version, newest first."""
    return list(
        session.execute(
            select(ProcessVersion).order_by(
                ProcessVersion.process_key, ProcessVersion.version.desc()
            )
        ).scalars()
    )
