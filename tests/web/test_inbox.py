"""The inbox: only my tasks, filters, sorting, pagination, empty states, overdue markers."""

from __future__ import annotations

import string
from collections.abc import Callable
from datetime import timedelta

import pytest

from engine import Actor, Engine, VirtualClock
from tests.web.conftest import Web


@pytest.fixture
def many(deployed: Engine, users: dict[str, Actor]) -> list[str]:
    """30 freshly registered approaches (the Secretariat's 'Register the approach' tasks)."""
    codes = [f"Q{a}{b}" for a in string.ascii_uppercase[:3] for b in string.ascii_uppercase[:10]]
    for code in codes:
        deployed.start(
            "pathfinder", {"country": code, "country_name": f"Land {code}"}, users["sam"]
        )
    return codes


def test_empty_inbox_says_nothing_is_waiting(login: Callable[[str], Web]) -> None:
    page = login("gcg").html("/inbox")
    assert "Nothing is waiting for you." in page and "<table" not in page


def test_paginates_25_per_page(many: list[str], login: Callable[[str], Web]) -> None:
    web = login("secretariat")
    first = web.html("/inbox")
    assert first.count("Register the approach</a>") == 25
    assert "Page 1 of 2" in first and 'rel="next"' in first
    second = web.html("/inbox?page=2")
    assert second.count("Register the approach</a>") == 5 and 'rel="prev"' in second
    assert "30 open tasks" in first


def test_filters_and_empty_filter_result(many: list[str], login: Callable[[str], Web]) -> None:
    web = login("secretariat")
    page = web.html("/inbox?country=QAB")
    assert page.count("Register the approach</a>") == 1 and "Land QAB" in page
    page = web.html("/inbox?stage=workshop")
    assert "No tasks match these filters." in page and "Clear the filters" in page
    page = web.html("/inbox?process=pathfinder&stage=approach&due=7")
    assert page.count("Register the approach</a>") == 25


def test_overdue_filter_and_marker(
    many: list[str], login: Callable[[str], Web], clock: VirtualClock
) -> None:
    web = login("secretariat")
    assert "No tasks match" in web.html("/inbox?overdue=1")
    clock.advance(timedelta(days=6))  # register_approach is due in 5 days
    page = web.html("/inbox?overdue=1")
    assert page.count("Register the approach</a>") == 25
    assert "badge-overdue" in page and "30 overdue" in page


def test_mine_filter_and_sort(
    many: list[str], deployed: Engine, login: Callable[[str], Web]
) -> None:
    web = login("secretariat")
    task = deployed.ready_tasks()[3]
    web.post(f"/tasks/{task.id}/claim", {"next": "/inbox"})
    page = web.html("/inbox?mine=1")
    assert page.count("Register the approach</a>") == 1
    page = web.html("/inbox?sort=-created")
    assert "Page 1 of 2" in page


def test_country_users_see_only_their_countrys_tasks(
    make_case, login: Callable[[str], Web]
) -> None:
    make_case("NPL", "submit_expression_of_interest")
    make_case("KEN", "submit_expression_of_interest")
    page = login("nima").html("/inbox")
    assert page.count("Submit expression of interest</a>") == 1 and "Country NPL" in page
    assert "Country KEN" not in page
    assert "Country KEN" not in login("nima").html("/instances")
