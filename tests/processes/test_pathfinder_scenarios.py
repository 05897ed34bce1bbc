"""Scenarios of the pathfinder procedure, driven through the engine as the roles in its lanes.

Each test asserts what the people involved would notice: the stage and status shown for the
country, which tasks are in whose inbox, and the data kept. The driver saves and restores the
workflow after every step (see `driver.py`).
"""

from __future__ import annotations

import pytest

from engine import Actor, Forbidden, InvalidData, MessageRefused, NotFound, NotReady
from engine.records import submissions
from tests.processes.driver import LANE_ACTORS, Pathfinder
from tests.processes.samples import (
    SHORTFALL_JUSTIFIED,
    SHORTFALL_UNJUSTIFIED,
    WORKPLAN_ACTION,
    sample,
)

CHAIR = LANE_ACTORS["GCG Chair"]
SECRETARIAT = LANE_ACTORS["Secretariat"]

# -- before the award ---------------------------------------------------------------------------


def test_straight_path_to_the_award(pathfinder: Pathfinder) -> None:
    p = pathfinder
    p.start()
    assert p.offered() == {"register_approach": "Secretariat"}
    assert (p.stage(), p.status()) == ("approach", "candidate")
    p.do("register_approach")
    p.do("invite_to_gcg_meeting", gcg_meeting_date="2027-02-15")
    assert p.stage() == "observer"
    assert p.offered() == {}  # waiting for the meeting date
    p.wait_until("2027-02-14")
    assert p.offered() == {}
    p.wait_until("2027-02-15")
    assert p.offered() == {"record_observer_participation": "Secretariat"}
    p.do("record_observer_participation")
    assert p.stage() == "expression_of_interest"
    assert p.offered() == {"submit_expression_of_interest": "Country"}
    p.do("submit_expression_of_interest")
    assert p.offered() == {"review_expression_of_interest": "Secretariat"}
    p.do("review_expression_of_interest")
    assert p.stage() == "workshop"
    assert p.offered() == {"submit_workshop_report": "Country"}
    p.do("submit_workshop_report")
    p.do("review_workshop_report")
    assert p.stage() == "gcg_report"
    assert p.offered() == {"report_back_to_gcg": "Country"}
    p.do("report_back_to_gcg")
    assert p.offered() == {"consider_country_report": "GCG"}
    p.do("consider_country_report")
    assert p.offered() == {"send_confirmation_letter": "GCG Chair"}
    assert p.status() == "candidate"
    p.wait_until("2027-09-15")
    p.do("send_confirmation_letter", confirmation_letter_date="2027-09-15")
    v = p.variables()
    assert (p.stage(), v["pathfinder_status"]) == ("pathfinder", "pathfinder")
    assert v["award_date"] == "2027-09-15"
    assert v["consecutive_unjustified_reviews"] == 0
    assert (v["review_number"], v["next_review_at"]) == (1, "2028-09-15")
    assert v["country"] == "NPL" and v["country_name"] == "Nepal"
    assert p.offered() == {"record_support_to_alliance": "Country"}
    assert p.instance().status == "running"


def test_country_not_at_the_meeting_is_invited_to_the_next_one(invited: Pathfinder) -> None:
    p = invited
    p.wait_until("2027-02-15")
    p.do(
        "record_observer_participation",
        observer_took_part=False,
        participation_mode=None,
        commitment_expressed=None,
    )
    assert p.offered() == {"invite_to_gcg_meeting": "Secretariat"}
    assert p.stage() == "observer"
    p.do("invite_to_gcg_meeting", gcg_meeting_date="2027-06-20")
    p.wait_until("2027-06-20")
    p.do("record_observer_participation")
    assert p.offered() == {"submit_expression_of_interest": "Country"}


def test_expression_of_interest_sent_back_with_comments(pathfinder: Pathfinder) -> None:
    p = pathfinder
    p.to_expression_of_interest()
    p.do("submit_expression_of_interest", commitments=["support_another_country"])
    comments = "Please name the senior official and state the national action plan commitment."
    p.do("review_expression_of_interest", eoi_decision="sent_back", eoi_review_comments=comments)
    assert p.offered() == {"submit_expression_of_interest": "Country"}
    assert p.variables()["eoi_review_comments"] == comments
    assert p.stage() == "expression_of_interest"
    p.do("submit_expression_of_interest")
    p.do("review_expression_of_interest")
    assert p.stage() == "workshop"


