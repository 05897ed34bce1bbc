"""The dashboard: figures by stage and status with an SVG chart, reviews, overdue tasks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from engine import VirtualClock
from engine.store.models import Instance
from tests.web.conftest import Web


def test_dashboard_counts_countries_and_lists_overdue_tasks(
    make_case: Callable[..., Instance], login: Callable[[str], Web], clock: VirtualClock
) -> None:
    web = login("auditor")
    assert "Nothing yet." in web.html("/dashboard")
    make_case("NPL", "submit_expression_of_interest")
    make_case("KEN", "submit_expression_of_interest")
    make_case("TUN", "register_approach")
    clock.advance(timedelta(days=400))
    page = web.html("/dashboard")
    assert page.count('<svg role="img"') == 2
    assert "Expression of interest: 2; Approach: 1" in page
    assert "Candidate" in page
    assert "Overdue tasks" in page and page.count("badge-overdue") >= 3


def test_upcoming_reviews_of_a_pathfinder(
    make_case: Callable[..., Instance], login: Callable[[str], Web]
) -> None:
    make_case("NPL", "record_support_to_alliance")  # just awarded; first review scheduled
    page = login("gcg").html("/dashboard")
    reviews = page.split("Upcoming annual reviews")[1].split("Overdue tasks")[0]
    assert "Country NPL" in reviews and "No reviews scheduled" not in reviews
    assert "pathfinder: 1" in page
