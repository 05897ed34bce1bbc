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


def test_one_instance_with_its_columns_pages_as_the_inbox_query_does(
    engine: Engine, review_bundle, actors
) -> None:
    """The API's "next task" read (`instance_id` with the instance's columns, a prepared
    statement with lanes and country applied in Python) pages, counts and refuses exactly as
    the general query, including past the count cap and for a lane the actor does not hold."""
    engine.deploy(*review_bundle, actor="olu")
    inst = engine.start("review", {"country": "NPL"}, actors["country"])
    other = engine.start("review", {"country": "KEN"}, actors["other_country"])
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
            "due_at": now + timedelta(days=i % 50) if i % 7 else None,
            "created_at": now,
        }
        for i in range(COUNT_CAP + 5)
    ]
    with engine.sessions.begin() as s:
        s.execute(insert(HumanTask), rows)
    cases = [
        (actor, instance, page, per_page)
        for actor in ("secretariat", "country", "other_country", "admin")
        for instance in (inst.id, other.id, 10**6)
        for page, per_page in ((1, 25), (2, 25), (41, 25), (5, 100), (11, 100), (1, 1), (3, 1))
    ]
    with engine.session() as s:
        for actor, instance, page, per_page in cases:
            args = {"now": now, "instance_id": instance, "page": page, "per_page": per_page}
            general = task_query(s, actors[actor], **args)
            fast = task_query(s, actors[actor], with_instance=True, **args)
            assert [r.id for r in fast.items] == [t.id for t in general.items], (actor, page)
            assert (fast.total, fast.total_capped, fast.page, fast.per_page) == (
                general.total,
                general.total_capped,
                general.page,
                general.per_page,
            ), (actor, instance, page, per_page)
            assert all(r.instance_lock_version >= 1 for r in fast.items)
        mine = task_query(s, actors["country"], now=now, instance_id=inst.id, with_instance=True)
        assert [r.element_id for r in mine.items] == ["fill"] and mine.total == 1
        assert task_query(s, actors["country"], now=now, instance_id=other.id).total == 0
