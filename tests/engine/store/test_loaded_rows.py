"""Objects made from a Core row (`engine.store.db.loaded_row`, used by `lock_task` and the
version cache) and new rows put in the session after a Core INSERT (`attach_written`) behave as
the ORM's own: the same values, persistent and clean, found by the identity map, relationships
loading on first use, changes tracked and written by a flush."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select

from engine import Engine
from engine.runtime import execution
from engine.store.db import attach_written, loaded_row, new_row, transaction
from engine.store.models import HumanTask, Instance, ProcessModel, ProcessVersion


@pytest.fixture
def review(engine: Engine, review_bundle):
    engine.deploy(*review_bundle, actor="olu")
    return engine


def _columns(obj: object) -> dict[str, object]:
    return {a.key: getattr(obj, a.key) for a in inspect(type(obj)).column_attrs}


def _as_loaded(obj: object) -> tuple[bool, bool, bool, dict[str, object], frozenset[str]]:
    state = inspect(obj)
    return (
        state.persistent,
        state.modified,
        state.expired,
        dict(state.committed_state),
        frozenset(state.unloaded),
    )


def test_lock_task_gives_the_objects_the_orm_loads(review: Engine, actors) -> None:
    inst = review.start("review", {"country": "NPL"}, actors["country"])
    [task] = review.ready_tasks(inst.id)
    with review.sessions() as s:
        orm = s.execute(
            select(Instance, HumanTask, ProcessModel)
            .join(HumanTask, HumanTask.instance_id == Instance.id)
            .outerjoin(ProcessModel, ProcessModel.key == HumanTask.process_key)
            .where(HumanTask.id == task.id)
        ).one()
        expected = [(_columns(o), _as_loaded(o)) for o in orm]
    with review.sessions() as s:
        found = execution.lock_task(s, task.id)
        assert found is not None
        assert [(_columns(o), _as_loaded(o)) for o in found] == expected
        row, ht, model = found
        assert s.get(Instance, inst.id) is row and s.get(HumanTask, task.id) is ht
        assert s.get(ProcessModel, "review") is model
        assert row.process_version.process_key == "review"  # a relationship loads on use
        assert execution.lock_task(s, "no-such-task") is None


def test_lock_task_refreshes_what_the_session_holds(review: Engine, actors) -> None:
    inst = review.start("review", {"country": "NPL"}, actors["country"])
    [task] = review.ready_tasks(inst.id)
    with review.sessions() as s:
        held = s.get_one(Instance, inst.id)
        held.stage = "changed in memory"
        found = execution.lock_task(s, task.id)
        assert found is not None and found[0] is held  # one object per row, as ever
        assert held.stage == inst.stage and not inspect(held).modified  # populate_existing


def test_changes_to_a_loaded_row_are_flushed(review: Engine, actors) -> None:
    inst = review.start("review", {"country": "NPL"}, actors["country"])
    [task] = review.ready_tasks(inst.id)
    with transaction(review.sessions) as s:
        found = execution.lock_task(s, task.id)
        assert found is not None
        found[1].claimed_by = "nima"
        assert list(s.dirty) == [found[1]]
    with review.sessions() as s:
        assert s.get_one(HumanTask, task.id).claimed_by == "nima"


def test_a_cached_version_joins_the_session_as_merge_made_it(review: Engine, actors) -> None:
    inst = review.start("review", {"country": "NPL"}, actors["country"])
    with review.sessions() as s:
        merged = s.merge(review.runtime.versions[inst.process_version_id], load=False)
        expected = (_columns(merged), _as_loaded(merged))
    with review.sessions() as s:
        pv = execution.version_by_id(s, review.runtime, inst.process_version_id)
        assert (_columns(pv), _as_loaded(pv)) == expected
        assert s.get(ProcessVersion, pv.id) is pv
        assert execution.version_by_id(s, review.runtime, pv.id) is pv


def test_a_row_written_by_core_is_in_the_session_as_loaded(review: Engine, actors) -> None:
    inst = review.start("review", {"country": "NPL"}, actors["country"])
    with review.sessions() as s:
        model = s.get_one(ProcessModel, "review")
        expected = _as_loaded(model)
        s.expunge(model)
        values = _columns(model)
    with review.sessions() as s:
        again = new_row(ProcessModel, values)
        attach_written(s, again)
        assert _as_loaded(again) == expected and s.get(ProcessModel, "review") is again
        assert loaded_row(s, ProcessModel, values) is again
    assert inst.id
