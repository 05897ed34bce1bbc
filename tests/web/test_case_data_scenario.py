"""Pathfinder driven through the web pages, from the approach to the award and three annual
reviews: every recurring form opens blank, the Chair's letter opens without the expression of
interest's values, the expression of interest keeps its own letter date, and a form sent back
opens with its previous answers and the reviewer's comment in a banner."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from engine import Actor, Engine, VirtualClock
from engine.store.models import Instance
from tests.processes.samples import sample
from tests.web.conftest import Web, task_of

LANE_ROLE = {"Country": "country", "Secretariat": "secretariat", "GCG Chair": "chair", "GCG": "gcg"}


def pairs(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Form data as a browser posts it (dotted names, repeated keys for several choices)."""
    out: list[tuple[str, str]] = []
    for key, value in data.items():
        name = prefix + key
        if isinstance(value, dict):
            out += pairs(value, name + ".")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    out += pairs(item, f"{name}.{i}.")
                else:
                    out.append((name, str(item)))
        elif isinstance(value, bool):
            out.append((name, "true" if value else "false"))
        else:
            out.append((name, str(value)))
    return out


def value_of(page: str, name: str) -> str:
    """The value an input of the task form holds (empty when blank)."""
    found = re.search(r'<input[^>]*name="' + re.escape(name) + r'"[^>]*value="([^"]*)"', page)
    return found.group(1) if found else ""


def checked(page: str) -> list[str]:
    return re.findall(r'<input[^>]*name="([^"]+)"[^>]*\bchecked\b', page)


def textarea(page: str, name: str) -> str:
    found = re.search(r'<textarea name="' + re.escape(name) + r'"[^>]*>([^<]*)</textarea>', page)
    return found.group(1).strip() if found else ""


def _rows(html: str) -> list[str]:
    return re.findall(r"<tr[ >].*?</tr>", html, re.S)


class WebCase:
    def __init__(
        self, engine: Engine, clock: VirtualClock, login: Callable[[str], Web], case: Instance
    ) -> None:
        self.engine, self.clock, self.login, self.case = engine, clock, login, case

    def open(self, element: str) -> tuple[Web, str, str]:
        task = task_of(self.engine, self.case, element)
        lane = next(t.lane for t in self.engine.ready_tasks(self.case.id) if t.id == task)
        web = self.login(LANE_ROLE[lane or ""])
        return web, task, web.html(f"/tasks/{task}")

    def do(self, element: str, **overrides: Any) -> str:
        """Open the task's page as its lane, submit the sample answers; returns the page seen."""
        web, task, page = self.open(element)
        response = web.post(
            f"/tasks/{task}", [*pairs(sample(element, **overrides)), ("action", "complete")]
        )
        assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
        return page

    def wait_until(self, day: str) -> None:
        moment = datetime.fromisoformat(day).replace(hour=9, tzinfo=UTC)
        if moment > self.clock.now():
            self.clock.set(moment)
        self.engine.fire_due_timers()

    def variables(self) -> dict[str, Any]:
        return dict(self.engine.instance(self.case.id).data)


