"""Stages read by the names the process declares, not by their codes."""

from __future__ import annotations

from collections.abc import Callable

from engine.store.models import Instance
from tests.web.conftest import Web


def test_case_page_timeline_lists_and_dashboard_name_stages(
    make_case: Callable[..., Instance], login: Callable[[str], Web]
) -> None:
    case = make_case("NPL", "submit_workshop_report")
    web = login("secretariat")
    page = web.html(f"/instances/{case.id}")
    assert "<dt>Stage</dt><dd>Workshop</dd>" in page
    assert "stage: Expression of interest → Workshop" in page
    assert "expression_of_interest →" not in page
    assert "Report to the GCG" not in web.html("/instances")  # only stages cases are in
    assert ">Workshop</td>" in web.html("/instances")
    assert "Workshop" in web.html("/dashboard")
