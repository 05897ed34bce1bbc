"""Reading the audit trail: search across instances, an instance's timeline with the submitted
data shown as changes, replay of the diagram, exports (CSV, and JSON that verifies offline with
`pathfinder audit verify --file`) and the per-country report.

Everything here only reads. Searches filter on the indexed columns of `audit_events`
(country, kind, actor, each with the time); the hash chains are checked by `engine.history`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from engine.records import history, queries
from engine.records.queries import Page
from engine.store.models import AuditEvent, Instance, ProcessVersion

EXPORT_FORMAT = "pathfinder-audit-export/1"
"""Names the layout of exported JSON documents (`chains` is what `verify_export` reads)."""

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

CSV_COLUMNS = (
    "chain",
    "seq",
    "instance_id",
    "country",
    "at",
    "kind",
    "actor",
    "element_id",
    "element_name",
    "process_key",
    "process_version",
    "process_version_id",
    "data",
    "prev_hash",
    "hash",
    "chain_head",
    "chain_count",
)


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


def _version_numbers(session: Session, ids: Iterable[int | None]) -> dict[int, int]:
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
    versions = _version_numbers(session, (e.process_version_id for e in events.items))
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


# -- verification --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """The outcome of verifying one instance, in words for people."""

    intact: bool
    events: int
    message: str
    seq: int | None = None
    """The first event found altered, inserted or removed."""
    problem: str | None = None


def verify_instance(session: Session, instance_id: int) -> Verdict:
    """Recompute the instance's hash chain: "intact, N events" or the first broken event."""
    report = history.verify_instance(session, instance_id)
    if report.intact:
        return Verdict(True, report.events, f"intact, {report.events} events")
    broken = report.first_broken or {}
    seq, problem = broken.get("seq"), str(broken.get("problem"))
    what = ""
    row = session.execute(
        select(AuditEvent).where(AuditEvent.chain == report.chain, AuditEvent.seq == seq)
    ).scalar_one_or_none()
    if row is not None:
        what = f" ({row.kind.replace('_', ' ')}, {history._iso(row.at)[:16].replace('T', ' ')})"
    message = f"NOT intact: event #{seq}{what}: {problem}"
    return Verdict(False, report.events, message, seq, problem)


# -- exports -------------------------------------------------------------------------------------


def _chain_head(session: Session, chain: str) -> tuple[str, int]:
    """The head and count recorded for a chain: on the instance row (which catches a removed
    tail), or for the system chain its newest event."""
    if chain.startswith("instance:"):
        row = session.get(Instance, int(chain.split(":", 1)[1]))
        if row is not None:
            return row.audit_head or history.GENESIS, row.audit_count
    last = session.execute(
        select(AuditEvent.hash, AuditEvent.seq)
        .where(AuditEvent.chain == chain)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()
    return (last[0], last[1]) if last else (history.GENESIS, 0)


def _full_chain(session: Session, chain: str) -> list[dict[str, Any]]:
    rows = session.execute(
        select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq, AuditEvent.id)
    ).scalars()
    return [history.event_to_dict(e) for e in rows]


