"""Submissions over the API and on the pages: the same records, internal fields only for staff."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner
from markupsafe import escape

from cli.main import main
from engine import Actor, Engine
from engine.records import history
from engine.store.models import Instance
from tests.web.conftest import Web, task_of

pytest_plugins = ["tests.web.api_conftest"]


def _review_case(make_case: Callable[..., Instance]) -> Instance:
    return make_case("NPL", "decide_annual_review")


def test_api_lists_submissions_filtered_by_element_without_internal_fields_for_countries(
    make_case: Callable[..., Instance], login: Callable[[str], Web]
) -> None:
    case = _review_case(make_case)
    staff = login("secretariat").get(f"/api/v1/instances/{case.id}/submissions").json
    assert staff is not None
    elements = [s["element_id"] for s in staff["items"]]
    assert elements[0] == "register_approach" and "prepare_annual_review" in elements
    prepared = (
        login("secretariat")
        .get(f"/api/v1/instances/{case.id}/submissions?element=prepare_annual_review")
        .json
    )
    assert prepared is not None
    [item] = prepared["items"]
    assert item["round"] == 1 and item["submitted_by"] == "sam"
    assert "recommendation" in item["data"] and "evidence_summary" in item["data"]
    country = (
        login("country")
        .get(f"/api/v1/instances/{case.id}/submissions?element=prepare_annual_review")
        .json
    )
    assert country is not None
    [seen] = country["items"]
    assert "evidence_summary" in seen["data"]
    assert "recommendation" not in seen["data"] and "recommendation_notes" not in seen["data"]


def test_other_countries_get_404(
    make_case: Callable[..., Instance], login: Callable[[str], Web]
) -> None:
    case = make_case("KEN", "review_expression_of_interest")
    response = login("country").get(f"/api/v1/instances/{case.id}/submissions")
    assert response.status_code == 404


def test_recurring_review_opens_blank_and_shows_what_is_reviewed(
    deployed: Engine, make_case: Callable[..., Instance], login: Callable[[str], Web]
) -> None:
    case = _review_case(make_case)
    task = task_of(deployed, case, "decide_annual_review")
    page = login("secretariat").html(f"/tasks/{task}")
    assert "What you are reviewing" in page
    assert "Submit annual progress report" in page and "Prepare the annual review" in page
    assert 'value="true" checked' not in page and 'value="false" checked' not in page


def test_country_page_hides_internal_fields(
    deployed: Engine,
    make_case: Callable[..., Instance],
    login: Callable[[str], Web],
    users: dict[str, Actor],
) -> None:
    case = _review_case(make_case)
    staff_page = login("secretariat").html(f"/instances/{case.id}")
    assert "Recommendation" in staff_page and "Case variables" in staff_page
    country_page = login("country").html(f"/instances/{case.id}")
    assert "Prepare the annual review" in country_page and "Evidence" in country_page
    assert "recommendation" not in country_page.lower()
    assert "Case variables" not in country_page


def test_api_web_and_export_agree_on_submissions(
    make_case: Callable[..., Instance], login: Callable[[str], Web]
) -> None:
    case = _review_case(make_case)
    web = login("secretariat")
    api = web.get(f"/api/v1/instances/{case.id}/submissions").json
    assert api is not None and len(api["items"]) >= 10
    export = web.get(f"/audit/instances/{case.id}/export.json").json
    assert export is not None
    [chain] = [c for c in export["chains"] if c["instance_id"] == case.id]
    exported = {
        e["data"]["task_id"]: (e["element_id"], e["actor"], e["data"]["submitted"])
        for e in chain["events"]
        if e["kind"] == "task_completed"
    }
    assert {
        s["task_id"]: (s["element_id"], s["submitted_by"], s["data"]) for s in api["items"]
    } == (exported)
    page = web.html(f"/instances/{case.id}")
    for item in api["items"]:
        assert f'id="submission-{item["id"]}"' in page
        assert escape(item["element_name"]) in page


def test_audit_history_api_and_export_leave_internal_values_out_for_countries(
    make_case: Callable[..., Instance], login: Callable[[str], Web]
) -> None:
    case = _review_case(make_case)
    secret = "substantial_progress"  # the Secretariat's recommendation value
    staff = login("secretariat")
    staff_export = staff.get(f"/audit/instances/{case.id}/export.json").get_data(as_text=True)
    assert '"recommendation": "substantial_progress"' in staff_export
    country = login("country")
    export = country.get(f"/audit/instances/{case.id}/export.json").json
    assert export is not None and "recommendation" in export["redacted"]
    [chain] = export["chains"]
    prepared = [e for e in chain["events"] if e["element_id"] == "prepare_annual_review"]
    submitted = next(e["data"]["submitted"] for e in prepared if e["kind"] == "task_completed")
    assert set(submitted["recommendation"]) == {"$sha256"} and "evidence_summary" in submitted
    assert secret not in json.dumps(export)
    # the redacted export still verifies offline, and so does the staff's full one
    assert [r.intact for r in history.verify_export(export)] == [True]
    assert all(r.intact for r in history.verify_export(json.loads(staff_export)))
    csv_text = country.get(f"/audit/instances/{case.id}/export.csv").get_data(as_text=True)
    assert f'""recommendation"":""{secret}""' not in csv_text
    api = country.get(f"/api/v1/instances/{case.id}/history?per_page=100").json
    assert api is not None
    api_submitted = [
        e["data"]["submitted"]
        for e in api["items"]
        if e["kind"] == "task_completed" and e["element_id"] == "prepare_annual_review"
    ]
    assert api_submitted and api_submitted[0]["recommendation"] == "(internal)"
    pages = [f"/audit/instances/{case.id}?kind=task_completed&page={n}" for n in (1, 2, 3)]
    staff = login("secretariat")
    seen = [staff.html(url) for url in pages]
    assert any(">recommendation<" in p for p in seen)
    country = login("country")
    assert not any(">recommendation<" in country.html(url) for url in pages)


def test_country_api_web_and_redacted_export_agree_and_the_export_verifies_offline(
    make_case: Callable[..., Instance], login: Callable[[str], Web], tmp_path: Path
) -> None:
    case = _review_case(make_case)
    country = login("country")
    api = country.get(f"/api/v1/instances/{case.id}/submissions").json
    export = country.get(f"/audit/instances/{case.id}/export.json").json
    assert api is not None and export is not None
    [chain] = export["chains"]
    visible = {  # the export's submitted values without those withheld by their digest
        e["data"]["task_id"]: {
            k: v
            for k, v in e["data"]["submitted"].items()
            if not (isinstance(v, dict) and "$sha256" in v)
        }
        for e in chain["events"]
        if e["kind"] == "task_completed"
    }
    assert {s["task_id"]: s["data"] for s in api["items"]} == visible
    prepared = next(s for s in api["items"] if s["element_id"] == "prepare_annual_review")
    assert "recommendation" not in prepared["data"]
    page = country.html(f"/instances/{case.id}")
    for item in api["items"]:
        assert f'id="submission-{item["id"]}"' in page
    # `pathfinder audit verify --file` passes on the country's export ...
    path = tmp_path / "country-export.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    result = CliRunner().invoke(main, ["audit", "verify", "--file", str(path)])
    assert result.exit_code == 0, result.output
    assert "intact" in result.output
    # ... and catches a visible value changed in it
    event = next(
        e
        for e in chain["events"]
        if e["element_id"] == "prepare_annual_review" and e["kind"] == "task_completed"
    )
    event["data"]["submitted"]["evidence_summary"] = "Something else."
    path.write_text(json.dumps(export), encoding="utf-8")
    tampered = CliRunner().invoke(main, ["audit", "verify", "--file", str(path)])
    assert tampered.exit_code != 0 and "altered" in tampered.output
