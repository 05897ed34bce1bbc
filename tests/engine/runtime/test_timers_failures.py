"""A timer whose run fails: retried with backoff, an incident after the last attempt, admin retry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select

from engine import Actor, Engine, InstanceNotRunnable, VirtualClock
from engine.bpmn.serialization import dump_state
from engine.runtime.execution import load
from engine.runtime.worker import Worker
from engine.store.db import transaction
from engine.store.models import TimerJob
from tests.fixtures.bpmn_files import bpmn, flow, user_task

# One hour after the start a script checks the partner registry, which fails while it is offline.
REGISTRY = bpmn(
    "registry",
    '<bpmn:startEvent id="start" />'
    + '<bpmn:intermediateCatchEvent id="wait_hour" name="One hour later">'
    + '<bpmn:timerEventDefinition><bpmn:timeDuration>"PT1H"</bpmn:timeDuration></bpmn:timerEventDefinition>'
    + "</bpmn:intermediateCatchEvent>"
    + '<bpmn:scriptTask id="check_registry" name="Check partner registry"><bpmn:script>'
    + 'assert not registry_offline, "partner registry offline"\nchecked = True'
    + "</bpmn:script></bpmn:scriptTask>"
    + user_task("follow_up", "Follow up")
    + '<bpmn:endEvent id="end" />'
    + flow("f1", "start", "wait_hour")
    + flow("f2", "wait_hour", "check_registry")
    + flow("f3", "check_registry", "follow_up")
    + flow("f4", "follow_up", "end"),
)


def _job(engine: Engine) -> TimerJob:
    with engine.session() as s:
        [job] = s.execute(select(TimerJob)).scalars()
        return job


def _kinds(engine: Engine, instance_id: int) -> list[str]:
    return [e.kind for e in engine.history(instance_id)]


def _bring_registry_back(engine: Engine, instance_id: int) -> None:
    """What an operator's data fix amounts to: the flag is cleared in the stored workflow."""
    with transaction(engine.sessions) as s:
        loaded = load(s, engine.runtime, instance_id)
        for task in loaded.wf.get_tasks():
            task.data["registry_offline"] = False
        loaded.row.state = dump_state(loaded.version.dialect, loaded.wf)


def test_failing_timer_backs_off_then_becomes_an_incident_that_an_admin_retries(
    engine: Engine, clock: VirtualClock, actors: dict[str, Actor]
) -> None:
    engine.deploy({"registry.bpmn": REGISTRY}, {}, "olu")
    inst = engine.start("registry", {"registry_offline": True}, actors["admin"])
    clock.advance(timedelta(hours=1, seconds=1))
    worker = Worker(engine, max_sleep=600, listen=False)

    # Attempt 1 fails: rolled back (the timer has not fired), retried after 30 s.
    assert worker.run_once() == 0
    job = _job(engine)
    assert (job.state, job.attempts) == ("waiting", 1)
    assert job.next_attempt_at == clock.now() + timedelta(seconds=30)
    assert "partner registry offline" in (job.last_error or "")
    assert engine.instance(inst.id).status == "running"
    assert _kinds(engine, inst.id).count("timer_retry_scheduled") == 1
    assert "timer_fired" not in _kinds(engine, inst.id)
    # The worker sleeps until the retry instead of spinning on the already-due job.
    assert worker.sleep_seconds() == pytest.approx(30, abs=0.01)

    clock.advance(seconds=29)
    assert worker.run_once() == 0
    assert _job(engine).attempts == 1  # still backing off: not attempted
    clock.advance(seconds=2)
    assert worker.run_once() == 0
    job = _job(engine)
    assert job.attempts == 2
    assert job.next_attempt_at == clock.now() + timedelta(seconds=60)  # doubled

    # Attempt 3 is the last (max_attempts=3): an incident on the instance.
    clock.advance(seconds=61)
    assert worker.run_once() == 0
    job = _job(engine)
    assert (job.state, job.attempts) == ("incident", 3)
    failed = engine.instance(inst.id)
    assert failed.status == "error"
    assert failed.error_element_id == "check_registry"
    assert "failed 3 times" in (failed.error_message or "")
    assert "partner registry offline" in (failed.error_message or "")
    [incident] = [e for e in engine.history(inst.id) if e.kind == "incident"]
    assert incident.data["attempts"] == 3 and incident.data["timer"] == "wait_hour"
    clock.advance(days=1)
    assert worker.run_once() == 0  # an incident waits for a person
    assert _job(engine).attempts == 3

    # The cause is fixed; an admin retries: the timer fires once and the instance runs on.
    _bring_registry_back(engine, inst.id)
    retried = engine.instances.retry(inst.id, actors["admin"])
    assert retried.status == "running"
    assert retried.error_message is None and retried.error_element_id is None
    assert retried.data["checked"] is True
    assert [t.element_id for t in engine.ready_tasks(inst.id)] == ["follow_up"]
    with engine.session() as s:
        assert s.execute(select(TimerJob)).first() is None
    kinds = _kinds(engine, inst.id)
    assert kinds.count("timer_fired") == 1
    assert kinds.index("incident") < kinds.index("instance_retried") < kinds.index("timer_fired")
    assert all(r.intact for r in engine.verify(inst.id))