def export_document(
    session: Session,
    flt: EventFilter,
    *,
    exported_at: datetime,
    exported_by: str,
    hidden: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """A JSON-ready export of the events matching `flt`.

    `chains` holds every chain a matching event belongs to, whole, with its recorded head and
    count, so `history.verify_export` (and `pathfinder audit verify --file`) can check it without
    the database. `matches` points at the events the filter selected, by chain and seq.
    """
    found = matching(session, flt)
    names = sorted({e.chain for e in found}, key=_chain_order)
    chains = []
    version_ids: set[int] = set()
    unverifiable: set[str] = set()
    for name in names:
        events = []
        for event in _full_chain(session, name):
            withheld, verifiable = _withheld(event, hidden)
            events.append(withheld)
            if not verifiable:
                unverifiable.add(name)
        head, count = _chain_head(session, name)
        first = events[0] if events else {}
        chains.append(
            {
                "chain": name,
                "instance_id": first.get("instance_id"),
                "country": first.get("country"),
                "head": head,
                "count": count,
                "events": events,
            }
        )
        version_ids.update(e["process_version_id"] for e in events if e["process_version_id"])
    versions = session.execute(
        select(ProcessVersion).where(ProcessVersion.id.in_(version_ids))
    ).scalars()
    return {
        "format": EXPORT_FORMAT,
        "exported_at": history._iso(exported_at),
        "exported_by": exported_by,
        "filter": flt.describe(),
        "how_to_verify": "pathfinder audit verify --file <this file>",
        "versions": {
            str(pv.id): {
                "process_key": pv.process_key,
                "version": pv.version,
                "content_hash": pv.content_hash,
            }
            for pv in versions
        },
        "matches": [{"chain": e.chain, "seq": e.seq} for e in found],
        "chains": chains,
        **({"redacted": sorted(hidden), "redaction": _redaction(unverifiable)} if hidden else {}),
    }


def _redaction(unverifiable: set[str]) -> str:
    text = (
        f"Internal values are replaced by {{{history.DIGEST!r}: digest}}; each event's hash covers "
        "that digest, so the chains verify without revealing the values."
    )
    if unverifiable:
        text += (
            f" Events recorded before this was introduced ({', '.join(sorted(unverifiable))}) "
            f"show {history.WITHHELD!r} instead and no longer match their hashes."
        )
    return text


def _withheld(event: dict[str, Any], hidden: frozenset[str]) -> tuple[dict[str, Any], bool]:
    """The exported event without internal values (exports for country users); see
    `history.COMMITMENTS` for why it still verifies."""
    if not hidden:
        return event, True
    data, verifiable = history.withhold(event.get("data") or {}, hidden, event["kind"])
    return {**event, "data": data}, verifiable


def _chain_order(chain: str) -> tuple[int, int]:
    kind, _, number = chain.partition(":")
    return (0, 0) if kind == history.SYSTEM_CHAIN else (1, int(number or 0))


def _cell(value: Any) -> Any:
    """Keep spreadsheets from running a cell as a formula (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def export_csv(session: Session, flt: EventFilter, hidden: frozenset[str] = frozenset()) -> str:
    """The events matching `flt` as CSV, oldest first, with each event's hash and its chain head.

    The JSON export is the one to verify; here `data` is the event's data as compact JSON.
    """
    found = matching(session, flt)
    heads = {chain: _chain_head(session, chain) for chain in {e.chain for e in found}}
    pvs = {
        pv.id: pv
        for pv in session.execute(
            select(ProcessVersion).where(
                ProcessVersion.id.in_({e.process_version_id for e in found if e.process_version_id})
            )
        ).scalars()
    }
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in found:
        pv = pvs.get(e.process_version_id or -1)
        head, count = heads[e.chain]
        row, _ = _withheld(history.event_to_dict(e), hidden)
        writer.writerow(
            [
                row["chain"],
                row["seq"],
                row["instance_id"],
                row["country"],
                row["at"],
                row["kind"],
                _cell(row["actor"]),
                _cell(row["element_id"]),
                _cell(row["element_name"]),
                pv.process_key if pv else "",
                pv.version if pv else "",
                row["process_version_id"],
                json.dumps(row["data"], sort_keys=True, separators=(",", ":"), default=str),
                row["prev_hash"],
                row["hash"],
                head,
                count,
            ]
        )
    return out.getvalue()


# -- the per-country report ----------------------------------------------------------------------


def _entries(session: Session, instance_id: int) -> list[Entry]:
    events = list(
        session.execute(
            select(AuditEvent).where(AuditEvent.instance_id == instance_id).order_by(AuditEvent.seq)
        ).scalars()
    )
    versions = _version_numbers(session, (e.process_version_id for e in events))
    diffs = submission_diffs(session, instance_id, events[-1].seq) if events else {}
    return [
        Entry(e, versions.get(e.process_version_id or -1), diffs.get(e.id, []), milestone(e))
        for e in events
    ]


ADMIN_KINDS = (
    "instance_suspended",
    "instance_resumed",
    "instance_cancelled",
    "instance_retried",
    "instance_error",
    "message_received",
)
"""Events that interrupt the procedure or come from outside it (listed apart in reports)."""


def country_report(session: Session, country: str) -> list[dict[str, Any]]:
    """For each instance of `country`: the instance, its integrity, status milestones, decisions
    (completed tasks with what was submitted), gateway decisions, timers and admin actions."""
    instances = session.execute(
        select(Instance).where(Instance.country == country.upper()).order_by(Instance.id)
    ).scalars()
    report = []
    for inst in instances:
        entries = _entries(session, inst.id)
        counts: dict[str, int] = {}
        for x in entries:
            counts[x.event.kind] = counts.get(x.event.kind, 0) + 1
        report.append(
            {
                "instance": inst,
                "verdict": verify_instance(session, inst.id),
                "counts": counts,
                "milestones": [x for x in entries if x.milestone],
                "decisions": [x for x in entries if x.event.kind == "task_completed"],
                "gateways": [
                    x
                    for x in entries
                    if x.event.kind == "gateway_decision" and (x.event.data or {}).get("values")
                ],
                "timers": [x for x in entries if x.event.kind == "timer_fired"],
                "admin": [x for x in entries if x.event.kind in ADMIN_KINDS],
            }
        )
    return report


def versions(session: Session) -> list[ProcessVersion]:
    """Every deployed model version, newest first."""
    return list(
        session.execute(
            select(ProcessVersion).order_by(
                ProcessVersion.process_key, ProcessVersion.version.desc()
            )
        ).scalars()
    )
