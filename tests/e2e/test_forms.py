"""Repeatable rows in a real browser: JavaScript adds a row in place, and the server keeps it."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import E2E, LiveServer, shot, sign_in

pytestmark = E2E


def test_add_row_in_place_then_validation_keeps_both_rows(
    page: Any, live_server: LiveServer
) -> None:
    live_server.make_case("CIV", "submit_workshop_report", name="Côte d'Ivoire")
    from engine.people.accounts import create_user
    from engine.store.db import transaction
    from tests.e2e.conftest import E2E_PASSWORD

    with transaction(live_server.engine.sessions) as s:
        create_user(s, "aya", E2E_PASSWORD, ["country"], now=live_server.clock.now(), country="CIV")
    sign_in(page, "aya")
    page.click("text=Submit workshop report and workplan")
    page.fill("#f-workplan-0-priority_area", "Child labour in cocoa")
    url = page.url
    page.click("button.add-row")
    assert page.url == url  # no round trip
    assert page.locator("[name='workplan.1.priority_area']").count() == 1
    assert page.input_value("#f-workplan-1-priority_area") == ""
    page.fill("#f-workplan-1-priority_area", "Trafficking of migrants")
    page.click("button[value=complete]")
    page.wait_for_selector("#error-summary")
    assert page.input_value("#f-workplan-0-priority_area") == "Child labour in cocoa"
    assert page.input_value("#f-workplan-1-priority_area") == "Trafficking of migrants"
    assert page.locator("#f-workplan-1-outcome-error").is_visible()
    assert "Workplan › Action 2 › Outcome" in page.inner_text("#error-summary")
    shot(page, "08-workshop-form-rows-errors")
    assert page.js_errors == []
