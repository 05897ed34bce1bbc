"""Case data in a real browser: the Secretariat checks a workshop report and sees its 3-action
workplan as a table in the main column; a focal point's case page shows no internal field."""

from __future__ import annotations

import re
from typing import Any

from engine.demo.payloads import _workplan
from engine.people.accounts import actor_for, create_user
from engine.store.db import transaction
from tests.e2e.conftest import E2E, E2E_PASSWORD, LiveServer, shot, sign_in
from tests.processes.samples import WORKPLAN_ACTION, sample

pytestmark = E2E


def _focal_point(live_server: LiveServer, username: str, country: str) -> Any:
    with transaction(live_server.engine.sessions) as s:
        user = create_user(
            s, username, E2E_PASSWORD, ["country"], now=live_server.clock.now(), country=country
        )
        return actor_for(user)


def test_workshop_check_shows_the_workplan_as_a_table_in_the_main_column(
    page: Any, live_server: LiveServer
) -> None:
    engine = live_server.engine
    case = live_server.make_case("UGA", "submit_workshop_report", name="Uganda")
    focal = _focal_point(live_server, "ugo", "UGA")
    [task] = [t for t in engine.ready_tasks(case.id) if t.element_id == "submit_workshop_report"]
    today = live_server.clock.now().date()
    third = {**WORKPLAN_ACTION, "activity": "Open a hotline for trafficking survivors"}
    third.update(start=today.replace(year=today.year + 1).isoformat())
    third.update(end=today.replace(year=today.year + 3).isoformat())
    workplan = [*_workplan(_country(), today), third]
    data = sample(
        "submit_workshop_report",
        workshop_start=today.isoformat(),
        workshop_end=today.isoformat(),
        workplan=workplan,
    )
    engine.complete(task.id, data, focal)
    [check] = [
        t.id for t in engine.ready_tasks(case.id) if t.element_id == "review_workshop_report"
    ]

    sign_in(page, "sam")
    page.goto(f"/tasks/{check}")
    main = page.locator(".task-main")
    table = main.locator(".under-review table.submission-table")
    assert table.count() == 1
    assert table.locator("tbody tr").count() == 3
    headers = table.locator("thead th").all_inner_texts()
    assert "Activity" in headers and "Budget (USD)" in headers and "Responsible agency" in headers
    assert "Open a hotline for trafficking survivors" in table.inner_text()
    assert "1,250,000" in table.inner_text()  # numbers as a reader writes them
    assert "Secured" in table.inner_text()  # choice titles, not raw values
    # the table is as wide as the main column, not one character per line
    box = table.bounding_box()
    shot(page, "case-data-01-workshop-check-workplan-table")
    assert box is not None and box["height"] < 900


def test_focal_point_case_page_shows_no_internal_field(page: Any, live_server: LiveServer) -> None:
    case = live_server.make_case("ZMB", "decide_annual_review", name="Zambia")
    _focal_point(live_server, "zola", "ZMB")
    sign_in(page, "sam")
    page.goto(f"/instances/{case.id}")
    staff_text = page.inner_text("#submissions")
    assert "Recommendation" in staff_text
    sign_in(page, "zola")
    page.goto(f"/instances/{case.id}")
    text = page.inner_text("main")
    assert "Prepare the annual review" in text and "Evidence" in text
    assert "Recommendation" not in text and "recommendation" not in text
    assert "Case variables" not in text
    shot(page, "case-data-02-focal-point-case-page")


def _country() -> Any:
    from engine.demo import Country

    return Country(
        "UGA", "Uganda", "Africa", "Hon. Minister", "Ministry of Labour", "Official", None
    )


def test_the_second_annual_review_compares_with_last_year(
    page: Any, live_server: LiveServer
) -> None:
    from engine.demo import drive

    engine = live_server.engine
    case = live_server.make_case("MWI", "decide_annual_review", name="Malawi")
    [decide] = [t for t in engine.ready_tasks(case.id) if t.element_id == "decide_annual_review"]
    engine.complete(
        decide.id,
        sample("decide_annual_review", review_date="2027-10-01"),
        live_server.actors["sam"],
    )
    problems = drive(
        engine,
        live_server.clock,
        case.id,
        stop_at="decide_annual_review",
        actors=live_server.actors,
    )
    assert not problems, problems
    [decide] = [t for t in engine.ready_tasks(case.id) if t.element_id == "decide_annual_review"]

    sign_in(page, "sam")  # the Secretariat records the decision on the GCG's behalf
    for width, name in ((1280, "desktop"), (390, "phone")):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"/tasks/{decide.id}")
        main = page.locator(".task-main")
        compared = main.locator("details.comparison")
        assert compared.count() == 2
        assert "Compared with round 1" in compared.first.inner_text()
        assert main.locator("details.comparison tr.changed").count() >= 1
        link = main.locator("a[href$='#step-submit_annual_progress_report']")
        assert link.count() == 1
        # wide tables scroll inside their box: the page itself is no wider than the screen
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        shot(page, f"case-data-03-annual-review-compared-{name}")
    link.click()
    page.wait_for_url(re.compile(r".*/instances/\d+#step-submit_annual_progress_report"))
    step = page.locator("#step-submit_annual_progress_report")
    assert step.locator("details").count() == 1  # round 1, one click away, under round 2
