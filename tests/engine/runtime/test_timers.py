"""Timers on the engine's one clock: rows with due times, calendar-exact years, workers."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from engine import Engine
from engine.runtime.worker import Worker
from engine.store.models import TimerJob
from tests.fixtures.bpmn_files import YEARLY


def _jobs(engine: Engine) -> list[TimerJob]:
    with engine.session() as s:
        return list(s.execute(select(TimerJob)).scalars())


def test_p1y_fires_on_the_anniversary(engine: Engine, clock, actors) -> None:
    clock.set(datetime(2027, 3, 15, 10, 0, tzinfo=UTC))
    engine.deploy({"yearly.bpmn": YEARLY}, {}, "olu")
    inst = engine.start("yearly", {}, actors["admin"])
    [job] = _jobs(engine)
    assert job.due_at == datetime(2028, 3, 15, 10, 0, tzinfo=UTC)  # 366 days: 2028 is a leap year

    clock.set(datetime(2028, 3, 15, 9, 59, tzinfo=UTC))
    assert engine.fire_due_timers() == 0
    assert engine.ready_tasks(inst.id) == []

    clock.set(datetime(2028, 3, 15, 10, 0, 1, tzinfo=UTC))
    assert engine.fire_due_timers() == 1
    assert [t.element_id for t in engine.ready_tasks(inst.id)] == ["anniversary"]
    assert _jobs(engine) == []
    kinds = [e.kind for e in engine.history(inst.id)]
    assert kinds.count("timer_scheduled") == 1 and kinds.count("timer_fired") == 1


def test_worker_fires_only_due_instances(engine: Engine, clock, actors) -> None:
    engine.deploy({"yearly.bpmn": YEARLY}, {}, "olu")
    early = engine.start("yearly", {}, actors["admin"])
    clock.advance(days=100)
    late = engine.start("yearly", {}, actors["admin"])
    clock.advance(days=300)  # early's year is over, late's is not
    assert Worker(engine).run_once() == 1
    assert len(engine.ready_tasks(early.id)) == 1
    assert engine.ready_tasks(late.id) == []


def test_suspended_instance_does_not_fire_until_resumed(engine: Engine, clock, actors) -> None:
    engine.deploy({"yearly.bpmn": YEARLY}, {}, "olu")
    inst = engine.start("yearly", {}, actors["admin"])
    engine.instances.suspend(inst.id, actors["admin"])
    clock.advance(years=2)
    assert engine.fire_due_timers() == 0
    engine.instances.resume(inst.id, actors["admin"])
    assert [t.element_id for t in engine.ready_tasks(inst.id)] == ["anniversary"]


def test_a_timer_fires_at_its_due_time_not_only_after(engine: Engine, clock, actors) -> None:
    clock.set(datetime(2027, 3, 15, 10, 0, tzinfo=UTC))
    engine.deploy({"yearly.bpmn": YEARLY}, {}, "olu")
    inst = engine.start("yearly", {}, actors["admin"])
    clock.set(datetime(2028, 3, 15, 10, 0, tzinfo=UTC))  # exactly the anniversary
    assert engine.fire_due_timers() == 1
    assert [t.element_id for t in engine.ready_tasks(inst.id)] == ["anniversary"]