def test_workshop_sent_back_when_not_inclusive(pathfinder: Pathfinder) -> None:
    p = pathfinder
    p.to_expression_of_interest()
    p.do("submit_expression_of_interest")
    p.do("review_expression_of_interest")
    p.do("submit_workshop_report", participant_groups=["ministries"])
    comments = "Social partners, survivors and affected groups were not consulted."
    p.do(
        "review_workshop_report",
        workshop_inclusive=False,
        workshop_decision="sent_back",
        workshop_review_comments=comments,
    )
    assert p.offered() == {"submit_workshop_report": "Country"}
    assert p.variables()["workshop_review_comments"] == comments
    p.do("submit_workshop_report")
    p.do("review_workshop_report")
    assert p.stage() == "gcg_report"


def test_gcg_asks_for_more_information_before_the_award(pathfinder: Pathfinder) -> None:
    p = pathfinder
    p.to_expression_of_interest()
    for step in (
        "submit_expression_of_interest",
        "review_expression_of_interest",
        "submit_workshop_report",
        "review_workshop_report",
        "report_back_to_gcg",
    ):
        p.do(step)
    p.do(
        "consider_country_report",
        gcg_decision="request_more_information",
        gcg_comments="Add the costing of the workplan.",
    )
    assert p.offered() == {"report_back_to_gcg": "Country"}
    p.do("report_back_to_gcg")
    p.do("consider_country_report")
    assert p.offered() == {"send_confirmation_letter": "GCG Chair"}


def test_reminder_when_no_expression_of_interest_within_60_days(pathfinder: Pathfinder) -> None:
    p = pathfinder
    p.to_expression_of_interest()  # the task opens on 2027-02-15
    p.wait(days=59)
    assert "eoi_reminder_sent_at" not in p.variables()
    p.wait(days=2)
    assert p.variables()["eoi_reminder_sent_at"].startswith("2027-04-1")
    assert p.offered() == {"submit_expression_of_interest": "Country"}  # still open
    p.do("submit_expression_of_interest")
    assert p.offered() == {"review_expression_of_interest": "Secretariat"}


def test_only_the_lane_role_and_own_country_may_act(pathfinder: Pathfinder) -> None:
    p = pathfinder
    p.to_expression_of_interest()
    task = p.task("submit_expression_of_interest")
    with pytest.raises(Forbidden):
        p.engine.complete(task.id, {}, LANE_ACTORS["Secretariat"])
    with pytest.raises(NotFound):  # another country's task: as if it did not exist (404)
        p.engine.complete(task.id, {}, Actor("kofi", ["country"], country="KEN"))


# -- withdrawal ---------------------------------------------------------------------------------


def test_withdrawal_at_an_early_stage(pathfinder: Pathfinder) -> None:
    p = pathfinder
    p.to_expression_of_interest()
    p.withdraw("Change of government priorities")
    v = p.variables()
    assert (p.stage(), v["pathfinder_status"]) == ("withdrawn", "withdrawn")
    assert v["withdrawal_reason"] == "Change of government priorities"
    assert p.offered() == {}
    assert p.instance().status == "completed"
    p.wait(days=90)  # the reminder timer went with the rest
    assert p.offered() == {}


def test_withdrawal_after_the_award_stops_every_loop(on_hold: Pathfinder) -> None:
    p = on_hold
    assert p.offered() == {"record_support_to_alliance": "Country", "document_progress": "Country"}
    p.withdraw()
    assert (p.stage(), p.variables()["pathfinder_status"]) == ("withdrawn", "withdrawn")
    assert p.offered() == {}
    assert p.instance().status == "completed"
    p.wait_until("2031-01-01")
    assert p.offered() == {}


# -- annual reviews and the hold rule -----------------------------------------------------------


def test_support_is_recorded_whenever_it_happens(pathfinder: Pathfinder) -> None:
    p = pathfinder
    p.to_award()
    p.do("record_support_to_alliance")
    assert p.offered() == {"record_support_to_alliance": "Country"}
    p.do(
        "record_support_to_alliance",
        support_form="knowledge_platform_contribution",
        action_group=None,
    )
    assert p.variables()["support_form"] == "knowledge_platform_contribution"
    assert p.offered() == {"record_support_to_alliance": "Country"}


