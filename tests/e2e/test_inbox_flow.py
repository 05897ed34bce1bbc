"""The staff journey in a real browser: a country submits its expression of interest (one field
wrong, then right), the Secretariat finds it in the inbox and sends it back, and the case page
shows the diagram with its completed and open elements highlighted."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import E2E, LiveServer, shot, sign_in

pytestmark = E2E


def fill_expression_of_interest(page: Any, email: str) -> None:
    page.fill("#f-letter_date", "2027-02-01")
    page.check("#f-signed_by_minister-1")  # Yes
    page.fill("#f-minister_name", "Hon. Sarita Giri")
    page.fill("#f-ministry", "Ministry of Labour, Employment and Social Security")
    page.check("input[name=addressee][value=ilo_director_general]")
    page.fill("#f-senior_official_name", "Bishnu Prasad Adhikari")
    page.fill("#f-senior_official_title", "Joint Secretary")
    page.fill("#f-senior_official_email", email)
    page.check("input[name=topics_covered][value=forced_labour]")
    page.check("input[name=topics_covered][value=child_labour]")
    page.check("input[name=commitments][value=national_action_plan]")
    page.check("input[name=conventions_ratified][value=C182]")
    page.fill("#f-summary", "Nepal commits to a national action plan on Target 8.7.")


def test_country_submits_secretariat_sends_back_and_the_diagram_shows_progress(
    page: Any, live_server: LiveServer
) -> None:
    case = live_server.make_case("NPL", "submit_expression_of_interest", name="Nepal")

    sign_in(page, "nima")
    shot(page, "01-country-inbox")
    page.click("text=Submit expression of interest")
    page.wait_for_selector("#task-form")
    shot(page, "02-expression-of-interest-form")

    fill_expression_of_interest(page, "bishnu.at.gov.example.org")
    page.click("button[value=complete]")
    page.wait_for_selector("#error-summary")
    assert page.locator("#f-senior_official_email-error").is_visible()
    assert page.input_value("#f-minister_name") == "Hon. Sarita Giri"  # input kept
    assert page.input_value("#f-senior_official_email") == "bishnu.at.gov.example.org"
    assert page.is_checked("input[name=topics_covered][value=child_labour]")
    shot(page, "03-expression-of-interest-error")

    page.fill("#f-senior_official_email", "bishnu@gov.example.org")
    page.click("button[value=complete]")
    # Nothing else waits for the country: its inbox hands over to "Our procedure".
    page.wait_for_url(re.compile(r".*/procedure$"))
    assert "Done: Submit expression of interest" in page.inner_text("main")
    shot(page, "04-country-inbox-after-submit")

    sign_in(page, "sam")
    row = page.locator("tr", has_text="Check the expression of interest").filter(has_text="Nepal")
    assert row.count() == 1
    shot(page, "05-secretariat-inbox")
    row.locator("a", has_text="Check the expression of interest").click()
    page.wait_for_selector("#task-form")
    page.check("input[name=eoi_checks][value=sent_via_responsible_minister]")
    page.check("input[name=eoi_decision][value=sent_back]")
    page.fill("#f-eoi_review_comments", "Please add the commitments on human trafficking.")
    shot(page, "06-secretariat-review")
    page.click("button[value=complete]")
    page.wait_for_url(re.compile(r".*/inbox$"))
    assert "Done: Check the expression of interest" in page.inner_text("main")

    page.goto(f"/instances/{case.id}")
    page.wait_for_selector("#diagram[data-ready='1'] svg")
    completed = page.locator("#diagram svg .djs-element.pf-completed")
    active = page.locator("#diagram svg .djs-element.pf-active")
    assert completed.count() >= 4
    assert active.count() == 1
    assert active.get_attribute("data-element-id") == "submit_expression_of_interest"
    assert "Sent back" in page.inner_text(
        ".timeline"
    ) or "Check the expression of interest" in page.inner_text(".timeline")
    shot(page, "07-instance-page-diagram")
    assert page.js_errors == []


@pytest.mark.parametrize("who", ["nima", "sam", "ada"])
def test_pages_at_phone_width(phone_page: Any, live_server: LiveServer, who: str) -> None:
    page = phone_page
    live_server.make_case("KEN", "register_approach", name="Kenya") if who == "ada" else None
    sign_in(page, who)
    shot(page, f"phone-{who}-inbox")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"page scrolls sideways at phone width ({width}px)"
    page.goto("/instances")
    shot(page, f"phone-{who}-countries")
    if who != "nima":
        page.goto("/dashboard")
        assert page.locator("figure.chart svg").count() == 2
        shot(page, f"phone-{who}-dashboard")


def test_keyboard_skip_link_and_visible_focus(page: Any, live_server: LiveServer) -> None:
    sign_in(page, "sam")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert "Skip to main content" in focused
    shot(page, "keyboard-skip-link", full_page=False)
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