def test_pathfinder_through_the_web_to_the_award_and_three_annual_reviews(
    deployed: Engine,
    clock: VirtualClock,
    login: Callable[[str], Web],
    users: dict[str, Actor],
) -> None:
    case = deployed.start("pathfinder", {"country": "NPL", "country_name": "Nepal"}, users["sam"])
    w = WebCase(deployed, clock, login, case)
    w.do("register_approach")
    w.do("invite_to_gcg_meeting", gcg_meeting_date="2027-02-15")
    w.wait_until("2027-02-15")
    w.do("record_observer_participation")
    w.do("submit_expression_of_interest", minister_name="Hon. First Draft")
    # The Secretariat sends it back; the country's form comes back with its own answers.
    w.do(
        "review_expression_of_interest",
        eoi_decision="sent_back",
        eoi_review_comments="Please name the senior official's title.",
    )
    web, task, page = w.open("submit_expression_of_interest")
    assert 'id="sent-back"' in page and "This was sent back to you" in page
    assert "Please name the senior official&#39;s title." in page
    assert value_of(page, "minister_name") == "Hon. First Draft"
    assert value_of(page, "letter_date") == "2027-02-12"
    w.do("submit_expression_of_interest")
    page = w.do("review_expression_of_interest")
    assert not checked(page), checked(page)  # the second check opens blank, not "sent back"
    assert "What you are reviewing" in page and "Feb 12, 2027" in page
    # ... and compares round 2 with the round it sent back, the changed field marked
    [compared] = re.findall(r'<details class="comparison".*?</details>', page, re.S)
    assert "Compared with round 1" in compared and "1 field changed" in compared
    [changed_row] = re.findall(r'<tr class="changed">.*?</tr>', compared, re.S)
    assert "Hon. First Draft" in changed_row and "Hon. Ram Bahadur Thapa" in changed_row
    assert "#step-submit_expression_of_interest" in page  # every round one click away
    w.do("submit_workshop_report")
    w.do("review_workshop_report")
    w.do("report_back_to_gcg")
    w.do("consider_country_report")
    w.wait_until("2027-09-15")
    _, _, letter = w.open("send_confirmation_letter")
    assert value_of(letter, "confirmation_letter_date") == ""
    assert value_of(letter, "minister_name") == "" and value_of(letter, "letter_url") == ""
    w.do("send_confirmation_letter", confirmation_letter_date="2027-09-15")
    assert w.variables()["award_date"] == "2027-09-15"
    assert w.variables()["minister_name"] == "Hon. Ram Bahadur Thapa"  # the EOI's, kept
    eoi = (
        login("secretariat")
        .get(f"/api/v1/instances/{case.id}/submissions?element=submit_expression_of_interest")
        .json
    )
    assert eoi is not None
    assert [s["data"]["letter_date"] for s in eoi["items"]] == ["2027-02-12", "2027-02-12"]
    assert [s["round"] for s in eoi["items"]] == [1, 2]

    decisions = [
        {"substantial_progress": True},
        {
            "substantial_progress": False,
            "reasonable_justification": True,
            "justification_text": "Floods delayed the survey; inspections continued.",
        },
        {"substantial_progress": True},
    ]
    for year, decision in enumerate(decisions, start=1):
        w.wait_until(w.variables()["next_review_at"][:10])
        report = w.do(
            "submit_annual_progress_report",
            period_start=f"{2026 + year}-09-15",
            period_end=f"{2027 + year}-09-14",
        )
        prepare = w.do("prepare_annual_review", evidence_summary=f"Evidence of year {year}.")
        decide = w.do("decide_annual_review", review_date=f"{2027 + year}-10-01", **decision)
        for page in (report, prepare, decide):
            assert not checked(page), (year, checked(page))
        assert value_of(report, "period_start") == "" and value_of(report, "period_end") == ""
        if year > 1:  # last year's report for reference, read-only, above the blank form
            assert 'id="previous-round"' in report and f"Sep 14, {2026 + year}" in report
        else:
            assert 'id="previous-round"' not in report
        assert textarea(prepare, "evidence_summary") == ""
        assert value_of(decide, "review_date") == ""
        assert textarea(decide, "justification_text") == ""
        assert f"Evidence of year {year}." in decide  # what the GCG reviews, read-only
        if year > 1:
            main = decide.split('class="task-main"')[1].split("</section>\n<aside")[0]
            assert "What you are reviewing" in main
            # this year's report and evidence next to last year's, the changes marked
            compared = re.findall(r'<details class="comparison".*?</details>', main, re.S)
            assert len(compared) == 2, len(compared)
            report_cmp, evidence_cmp = compared
            assert f"Compared with round {year - 1}" in report_cmp
            period = next(r for r in _rows(report_cmp) if "Period end" in r)
            assert 'class="changed"' in period
            assert f"Sep 14, {2027 + year}" in period and f"Sep 14, {2026 + year}" in period
            assert f"Evidence of year {year - 1}." in evidence_cmp
            # last year's is only in the comparison, not under review
            without = re.sub(r'<details class="comparison".*?</details>', "", main, flags=re.S)
            assert f"Evidence of year {year - 1}." not in without
    assert w.variables()["review_number"] == 4  # three reviews done, the fourth scheduled
    assert w.variables()["pathfinder_status"] == "pathfinder"
    assert w.variables()["consecutive_unjustified_reviews"] == 0
