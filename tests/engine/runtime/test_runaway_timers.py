"""Timer cycles that would stall the server: refused at deploy when written out, stopped or
bounded at run time when computed from data (issue 14, finding 2)."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

import pytest

from engine import Actor, Engine, ValidationFailed, VirtualClock
from engine.runtime.worker import Worker
from tests.fixtures.bpmn_files import bpmn, flow, user_task


def reminders(cycle: str, pid: str = "reminders") -> bytes:
    """A review with a non-interrupting cycle boundary timer whose text is `cycle`."""
    return bpmn(
        pid,
        '<bpmn:startEvent id="start" />'
        + user_task("review", "Review the report")
        + '<bpmn:boundaryEvent id="nag" name="Reminder" attachedToRef="review" '
        + 'cancelActivity="false"><bpmn:timerEventDefinition>'
        + f"<bpmn:timeCycle>{cycle}</bpmn:timeCycle></bpmn:timerEventDefinition>"
        + "</bpmn:boundaryEvent>"
        + '<bpmn:endEvent id="reminded" />'
        + '<bpmn:endEvent id="end" />'
        + flow("f1", "start", "review")
        + flow("f2", "review", "end")
        + flow("f3", "nag", "reminded"),
    )


RUNAWAY_CYCLES = ["R/PT0S", "R/2000-01-01T00:00:00Z/PT1H", "R/PT1S"]


@pytest.mark.parametrize("cycle", RUNAWAY_CYCLES)
def test_a_runaway_cycle_is_refused_at_deploy_naming_the_timer(engine: Engine, cycle: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        engine.deploy({"reminders.bpmn": reminders(f'"{cycle}"')}, {}, "olu")
    [problem] = [p for p in refused.value.problems if p.code == "timer-cycle"]
    assert problem.element_id == "nag"
    assert problem.element_name == "Reminder"
    assert cycle in problem.message


def test_a_sane_cycle_still_deploys(engine: Engine) -> None:
    [result] = engine.deploy({"reminders.bpmn": reminders('"R/PT1H"')}, {}, "olu")
    assert result.executable


def test_a_short_period_is_allowed_when_the_setting_is_lowered(engine: Engine) -> None:
    settings = dataclasses.replace(engine.settings, min_timer_period=1.0)
    lowered = Engine(engine.sessions, engine.clock, settings=settings)
    [result] = lowered.deploy({"reminders.bpmn": reminders('"R/PT1S"')}, {}, "olu")
    assert result.executable


def test_a_computed_zero_period_stops_the_instance_quickly(
    engine: Engine, actors: dict[str, Actor]
) -> None:
    engine.deploy({"reminders.bpmn": reminders("cycle")}, {}, "olu")
    started = time.monotonic()
    inst = engine.start("reminders", {"cycle": "R/PT0S"}, actors["admin"])
    assert time.monotonic() - started < 10
    row = engine.instance(inst.id)
    assert row.status == "error"
    assert row.error_element_id == "nag"
    assert "PATHFINDER_MIN_TIMER_PERIOD" in (row.error_message or "")


def test_a_computed_cycle_from_the_distant_past_catches_up_at_most_ten_then_waits(
    engine: Engine, clock: VirtualClock, actors: dict[str, Actor]
) -> None:
    engine.deploy({"reminders.bpmn": reminders("cycle")}, {}, "olu")
    started = time.monotonic()
    inst = engine.start("reminders", {"cycle": "R/2000-01-01T00:00:00Z/PT1H"}, actors["admin"])
    Worker(engine, listen=False).run_once()
    assert time.monotonic() - started < 20
    history = engine.history(inst.id)
    fired = [e for e in history if e.kind == "timer_fired"]
    skipped = [e for e in history if e.kind == "timer_skipped"]
    assert len(fired) <= engine.settings.max_timer_catch_up
    assert skipped and skipped[0].element_id == "nag"
    assert engine.instance(inst.id).status == "running"
    assert [t.element_id for t in engine.ready_tasks(inst.id)] == ["review"]
    # Caught up: nothing more is owed until the next hour.
    assert Worker(engine, listen=False).run_once() == 0
    clock.advance(timedelta(hours=1))
    assert Worker(engine, listen=False).run_once() == 1
    assert len([e for e in engine.history(inst.id) if e.kind == "timer_fired"]) == len(fired) + 1


def test_a_run_past_its_step_budget_ends_in_error(engine: Engine, actors: dict[str, Actor]) -> None:
    loop = bpmn(
        "spin",
        '<bpmn:startEvent id="start" />'
        + '<bpmn:scriptTask id="tick" name="Tick"><bpmn:script>n = n + 1</bpmn:script>'
        + "</bpmn:scriptTask>"
        + '<bpmn:exclusiveGateway id="again" default="back" />'
        + '<bpmn:endEvent id="end" />'
        + flow("f1", "start", "tick")
        + flow("f2", "tick", "again")
        + flow("back", "again", "tick")
        + flow("f3", "again", "end", "n &lt; 0"),
    )
    settings = dataclasses.replace(engine.settings, max_engine_steps=200)
    small = Engine(engine.sessions, engine.clock, settings=settings)
    small.deploy({"spin.bpmn": loop}, {}, "olu")
    inst = small.start("spin", {"n": 0}, actors["admin"])
    row = small.instance(inst.id)
    assert row.status == "error"
    assert "More than 200 automatic steps" in (row.error_message or "")