def test_one_good_review(pathfinder: Pathfinder) -> None:
    p = pathfinder
    p.to_award()
    p.wait_until("2028-09-14")
    assert "submit_annual_progress_report" not in p.offered()
    p.wait_until("2028-09-15")
    assert p.offered()["submit_annual_progress_report"] == "Country"
    p.do("submit_annual_progress_report")
    assert p.offered()["prepare_annual_review"] == "Secretariat"
    p.do("prepare_annual_review")
    assert p.offered()["decide_annual_review"] == "Secretariat"
    p.do("decide_annual_review")
    v = p.variables()
    assert v["pathfinder_status"] == "pathfinder"
    assert v["consecutive_unjustified_reviews"] == 0
    assert v["last_review_outcome"] == "progress"
    assert (v["review_number"], v["next_review_at"]) == (2, "2029-09-15")


def test_justified_shortfall_does_not_count(pathfinder: Pathfinder) -> None:
    p = pathfinder
    p.to_award()
    p.annual_review(1, **SHORTFALL_JUSTIFIED)
    p.annual_review(2, **SHORTFALL_JUSTIFIED)
    v = p.variables()
    assert (v["pathfinder_status"], v["consecutive_unjustified_reviews"]) == ("pathfinder", 0)
    assert v["last_review_outcome"] == "justified_shortfall"
    assert "document_progress" not in p.offered()


def test_two_unjustified_shortfalls_in_a_row_put_the_status_on_hold(pathfinder: Pathfinder) -> None:
    p = pathfinder
    p.to_award()
    p.annual_review(1, **SHORTFALL_UNJUSTIFIED)
    v = p.variables()
    assert (v["pathfinder_status"], v["consecutive_unjustified_reviews"]) == ("pathfinder", 1)
    p.annual_review(2, **SHORTFALL_UNJUSTIFIED)
    # The gateways only detect the second unjustified review; the GCG decides (the Chair records).
    assert p.offered() == {"record_support_to_alliance": "Country", "decide_on_hold": "GCG Chair"}
    assert p.status() == "pathfinder"
    p.do("decide_on_hold")
    v = p.variables()
    assert (v["pathfinder_status"], v["consecutive_unjustified_reviews"]) == ("on_hold", 2)
    assert v["put_on_hold_at"] == "2029-09-15"
    assert (v["hold_confirmed"], v["hold_letter_date"]) == (True, "2029-09-20")
    assert p.stage() == "pathfinder"
    # The country can document progress at any time, and the annual cycle continues.
    assert p.offered() == {"record_support_to_alliance": "Country", "document_progress": "Country"}
    assert v["next_review_at"] == "2030-09-15"


def test_unjustified_good_unjustified_does_not_put_on_hold(pathfinder: Pathfinder) -> None:
    p = pathfinder
    p.to_award()
    p.annual_review(1, **SHORTFALL_UNJUSTIFIED)
    p.annual_review(2)
    assert p.variables()["consecutive_unjustified_reviews"] == 0
    p.annual_review(3, **SHORTFALL_UNJUSTIFIED)
    v = p.variables()
    assert (v["pathfinder_status"], v["consecutive_unjustified_reviews"]) == ("pathfinder", 1)
    assert "document_progress" not in p.offered()


def test_on_hold_documented_progress_accepted_reinstates(on_hold: Pathfinder) -> None:
    p = on_hold
    p.wait_until("2030-03-01")
    p.do("document_progress", progress_summary="Some inspections resumed.")
    assert p.offered()["assess_documented_progress"] == "Secretariat"
    p.do(
        "assess_documented_progress",
        progress_decision="sent_back",
        progress_assessment_comments="Provide the new survey figures.",
    )
    assert p.offered()["document_progress"] == "Country"
    assert p.status() == "on_hold"
    p.do("document_progress")
    p.do("assess_documented_progress")
    v = p.variables()
    assert (v["pathfinder_status"], v["consecutive_unjustified_reviews"]) == ("pathfinder", 0)
    assert v["reinstated_at"] == "2030-03-01"
    assert p.offered() == {"record_support_to_alliance": "Country"}


