"""Checking hash chains: an instance's, every chain in the database, or an exported document's.

A chain is intact when each event's hash matches its content, the sequence has no gap, each
event links to the previous one's hash, and the newest event is the head stored on the instance.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.records.history import GENESIS, SYSTEM_CHAIN, chain_for, event_hash, event_to_dict
from engine.store.models import AuditEvent, Instance


@dataclass(frozen=True)
class ChainReport:
    """The outcome of verifying one chain."""

    chain: str
    intact: bool
    events: int
    first_broken: dict[str, Any] | None = None
    """`{seq, id, problem}` for the first event found altered, inserted or removed."""

    @property
    def message(self) -> str:
        """The chain's verdict in one sentence."""
        if self.intact:
            return f"{self.chain}: intact, {self.events} events"
        assert self.first_broken is not None
        fb = self.first_broken
        return f"{self.chain}: BROKEN at event #{fb['seq']} (id {fb.get('id')}): {fb['problem']}"


def verify_events(
    chain: str,
    events: Iterable[Mapping[str, Any]],
    head: str | None = None,
    count: int | None = None,
) -> ChainReport:
    """Verify a chain from exported event dicts (ordered by seq), optionally against its head."""
    prev = GENESIS
    n = 0
    for n, ev in enumerate(events, start=1):
        where = {"seq": ev.get("seq"), "id": ev.get("id")}
        if ev.get("seq") != n:
            problem = (
                f"expected event #{n} but found #{ev.get('seq')}: an event was removed before it"
                if (ev.get("seq") or 0) > n
                else f"event #{ev.get('seq')} appears again: an event was inserted"
            )
            return ChainReport(chain, False, n - 1, {**where, "problem": problem})
        if ev.get("prev_hash") != prev:
            return ChainReport(
                chain,
                False,
                n - 1,
                {
                    **where,
                    "problem": "link to the previous event does not match: inserted or reordered",
                },
            )
        if event_hash(ev) != ev.get("hash"):
            return ChainReport(
                chain,
                False,
                n - 1,
                {**where, "problem": "content does not match its hash: altered"},
            )
        prev = ev["hash"]
    if count is not None and n != count:
        return ChainReport(
            chain,
            False,
            n,
            {
                "seq": n + 1 if n < count else count + 1,
                "id": None,
                "problem": f"the chain should hold {count} events but holds {n}: "
                + ("newest events were removed" if n < count else "events were appended"),
            },
        )
    if head is not None and n and prev != head:
        return ChainReport(
            chain,
            False,
            n,
            {"seq": n, "id": None, "problem": "the newest event is not the recorded chain head"},
        )
    return ChainReport(chain, True, n)


def _chain_events(session: Session, chain: str) -> Iterator[dict[str, Any]]:
    rows = session.execute(
        select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq, AuditEvent.id)
    ).scalars()
    for row in rows.yield_per(1000):
        yield event_to_dict(row)


def verify_instance(session: Session, instance_id: int) -> ChainReport:
    """Verify one instance's chain against the head recorded on the instance row."""
    instance = session.get(Instance, instance_id)
    chain = chain_for(instance_id)
    head = instance.audit_head if instance else None
    count = instance.audit_count if instance else None
    return verify_events(chain, _chain_events(session, chain), head=head, count=count)


def verify_all(session: Session) -> list[ChainReport]:
    """Verify every chain in the database: the system chain and each instance's."""
    reports = [verify_events(SYSTEM_CHAIN, _chain_events(session, SYSTEM_CHAIN))]
    ids = session.execute(select(Instance.id).order_by(Instance.id)).scalars().all()
    reports.extend(verify_instance(session, i) for i in ids)
    orphan_chains = session.execute(
        select(AuditEvent.chain)
        .where(AuditEvent.instance_id.is_not(None))
        .group_by(AuditEvent.chain)
        .having(func.count() > 0)
    ).scalars()
    known = {chain_for(i) for i in ids}
    for chain in orphan_chains:
        if chain not in known:
            reports.append(verify_events(chain, _chain_events(session, chain), count=0))
    return reports


def verify_export(document: Mapping[str, Any]) -> list[ChainReport]:
    """Verify an exported JSON document (`{"chains": [{chain, head, count, events}]}`) offline."""
    reports = []
    for chain in document.get("chains", []):
        reports.append(
            verify_events(
                chain["chain"], chain["events"], head=chain.get("head"), count=chain.get("count")
            )
        )
    return reports
