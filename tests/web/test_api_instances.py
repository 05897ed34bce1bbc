"""Instances over the API: start, list with filters and country scoping, manage, history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient

from engine import Engine
from engine.store.db import transaction
from engine.store.models import AuditEvent
from tests.fixtures.bpmn_files import FAILING

pytest_plugins = ["tests.web.api_conftest"]

Auth = Callable[[str], dict[str, str]]
Problem = Callable[[Any, int], dict[str, Any]]
Start = Callable[..., dict[str, Any]]


def test_start_returns_the_instance_with_its_open_task(
    api_client: FlaskClient, auth: Auth, review_model: str
) -> None:
    response = api_client.post(
        "/api/v1/instances",
        json={"process_key": "review", "data": {"country": "npl", "country_name": "Nepal"}},
        headers=auth("country"),
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert body["status"] == "running" and body["version"] == 1
    assert body["country"] == "NPL" and body["label"] == "Nepal" and body["started_by"] == "nima"
    assert body["data"]["country"] == "NPL"
    [task] = body["open_tasks"]
    assert (
        task["name"] == "fill" and task["title"] == "Fill in request" and task["lane"] == "Country"
    )


def test_start_refusals(
    api_client: FlaskClient, auth: Auth, problem: Problem, start_review: Start
) -> None:
    def start(role: str, **payload: Any) -> Any:
        return api_client.post("/api/v1/instances", json=payload, headers=auth(role))

    problem(start("country", process_key="review", data={"country": "KEN"}), 403)
    problem(start("gcg", process_key="review", data={"country": "NPL"}), 403)
    problem(start("admin", process_key="nope"), 404)
    problem(start("admin", process_key="review", version=7), 404)
    body = problem(start("admin", process_key="review", data={"country": "12"}), 422)
    assert "country" in body["errors"]
    body = problem(start("admin", data={}), 422)
    assert body["errors"] == {"process_key": "Missing data for required field."}
    problem(start("admin", process_key="review", data="not an object"), 422)
    start_review("NPL")
    body = problem(start("admin", process_key="review", data={"country": "NPL"}), 409)
    assert "NPL" in body["detail"]


def test_list_filters_paginates_and_scopes_by_country(
    api_client: FlaskClient, auth: Auth, start_review: Start
) -> None:
    ids = {c: start_review(c)["id"] for c in ("NPL", "KEN", "BRA")}
    api_client.post(
        f"/api/v1/instances/{ids['BRA']}/cancel", json={"reason": "test"}, headers=auth("admin")
    )

    everything = api_client.get("/api/v1/instances?per_page=2", headers=auth("secretariat")).json
    assert (everything["total"], everything["pages"], everything["per_page"]) == (3, 2, 2)
    assert len(everything["items"]) == 2
    second = api_client.get("/api/v1/instances?per_page=2&page=2", headers=auth("secretariat")).json
    assert {i["id"] for i in everything["items"] + second["items"]} == set(ids.values())

    running = api_client.get("/api/v1/instances?status=running", headers=auth("chair")).json
    assert {i["country"] for i in running["items"]} == {"NPL", "KEN"}
    by_country = api_client.get("/api/v1/instances?country=ken", headers=auth("admin")).json
    assert [i["id"] for i in by_country["items"]] == [ids["KEN"]]
    by_key = api_client.get("/api/v1/instances?process_key=other", headers=auth("admin")).json
    assert by_key["total"] == 0 and by_key["items"] == [] and by_key["pages"] == 1

    mine = api_client.get("/api/v1/instances", headers=auth("country")).json
    assert [i["country"] for i in mine["items"]] == ["NPL"]
    # A country filter cannot widen a country user's view.
    assert (
        api_client.get("/api/v1/instances?country=KEN", headers=auth("country")).json["total"] == 0
    )


def test_list_rejects_bad_query(api_client: FlaskClient, auth: Auth, problem: Problem) -> None:
    body = problem(api_client.get("/api/v1/instances?per_page=101", headers=auth("admin")), 422)
    assert "per_page" in body["errors"]
    problem(api_client.get("/api/v1/instances?page=0", headers=auth("admin")), 422)
    problem(api_client.get("/api/v1/instances?status=sleeping", headers=auth("admin")), 422)


def test_detail_is_hidden_from_other_countries(
    api_client: FlaskClient, auth: Auth, problem: Problem, start_review: Start
) -> None:
    kenya = start_review("KEN")["id"]
    assert (
        api_client.get(f"/api/v1/instances/{kenya}", headers=auth("other_country")).status_code
        == 200
    )
    body = problem(api_client.get(f"/api/v1/instances/{kenya}", headers=auth("country")), 404)
    assert body["detail"] == problem(
        api_client.get("/api/v1/instances/999", headers=auth("country")), 404
    )["detail"].replace("999", str(kenya))
    for path in ("", "/history", "/history/verify"):
        problem(api_client.get(f"/api/v1/instances/{kenya}{path}", headers=auth("country")), 404)
    problem(
        api_client.post(f"/api/v1/instances/{kenya}/suspend", json={}, headers=auth("country")), 404
    )


def test_suspend_resume_cancel(
    api_client: FlaskClient, auth: Auth, problem: Problem, start_review: Start
) -> None:
    iid = start_review("NPL")["id"]
    url = f"/api/v1/instances/{iid}"
    problem(api_client.post(f"{url}/suspend", json={}, headers=auth("country")), 403)
    problem(api_client.post(f"{url}/resume", headers=auth("secretariat")), 409)

    suspended = api_client.post(
        f"{url}/suspend", json={"reason": "paused"}, headers=auth("secretariat")
    )
    assert suspended.status_code == 200 and suspended.json["status"] == "suspended"
    problem(api_client.post(f"{url}/suspend", json={}, headers=auth("secretariat")), 409)
    assert api_client.post(f"{url}/resume", headers=auth("secretariat")).json["status"] == "running"

    empty = api_client.post(f"{url}/cancel", json={"reason": "  "}, headers=auth("admin"))
    assert problem(empty, 422)["errors"]["reason"].startswith("Give the reason")
    cancelled = api_client.post(
        f"{url}/cancel", json={"reason": "withdrawn"}, headers=auth("admin")
    )
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert cancelled.json["open_tasks"] == []
    problem(api_client.post(f"{url}/cancel", json={}, headers=auth("admin")), 409)
    body = problem(
        api_client.post(f"{url}/cancel", json={"reason": "x" * 1001}, headers=auth("admin")), 422
    )
    assert "reason" in body["errors"]


def test_retry_an_instance_in_error(
    api_client: FlaskClient, auth: Auth, problem: Problem, engine: Engine
) -> None:
    engine.deploy({"failing.bpmn": FAILING})
    started = api_client.post(
        "/api/v1/instances",
        json={"process_key": "failing", "data": {"divisor": 0}},
        headers=auth("admin"),
    ).json
    assert started["status"] == "error" and started["error_element_id"] == "compute"
    retried = api_client.post(
        f"/api/v1/instances/{started['id']}/retry", headers=auth("secretariat")
    )
    assert retried.status_code == 200 and retried.json["status"] == "error"
    problem(api_client.post(f"/api/v1/instances/{started['id']}/retry", headers=auth("chair")), 403)


def test_message_nobody_waits_for_is_409(
    api_client: FlaskClient, auth: Auth, problem: Problem, start_review: Start
) -> None:
    iid = start_review("NPL")["id"]
    problem(
        api_client.post(
            f"/api/v1/instances/{iid}/messages", json={"name": "withdrawal"}, headers=auth("admin")
        ),
        409,
    )
    problem(
        api_client.post(f"/api/v1/instances/{iid}/messages", json={}, headers=auth("admin")), 422
    )


def test_history_pages_and_verification(
    api_client: FlaskClient, auth: Auth, start_review: Start, engine: Engine
) -> None:
    iid = start_review("NPL")["id"]
    url = f"/api/v1/instances/{iid}/history"
    first = api_client.get(f"{url}?per_page=2", headers=auth("country")).json
    assert first["total"] >= 3 and len(first["items"]) == 2
    assert [e["seq"] for e in first["items"]] == [1, 2]
    assert first["items"][0]["kind"] == "instance_started"
    assert first["items"][1]["prev_hash"] == first["items"][0]["hash"]

    verified = api_client.get(f"{url}/verify", headers=auth("auditor")).json
    assert verified == {
        "chain": f"instance:{iid}",
        "intact": True,
        "events": first["total"],
        "first_broken": None,
    }

    with transaction(engine.sessions) as session:
        event = session.query(AuditEvent).filter_by(instance_id=iid, seq=2).one()
        event.actor = "mallory"
    broken = api_client.get(f"{url}/verify", headers=auth("auditor")).json
    assert broken["intact"] is False and broken["first_broken"]["seq"] == 2