def test_a_third_unjustified_review_while_on_hold_keeps_one_hold(pathfinder: Pathfinder) -> None:
    p = pathfinder
    p.to_award()
    for year in (1, 2, 3):
        p.annual_review(year, **SHORTFALL_UNJUSTIFIED)
        if year == 2:
            p.do("decide_on_hold")
    # Already on hold: the third review asks for no second decision.
    assert "decide_on_hold" not in p.offered()
    v = p.variables()
    assert (v["pathfinder_status"], v["consecutive_unjustified_reviews"]) == ("on_hold", 3)
    assert [t.element_id for t in p.ready()].count("document_progress") == 1


def test_a_second_hold_later(on_hold: Pathfinder) -> None:
    p = on_hold
    p.do("document_progress")
    p.do("assess_documented_progress")
    assert p.status() == "pathfinder"
    # After reinstatement the count starts again from zero in the review loop too.
    p.annual_review(3, **SHORTFALL_UNJUSTIFIED)
    assert (p.status(), p.variables()["consecutive_unjustified_reviews"]) == ("pathfinder", 1)
    p.annual_review(4, **SHORTFALL_UNJUSTIFIED)
    p.do("decide_on_hold")
    assert (p.status(), p.variables()["consecutive_unjustified_reviews"]) == ("on_hold", 2)
    assert p.offered()["document_progress"] == "Country"
    holds = [
        e
        for e in p.engine.history(p.id)
        if e.kind == "element_completed" and e.element_id == "put_status_on_hold"
    ]
    assert len(holds) == 2


def test_ten_years_of_reviews_on_calendar_exact_anniversaries(pathfinder: Pathfinder) -> None:
    """Awarded on 29 February 2028: reviews fall on 28 February, and on 29 February in leap years."""
    p = pathfinder
    p.to_award(letter_date="2028-02-29")
    outcomes = [
        {},
        SHORTFALL_JUSTIFIED,
        SHORTFALL_UNJUSTIFIED,
        {},
        SHORTFALL_UNJUSTIFIED,
        SHORTFALL_UNJUSTIFIED,
        {},
        {},
        SHORTFALL_JUSTIFIED,
        {},
    ]
    seen = []
    for year, decision in enumerate(outcomes, start=1):
        seen.append(p.variables()["next_review_at"])
        p.annual_review(year, **decision)
        p.do("record_support_to_alliance")
        if year == 6:
            p.do("decide_on_hold")  # on hold after years 5 and 6: document progress, reinstated
            assert p.status() == "on_hold"
            p.do("document_progress")
            p.do("assess_documented_progress")
        assert p.status() == "pathfinder"
    assert seen == [
        "2029-02-28",
        "2030-02-28",
        "2031-02-28",
        "2032-02-29",
        "2033-02-28",
        "2034-02-28",
        "2035-02-28",
        "2036-02-29",
        "2037-02-28",
        "2038-02-28",
    ]
    v = p.variables()
    assert (v["review_number"], v["next_review_at"]) == (11, "2039-02-28")
    assert v["consecutive_unjustified_reviews"] == 0
    assert p.instance().status == "running"


def test_scenarios_reach_every_element_they_claim(pathfinder: Pathfinder) -> None:
    """The audit trail yields flow nodes and sequence flows (what the coverage report counts)."""
    p = pathfinder
    p.to_award()
    reached = p.reached()
    assert {
        "approach_received",
        "flow_start_procedure",
        "pathfinder_procedure",
        "open_case",
        "flow_observer_yes",
        "gw_fork_pathfinder",
        "flow_fork_reviews",
    } <= reached


