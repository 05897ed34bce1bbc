"""Save and restore at every step changes nothing (SpiffWorkflow's own test practice)."""

from __future__ import annotations

import json

from engine import Engine
from engine.bpmn.serialization import dump_state, load_state
from engine.runtime.execution import load


def _snapshot(engine: Engine, instance_id: int) -> tuple[str, list[tuple[str, str, int]]]:
    """Restore the stored state, serialize it again, and list every task with its state."""
    with engine.session() as s:
        loaded = load(s, engine.runtime, instance_id)
        specs = engine.runtime.specs.get(
            loaded.version.id, loaded.version.dialect, loaded.version.spec_json
        )
        stored = loaded.row.state
        again = dump_state(loaded.version.dialect, loaded.wf)
        twice = dump_state(loaded.version.dialect, load_state(loaded.version.dialect, again, specs))
        tasks = sorted((str(t.id), t.task_spec.name, t.state) for t in loaded.wf.get_tasks())
    assert json.loads(stored) == json.loads(again) == json.loads(twice)
    return stored, tasks


def test_round_trip_at_every_step(engine: Engine, review_bundle, actors) -> None:
    engine.deploy(*review_bundle, actor="olu")
    inst = engine.start("review", {"country": "NPL"}, actors["country"])
    steps = [
        (actors["country"], {"title": "Draft", "amount": 1}),
        (actors["secretariat"], {"approved": False}),
        (actors["country"], {"title": "Final", "amount": 2}),
        (actors["secretariat"], {"approved": True}),
    ]
    seen_states = {_snapshot(engine, inst.id)[0]}
    for actor, data in steps:
        [task] = engine.ready_tasks(inst.id)
        engine.complete(task.id, data, actor)
        state, tasks = _snapshot(engine, inst.id)
        assert state not in seen_states  # every step really changed the stored state
        seen_states.add(state)
        ready_in_tree = {tid for tid, _name, st in tasks if st == 16}  # TaskState.READY
        assert ready_in_tree == {t.id for t in engine.ready_tasks(inst.id)}
    assert engine.instance(inst.id).status == "completed"


def test_spec_is_stored_once_per_version(engine: Engine, review_bundle, actors) -> None:
    engine.deploy(*review_bundle, actor="olu")
    inst = engine.start("review", {"country": "NPL"}, actors["country"])
    state = json.loads(engine.instance(inst.id).state)
    assert "spec" not in state and "subprocess_specs" not in state
