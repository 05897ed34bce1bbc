"""The engine clock, calendar-exact durations, and SpiffWorkflow's timers under a virtual clock."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.clock import (
    SystemClock,
    VirtualClock,
    add_duration,
    parse_duration,
    to_iso,
    use_clock,
)

UTC = UTC


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def timer_workflow(kind: str, expression: str) -> BpmnWorkflow:
    """start -> timer catch event (timeDuration/timeDate/timeCycle) -> end."""
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    id="defs" targetNamespace="http://example.org/test">
  <bpmn:process id="timer_process" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:intermediateCatchEvent id="wait" name="Wait">
      <bpmn:timerEventDefinition>
        <bpmn:{kind} xsi:type="bpmn:tFormalExpression">{expression}</bpmn:{kind}>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>"""
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(xml.encode(), "timer.bpmn")
    return BpmnWorkflow(parser.get_spec("timer_process"))


def start(wf: BpmnWorkflow, **data: Any) -> None:
    wf.get_tasks(state=TaskState.READY)[0].set_data(**data)
    wf.do_engine_steps()


def timer_fired(wf: BpmnWorkflow) -> bool:
    wf.refresh_timers()
    wf.do_engine_steps()
    return bool(wf.is_completed())


def fire_time(wf: BpmnWorkflow) -> datetime:
    (event,) = wf.waiting_events()
    return datetime.fromisoformat(event.value)


# --- VirtualClock -----------------------------------------------------------------------------


def test_virtual_clock_jumps_a_calendar_year() -> None:
    clock = VirtualClock(utc(2027, 3, 15, 10))
    assert clock.advance(years=1) == utc(2028, 3, 15, 10)
    assert clock.now() == utc(2028, 3, 15, 10)


def test_virtual_clock_year_from_leap_day_lands_on_feb_28() -> None:
    clock = VirtualClock(utc(2028, 2, 29))
    assert clock.advance(years=1) == utc(2029, 2, 28)


def test_virtual_clock_combines_months_days_seconds_and_delta() -> None:
    clock = VirtualClock(utc(2027, 1, 31))
    got = clock.advance(timedelta(hours=1), months=1, days=1, seconds=30)
    assert got == utc(2027, 3, 1, 1, 0, 30)


@pytest.mark.parametrize(
    "kwargs",
    [{"days": -1}, {"seconds": -1}, {"years": -1}, {"months": -1}, {"delta": timedelta(-1)}],
)
def test_virtual_clock_refuses_to_advance_backwards(kwargs: dict[str, Any]) -> None:
    clock = VirtualClock(utc(2027, 1, 1))
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(**kwargs)
    assert clock.now() == utc(2027, 1, 1)


def test_virtual_clock_set_goes_anywhere_and_normalises_to_utc() -> None:
    clock = VirtualClock(utc(2027, 1, 1))
    clock.set(datetime(2026, 6, 1, 12, tzinfo=timezone(timedelta(hours=2))))
    assert clock.now() == utc(2026, 6, 1, 10)
    assert clock.now().utcoffset() == timedelta(0)


def test_virtual_clock_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        VirtualClock(datetime(2027, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        VirtualClock().set(datetime(2027, 1, 1))


def test_virtual_clock_advance_is_thread_safe() -> None:
    clock = VirtualClock(utc(2027, 1, 1))

    def tick() -> None:
        for _ in range(1000):
            clock.advance(seconds=1)

    threads = [threading.Thread(target=tick) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.now() == utc(2027, 1, 1) + timedelta(seconds=8000)


def test_system_clock_is_aware_utc_and_current() -> None:
    now = SystemClock().now()
    assert now.utcoffset() == timedelta(0)
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


# --- durations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P1Y", (1, 0, 0, 0.0)),
        ("P3M", (0, 3, 0, 0.0)),
        ("P2W", (0, 0, 14, 0.0)),
        ("P30D", (0, 0, 30, 0.0)),
        ("PT5M", (0, 0, 0, 300.0)),
        ("P1Y2M3DT4H5M6.5S", (1, 2, 3, 4 * 3600 + 5 * 60 + 6.5)),
        ("-P1D", (0, 0, -1, 0.0)),
        ("pt1,5h", (0, 0, 0, 5400.0)),
    ],
)
def test_parse_duration(text: str, expected: tuple[int, int, int, float]) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "1Y", "P1", "P1H", "PT1D", "P1.5Y", "P1Y junk"])
def test_parse_duration_rejects_and_names_bad_text(text: str) -> None:
    with pytest.raises(ValueError, match="invalid ISO 8601 duration") as err:
        parse_duration(text)
    assert repr(text) in str(err.value)