def test_a_good_review_while_on_hold_reinstates_and_cancels_documenting_progress(
    on_hold: Pathfinder,
) -> None:
    p = on_hold
    assert p.offered()["document_progress"] == "Country"
    p.annual_review(3)
    v = p.variables()
    assert (v["pathfinder_status"], v["consecutive_unjustified_reviews"]) == ("pathfinder", 0)
    assert (v["reinstated_at"], v["reinstated_by"]) == ("2030-09-15", "annual_review")
    assert v["last_review_outcome"] == "progress"
    # The open *Document progress* is cancelled (nothing left in the country's inbox for it),
    # and the annual cycle goes on with the next review.
    assert p.offered() == {"record_support_to_alliance": "Country"}
    assert {"announce_reinstatement", "document_progress_superseded"} <= p.reached()
    assert "status_reinstated" not in p.reached()
    assert v["next_review_at"] == "2031-09-15"
    # Reinstated, the count starts again: one unjustified shortfall asks for no hold.
    p.annual_review(4, **SHORTFALL_UNJUSTIFIED)
    assert (p.status(), p.variables()["consecutive_unjustified_reviews"]) == ("pathfinder", 1)
    assert "decide_on_hold" not in p.offered()
    p.check_round_trip()


def test_a_good_review_while_progress_awaits_assessment_reinstates_and_cancels_it(
    on_hold: Pathfinder,
) -> None:
    p = on_hold
    p.wait_until("2030-06-01")
    p.do("document_progress", progress_summary="Labour inspections resumed.")
    assert p.offered()["assess_documented_progress"] == "Secretariat"
    p.annual_review(3)
    v = p.variables()
    assert (v["pathfinder_status"], v["reinstated_by"]) == ("pathfinder", "annual_review")
    assert p.offered() == {"record_support_to_alliance": "Country"}
    assert "assessment_superseded" in p.reached()


def test_documented_progress_accepted_records_how_the_status_was_reinstated(
    on_hold: Pathfinder,
) -> None:
    p = on_hold
    p.do("document_progress")
    p.do("assess_documented_progress")
    assert p.variables()["reinstated_by"] == "documented_progress"
    # A good review afterwards finds the status no longer on hold: nothing to cancel.
    p.annual_review(3)
    assert "announce_reinstatement" not in p.reached()
    assert p.status() == "pathfinder"


# -- the second edition: no country gets stuck, the GCG decides a hold ---------------------------


def test_support_outside_the_country_has_no_due_date(pathfinder: Pathfinder) -> None:
    p = pathfinder
    p.to_award()
    support = p.task("record_support_to_alliance")
    assert support.due_at is None  # no overdue mail, no escalation for a standing offer


def test_a_country_that_never_reports_is_reviewed_on_time_and_can_be_put_on_hold(
    pathfinder: Pathfinder,
) -> None:
    p = pathfinder
    p.to_award()
    v = p.variables()
    assert (v["next_review_at"], v["annual_report_due_at"]) == ("2028-09-15", "2028-11-14")
    for year, (anniversary, due) in enumerate(
        [("2028-09-15", "2028-11-14"), ("2029-09-15", "2029-11-14")], start=1
    ):
        p.wait_until(anniversary)
        assert p.offered()["submit_annual_progress_report"] == "Country"
        p.wait_until(f"{due[:-2]}{int(due[-2:]) - 1:02d}")  # the day before the due date
        assert "prepare_annual_review" not in p.offered()
        p.wait_until(due)
        # The report is no longer asked for; the review goes ahead without it.
        offered = p.offered()
        assert "submit_annual_progress_report" not in offered
        assert offered["prepare_annual_review"] == "Secretariat"
        assert p.variables()["last_missing_report_review"] == year
        p.do("prepare_annual_review")
        p.do("decide_annual_review", **SHORTFALL_UNJUSTIFIED)
    assert p.variables()["consecutive_unjustified_reviews"] == 2
    assert p.offered()["decide_on_hold"] == "GCG Chair"
    assert "record_no_report" in p.reached() and "flow_report_overdue" in p.reached()


def test_hold_not_confirmed_keeps_the_status_and_the_count(hold_asked: Pathfinder) -> None:
    p = hold_asked
    p.do(
        "decide_on_hold",
        hold_confirmed=False,
        hold_letter_date=None,
        hold_decision_reason="A change of government delayed the plan; the new one is committed.",
    )
    v = p.variables()
    assert (v["pathfinder_status"], v["consecutive_unjustified_reviews"]) == ("pathfinder", 2)
    assert v["hold_confirmed"] is False
    assert v["hold_decision_reason"].startswith("A change of government")
    assert "put_on_hold_at" not in v
    assert p.offered() == {"record_support_to_alliance": "Country"}
    # The next unjustified review asks the GCG again.
    p.annual_review(3, **SHORTFALL_UNJUSTIFIED)
    assert p.offered()["decide_on_hold"] == "GCG Chair"
    p.do("decide_on_hold")
    assert p.status() == "on_hold"


