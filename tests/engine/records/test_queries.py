"""Inbox queries at scale: totals are capped so a long inbox stays fast; pages past the cap work."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert

from engine import Engine
from engine.records.queries import COUNT_CAP, task_counts, task_query
from engine.store.models import HumanTask


def test_long_inbox_counts_are_capped_and_pages_go_past_the_cap(
    engine: Engine, review_bundle, actors
) -> None:
    engine.deploy(*review_bundle, actor="olu")
    inst = engine.start("review", {"country": "NPL"}, actors["country"])
    now = engine.now()
    rows = [
        {
            "id": f"00000000-0000-0000-0000-{i:012d}",
            "instance_id": inst.id,
            "process_key": "review",
            "element_id": "decide",
            "name": f"Decide {i}",
            "lane": "Secretariat",
            "country": "NPL",
            "state": "ready",
            "due_at": now + timedelta(days=i % 50),
            "created_at": now,
        }
        for i in range(COUNT_CAP + 5)
    ]
    with engine.sessions.begin() as s:
        s.execute(insert(HumanTask), rows)
    with engine.session() as s:
        first = task_query(s, actors["secretariat"], now=now, per_page=25)
        assert first.total_capped and first.total >= COUNT_CAP and first.has_next
        due = [t.due_at for t in first.items]
        assert due == sorted(due)  # soonest due first
        beyond = task_query(s, actors["secretariat"], now=now, per_page=25, page=41)
        assert len(beyond.items) == (COUNT_CAP + 5) - 40 * 25
        assert not beyond.has_next
        counts = task_counts(s, actors["secretariat"], now)
        assert counts["open"] >= COUNT_CAP
        # A short list is counted exactly.
        nepal = task_query(s, actors["country"], now=now)
        assert not nepal.total_capped and nepal.total == 1
