"""The rows a completion writes with Core statements (engine/runtime/writes.py) are the rows the
ORM wrote, the objects stay usable after commit, and the optimistic lock still holds."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text, update
from sqlalchemy.orm.exc import StaleDataError

from engine import Conflict, Engine
from engine.runtime import execution, tasks
from engine.runtime.execution import lock_instance
from engine.runtime.writes import update_instance
from engine.store.db import transaction
from engine.store.models import AuditEvent, HumanTask, Instance, Submission


@pytest.fixture
def review(engine: Engine, review_bundle):
    engine.deploy(*review_bundle, actor="olu")
    return engine


def test_a_completion_leaves_nothing_for_the_flush_and_its_objects_readable(
    review: Engine, actors
) -> None:
    inst = review.start("review", {"country": "NPL"}, actors["country"])
    [fill] = review.ready_tasks(inst.id)
    review.tasks.save_draft(fill.id, {"title": "half"}, actors["country"])
    with transaction(review.sessions) as s:
        row, open_tasks = tasks.complete_task(
            s, review.runtime, fill.id, {"title": "Workshop", "amount": 2}, actors["country"]
        )
        assert not s.dirty and not s.new  # all written, nothing left over for a flush
        [decide] = open_tasks
        assert s.get(HumanTask, decide.id) is decide  # in the identity map, as after a flush
        done = s.get(HumanTask, fill.id)
        assert done is not None and done.state == "completed"
    # read after the session closed: every column loaded, none expired
    assert (decide.state, decide.lane, decide.claimed_by, decide.draft) == (
        "ready",
        "Secretariat",
        None,
        None,
    )
    assert decide.completed_at is None and decide.reminder_sent_at is None
    assert row.lock_version == inst.lock_version + 1  # one UPDATE (a draft does not move it)
    with review.sessions() as s:
        stored = s.get_one(Instance, inst.id)
        assert (stored.stage, stored.lock_version, stored.audit_count) == (
            row.stage,
            row.lock_version,
            row.audit_count,
        )
        assert stored.data == row.data and stored.data["title"] == "Workshop"
        assert stored.state == row.state
        new_row, old_row = (s.get_one(HumanTask, t) for t in (decide.id, fill.id))
        assert (old_row.state, old_row.completed_by, old_row.draft) == ("completed", "nima", None)
        assert new_row.draft is None and new_row.created_at == decide.created_at
        # a new task's draft and a cleared one are both SQL NULL (not the JSON text null)
        drafts = dict(s.execute(text("SELECT id, draft IS NULL FROM human_tasks")).all())
        assert drafts == {decide.id: True, fill.id: True}
        [sub] = s.execute(select(Submission)).scalars()
        assert (sub.task_id, sub.round, sub.submitted_by) == (fill.id, 1, "nima")


def test_the_instance_update_checks_its_lock(review: Engine, actors) -> None:
    inst = review.start("review", {"country": "NPL"}, actors["country"])
    with transaction(review.sessions) as s:
        row = lock_instance(s, inst.id)
        s.connection().execute(  # as if another writer had moved it meanwhile
            update(Instance.__table__)
            .where(Instance.__table__.c.id == inst.id)
            .values(lock_version=row.lock_version + 1)
        )
        row.stage = "elsewhere"
        with pytest.raises(StaleDataError):
            update_instance(s, row)
        s.rollback()


def test_a_stale_completion_is_a_conflict(review: Engine, actors) -> None:
    inst = review.start("review", {"country": "NPL"}, actors["country"])
    [fill] = review.ready_tasks(inst.id)
    with pytest.raises(Conflict):
        review.tasks.complete(
            fill.id,
            {"title": "Workshop", "amount": 2},
            actors["country"],
            expected_version=inst.lock_version - 1,
        )
    assert review.instance(inst.id).lock_version == inst.lock_version


def _complete_and_read_events(review: Engine, task_id: str, actor) -> list[tuple]:
    """Complete the task, read back the audit rows (every column as stored but the id, which a
    PostgreSQL sequence does not take back on rollback), roll back."""
    with review.sessions() as s:
        s.connection(execution_options={"write": True})
        tasks.complete_task(s, review.runtime, task_id, {"title": "Workshop", "amount": 2}, actor)
        rows = s.execute(text("SELECT * FROM audit_events ORDER BY seq")).all()
        s.rollback()
    return [tuple(r)[1:] for r in rows]


def test_the_audit_rows_of_a_step_are_the_rows_the_orm_wrote(
    review: Engine, actors, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst = review.start("review", {"country": "NPL"}, actors["country"])
    [fill] = review.ready_tasks(inst.id)
    core = _complete_and_read_events(review, fill.id, actors["country"])
    monkeypatch.setattr(execution, "insert_events", lambda *_args: [])  # the ORM's flush
    orm = _complete_and_read_events(review, fill.id, actors["country"])
    assert len(core) == len(orm) > inst.audit_count  # the step added events...
    assert core == orm  # ...byte for byte the same rows, hashes included
    monkeypatch.undo()
    review.tasks.complete(fill.id, {"title": "Workshop", "amount": 2}, actors["country"])
    report = review.audit.verify_chain(actors["admin"], inst.id)
    assert report.intact and report.events == review.instance(inst.id).audit_count


def test_a_steps_events_are_readable_after_commit_and_heard_once(review: Engine, actors) -> None:
    heard: list[AuditEvent] = []
    review.subscribers = [lambda _s, events: heard.extend(events)]
    inst = review.start("review", {"country": "NPL"}, actors["country"])
    [fill] = review.ready_tasks(inst.id)
    started = len(heard)
    with transaction(review.sessions) as s:
        tasks.complete_task(
            s, review.runtime, fill.id, {"title": "Workshop", "amount": 2}, actors["country"]
        )
        events = heard[started:]
        assert not s.new and all(s.get(AuditEvent, e.id) is e for e in events)  # as flushed
    kinds = [e.kind for e in heard]
    assert kinds.count("instance_started") == 1 and kinds.count("task_completed") == 1
    with review.sessions() as s:
        stored = {e.id: e.hash for e in s.execute(select(AuditEvent)).scalars()}
    assert {e.id: e.hash for e in events}.items() <= stored.items()  # ids matched to their rows


def test_a_rolled_back_steps_events_leave_the_session(review: Engine, actors) -> None:
    heard: list[AuditEvent] = []
    review.subscribers = [lambda _s, events: heard.extend(events)]
    inst = review.start("review", {"country": "NPL"}, actors["country"])
    [fill] = review.ready_tasks(inst.id)
    del heard[:]
    with review.sessions() as s:
        s.connection(execution_options={"write": True})
        tasks.complete_task(
            s, review.runtime, fill.id, {"title": "W", "amount": 2}, actors["country"]
        )
        assert heard and all(inspect(e).persistent for e in heard)
        s.rollback()
        assert all(inspect(e).transient for e in heard)  # as after a flush rolled back
    assert review.instance(inst.id).audit_count == inst.audit_count
