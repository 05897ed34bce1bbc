"""Instances: start, complete, refusals, suspend/resume/cancel, errors and retry."""

from __future__ import annotations

import threading

import pytest

from engine import (
    Conflict,
    Engine,
    Forbidden,
    InstanceNotRunnable,
    InvalidData,
    NotFound,
    NotReady,
)
from engine.bpmn.serialization import dump_state
from engine.people.access import Actor
from engine.people.accounts import create_user
from engine.store.db import transaction
from tests.fixtures.bpmn_files import FAILING


@pytest.fixture
def review(engine: Engine, review_bundle):
    engine.deploy(*review_bundle, actor="olu")
    return engine


def test_start_complete_to_the_end(review: Engine, actors) -> None:
    inst = review.start("review", {"country": "npl"}, actors["country"])
    assert (inst.status, inst.country, inst.stage) == ("running", "NPL", "Fill in request")
    [fill] = review.ready_tasks(inst.id)
    assert (fill.lane, fill.form_file) == ("Country", "request.schema.json")
    assert fill.due_at is not None and (fill.due_at - review.now()).days == 10

    review.complete(fill.id, {"title": "Workshop", "amount": 2}, actors["country"])
    [decide] = review.ready_tasks(inst.id)
    assert decide.lane == "Secretariat"
    done = review.complete(decide.id, {"approved": True}, actors["secretariat"])

    assert done.status == "completed"
    assert done.data["status"] == "approved"
    assert review.ready_tasks(inst.id) == []


def test_refusal_sends_work_back(review: Engine, actors) -> None:
    inst = review.start("review", {"country": "NPL"}, actors["country"])
    [fill] = review.ready_tasks(inst.id)
    review.complete(fill.id, {"title": "Draft", "amount": 1}, actors["country"])
    [decide] = review.ready_tasks(inst.id)
    review.complete(decide.id, {"approved": False}, actors["secretariat"])
    [again] = review.ready_tasks(inst.id)
    assert again.element_id == "fill" and again.id != fill.id


def test_invalid_data_is_refused_by_field(review: Engine, actors) -> None:
    inst = review.start("review", {"country": "NPL"}, actors["country"])
    [fill] = review.ready_tasks(inst.id)
    with pytest.raises(InvalidData) as err:
        review.complete(
            fill.id, {"title": "x" * 81, "amount": 0, "contact": "not-an-email"}, actors["country"]
        )
    assert set(err.value.errors) == {"title", "amount", "contact"}
    assert review.ready_tasks(inst.id)[0].id == fill.id  # nothing happened


def test_wrong_lane_and_wrong_country_are_forbidden(review: Engine, actors) -> None:
    inst = review.start("review", {"country": "NPL"}, actors["country"])
    [fill] = review.ready_tasks(inst.id)
    with pytest.raises(Forbidden):
        review.complete(fill.id, {"title": "a", "amount": 1}, actors["secretariat"])
    with pytest.raises(NotFound):  # another country's task: as if it did not exist
        review.complete(fill.id, {"title": "a", "amount": 1}, actors["other_country"])


def test_completed_task_cannot_be_completed_again(review: Engine, actors) -> None:
    inst = review.start("review", {"country": "NPL"}, actors["country"])
    [fill] = review.ready_tasks(inst.id)
    review.complete(fill.id, {"title": "a", "amount": 1}, actors["country"])
    with pytest.raises(NotReady, match="no longer open"):
        review.complete(fill.id, {"title": "b", "amount": 2}, actors["country"])


def test_out_of_order_completion_is_refused(review: Engine, actors) -> None:
    """A FUTURE task (not yet reached) cannot be run, even by id."""
    inst = review.start("review", {"country": "NPL"}, actors["country"])
    from engine.runtime.instances import load

    with review.session() as s:
        loaded = load(s, review.runtime, inst.id)
        future = [t for t in loaded.wf.get_tasks() if t.task_spec.name == "decide"][0]
    with pytest.raises(Exception) as err:
        review.complete(str(future.id), {"approved": True}, actors["secretariat"])
    assert "does not exist" in str(err.value) or "not ready" in str(err.value)
    assert [t.element_id for t in review.ready_tasks(inst.id)] == ["fill"]


def test_stale_view_is_a_conflict(review: Engine, actors) -> None:
    inst = review.start("review", {"country": "NPL"}, actors["country"])
    [fill] = review.ready_tasks(inst.id)
    seen = inst.lock_version
    review.claim(fill.id, actors["country"])  # someone changes the instance meanwhile
    with pytest.raises(Conflict, match="changed since you opened"):
        review.complete(
            fill.id, {"title": "a", "amount": 1}, actors["country"], expected_version=seen
        )