def test_a_hold_needs_a_reason_and_a_letter_date_when_confirmed(hold_asked: Pathfinder) -> None:
    p = hold_asked
    task = p.task("decide_on_hold")
    with pytest.raises(InvalidData):
        p.engine.complete(task.id, sample("decide_on_hold", hold_letter_date=None), CHAIR)
    with pytest.raises(InvalidData):
        p.engine.complete(task.id, sample("decide_on_hold", hold_decision_reason=""), CHAIR)
    assert p.status() == "pathfinder"


def test_unjustified_justified_unjustified_asks_for_no_hold(pathfinder: Pathfinder) -> None:
    p = pathfinder
    p.to_award()
    p.annual_review(1, **SHORTFALL_UNJUSTIFIED)
    p.annual_review(2, **SHORTFALL_JUSTIFIED)
    p.annual_review(3, **SHORTFALL_UNJUSTIFIED)
    v = p.variables()
    assert (v["pathfinder_status"], v["consecutive_unjustified_reviews"]) == ("pathfinder", 1)
    assert "decide_on_hold" not in p.offered()


def test_a_postponed_gcg_meeting_gets_a_new_date(invited: Pathfinder) -> None:
    p = invited
    rules = {r.name: r for r in p.engine.instances.message_rules(p.id, LANE_ACTORS["Secretariat"])}
    assert set(rules["gcg_meeting_rescheduled"].fields) == {"gcg_meeting_date", "reason"}
    assert rules["gcg_meeting_rescheduled"].element_id == "gcg_meeting_rescheduled"
    assert "gcg_meeting_rescheduled" not in {
        r.name for r in p.engine.instances.message_rules(p.id, LANE_ACTORS["GCG"])
    }
    p.engine.instances.send_message(
        p.id,
        "gcg_meeting_rescheduled",
        {"gcg_meeting_date": "2027-03-20", "reason": "The GCG meeting was postponed."},
        LANE_ACTORS["Secretariat"],
    )
    p.check_round_trip()
    v = p.variables()
    assert (v["gcg_meeting_date"], v["previous_gcg_meeting_date"]) == ("2027-03-20", "2027-02-15")
    assert v["gcg_meeting_reschedule_reason"] == "The GCG meeting was postponed."
    p.wait_until("2027-02-15")
    assert p.offered() == {}  # the old date no longer counts
    p.wait_until("2027-03-20")
    assert p.offered() == {"record_observer_participation": "Secretariat"}
    # Once the meeting took place there is nothing left to reschedule.
    assert "gcg_meeting_rescheduled" not in {
        r.name for r in p.engine.instances.message_rules(p.id, LANE_ACTORS["Secretariat"])
    }


def test_a_new_meeting_date_that_is_not_a_date_is_refused_and_nothing_changes(
    invited: Pathfinder,
) -> None:
    p = invited
    with pytest.raises(MessageRefused, match="not recorded.*next spring"):
        p.engine.instances.send_message(
            p.id,
            "gcg_meeting_rescheduled",
            {"gcg_meeting_date": "next spring", "reason": "Postponed"},
            SECRETARIAT,
        )
    assert p.instance().status == "running"
    assert p.variables()["gcg_meeting_date"] == "2027-02-15"
    assert "gcg_meeting_rescheduled" in {
        r.name for r in p.engine.instances.message_rules(p.id, SECRETARIAT)
    }
    p.wait_until("2027-02-15")
    assert p.offered() == {"record_observer_participation": "Secretariat"}


def _close(p: Pathfinder, **payload: str) -> None:
    p.engine.instances.send_message(p.id, "case_closure", payload, SECRETARIAT)
    p.check_round_trip()