def test_retry_before_the_fix_shows_the_model_error_at_once(
    engine: Engine, clock: VirtualClock, actors: dict[str, Actor]
) -> None:
    engine.deploy({"registry.bpmn": REGISTRY}, {}, "olu")
    inst = engine.start("registry", {"registry_offline": True}, actors["admin"])
    clock.advance(seconds=3601)
    worker = Worker(engine, listen=False)
    for _ in range(3):
        worker.run_once()
        clock.advance(seconds=120)
    assert engine.instance(inst.id).status == "error"

    # An admin retry runs in the admin's request: a failure shows at once, no new backoff.
    again = engine.instances.retry(inst.id, actors["admin"])
    assert again.status == "error"
    assert "partner registry offline" in (again.error_message or "")
    with pytest.raises(InstanceNotRunnable):
        engine.instances.resume(inst.id, actors["admin"])
    _bring_registry_back(engine, inst.id)
    assert engine.instances.retry(inst.id, actors["admin"]).status == "running"
    assert _kinds(engine, inst.id).count("timer_fired") == 1


def test_one_failing_instance_in_a_group_does_not_hold_back_the_others(
    engine: Engine, clock: VirtualClock, actors: dict[str, Actor]
) -> None:
    """Instances fire several per transaction; a group with a failing one is rolled back and
    run again one by one: the others fire once, the failing one alone counts an attempt."""
    engine.deploy({"registry.bpmn": REGISTRY}, {}, "olu")
    ok = [engine.start("registry", {"registry_offline": False}, actors["admin"]) for _ in range(2)]
    bad = engine.start("registry", {"registry_offline": True}, actors["admin"])
    ok.append(engine.start("registry", {"registry_offline": False}, actors["admin"]))
    clock.advance(timedelta(hours=1, seconds=1))

    assert engine.fire_due_timers() == 3
    for inst in ok:
        assert _kinds(engine, inst.id).count("timer_fired") == 1
        assert [t.element_id for t in engine.ready_tasks(inst.id)] == ["follow_up"]
    assert "timer_fired" not in _kinds(engine, bad.id)
    assert _kinds(engine, bad.id).count("timer_retry_scheduled") == 1
    job = _job(engine)
    assert (job.instance_id, job.state, job.attempts) == (bad.id, "waiting", 1)
    assert job.lease_owner is None


def test_a_group_of_instances_fires_in_one_transaction(
    engine: Engine, clock: VirtualClock, actors: dict[str, Actor]
) -> None:
    engine.deploy({"registry.bpmn": REGISTRY}, {}, "olu")
    started = [
        engine.start("registry", {"registry_offline": False}, actors["admin"]) for _ in range(5)
    ]
    clock.advance(timedelta(hours=1, seconds=1))
    commits: list[object] = []
    count = commits.append
    event.listen(engine.sessions, "after_commit", count)
    try:
        assert engine.fire_due_timers() == 5
    finally:
        event.remove(engine.sessions, "after_commit", count)
    # The lease, then one group of five (nothing is left to hand back).
    assert len(commits) == 2
    for inst in started:
        assert [t.element_id for t in engine.ready_tasks(inst.id)] == ["follow_up"]