def test_two_people_completing_at_once_exactly_one_wins(review: Engine, actors) -> None:
    inst = review.start("review", {"country": "NPL"}, actors["country"])
    [fill] = review.ready_tasks(inst.id)
    colleague = Actor("dawa", ["country"], country="NPL")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def submit(actor: Actor, title: str) -> None:
        barrier.wait()
        try:
            review.complete(
                fill.id, {"title": title, "amount": 1}, actor, expected_version=inst.lock_version
            )
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [
        threading.Thread(target=submit, args=a)
        for a in ((actors["country"], "A"), (colleague, "B"))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    assert len(review.ready_tasks(inst.id)) == 1  # exactly one 'decide'
    kinds = [e.kind for e in review.history(inst.id)]
    assert kinds.count("task_completed") == 1


def test_suspend_resume_cancel(review: Engine, actors) -> None:
    inst = review.start("review", {"country": "NPL"}, actors["country"])
    [fill] = review.ready_tasks(inst.id)
    with pytest.raises(Forbidden):
        review.instances.suspend(inst.id, actors["country"])
    review.instances.suspend(inst.id, actors["secretariat"], reason="ministry reshuffle")
    with pytest.raises(InstanceNotRunnable, match="suspended"):
        review.complete(fill.id, {"title": "a", "amount": 1}, actors["country"])
    review.instances.resume(inst.id, actors["secretariat"])
    review.complete(fill.id, {"title": "a", "amount": 1}, actors["country"])

    cancelled = review.instances.cancel(inst.id, actors["admin"], reason="withdrew")
    assert cancelled.status == "cancelled"
    assert review.ready_tasks(inst.id) == []
    with pytest.raises(InstanceNotRunnable):
        review.instances.resume(inst.id, actors["admin"])
    kinds = [e.kind for e in review.history(inst.id)]
    for kind in ("instance_suspended", "instance_resumed", "instance_cancelled", "task_cancelled"):
        assert kind in kinds


def test_one_active_instance_per_country(review: Engine, actors) -> None:
    review.start("review", {"country": "NPL"}, actors["country"])
    with pytest.raises(Conflict, match="already has an active"):
        review.start("review", {"country": "NPL"}, actors["country"])


def test_script_error_then_retry(engine: Engine, actors) -> None:
    engine.deploy({"failing.bpmn": FAILING}, {}, "olu")
    inst = engine.start("failing", {"divisor": 0}, actors["admin"])
    assert inst.status == "error"
    assert inst.error_element_id == "compute"
    assert "division by zero" in (inst.error_message or "")
    assert engine.ready_tasks(inst.id) == []
    with pytest.raises(InstanceNotRunnable, match="not suspended"):
        engine.instances.resume(inst.id, actors["admin"])

    # The cause is fixed (the data is corrected), then the instance is retried from the failed step.
    from engine.runtime.instances import load
    from engine.store.db import transaction

    with transaction(engine.sessions) as s:
        loaded = load(s, engine.runtime, inst.id)
        for task in loaded.wf.get_tasks():
            if task.task_spec.name == "compute":
                task.data["divisor"] = 5
        loaded.row.state = dump_state(loaded.version.dialect, loaded.wf)
    retried = engine.instances.retry(inst.id, actors["admin"])
    assert retried.status == "running" and retried.error_message is None
    assert retried.data["ratio"] == 2
    assert [t.element_id for t in engine.ready_tasks(inst.id)] == ["check"]
    kinds = [e.kind for e in engine.history(inst.id)]
    assert kinds.index("instance_error") < kinds.index("instance_retried")


def test_claim_unclaim_and_assign(review: Engine, actors) -> None:
    inst = review.start("review", {"country": "NPL"}, actors["country"])
    [fill] = review.ready_tasks(inst.id)
    colleague = Actor("dawa", ["country"], country="NPL")
    review.claim(fill.id, actors["country"])
    with pytest.raises(Conflict, match="claimed by nima"):
        review.claim(fill.id, colleague)
    with pytest.raises(Conflict, match="claimed by nima"):
        review.complete(fill.id, {"title": "a", "amount": 1}, colleague)
    review.tasks.unclaim(fill.id, actors["country"])
    review.claim(fill.id, colleague)
    assert review.ready_tasks(inst.id)[0].claimed_by == "dawa"

    # The Secretariat assigns work to a colleague; a country user cannot.
    review.complete(fill.id, {"title": "a", "amount": 1}, colleague)
    [decide] = review.ready_tasks(inst.id)
    with transaction(review.sessions) as s:  # only an existing user who may act is assignable
        create_user(s, "sol", "password-1", ["secretariat"], now=review.now())
    review.claim(decide.id, actors["secretariat"], assignee="sol")
    assert review.ready_tasks(inst.id)[0].claimed_by == "sol"
    with pytest.raises(Forbidden):
        review.claim(decide.id, actors["country"])
    kinds = [e.kind for e in review.history(inst.id)]
    assert {"task_claimed", "task_unclaimed", "task_assigned"} <= set(kinds)
