"""Process models over the API: list, versions, multipart deployment and its refusals."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.fixtures.bpmn_files import REVIEW, bpmn, forms_json

pytest_plugins = ["tests.web.api_conftest"]

Auth = Callable[[str], dict[str, str]]
Problem = Callable[[Any, int], dict[str, Any]]


def _upload(files: dict[str, bytes]) -> dict[str, Any]:
    return {"files": [(io.BytesIO(content), name) for name, content in files.items()]}


def _deploy(api_client: FlaskClient, headers: dict[str, str], files: dict[str, bytes]) -> Any:
    return api_client.post(
        "/api/v1/process-models",
        data=_upload(files),
        headers=headers,
        content_type="multipart/form-data",
    )


def test_owner_deploys_diagram_with_forms(api_client: FlaskClient, auth: Auth) -> None:
    response = _deploy(api_client, auth("owner"), {"review.bpmn": REVIEW, **forms_json()})
    assert response.status_code == 201, response.json
    assert response.json == [{"key": "review", "version": 1, "created": True, "executable": True}]

    again = _deploy(api_client, auth("admin"), {"review.bpmn": REVIEW, **forms_json()})
    assert again.status_code == 200
    assert again.json[0]["created"] is False and again.json[0]["version"] == 1


def test_models_list_and_versions(api_client: FlaskClient, auth: Auth, problem: Problem) -> None:
    _deploy(api_client, auth("owner"), {"review.bpmn": REVIEW, **forms_json()})
    changed = REVIEW.replace(b'name="Fill in request"', b'name="Fill in the request"')
    assert (
        _deploy(api_client, auth("owner"), {"review.bpmn": changed, **forms_json()}).status_code
        == 201
    )

    listed = api_client.get("/api/v1/process-models", headers=auth("country"))
    assert listed.status_code == 200
    [model] = listed.json
    assert model["key"] == "review" and model["latest_version"] == 2
    assert model["start_roles"] == ["country"]

    detail = api_client.get("/api/v1/process-models/review", headers=auth("auditor")).json
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    assert detail["versions"][0]["files"] == ["review.bpmn"]
    assert detail["versions"][0]["forms"] == ["decision.schema.json", "request.schema.json"]
    assert detail["versions"][0]["lanes"] == ["Country", "Secretariat"]
    assert detail["versions"][0]["active_instances"] == 0
    problem(api_client.get("/api/v1/process-models/nope", headers=auth("admin")), 404)


def test_refused_model_lists_every_problem_with_its_element(
    api_client: FlaskClient, auth: Auth, problem: Problem
) -> None:
    # The forms the diagram references are missing.
    body = problem(_deploy(api_client, auth("owner"), {"review.bpmn": REVIEW}), 422)
    assert isinstance(body["errors"], list) and body["errors"]
    fill = next(e for e in body["errors"] if e["element_id"] == "fill")
    assert fill["element_name"] == "Fill in request" and fill["file"] == "review.bpmn"
    assert {"line", "message", "code", "severity"} <= fill.keys()
    assert api_client.get("/api/v1/process-models", headers=auth("owner")).json == []


def test_broken_xml_is_422_with_file_and_line(
    api_client: FlaskClient, auth: Auth, problem: Problem
) -> None:
    body = problem(
        _deploy(api_client, auth("owner"), {"bad.bpmn": b"<bpmn:definitions>\n<oops"}), 422
    )
    assert body["errors"][0]["file"] == "bad.bpmn"
    assert body["errors"][0]["line"] is not None


def test_upload_needs_a_diagram_and_known_file_kinds(
    api_client: FlaskClient, auth: Auth, problem: Problem
) -> None:
    body = problem(_deploy(api_client, auth("owner"), forms_json()), 422)
    assert "files" in body["errors"]
    body = problem(
        _deploy(api_client, auth("owner"), {"review.bpmn": REVIEW, "notes.txt": b"hello"}), 422
    )
    assert "files.notes.txt" in body["errors"]
    problem(api_client.post("/api/v1/process-models", headers=auth("owner")), 422)


def test_only_process_owners_and_admins_deploy(
    api_client: FlaskClient, auth: Auth, problem: Problem
) -> None:
    for role in ("secretariat", "chair", "gcg", "country"):
        problem(_deploy(api_client, auth(role), {"review.bpmn": REVIEW, **forms_json()}), 403)
    problem(_deploy(api_client, auth("auditor"), {"review.bpmn": REVIEW, **forms_json()}), 403)
    assert (
        _deploy(api_client, auth("admin"), {"review.bpmn": REVIEW, **forms_json()}).status_code
        == 201
    )


def test_upload_over_the_size_limit_is_413(
    make_api_app: Callable[..., Flask], auth: Auth, problem: Problem
) -> None:
    api_client = make_api_app(MAX_CONTENT_LENGTH=2000).test_client()
    big = bpmn("big", '<bpmn:startEvent id="start" />' + "<!-- padding -->" * 500)
    problem(_deploy(api_client, auth("owner"), {"big.bpmn": big}), 413)