@pytest.mark.parametrize(
    ("stalled_at", "done_before"),
    [
        ("submit_expression_of_interest", []),
        (
            "submit_workshop_report",
            ["submit_expression_of_interest", "review_expression_of_interest"],
        ),
        (
            "report_back_to_gcg",
            [
                "submit_expression_of_interest",
                "review_expression_of_interest",
                "submit_workshop_report",
                "review_workshop_report",
            ],
        ),
    ],
)
def test_the_secretariat_closes_a_case_that_stalls_before_the_award(
    pathfinder: Pathfinder, stalled_at: str, done_before: list[str]
) -> None:
    p = pathfinder
    p.to_expression_of_interest()
    for element in done_before:
        p.do(element)
    assert p.offered() == {stalled_at: "Country"}
    country = LANE_ACTORS["Country"]
    assert "case_closure" not in {r.name for r in p.engine.instances.message_rules(p.id, country)}
    with pytest.raises(Forbidden):
        p.engine.instances.send_message(p.id, "case_closure", {"reason": "x"}, country)
    p.wait(days=400)  # nothing from the country for over a year
    _close(p, reason="No answer to three reminders since 2027.", letter_date="2028-06-01")
    v = p.variables()
    assert (p.stage(), v["pathfinder_status"]) == ("closed", "closed")
    assert v["closure_reason"] == "No answer to three reminders since 2027."
    assert v["closure_letter_date"] == "2028-06-01"
    assert p.offered() == {}
    assert p.instance().status == "completed"


def test_a_case_cannot_be_closed_as_stalled_after_the_award(pathfinder: Pathfinder) -> None:
    p = pathfinder
    p.to_award()
    names = {r.name for r in p.engine.instances.message_rules(p.id, SECRETARIAT)}
    assert "case_closure" not in names and "withdrawal" in names
    with pytest.raises(NotReady):
        p.engine.instances.send_message(p.id, "case_closure", {"reason": "x"}, SECRETARIAT)
    assert p.status() == "pathfinder"


def test_closing_needs_a_reason_and_a_letter_date(pathfinder: Pathfinder) -> None:
    p = pathfinder
    p.to_expression_of_interest()
    with pytest.raises(MessageRefused, match="needs the field 'letter_date'"):
        _close(p, reason="Stalled")
    with pytest.raises(MessageRefused, match="needs the field 'reason'"):
        _close(p, reason="  ", letter_date="2027-05-01")
    with pytest.raises(MessageRefused, match="not recorded"):
        _close(p, reason="Stalled", letter_date="May 2027")
    assert p.instance().status == "running"
    assert p.offered() == {"submit_expression_of_interest": "Country"}


# -- footnote 3: the workplan is flexibly adjusted through regular review ----------------------

REVISED_ACTION = {
    **WORKPLAN_ACTION,
    "end": "2030-06-30",
    "target": "17.5% (2030)",
    "target_value": 17.5,
    "benchmark_date": "2029-06-30",
    "benchmark_value": 20.5,
}


NEW_ACTION = {
    **WORKPLAN_ACTION,
    "priority_area": "Forced labour in recruitment",
    "activity": "License recruitment agencies and open a complaints hotline",
    "sdg_indicator": "16.2.2",
    "indicator": "Detected victims of trafficking per 100,000 people",
    "baseline": "1.9 (2026)",
    "target": "4.0 (2030)",
    "baseline_value": 1.9,
    "target_value": 4.0,
    "benchmark_value": 3.0,
}
OFFERED_AT_THE_AWARD = [
    {
        "workplan_indicator": WORKPLAN_ACTION["indicator"],
        "baseline": 22.8,
        "target": 18.8,
        "indicator": "8.7.1",
        "data_source": "National Labour Force Survey",
    }
]


def _propose_revision(p: Pathfinder, decision: str) -> None:
    p.wait_until(p.variables()["next_review_at"])
    # The report offers the indicators of the workplan in force, baselines and targets given.
    assert p.offered_rows("submit_annual_progress_report", "indicator_values") == (
        OFFERED_AT_THE_AWARD
    )
    p.do(
        "submit_annual_progress_report",
        proposed_workplan=[REVISED_ACTION, NEW_ACTION],
        workplan_revision_reason="The labour force survey moved to 2029; targets follow it.",
    )
    p.do("prepare_annual_review")
    p.do(
        "decide_annual_review",
        review_date="2028-10-01",
        workplan_revision_decision=decision,
        workplan_revision_comments="Checked against the survey calendar.",
    )