@pytest.mark.parametrize(
    ("value", "duration", "expected"),
    [
        ("2027-03-15", "P1Y", "2028-03-15"),
        ("2028-02-29", "P1Y", "2029-02-28"),
        ("2027-01-31", "P1M", "2027-02-28"),
        ("2028-01-31", "P1M", "2028-02-29"),
        ("2027-12-31", "P2M", "2028-02-29"),
        ("2027-03-31", "-P1M", "2027-02-28"),
        ("2027-03-15", "P30D", "2027-04-14"),
        ("2027-03-15T10:00:00+00:00", "P1Y", "2028-03-15T10:00:00+00:00"),
        ("2027-03-15T23:55:00+00:00", "PT10M", "2027-03-16T00:05:00+00:00"),
    ],
)
def test_add_duration_on_strings_is_calendar_exact_and_keeps_the_form(
    value: str, duration: str, expected: str
) -> None:
    assert add_duration(value, duration) == expected


def test_add_duration_keeps_date_and_datetime_objects() -> None:
    assert add_duration(date(2027, 1, 31), "P1M") == date(2027, 2, 28)
    assert add_duration(utc(2027, 3, 15, 10), "P1Y") == utc(2028, 3, 15, 10)


def test_add_duration_refuses_time_on_a_date_and_bad_dates() -> None:
    with pytest.raises(ValueError, match="PT5M"):
        add_duration("2027-03-15", "PT5M")
    with pytest.raises(ValueError, match="'not a date'"):
        add_duration("not a date", "P1D")


def test_to_iso_is_utc_with_seconds() -> None:
    local = datetime(2027, 3, 15, 11, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert to_iso(local) == "2027-03-15T10:00:00+00:00"
    with pytest.raises(ValueError, match="naive"):
        to_iso(datetime(2027, 3, 15))


# --- SpiffWorkflow timers under the clock -----------------------------------------------------


def test_p1y_duration_timer_fires_on_the_anniversary_across_a_leap_year() -> None:
    clock = VirtualClock(utc(2027, 3, 15, 10))
    with use_clock(clock):
        wf = timer_workflow("timeDuration", '"P1Y"')
        start(wf)
        assert fire_time(wf) == utc(2028, 3, 15, 10)

        clock.set(utc(2028, 3, 14, 23, 59))
        assert not timer_fired(wf)

        clock.set(utc(2028, 3, 15, 10, 0, 1))
        assert timer_fired(wf)


def test_p1m_duration_timer_from_jan_31_lands_on_the_last_day_of_february() -> None:
    # The library alone adds 31 days (the length of January): Mar 3 in 2027, Mar 2 in 2028.
    for year, last_day in ((2027, 28), (2028, 29)):
        clock = VirtualClock(utc(year, 1, 31, 9))
        with use_clock(clock):
            wf = timer_workflow("timeDuration", '"P1M"')
            start(wf)
            assert fire_time(wf) == utc(year, 2, last_day, 9)
            clock.set(utc(year, 2, last_day, 8, 59))
            assert not timer_fired(wf)
            clock.set(utc(year, 2, last_day, 9, 0, 1))
            assert timer_fired(wf)


def test_time_date_timer_reads_its_expression_from_task_data() -> None:
    clock = VirtualClock(utc(2027, 3, 15, 10))
    with use_clock(clock):
        wf = timer_workflow("timeDate", "due")
        start(wf, due="2027-06-01T09:00:00+00:00")
        assert fire_time(wf) == utc(2027, 6, 1, 9)
        clock.set(utc(2027, 6, 1, 8, 59))
        assert not timer_fired(wf)
        clock.advance(timedelta(minutes=2))
        assert timer_fired(wf)


def test_cycle_timer_first_occurrence_is_calendar_exact() -> None:
    clock = VirtualClock(utc(2027, 1, 31))
    with use_clock(clock):
        wf = timer_workflow("timeCycle", '"R1/P1M"')
        start(wf)
        assert fire_time(wf) == utc(2027, 2, 28)


def test_without_use_clock_timers_keep_the_real_time() -> None:
    with use_clock(VirtualClock(utc(2001, 1, 1))):
        pass
    wf = timer_workflow("timeDuration", '"PT1H"')
    start(wf)
    assert abs(fire_time(wf) - (datetime.now(UTC) + timedelta(hours=1))) < timedelta(seconds=5)


def test_task_state_change_timestamps_follow_the_clock() -> None:
    with use_clock(VirtualClock(utc(2030, 1, 1))):
        wf = timer_workflow("timeDuration", '"P1D"')
        start(wf)
    stamps = {t.last_state_change for t in wf.get_tasks() if t.state != TaskState.FUTURE}
    assert utc(2030, 1, 1).timestamp() in stamps


def test_two_threads_with_two_virtual_clocks_do_not_see_each_other() -> None:
    barrier = threading.Barrier(2)
    results: dict[str, datetime] = {}
    errors: list[BaseException] = []

    def run(name: str, begin: datetime) -> None:
        try:
            with use_clock(VirtualClock(begin)):
                barrier.wait(timeout=5)  # both clocks are now installed at once
                wf = timer_workflow("timeDuration", '"P1Y"')
                start(wf)
                barrier.wait(timeout=5)
                results[name] = fire_time(wf)
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=("a", utc(2027, 3, 15))),
        threading.Thread(target=run, args=("b", utc(2040, 7, 1))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not errors
    assert results == {"a": utc(2028, 3, 15), "b": utc(2041, 7, 1)}
