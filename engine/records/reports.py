"""Reports on the audit trail: an instance's chain verified in words, the per-country report,
and exports (JSON that verifies offline with `pathfinder audit verify --file`, holding every chain
a matching event belongs to whole; CSV). Everything here only reads."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.records import history
from engine.records.audit import (
    Entry,
    EventFilter,
    matching,
    milestone,
    submission_diffs,
    version_numbers,
)
from engine.store.models import AuditEvent, Instance, ProcessVersion

EXPORT_FORMAT = "pathfinder-audit-export/1"
"""Names the layout of exported JSON documents (`chains` is what `verify_export` reads)."""

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


# -- the per-country report ----------------------------------------------------------------------


def _entries(session: Session, instance_id: int) -> list[Entry]:
    events = list(
        session.execute(
            select(AuditEvent).where(AuditEvent.instance_id == instance_id).order_by(AuditEvent.seq)
        ).scalars()
    )
    versions = version_numbers(session, (e.process_version_id for e in events))
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