def test_the_workplan_agreed_at_the_workshop_is_version_1_in_force(pathfinder: Pathfinder) -> None:
    p = pathfinder
    p.to_award()
    v = p.variables()
    assert v["workplan_in_force"] == {
        "version": 1,
        "since": "2027-09-15",
        "actions": [WORKPLAN_ACTION],
    }
    assert v["workplan"] == [WORKPLAN_ACTION]
    # Benchmarks carry a value and a date; baselines and targets are numbers a review can compare.
    action = v["workplan_in_force"]["actions"][0]
    assert (action["benchmark_date"], action["benchmark_value"]) == ("2028-06-30", 21.0)
    assert action["baseline_value"] > action["benchmark_value"] > action["target_value"]


def test_a_revised_workplan_accepted_at_a_review_is_in_force_with_a_new_version(
    pathfinder: Pathfinder,
) -> None:
    p = pathfinder
    p.to_award()
    _propose_revision(p, "accepted")
    v = p.variables()
    assert v["workplan_in_force"] == {
        "version": 2,
        "since": "2028-10-01",
        "actions": [REVISED_ACTION, NEW_ACTION],
    }
    assert v["workplan"] == [WORKPLAN_ACTION]  # the workshop's workplan stays on record
    assert "put_revised_workplan_in_force" in p.reached()
    # The review itself goes on as usual (substantial progress in the sample).
    assert v["last_review_outcome"] == "progress"
    # Next year no revision is proposed: an "accepted" by mistake changes nothing.
    # The workplan in force is one value for the case: recording support (the other parallel
    # branch) does not bring back version 1.
    p.do("record_support_to_alliance")
    assert p.variables()["workplan_in_force"]["version"] == 2
    # Next year's report offers the revised rows: the revised target and the new indicator.
    p.wait_until(p.variables()["next_review_at"])
    offered = p.offered_rows("submit_annual_progress_report", "indicator_values")
    assert [(r["workplan_indicator"], r["baseline"], r["target"]) for r in offered] == [
        (REVISED_ACTION["indicator"], 22.8, 17.5),
        (NEW_ACTION["indicator"], 1.9, 4.0),
    ]
    # The country enters what it reached; the given values cannot be changed by what is posted.
    tampered = {"workplan_indicator": "Something easier", "target": 30.0, "value": 20.2}
    p.do("submit_annual_progress_report", indicator_values=[tampered, {"value": 2.4}])
    with p.engine.session() as s:
        report = submissions.listing(s, p.id, "submit_annual_progress_report")[-1]
    rows = report.data["indicator_values"]
    assert [(r["workplan_indicator"], r["target"], r["value"]) for r in rows] == [
        (REVISED_ACTION["indicator"], 17.5, 20.2),
        (NEW_ACTION["indicator"], 4.0, 2.4),
    ]
    p.do("prepare_annual_review")
    p.do("decide_annual_review", workplan_revision_decision="accepted")
    v = p.variables()
    assert v["workplan_in_force"]["version"] == 2
    assert v["workplan_in_force"]["actions"] == [REVISED_ACTION, NEW_ACTION]


def test_a_revised_workplan_refused_at_a_review_leaves_the_workplan_in_force(
    pathfinder: Pathfinder,
) -> None:
    p = pathfinder
    p.to_award()
    _propose_revision(p, "refused")
    v = p.variables()
    assert v["workplan_in_force"]["version"] == 1
    assert v["workplan_in_force"]["actions"] == [WORKPLAN_ACTION]
    # The refusal is kept as the review's submission (the case page shows it).
    with p.engine.session() as s:
        (decision,) = submissions.listing(s, p.id, "decide_annual_review")
    assert decision.data["workplan_revision_decision"] == "refused"
    assert "put_revised_workplan_in_force" not in p.reached()
    # A refused proposal is not carried over: next year it is not there to accept, and the
    # report offers the rows of the workplan still in force.
    p.wait_until(p.variables()["next_review_at"])
    offered = p.offered_rows("submit_annual_progress_report", "indicator_values")
    assert offered == OFFERED_AT_THE_AWARD
    p.do("submit_annual_progress_report")
    p.do("prepare_annual_review")
    p.do("decide_annual_review", workplan_revision_decision="accepted")
    assert p.variables()["workplan_in_force"]["version"] == 1
