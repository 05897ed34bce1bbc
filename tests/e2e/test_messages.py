"""The Secretariat records a country's withdrawal in a real browser, behind a confirmation page
(issue 14, finding 4). That a focal point is not offered it: tests/web/test_messages.py."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import E2E, LiveServer, shot, sign_in

pytestmark = E2E


def test_the_secretariat_records_a_withdrawal_after_confirming(
    page: Any, phone_page: Any, live_server: LiveServer
) -> None:
    case = live_server.make_case("GHA", name="Ghana")
    sign_in(page, "sam")
    page.goto(f"/instances/{case.id}")
    page.click("a:has-text('Record: Withdrawal received')")
    page.wait_for_selector("h1:has-text('Withdrawal received')")
    shot(page, "confirm-message-1280")
    sign_in(phone_page, "sam")
    phone_page.goto(f"/instances/{case.id}/messages/withdrawal")
    shot(phone_page, "confirm-message-390")
    assert live_server.engine.instance(case.id).status == "running"

    page.fill("#field-reason", "Letter of 3 May from the Minister")
    page.click("button:has-text('Yes, record it')")
    page.wait_for_url(f"**/instances/{case.id}")
    assert "Recorded for Ghana" in page.content()
    row = live_server.engine.instance(case.id)
    assert row.data["withdrawal_reason"] == "Letter of 3 May from the Minister"
    assert row.data["pathfinder_status"] == "withdrawn"


def test_the_secretariat_closes_a_stalled_case_with_a_dated_letter(
    page: Any, phone_page: Any, live_server: LiveServer
) -> None:
    case = live_server.make_case("SEN", name="Senegal")
    sign_in(page, "sam")
    page.goto(f"/instances/{case.id}")
    page.click("a:has-text('Closed before the award')")
    page.wait_for_selector("h1:has-text('Closed before the award')")
    shot(page, "confirm-closure-1280")
    sign_in(phone_page, "sam")
    phone_page.goto(f"/instances/{case.id}/messages/case_closure")
    shot(phone_page, "confirm-closure-390")
    page.fill("#field-reason", "No answer to three reminders")
    page.fill("#field-letter_date", "2026-10-30")
    page.click("button:has-text('Yes, record it')")
    page.wait_for_url(f"**/instances/{case.id}")
    row = live_server.engine.instance(case.id)
    assert (row.status, row.data["closure_letter_date"]) == ("completed", "2026-10-30")
