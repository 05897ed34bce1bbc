"""Downtime: timers that fell due while no worker ran fire on start, oldest first; a cycle fires
every occurrence it owes, in order, each recorded."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from engine import Actor, Engine, VirtualClock
from engine.runtime.worker import Worker
from engine.store.models import AuditEvent, TimerJob
from tests.fixtures.bpmn_files import bpmn, flow, user_task

# A review with an hourly reminder, five times at most (non-interrupting cycle boundary timer).
REMINDERS = bpmn(
    "reminders",
    '<bpmn:startEvent id="start" />'
    + user_task("review", "Review the report")
    + '<bpmn:boundaryEvent id="hourly" name="Hourly reminder" attachedToRef="review" '
    + 'cancelActivity="false"><bpmn:timerEventDefinition>'
    + '<bpmn:timeCycle>"R5/PT1H"</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:boundaryEvent>'
    + '<bpmn:endEvent id="reminded" />'
    + '<bpmn:endEvent id="end" />'
    + flow("f1", "start", "review")
    + flow("f2", "review", "end")
    + flow("f3", "hourly", "reminded"),
)

# Wait for a duration computed from the start data, then a task.
WAIT = bpmn(
    "delayed",
    '<bpmn:startEvent id="start" />'
    + '<bpmn:intermediateCatchEvent id="wait" name="Wait">'
    + "<bpmn:timerEventDefinition><bpmn:timeDuration>delay</bpmn:timeDuration>"
    + "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    + user_task("act", "Act")
    + '<bpmn:endEvent id="end" />'
    + flow("f1", "start", "wait")
    + flow("f2", "wait", "act")
    + flow("f3", "act", "end"),
)


def _fired(engine: Engine) -> list[AuditEvent]:
    with engine.session() as s:
        return list(
            s.execute(
                select(AuditEvent).where(AuditEvent.kind == "timer_fired").order_by(AuditEvent.id)
            ).scalars()
        )


def test_a_cycle_fires_each_owed_occurrence_in_order(
    engine: Engine, clock: VirtualClock, actors: dict[str, Actor]
) -> None:
    engine.deploy({"reminders.bpmn": REMINDERS}, {}, "olu")
    started = clock.now()
    inst = engine.start("reminders", {}, actors["admin"])

    clock.advance(timedelta(hours=5, seconds=1))  # the worker was down for five hours
    assert Worker(engine, listen=False).run_once() == 1

    fired = [e for e in engine.history(inst.id) if e.kind == "timer_fired"]
    assert [datetime.fromisoformat(e.data["due_at"]) for e in fired] == [
        started + timedelta(hours=h) for h in range(1, 6)
    ]
    assert {e.element_id for e in fired} == {"hourly"}
    assert all(e.data["worker"] for e in fired)
    with engine.session() as s:
        assert s.execute(select(TimerJob)).first() is None  # R5: nothing more owed
    assert [t.element_id for t in engine.ready_tasks(inst.id)] == ["review"]

    clock.advance(days=1)
    assert Worker(engine, listen=False).run_once() == 0
    assert len([e for e in engine.history(inst.id) if e.kind == "timer_fired"]) == 5
    assert all(r.intact for r in engine.verify(inst.id))


def test_a_cycle_partly_owed_fires_what_is_due_and_waits_for_the_rest(
    engine: Engine, clock: VirtualClock, actors: dict[str, Actor]
) -> None:
    engine.deploy({"reminders.bpmn": REMINDERS}, {}, "olu")
    started = clock.now()
    inst = engine.start("reminders", {}, actors["admin"])
    clock.advance(timedelta(hours=2, minutes=30))
    Worker(engine, listen=False).run_once()
    assert len([e for e in engine.history(inst.id) if e.kind == "timer_fired"]) == 2
    with engine.session() as s:
        [job] = s.execute(select(TimerJob)).scalars()
    assert job.due_at == started + timedelta(hours=3)


def test_timers_owed_after_downtime_fire_oldest_first(
    engine: Engine, clock: VirtualClock, actors: dict[str, Actor]
) -> None:
    engine.deploy({"delayed.bpmn": WAIT}, {}, "olu")
    start = clock.now()
    delays = {"PT3H": 3, "PT1H": 1, "PT4H": 4, "PT2H": 2}
    ids = {engine.start("delayed", {"delay": d}, actors["admin"]).id: h for d, h in delays.items()}

    clock.advance(timedelta(hours=6))  # no worker ran meanwhile
    assert Worker(engine, listen=False, batch=2).run_once() == 4

    fired = _fired(engine)
    assert [ids.get(e.instance_id or 0) for e in fired] == [1, 2, 3, 4]
    assert [datetime.fromisoformat(e.data["due_at"]) for e in fired] == [
        start + timedelta(hours=h) for h in (1, 2, 3, 4)
    ]
