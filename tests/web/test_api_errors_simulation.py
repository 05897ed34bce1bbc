"""problem+json for every kind of failure under /api/v1, and the simulation clock."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine import Engine, VirtualClock
from tests.fixtures.bpmn_files import YEARLY

pytest_plugins = ["tests.web.api_conftest"]

Auth = Callable[[str], dict[str, str]]
Problem = Callable[[Any, int], dict[str, Any]]


def test_unknown_route_is_problem_404(api_client: FlaskClient, problem: Problem) -> None:
    for path in ("/api/v1/nothing-here", "/api/v1/", "/api/v1/instances/0", "/api/v1/tasks/x/y"):
        problem(api_client.get(path), 404)


def test_wrong_method_is_problem_405_with_allow(
    api_client: FlaskClient, auth: Auth, problem: Problem
) -> None:
    response = api_client.delete("/api/v1/tasks", headers=auth("admin"))
    problem(response, 405)
    assert {"GET", "HEAD"} <= set(response.headers["Allow"].replace(" ", "").split(","))
    problem(api_client.put("/api/v1/instances", headers=auth("admin")), 405)


def test_web_pages_keep_their_own_errors(api_client: FlaskClient) -> None:
    response = api_client.get("/no-such-page")
    assert response.status_code == 404 and response.mimetype != "application/problem+json"


def test_malformed_json_is_a_problem(api_client: FlaskClient, auth: Auth, problem: Problem) -> None:
    response = api_client.post(
        "/api/v1/instances",
        data="{not json",
        headers={**auth("admin"), "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422)
    problem(response, response.status_code)


def test_unexpected_failure_is_500_without_a_trace(
    api_client: FlaskClient,
    auth: Auth,
    problem: Problem,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: Any,
) -> None:
    def explode(*_: Any, **__: Any) -> None:
        raise RuntimeError("secret internals /srv/pathfinder/engine.py line 42")

    monkeypatch.setattr(engine.instances, "start_and_show", explode)  # what POST /instances calls
    with caplog.at_level(logging.ERROR, logger="pathfinder.api"):
        body = problem(
            api_client.post("/api/v1/instances", json={"process_key": "x"}, headers=auth("admin")),
            500,
        )
    assert "secret" not in str(body) and "engine.py" not in str(body)
    assert any("API request failed" in r.message for r in caplog.records)  # logged for operators


# -- simulation -----------------------------------------------------------------------------


def test_simulation_is_404_without_simulate(
    api_client: FlaskClient, auth: Auth, problem: Problem
) -> None:
    body = problem(api_client.get("/api/v1/simulation/clock", headers=auth("admin")), 404)
    assert "--simulate" in body["detail"]
    problem(
        api_client.post("/api/v1/simulation/advance", json={"days": 1}, headers=auth("admin")), 404
    )
    problem(
        api_client.post("/api/v1/simulation/advance", json={"days": 1}, headers=auth("country")),
        404,
    )


@pytest.fixture
def sim(make_api_app: Callable[..., Flask]) -> FlaskClient:
    return make_api_app(simulate=True).test_client()


def test_clock_and_advance(sim: FlaskClient, auth: Auth, clock: VirtualClock) -> None:
    now = sim.get("/api/v1/simulation/clock", headers=auth("country")).json
    assert now == {"now": "2027-01-04T09:00:00+00:00", "simulated": True}
    moved = sim.post(
        "/api/v1/simulation/advance", json={"days": 2, "seconds": 3600}, headers=auth("secretariat")
    )
    assert moved.status_code == 200
    assert moved.json == {"now": "2027-01-06T10:00:00+00:00", "simulated": True, "fired": 0}
    assert clock.now().isoformat() == "2027-01-06T10:00:00+00:00"


def test_advance_fires_what_falls_due(sim: FlaskClient, auth: Auth, engine: Engine) -> None:
    engine.deploy({"yearly.bpmn": YEARLY})
    iid = sim.post("/api/v1/instances", json={"process_key": "yearly"}, headers=auth("owner")).json[
        "id"
    ]
    assert sim.get("/api/v1/tasks", headers=auth("admin")).json["total"] == 0
    sim.post("/api/v1/simulation/advance", json={"days": 364}, headers=auth("owner"))
    assert sim.get("/api/v1/tasks", headers=auth("admin")).json["total"] == 0
    moved = sim.post("/api/v1/simulation/advance", json={"days": 1}, headers=auth("admin")).json
    assert moved["fired"] == 1
    [task] = sim.get("/api/v1/tasks", headers=auth("admin")).json["items"]
    assert task["name"] == "anniversary" and task["instance_id"] == iid


def test_advance_refusals(sim: FlaskClient, auth: Auth, problem: Problem) -> None:
    for role in ("country", "chair", "gcg"):
        problem(sim.post("/api/v1/simulation/advance", json={"days": 1}, headers=auth(role)), 403)
    problem(sim.post("/api/v1/simulation/advance", json={"days": 1}, headers=auth("auditor")), 403)
    body = problem(sim.post("/api/v1/simulation/advance", json={}, headers=auth("admin")), 422)
    assert "days" in body["errors"]
    problem(sim.post("/api/v1/simulation/advance", json={"days": -1}, headers=auth("admin")), 422)
    problem(
        sim.post("/api/v1/simulation/advance", json={"days": 10**9}, headers=auth("admin")), 422
    )
    problem(sim.get("/api/v1/simulation/clock"), 401)
