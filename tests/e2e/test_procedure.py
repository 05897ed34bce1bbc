""" "Our procedure" in a real browser: a focal point submits the expression of interest and lands on
the tracker, which shows the current stage, who holds the next step and what comes next."""

from __future__ import annotations

import re
from typing import Any

from engine.people.accounts import create_user
from engine.store.db import transaction
from tests.e2e.conftest import E2E, E2E_PASSWORD, LiveServer, shot, sign_in
from tests.e2e.test_inbox_flow import fill_expression_of_interest

pytestmark = E2E


def _focal_point(live_server: LiveServer, username: str, country: str) -> None:
    with transaction(live_server.engine.sessions) as s:
        create_user(
            s,
            username,
            E2E_PASSWORD,
            ["country"],
            now=live_server.clock.now(),
            country=country,
            display_name="Focal point",
        )


def test_focal_point_sees_where_the_country_stands_after_submitting(
    page: Any, phone_page: Any, live_server: LiveServer
) -> None:
    _focal_point(live_server, "gifty", "GHA")
    case = live_server.make_case("GHA", "submit_expression_of_interest", name="Ghana")

    sign_in(page, "gifty")
    page.click("text=Submit expression of interest")
    page.wait_for_selector("#task-form")
    fill_expression_of_interest(page, "kwame@gov.example.org")
    page.click("button[value=complete]")

    # Nothing else waits for the focal point, so the inbox hands over to the tracker.
    page.wait_for_url(re.compile(r".*/procedure$"))
    main = page.inner_text("main")
    assert "Done: Submit expression of interest" in main
    current = page.locator(".stage-tracker [aria-current=step]")
    assert current.count() == 1
    assert "Expression of interest" in current.inner_text()
    done = page.locator(".stage-tracker .stage-done .stage-title").all_inner_texts()
    assert done == ["Approach", "Observer"]
    assert "Check the expression of interest" in main
    assert "with the Secretariat" in main
    # The next dated event, with a countdown (the observer's GCG meeting was in the past).
    assert re.search(r"in \d+ days|today|tomorrow|No dated event", page.inner_text(".next-card"))
    assert "Submit expression of interest was done" in page.inner_text(".story")
    assert page.js_errors == []
    shot(page, "procedure-tracker-desktop")

    sign_in(phone_page, "gifty")
    phone_page.goto("/procedure")
    assert "with the Secretariat" in phone_page.inner_text("main")
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the tracker overflows the phone screen ({width} px)"
    shot(phone_page, "procedure-tracker-phone")

    # Staff see the same tracker as a tab of the case page, with who did what.
    sign_in(page, "sam")
    page.goto(f"/instances/{case.id}")
    page.click(".case-tabs >> text=Our procedure")
    page.wait_for_url(re.compile(rf".*/instances/{case.id}/procedure$"))
    assert "Expression of interest" in page.inner_text(".stage-tracker [aria-current=step]")
    assert "with you" in page.inner_text(".now-card")
    assert "by gifty" in page.inner_text(".story")
