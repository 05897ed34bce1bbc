"""An auditor in a real browser: opens a country with two annual reviews, moves the diagram replay
back to before the second review and sees the diagram change, then runs Verify integrity and
sees "intact". Also photographs the search page and the printable country report."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import E2E, LiveServer, running_server, shot, sign_in
from tests.engine.records.test_audit import country_with_two_reviews, second_review_starts
from web.pages.audit import PER_PAGE

pytestmark = E2E

HIGHLIGHTS = """() => Object.fromEntries(['completed', 'active', 'waiting'].map(state => [state,
  Array.from(document.querySelectorAll('#replay-diagram .djs-element.pf-' + state))
    .map(el => el.getAttribute('data-element-id')).sort()]))"""
"""What the diagram shows highlighted, read from the drawn SVG (not from our own data)."""


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own: this module builds Nepal with two reviews, and the shared server
    allows one active case per country (the inbox flow uses Nepal there)."""
    with running_server(tmp_path_factory.mktemp("e2e-audit")) as server:
        yield server


def _replay_to(page: Any, seq: int) -> dict[str, list[str]]:
    page.wait_for_selector(f"#replay-diagram[data-seq='{seq}']:not([data-loading])")
    highlights: dict[str, list[str]] = page.evaluate(HIGHLIGHTS)
    return highlights


def test_auditor_replays_before_the_second_review_and_verifies(
    page: Any, live_server: LiveServer
) -> None:
    nepal = country_with_two_reviews(live_server.engine, live_server.clock, deploy=False)
    events = live_server.engine.history(nepal.id)
    before_second = second_review_starts(events) - 1

    sign_in(page, "aud")
    timeline_page = (before_second - 1) // PER_PAGE + 1  # where its event is listed
    page.goto(f"/audit/instances/{nepal.id}?page={timeline_page}")
    page.wait_for_selector("#replay-diagram[data-ready='1']")
    now = _replay_to(page, len(events))
    assert "review_anniversary_reached" in now["waiting"]
    assert {"decide_annual_review", "send_confirmation_letter"} <= set(now["completed"])
    shot(page, "audit-01-history-latest")

    page.fill("#replay-seq", str(before_second + 1))  # drag the slider ...
    _replay_to(page, before_second + 1)
    page.click("#replay-prev")  # ... and step back one event
    then = _replay_to(page, before_second)
    assert then != now
    assert "decide_annual_review" in then["completed"]  # the first review was decided
    assert "review_anniversary_reached" in then["waiting"]  # waiting for the second
    caption = page.inner_text("#replay-caption")
    assert f"After event #{before_second} of {len(events)}" in caption
    assert page.locator(f"#ev-{before_second}.is-current").count() == 1
    shot(page, "audit-02-replay-before-second-review", full_page=False)

    # "Diagram here" on a later timeline entry listed on this page, after the
    # anniversary timer opened the second review
    later_seq = min(before_second + 5, timeline_page * PER_PAGE)
    assert later_seq > before_second, "the second review opens on the next timeline page"
    page.click(f"#ev-{later_seq} .ev-replay")
    later = _replay_to(page, later_seq)
    assert later != then

    page.click("#verify-button")
    page.wait_for_selector("#verify-result[data-intact='1']")
    assert f"intact, {len(events)} events" in page.inner_text("#verify-result")
    assert page.url.endswith(f"?page={timeline_page}")  # answered in place, no reload
    page.locator("#verify-result").scroll_into_view_if_needed()
    shot(page, "audit-03-verified-intact", full_page=False)
    assert page.js_errors == []

    page.goto("/audit?country=NPL&kind=gateway_decision")
    assert page.locator("tbody tr").count() > 10
    shot(page, "audit-04-search")
    page.goto("/audit/countries/NPL")
    assert "Integrity: intact" in page.inner_text("main")
    shot(page, "audit-05-country-report")
    page.emulate_media(media="print")
    shot(page, "audit-06-country-report-print")
