"""Countries: the list, a case page with diagram data and timeline, starting, admin actions."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from engine import Engine
from engine.store.models import Instance
from tests.web.conftest import Web


def test_secretariat_registers_an_approach(deployed: Engine, login: Callable[[str], Web]) -> None:
    web = login("secretariat")
    assert "Register a country" in web.html("/instances/new")
    response = web.post(
        "/instances/new", {"process": "pathfinder", "country": "npl", "country_name": "Nepal"}
    )
    assert response.status_code == 302
    page = web.html(response.headers["Location"])
    assert "Nepal" in page and "Register the approach" in page
    again = web.post(
        "/instances/new", {"process": "pathfinder", "country": "NPL", "country_name": "Nepal"}
    )
    assert again.status_code == 409 and "already has an active" in again.get_data(as_text=True)
    bad = web.post("/instances/new", {"process": "pathfinder", "country": "N1", "country_name": ""})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "Enter the country&#39;s name." in text


def test_case_page_shows_status_tasks_timeline_data_and_diagram_states(
    make_case: Callable[..., Instance], login: Callable[[str], Web]
) -> None:
    case = make_case("NPL", "submit_expression_of_interest")
    web = login("secretariat")
    page = web.html(f"/instances/{case.id}")
    assert "Submit expression of interest" in page and "badge-running" in page
    states = json.loads(re.search(r"data-states='([^']+)'", page).group(1).replace("&#34;", '"'))
    assert states["active"] == ["submit_expression_of_interest"]
    assert {"register_approach", "invite_to_gcg_meeting"} <= set(states["completed"])
    # Badges for the diagram: how often each element was done, how many are open, incidents.
    assert states["counts"]["submit_expression_of_interest"] == {
        "done": 0,
        "active": 1,
        "incidents": 0,
    }
    assert states["counts"]["register_approach"] == {"done": 1, "active": 0, "incidents": 0}
    assert "Task completed" in page and "Element completed" not in page
    assert "Element completed" in web.html(f"/instances/{case.id}?events=all")
    assert "/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js" in page
    xml = web.get(f"/instances/{case.id}/diagram.bpmn")
    assert xml.mimetype == "text/plain" and b'id="submit_expression_of_interest"' in xml.data
    # the country user sees the case but no link into a task of another lane
    review = make_case("KEN", "review_expression_of_interest")
    page = login("kofi").html(f"/instances/{review.id}")
    assert "/tasks/" not in page


def test_list_filters_and_empty_state(
    make_case: Callable[..., Instance], login: Callable[[str], Web]
) -> None:
    make_case("NPL", "submit_expression_of_interest")
    make_case("KEN", "register_approach")
    web = login("gcg")
    page = web.html("/instances")
    assert "Country NPL" in page and "Country KEN" in page
    page = web.html("/instances?stage=approach")
    assert "Country KEN" in page and "Country NPL" not in page
    assert "No countries match" in web.html("/instances?status=cancelled")
    assert "Register an approach" not in page  # the GCG does not start cases


def test_suspend_resume_and_cancel_need_confirmation(
    deployed: Engine, make_case: Callable[..., Instance], login: Callable[[str], Web]
) -> None:
    case = make_case("NPL", "submit_expression_of_interest")
    web = login("secretariat")
    page = web.html(f"/instances/{case.id}/suspend")
    assert "Suspend the case of" in page and 'name="confirm" value="yes"' in page
    assert web.post(f"/instances/{case.id}/suspend", {"reason": "x"}).status_code == 200
    assert deployed.instance(case.id).status == "running"  # not without confirming
    response = web.post(f"/instances/{case.id}/suspend", {"confirm": "yes", "reason": "Elections"})
    assert response.status_code == 302 and deployed.instance(case.id).status == "suspended"
    assert "Suspend: done" in web.html(f"/instances/{case.id}")
    assert "cannot be" in web.html(f"/instances/{case.id}/suspend")
    web.post(f"/instances/{case.id}/resume", {"confirm": "yes"})
    assert deployed.instance(case.id).status == "running"
    # Cancelling cannot be undone: it needs a reason and the country's name typed out.
    empty = web.post(f"/instances/{case.id}/cancel", {"confirm": "yes", "reason": " "})
    assert empty.status_code == 422 and "Give the reason" in empty.get_data(as_text=True)
    assert deployed.instance(case.id).status == "running"
    wrong = {"confirm": "yes", "reason": "Withdrew", "confirm_name": "Country KEN"}
    response = web.post(f"/instances/{case.id}/cancel", wrong)
    assert response.status_code == 422
    assert "Type the country&#39;s name, Country NPL" in response.get_data(as_text=True)
    assert "Withdrew" in response.get_data(as_text=True)  # what was typed is kept
    assert deployed.instance(case.id).status == "running"
    right = {"confirm": "yes", "reason": "Withdrew", "confirm_name": "country npl"}
    assert web.post(f"/instances/{case.id}/cancel", right).status_code == 302
    assert deployed.instance(case.id).status == "cancelled"
    assert login("gcg").post(f"/instances/{case.id}/resume", {"confirm": "yes"}).status_code == 403


def test_retry_of_a_case_that_is_not_in_error_is_explained(
    make_case: Callable[..., Instance], login: Callable[[str], Web]
) -> None:
    case = make_case("NPL", "register_approach")
    web = login("admin")
    response = web.post(f"/instances/{case.id}/retry", {"confirm": "yes"})
    assert response.status_code == 302
    assert "not in error" in web.html(f"/instances/{case.id}")
