"""The whole Pathfinder procedure over HTTP only, on a simulated clock: deploy the shipped diagram
and forms through the upload endpoint, walk Nepal from its approach to the award, then through two
annual reviews, each task done by the lane's own role (found in that user's task list)."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

pytest_plugins = ["tests.web.api_conftest"]

ROOT = Path(__file__).resolve().parents[2]
Auth = Callable[[str], dict[str, str]]

LANE_ROLES = {
    "Country": "country",
    "Secretariat": "secretariat",
    "GCG Chair": "chair",
    "GCG": "gcg",
}
CHOICES = {
    "observer_took_part": True,
    "eoi_decision": "accepted",
    "workshop_decision": "accepted",
    "workshop_inclusive": True,
    "workplan_measurable": True,
    "gcg_decision": "endorse_award",
    "recommendation": "substantial_progress",
    "substantial_progress": True,
    "reasonable_justification": True,
    "progress_decision": "accepted",
    "signed_by_minister": True,
    "knowledge_platform_contribution": "shared",
}
"""The answers that move a country forward (anything else is filled in from the form)."""
LATER_DATES = {"gcg_meeting_date": 14, "end": 30}
"""Date fields that schedule something, or must come after another (a workplan action ends after
it starts): days after the simulated today."""
SIDE_TASKS = {"record_support_to_alliance"}
"""Open for the whole pathfinder period; done once, not waited for."""


def _value(name: str, schema: dict[str, Any], today: date) -> Any:
    """A valid value for one form field."""
    if name in CHOICES:
        return CHOICES[name]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return max(1, schema.get("minimum", 1))
    if kind == "array":
        item = _value(name, schema.get("items", {"type": "string"}), today)
        return [item] * max(1, schema.get("minItems", 1))
    if kind == "object":
        return _fill(schema, today)
    fmt = schema.get("format")
    if fmt == "date":
        return (today + timedelta(days=LATER_DATES.get(name, 0))).isoformat()
    if fmt == "date-time":
        return f"{today.isoformat()}T09:00:00+00:00"
    if fmt == "email":
        return "focal.point@example.org"
    if fmt == "uri":
        return "https://example.org/document"
    return ("Recorded in the test " + name)[: schema.get("maxLength", 200)]


def _fill(schema: dict[str, Any], today: date) -> dict[str, Any]:
    """Every field of a form (optional ones too, so conditional requirements are met), with the
    constants that `if`/`then` rules demand (a minister's letter goes to the ILO DG...)."""
    data = {
        k: _value(k, v, today)
        for k, v in schema.get("properties", {}).items()
        if "attachment" not in (v.get("format"), v.get("items", {}).get("format"))
    }  # file fields take the id of an upload (tests/web/test_attachments_api.py); left out here
    for rule in schema.get("allOf", []):
        condition = rule.get("if", {}).get("properties", {})
        holds = all(data.get(k) == v["const"] for k, v in condition.items() if "const" in v)
        branch = rule.get("then" if holds else "else", {})
        for name, field in branch.get("properties", {}).items():
            if "const" in field:
                data[name] = field["const"]
    return data


class Driver:
    """Calls the API as the right person for each step."""

    def __init__(self, api_client: FlaskClient, auth: Auth) -> None:
        self.api_client = api_client
        self.auth = auth
        self.done: list[str] = []

    def today(self) -> date:
        now = self.api_client.get("/api/v1/simulation/clock", headers=self.auth("secretariat")).json
        return date.fromisoformat(now["now"][:10])

    def instance(self, iid: int) -> dict[str, Any]:
        response = self.api_client.get(f"/api/v1/instances/{iid}", headers=self.auth("secretariat"))
        assert response.status_code == 200, response.json
        body: dict[str, Any] = response.json
        return body

    def complete(self, task_id: str, lane: str) -> None:
        role = LANE_ROLES[lane]
        listed = self.api_client.get("/api/v1/tasks?per_page=100", headers=self.auth(role)).json
        [task] = [t for t in listed["items"] if t["id"] == task_id]  # the lane's user sees it
        data = _fill(task["form"]["schema"], self.today()) if task["form"] else {}
        response = self.api_client.post(
            f"/api/v1/tasks/{task_id}/complete",
            json={"data": data, "expected_version": task["instance_version"]},
            headers=self.auth(role),
        )
        assert response.status_code == 200, (task["name"], response.json)
        self.done.append(task["name"])

    def advance(self, days: int) -> int:
        response = self.api_client.post(
            "/api/v1/simulation/advance", json={"days": days}, headers=self.auth("secretariat")
        )
        assert response.status_code == 200, response.json
        fired: int = response.json["fired"]
        return fired


def _deploy(api_client: FlaskClient, auth: Auth) -> None:
    paths = [ROOT / "processes" / "pathfinder.bpmn", *sorted((ROOT / "forms").glob("*.json"))]
    upload = {"files": [(io.BytesIO(p.read_bytes()), p.name) for p in paths]}
    response = api_client.post(
        "/api/v1/process-models",
        data=upload,
        headers=auth("owner"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.json
    assert response.json[0]["key"] == "pathfinder" and response.json[0]["executable"] is True


@pytest.mark.xdist_group("api-slow")
@pytest.mark.timeout(300)
def test_pathfinder_from_approach_to_second_annual_review(
    make_api_app: Callable[..., Flask], auth: Auth
) -> None:
    api_client = make_api_app(simulate=True).test_client()
    _deploy(api_client, auth)
    model = api_client.get("/api/v1/process-models/pathfinder", headers=auth("secretariat")).json
    starter = next(
        k for k, r in LANE_ROLES.items() if r in model["start_roles"] or k == "Secretariat"
    )
    started = api_client.post(
        "/api/v1/instances",
        json={"process_key": "pathfinder", "data": {"country": "NPL", "country_name": "Nepal"}},
        headers=auth(LANE_ROLES[starter]),
    )
    assert started.status_code == 201, started.json
    iid = started.json["id"]
    driver = Driver(api_client, auth)
    awarded_on = None

    for _ in range(300):
        instance = driver.instance(iid)
        assert instance["status"] == "running", instance
        if instance["data"].get("pathfinder_status") == "pathfinder" and awarded_on is None:
            awarded_on = driver.today()
        if driver.done.count("decide_annual_review") >= 2:
            break
        open_tasks = [
            t
            for t in instance["open_tasks"]
            if t["name"] not in SIDE_TASKS or t["name"] not in driver.done
        ]
        if open_tasks:
            for task in open_tasks:
                driver.complete(task["id"], task["lane"])
        else:
            driver.advance(30)
    else:
        pytest.fail(f"the procedure did not reach two reviews; done: {driver.done}")

    instance = driver.instance(iid)
    assert awarded_on is not None, driver.done
    assert instance["data"]["pathfinder_status"] == "pathfinder"
    assert instance["stage"] == "pathfinder"
    for step in (
        "register_approach",
        "submit_expression_of_interest",
        "submit_workshop_report",
        "consider_country_report",
        "send_confirmation_letter",
        "submit_annual_progress_report",
    ):
        assert step in driver.done, (step, driver.done)
    # The reviews came a year apart, on the award's anniversaries.
    assert driver.done.count("submit_annual_progress_report") == 2
    assert driver.today() >= awarded_on + timedelta(days=2 * 365 - 1)

    # Nepal's focal point sees the case; Kenya's does not.
    assert api_client.get(f"/api/v1/instances/{iid}", headers=auth("country")).status_code == 200
    assert (
        api_client.get(f"/api/v1/instances/{iid}", headers=auth("other_country")).status_code == 404
    )
    verified = api_client.get(
        f"/api/v1/instances/{iid}/history/verify", headers=auth("auditor")
    ).json
    assert verified["intact"] is True and verified["events"] > 50
