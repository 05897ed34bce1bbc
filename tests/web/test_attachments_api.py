"""Attachments over the API: upload (multipart) -> {id, filename, size, sha256}, completion by id,
downloads with the instance's access rules, refusals as problem+json, and the OpenAPI entries."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from engine import Actor, Engine, VirtualClock
from engine.demo import drive
from tests.conftest import ROOT
from tests.engine.records.test_attachments import EOI, EOI_DATA
from tests.fixtures import documents as docs

pytest_plugins = ["tests.web.api_conftest"]

Auth = Callable[[str], dict[str, str]]
Problem = Callable[[Any, int], dict[str, Any]]


@pytest.fixture
def eoi_tasks(
    engine: Engine, clock: VirtualClock, actors: dict[str, Actor], api_users: dict[str, int]
) -> dict[str, str]:
    """Country -> the ready expression-of-interest task of a pathfinder case (Nepal, Kenya)."""
    engine.deploy_directory(ROOT / "processes", ROOT / "forms")
    people = {a.username: a for a in actors.values()}
    out = {}
    for country in ("NPL", "KEN"):
        inst = engine.start("pathfinder", {"country": country}, people["sam"])
        assert not drive(engine, clock, inst.id, stop_at=EOI, actors=people)
        out[country] = next(t.id for t in engine.ready_tasks(inst.id) if t.element_id == EOI)
    return out


def _upload(client: FlaskClient, task: str, headers: dict[str, str], content: bytes, name: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/tasks/{task}/attachments",
        data={"field": "letter_file", "file": (io.BytesIO(content), name)},
        headers=headers,
        content_type="multipart/form-data",
    )


def test_upload_complete_download(
    api_client: FlaskClient, auth: Auth, eoi_tasks: dict[str, str], problem: Problem
) -> None:
    country = auth("country")
    response = _upload(api_client, eoi_tasks["NPL"], country, docs.PDF, "../letter.pdf")
    assert response.status_code == 201, response.json
    body = response.json
    assert body == {
        "id": body["id"],
        "filename": "letter.pdf",
        "size": len(docs.PDF),
        "sha256": hashlib.sha256(docs.PDF).hexdigest(),
    }
    done = api_client.post(
        f"/api/v1/tasks/{eoi_tasks['NPL']}/complete",
        json={"data": {**EOI_DATA, "letter_file": body["id"]}},
        headers=country,
    )
    assert done.status_code == 200, done.json
    for role in ("country", "secretariat", "auditor", "chair", "admin"):
        got = api_client.get(f"/api/v1/attachments/{body['id']}", headers=auth(role))
        assert got.status_code == 200 and got.data == docs.PDF, role
        assert got.headers["Content-Disposition"].startswith("attachment;")
        assert got.headers["X-Content-Type-Options"] == "nosniff"
    # Kenya's focal point may not have Nepal's letter: 404, as if it did not exist.
    problem(api_client.get(f"/api/v1/attachments/{body['id']}", headers=auth("other_country")), 404)


def test_refusals(
    api_client: FlaskClient, auth: Auth, eoi_tasks: dict[str, str], problem: Problem
) -> None:
    country = auth("country")
    wrong = problem(_upload(api_client, eoi_tasks["NPL"], country, docs.EXE, "a.pdf"), 422)
    assert "not a document Pathfinder accepts" in wrong["errors"]["letter_file"]
    problem(_upload(api_client, eoi_tasks["KEN"], country, docs.PDF, "a.pdf"), 404)
    problem(_upload(api_client, eoi_tasks["NPL"], auth("auditor"), docs.PDF, "a.pdf"), 403)
    missing = api_client.post(
        f"/api/v1/tasks/{eoi_tasks['NPL']}/attachments",
        data={"field": "letter_file"},
        headers=country,
        content_type="multipart/form-data",
    )
    assert "file" in problem(missing, 422)["errors"]
    # An id uploaded for Kenya's task cannot be used to complete Nepal's.
    theirs = _upload(api_client, eoi_tasks["KEN"], auth("other_country"), docs.PDF, "k.pdf").json
    refused = api_client.post(
        f"/api/v1/tasks/{eoi_tasks['NPL']}/complete",
        json={"data": {**EOI_DATA, "letter_file": theirs["id"]}},
        headers=country,
    )
    assert "letter_file" in problem(refused, 422)["errors"]


def test_both_operations_are_documented(api_client: FlaskClient) -> None:
    spec = api_client.get("/api/v1/openapi.json").json
    upload = spec["paths"]["/api/v1/tasks/{task_id}/attachments"]["post"]
    body = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body == {"$ref": "#/components/schemas/AttachmentUpload"}
    assert set(spec["components"]["schemas"]["Attachment"]["properties"]) == {
        "id",
        "filename",
        "size",
        "sha256",
    }
    assert "201" in upload["responses"]
    download = spec["paths"]["/api/v1/attachments/{attachment_id}"]["get"]
    assert "application/pdf" in download["responses"]["200"]["content"]
    assert "404" in download["responses"]
