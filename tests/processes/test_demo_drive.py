"""The demo driver (`engine.demo.drive`) plays a country through the real pathfinder model on the
virtual clock; tests and the demo seed rely on it doing what a punctual country would do."""

from __future__ import annotations

from engine import Actor, Engine, VirtualClock
from engine.demo import drive
from tests.processes.driver import LANE_ACTORS
from tests.processes.samples import sample

ACTORS = {a.username: a for a in LANE_ACTORS.values()} | {"ada": Actor("ada", ["admin"])}


def _drive_to_review(engine: Engine, clock: VirtualClock, instance_id: int) -> None:
    problems = drive(engine, clock, instance_id, stop_at="decide_annual_review", actors=ACTORS)
    assert not problems, problems


def test_a_punctual_country_sends_its_report_every_year(
    deployed: Engine, clock: VirtualClock
) -> None:
    """The report of the second year is offered on the anniversary while the country's support
    record is still open: the driver must answer it then, not after its 60-day deadline."""
    engine = deployed
    case = engine.start("pathfinder", {"country": "NPL", "country_name": "Nepal"}, ACTORS["sam"])
    _drive_to_review(engine, clock, case.id)
    [decide] = [t for t in engine.ready_tasks(case.id) if t.element_id == "decide_annual_review"]
    engine.complete(decide.id, sample("decide_annual_review"), ACTORS["sam"])
    _drive_to_review(engine, clock, case.id)

    events = engine.history(case.id)
    reports = [
        e
        for e in events
        if (e.kind, e.element_id) == ("task_completed", "submit_annual_progress_report")
    ]
    assert len(reports) == 2  # one report a year, both received
    overdue = [
        e for e in events if e.kind == "timer_fired" and e.element_id == "annual_report_overdue"
    ]
    assert not overdue  # the deadline timer never went off
    data = engine.instance(case.id).data or {}
    assert data["review_number"] == 2 and "last_missing_report_review" not in data
    due = data["annual_report_due_at"]
    assert reports[1].at.isoformat() < due  # received before its due date
