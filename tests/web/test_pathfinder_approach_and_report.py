"""Through the web: registering an approach is the message that opens the case, and the annual
report offers the workplan in force's indicators with their baselines and targets read-only."""

from __future__ import annotations

import re
from collections.abc import Callable

from engine import Engine
from engine.store.models import Instance
from tests.web.conftest import Web, task_of
from tests.web.test_case_data_scenario import value_of


def test_the_start_page_opens_a_case_by_its_approach_message(
    deployed: Engine, login: Callable[[str], Web]
) -> None:
    web = login("secretariat")
    response = web.post(
        "/instances/new", {"process": "pathfinder", "country": "npl", "country_name": "Nepal"}
    )
    assert response.status_code == 302
    [case] = [i for i in deployed.ready_tasks() if i.element_id == "register_approach"]
    events = deployed.history(case.instance_id)
    [received] = [e for e in events if e.kind == "message_received"]
    assert (received.element_id, received.actor) == ("approach_received", "sam")
    assert received.data["message"] == "country_approach"
    assert received.data["payload"] == {"country": "NPL", "country_name": "Nepal"}
    page = web.html(response.headers["Location"])
    assert "Register the approach" in page


def _readonly(page: str, name: str) -> bool:
    """Shown as text with its value kept in a hidden input, not as a field one can type in."""
    tag = re.search(r'<input[^>]*name="' + re.escape(name) + r'"[^>]*>', page)
    assert tag, name
    return 'type="hidden"' in tag.group(0)


def test_the_annual_report_page_shows_the_workplan_rows_read_only(
    deployed: Engine, login: Callable[[str], Web], make_case: Callable[..., Instance]
) -> None:
    case = make_case(stop_at="submit_annual_progress_report")
    actions = deployed.instance(case.id).data["workplan_in_force"]["actions"]
    assert len(actions) == 2
    task = task_of(deployed, case, "submit_annual_progress_report")
    web = login("country")
    page = web.html(f"/tasks/{task}")
    for i, action in enumerate(actions):
        name = f"indicator_values.{i}."
        assert value_of(page, name + "workplan_indicator") == action["indicator"]
        assert _readonly(page, name + "workplan_indicator")
        assert _readonly(page, name + "baseline") and _readonly(page, name + "target")
        assert not _readonly(page, name + "value")
        assert f'<p class="given-value" aria-labelledby="f-indicator_values-{i}-' in page
    assert value_of(page, "indicator_values.0.baseline") == "22.8"
    assert value_of(page, "indicator_values.0.target") == "18.8"
    assert value_of(page, "indicator_values.1.baseline") == ""  # no numeric baseline given
    assert 'name="indicator_values.2.value"' not in page  # one row per workplan indicator
    assert 'value="add_row:indicator_values"' not in page
    assert 'value="remove_row:indicator_values.0"' not in page
    # The country types the values reached; changing a given target is not kept.
    form = [
        ("period_start", "2027-09-15"),
        ("period_end", "2028-09-14"),
        ("indicator_values.0.workplan_indicator", "Something easier"),
        ("indicator_values.0.target", "30"),
        ("indicator_values.0.value", "21.4"),
        ("indicator_values.0.comment", "Survey of 2028."),
        ("indicator_values.1.value", "2.5"),
        ("knowledge_platform_contribution", "not_shared"),
        ("knowledge_platform_reason", "Not yet published."),
        ("action", "complete"),
    ]
    response = web.post(f"/tasks/{task}", form)
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    rows = deployed.instance(case.id).data["indicator_values"]
    assert [(r["workplan_indicator"], r.get("target"), r["value"]) for r in rows] == [
        (actions[0]["indicator"], 18.8, 21.4),
        (actions[1]["indicator"], None, 2.5),
    ]
    # The review shows each value against the workplan's baseline and target.
    review = task_of(deployed, case, "prepare_annual_review")
    page = login("secretariat").html(f"/tasks/{review}")
    [table] = re.findall(r"<table.*?</table>", page[page.index("Indicator values") :], re.S)[:1]
    assert "Baseline" in table and "Target" in table and "Value reached" in table
    assert "18.8" in table and "21.4" in table and "Survey of 2028." in table
