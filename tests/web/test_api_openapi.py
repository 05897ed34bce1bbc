"""The served OpenAPI document: valid, secured, browsable without a CDN, and honoured by the
server (schemathesis fuzzes every operation in-process: no 5xx, every response matches)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from flask import Flask, Response
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis import checks

pytest_plugins = ["tests.web.api_conftest"]

Auth = Callable[[str], dict[str, str]]


def test_document_is_valid_openapi(api_client: FlaskClient) -> None:
    response = api_client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    spec = response.json
    validate(spec)
    assert spec["openapi"].startswith("3.0")
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "POST /api/v1/auth/token",
    }
    assert {"bearerAuth": []} in spec["security"]
    assert spec["paths"]["/api/v1/auth/token"]["post"]["security"] == []


def test_every_operation_documents_problem_errors(api_client: FlaskClient) -> None:
    spec = api_client.get("/api/v1/openapi.json").json
    expected = {
        ("post", "/api/v1/process-models"),
        ("get", "/api/v1/process-models"),
        ("post", "/api/v1/instances"),
        ("get", "/api/v1/instances"),
        ("get", "/api/v1/instances/{instance_id}"),
        ("post", "/api/v1/instances/{instance_id}/suspend"),
        ("post", "/api/v1/instances/{instance_id}/resume"),
        ("post", "/api/v1/instances/{instance_id}/cancel"),
        ("post", "/api/v1/instances/{instance_id}/retry"),
        ("get", "/api/v1/instances/{instance_id}/history"),
        ("get", "/api/v1/instances/{instance_id}/history/verify"),
        ("get", "/api/v1/tasks"),
        ("post", "/api/v1/tasks/{task_id}/claim"),
        ("post", "/api/v1/tasks/{task_id}/unclaim"),
        ("post", "/api/v1/tasks/{task_id}/complete"),
        ("post", "/api/v1/simulation/advance"),
        ("get", "/api/v1/simulation/clock"),
        ("post", "/api/v1/auth/token"),
        ("get", "/api/v1/auth/tokens"),
        ("delete", "/api/v1/auth/tokens/{token_id}"),
    }
    found = {(m, p) for p, item in spec["paths"].items() for m in item}
    assert expected <= found
    default = spec["components"]["responses"]["DEFAULT_ERROR"]
    assert "application/problem+json" in default["content"]
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            assert "default" in op["responses"], (method, path)
            assert op.get("summary"), (method, path)
    items = spec["components"]["schemas"]["TaskPage"]["properties"]
    assert {"items", "page", "per_page", "total", "pages"} <= items.keys()


def test_reference_page_is_self_contained(api_client: FlaskClient) -> None:
    response = api_client.get("/api/v1/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "<script" not in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "/api/v1/tasks/{task_id}/complete" in html and 'id="schema-Task"' in html


@pytest.fixture
def fuzz_app(
    make_api_app: Callable[..., Flask], auth: Auth, start_review: Callable[..., dict[str, Any]]
) -> Flask:
    """A simulating api_app with something to find: two review instances (one per country)."""
    start_review("NPL")
    start_review("KEN")
    return make_api_app(simulate=True)


FUZZ_CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]
FUZZ_SETTINGS = settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


def _fuzz(api_app: Flask, headers: dict[str, str]) -> tuple[list[str], Counter[int]]:
    """Run every operation of the served document with generated input; returns the failures
    and how often each status was answered.

    (schemathesis' pytest fixture integration does not work with this pytest version, so the
    operations are driven here one by one with hypothesis, on one api_app and database.)
    """
    statuses: Counter[int] = Counter()

    @api_app.after_request
    def count(response: Response) -> Response:
        statuses[response.status_code] += 1
        return response

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", api_app)
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    # Revoking tokens may revoke the fuzzer's own: run it last.
    operations.sort(key=lambda op: op.method.upper() == "DELETE" and "/auth/tokens/" in op.path)
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @FUZZ_SETTINGS
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=FUZZ_CHECKS)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, not only the first
            failures.append(f"{operation.label}: {exc}")
    return failures, statuses


@pytest.mark.xdist_group("api-slow")
@pytest.mark.timeout(300)
def test_fuzz_as_admin(fuzz_app: Flask, auth: Auth) -> None:
    """Someone who may do everything: every operation's success paths."""
    failures, statuses = _fuzz(fuzz_app, auth("admin"))
    assert not failures, "\n\n".join(failures)
    assert sum(statuses.values()) > 300
    assert {200, 404, 422} <= statuses.keys(), statuses


@pytest.mark.xdist_group("api-slow")
@pytest.mark.timeout(300)
def test_fuzz_as_country_user(fuzz_app: Flask, auth: Auth) -> None:
    """A country user: scoping and refusals (403/404) must conform too."""
    failures, statuses = _fuzz(fuzz_app, auth("country"))
    assert not failures, "\n\n".join(failures)
    assert {200, 403, 404, 422} <= statuses.keys(), statuses
