"""Moving running instances to a newer version: the dry run says who can move and why not;
migrating moves each instance in its own transaction and records it."""

from __future__ import annotations

import json

import pytest

from engine import Actor, Engine, Forbidden
from engine.runtime.migration import dry_run, migrate
from engine.store.models import Instance
from tests.fixtures.bpmn_files import REVIEW, bpmn, flow, forms_json, user_task

RENAMED = REVIEW.replace(b'name="Decide on request"', b'name="Decide on the request"')
WITHOUT_FILL = bpmn(
    "review",
    '<bpmn:startEvent id="start" />'
    + user_task("decide", "Decide on request", "decision")
    + '<bpmn:endEvent id="end" />'
    + flow("f1", "start", "decide")
    + flow("f3", "decide", "end"),
    lanes={"Secretariat": ["start", "decide", "end"]},
)


@pytest.fixture
def v1(engine: Engine, actors: dict[str, Actor]) -> Instance:
    """Version 1 of `review` deployed and one instance waiting at 'fill'."""
    engine.deploy({"review.bpmn": REVIEW}, forms_json(), "olu")
    return engine.start("review", {"country": "NPL"}, actors["admin"])


def _version(engine: Engine, instance_id: int) -> int:
    with engine.session() as s:
        row = s.get(Instance, instance_id)
        assert row is not None
        return row.process_version.version


def test_compatible_instance_moves_and_is_recorded(
    engine: Engine, v1: Instance, actors: dict[str, Actor]
) -> None:
    engine.deploy({"review.bpmn": RENAMED}, forms_json(), "olu")
    [check] = dry_run(engine, "review", 2)
    assert (check.instance_id, check.can_move, check.reasons) == (v1.id, True, [])
    assert check.open_elements == ["fill"]
    assert (check.from_version, check.to_version) == (1, 2)

    [outcome] = migrate(engine, "review", 2, actors["owner"])
    assert outcome.migrated and outcome.reasons == []
    assert _version(engine, v1.id) == 2
    event = engine.history(v1.id)[-1]
    assert event.kind == "instance_migrated" and event.actor == "olu"
    assert (event.data["from_version"], event.data["to_version"]) == (1, 2)
    assert engine.verify(v1.id)[0].intact

    # it runs on under the new version: the renamed task is what comes next
    [fill] = engine.ready_tasks(v1.id)
    engine.complete(fill.id, {"title": "Help", "amount": 3}, actors["admin"])
    assert [t.name for t in engine.ready_tasks(v1.id)] == ["Decide on the request"]
    # nothing left to move
    assert dry_run(engine, "review", 2) == []


def test_instance_at_a_removed_element_cannot_move(
    engine: Engine, v1: Instance, actors: dict[str, Actor]
) -> None:
    engine.deploy({"review.bpmn": WITHOUT_FILL}, forms_json(), "olu")
    [check] = dry_run(engine, "review", 2)
    assert not check.can_move
    assert any("'Fill in request' (fill)" in r and "does not have" in r for r in check.reasons)
    before = len(engine.history(v1.id))
    state = engine.instance(v1.id).state

    [outcome] = migrate(engine, "review", 2, actors["owner"], [v1.id])
    assert not outcome.migrated and outcome.reasons == check.reasons
    assert _version(engine, v1.id) == 1
    assert len(engine.history(v1.id)) == before
    assert engine.instance(v1.id).state == state


def test_history_through_a_removed_element_blocks_the_move(
    engine: Engine, v1: Instance, actors: dict[str, Actor]
) -> None:
    [fill] = engine.ready_tasks(v1.id)
    engine.complete(fill.id, {"title": "Help", "amount": 3}, actors["admin"])
    engine.deploy({"review.bpmn": WITHOUT_FILL}, forms_json(), "olu")
    [check] = dry_run(engine, "review", 2)
    assert not check.can_move
    assert check.open_elements == ["decide"]
    assert any("history passes through 'Fill in request'" in r for r in check.reasons)


def test_changed_kind_of_the_open_element_blocks_the_move(engine: Engine, v1: Instance) -> None:
    manual = REVIEW.decode().replace(
        '<bpmn:userTask id="fill" name="Fill in request">',
        '<bpmn:manualTask id="fill" name="Fill in request">',
    )
    head, _, tail = manual.partition('<bpmn:manualTask id="fill"')
    body, _, rest = tail.partition("</bpmn:userTask>")
    manual = head + '<bpmn:manualTask id="fill"' + body + "</bpmn:manualTask>" + rest
    engine.deploy({"review.bpmn": manual.encode()}, forms_json(), "olu")
    [check] = dry_run(engine, "review", 2)
    assert not check.can_move
    assert any("is a UserTask in its version but a ManualTask" in r for r in check.reasons)


def test_only_process_owners_and_admins_migrate(
    engine: Engine, v1: Instance, actors: dict[str, Actor]
) -> None:
    engine.deploy({"review.bpmn": RENAMED}, forms_json(), "olu")
    for role in ("secretariat", "country", "auditor"):
        with pytest.raises(Forbidden):
            migrate(engine, "review", 2, actors[role])
    assert _version(engine, v1.id) == 1


def test_each_instance_moves_on_its_own(
    engine: Engine, v1: Instance, actors: dict[str, Actor]
) -> None:
    second = engine.start("review", {"country": "KEN"}, actors["admin"])
    [fill] = engine.ready_tasks(second.id)
    engine.complete(fill.id, {"title": "Help", "amount": 3}, actors["admin"])
    engine.deploy({"review.bpmn": WITHOUT_FILL}, forms_json(), "olu")
    # v1 is at `fill` (gone): refused; `second` passed through it too: refused as well
    outcomes = {o.instance_id: o.migrated for o in migrate(engine, "review", 2, actors["admin"])}
    assert outcomes == {v1.id: False, second.id: False}
    engine.deploy({"review.bpmn": RENAMED}, forms_json(), "olu")
    outcomes = {o.instance_id: o.migrated for o in migrate(engine, "review", 3, actors["admin"])}
    assert outcomes == {v1.id: True, second.id: True}
    assert json.loads(engine.instance(second.id).state)["tasks"]
