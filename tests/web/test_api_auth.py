"""API authentication: tokens issued, listed, revoked, expired; 401 without a caller; auditors
read-only; the web session as an alternative with CSRF on changes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine import Engine
from engine.people.accounts import THROTTLE_FREE_FAILURES
from engine.people.tokens import hash_token
from engine.store.db import transaction
from engine.store.models import ApiToken, User

pytest_plugins = ["tests.web.api_conftest"]

Auth = Callable[[str], dict[str, str]]
Problem = Callable[[Any, int], dict[str, Any]]


def _operations(api_app: Flask) -> list[tuple[str, str]]:
    """(METHOD, concrete path) for every operation in the served document."""
    spec = api_app.test_client().get("/api/v1/openapi.json").json
    samples = {
        "{instance_id}": "1",
        "{task_id}": "00000000-0000-4000-8000-000000000000",
        "{attachment_id}": "00000000-0000-4000-8000-000000000000",
        "{token_id}": "1",
        "{key}": "review",
    }
    ops = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method == "parameters" or op.get("security") == []:
                continue
            concrete = path
            for placeholder, value in samples.items():
                concrete = concrete.replace(placeholder, value)
            ops.append((method.upper(), concrete))
    return ops


def test_token_for_username_and_password(
    password: str, api_client: FlaskClient, api_users: dict[str, int]
) -> None:
    response = api_client.post(
        "/api/v1/auth/token", json={"username": "nima", "password": password, "name": "laptop"}
    )
    assert response.status_code == 201
    body = response.json
    assert body["token_type"] == "Bearer" and body["name"] == "laptop"
    assert body["token"].startswith(body["prefix"]) and len(body["prefix"]) == 8
    assert body["expires_at"] is not None

    me = api_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json == {
        "username": "nima",
        "display_name": "Nima",
        "roles": ["country"],
        "country": "NPL",
        "read_only": False,
        "auth": "token",
    }


def test_only_the_tokens_hash_is_stored(
    password: str, api_client: FlaskClient, api_users: dict[str, int], engine: Engine
) -> None:
    token = api_client.post(
        "/api/v1/auth/token", json={"username": "sam", "password": password}
    ).json["token"]
    with engine.session() as session:
        row = session.query(ApiToken).one()
        assert row.token_hash == hash_token(token) and token not in (row.token_hash, row.prefix)


def test_wrong_password_is_401_and_repeated_failures_429(
    password: str, problem: Problem, api_client: FlaskClient, api_users: dict[str, int]
) -> None:
    for _ in range(THROTTLE_FREE_FAILURES):
        problem(
            api_client.post("/api/v1/auth/token", json={"username": "sam", "password": "nope"}), 401
        )
    response = api_client.post("/api/v1/auth/token", json={"username": "sam", "password": password})
    body = problem(response, 429)
    assert "wait" in body["detail"].lower() and response.headers["Retry-After"] == "1"


def test_token_request_needs_both_fields(problem: Problem, api_client: FlaskClient) -> None:
    body = problem(api_client.post("/api/v1/auth/token", json={"username": "sam"}), 422)
    assert body["errors"] == {"password": "Missing data for required field."}


def test_owner_lists_and_revokes_tokens(
    problem: Problem, api_client: FlaskClient, auth: Auth, api_tokens: dict
) -> None:
    listed = api_client.get("/api/v1/auth/tokens", headers=auth("country"))
    assert listed.status_code == 200
    [token] = listed.json
    assert token["prefix"] == api_tokens["country"][:8] and token["revoked_at"] is None

    assert (
        api_client.delete(f"/api/v1/auth/tokens/{token['id']}", headers=auth("country")).status_code
        == 204
    )
    problem(api_client.get("/api/v1/auth/me", headers=auth("country")), 401)


def test_cannot_revoke_someone_elses_token(
    problem: Problem, api_client: FlaskClient, auth: Auth
) -> None:
    other = api_client.get("/api/v1/auth/tokens", headers=auth("secretariat")).json[0]["id"]
    problem(api_client.delete(f"/api/v1/auth/tokens/{other}", headers=auth("country")), 404)
    assert api_client.get("/api/v1/auth/me", headers=auth("secretariat")).status_code == 200


def test_expired_token_and_inactive_user_are_refused(
    problem: Problem, api_client: FlaskClient, auth: Auth, engine: Engine, api_users: dict[str, int]
) -> None:
    with transaction(engine.sessions) as session:
        for row in session.query(ApiToken).join(User).filter(User.username == "nima"):
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.get_one(User, api_users["secretariat"]).active = False
    problem(api_client.get("/api/v1/auth/me", headers=auth("country")), 401)
    problem(api_client.get("/api/v1/auth/me", headers=auth("secretariat")), 401)
    assert api_client.get("/api/v1/auth/me", headers=auth("chair")).status_code == 200


@pytest.mark.parametrize(
    "header",
    ["Bearer pf_not-a-real-token", "Bearer ", "Basic c2FtOnB3", "pf_token-without-scheme"],
)
def test_bad_authorization_header_is_401(
    problem: Problem, api_client: FlaskClient, header: str
) -> None:
    response = api_client.get("/api/v1/tasks", headers={"Authorization": header})
    problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_every_operation_needs_a_caller(problem: Problem, api_app: Flask) -> None:
    api_client = api_app.test_client()
    operations = _operations(api_app)
    assert len(operations) >= 20
    for method, path in operations:
        problem(api_client.open(path, method=method, json={}), 401)


def test_document_and_reference_page_are_public(api_client: FlaskClient) -> None:
    assert api_client.get("/api/v1/openapi.json").status_code == 200
    assert api_client.get("/api/v1/docs").status_code == 200


def test_auditor_is_read_only_everywhere(problem: Problem, api_app: Flask, auth: Auth) -> None:
    api_client = api_app.test_client()
    changes = [(m, p) for m, p in _operations(api_app) if m not in ("GET", "HEAD")]
    assert len(changes) >= 12
    for method, path in changes:
        if path.startswith("/api/v1/auth/tokens/"):
            continue  # revoking one's own token is allowed, below
        body = problem(api_client.open(path, method=method, json={}, headers=auth("auditor")), 403)
        assert "read-only" in body["detail"]
    own = api_client.get("/api/v1/auth/tokens", headers=auth("auditor")).json[0]["id"]
    assert (
        api_client.delete(f"/api/v1/auth/tokens/{own}", headers=auth("auditor")).status_code == 204
    )


def test_auditor_reads(api_client: FlaskClient, auth: Auth, start_review: Callable) -> None:
    instance = start_review("NPL")
    assert (
        api_client.get(f"/api/v1/instances/{instance['id']}", headers=auth("auditor")).status_code
        == 200
    )
    assert api_client.get("/api/v1/instances", headers=auth("auditor")).json["total"] == 1


def _sign_in(api_client: FlaskClient, engine: Engine, username: str) -> None:
    """Put a flask-login session in the cookie, as the web sign-in page would."""
    from tests.web.conftest import session_cookie_id

    user_id = session_cookie_id(engine, username)
    with api_client.session_transaction() as sess:
        sess["_user_id"] = user_id
        sess["_fresh"] = True


def test_web_session_authenticates(
    api_client: FlaskClient, engine: Engine, api_users: dict[str, int]
) -> None:
    _sign_in(api_client, engine, "nima")
    me = api_client.get("/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json["auth"] == "session" and me.json["username"] == "nima"


def test_session_changes_need_the_csrf_header(
    problem: Problem,
    api_client: FlaskClient,
    engine: Engine,
    api_users: dict[str, int],
    start_review: Callable,
) -> None:
    instance = start_review("NPL")
    _sign_in(api_client, engine, "sam")
    url = f"/api/v1/instances/{instance['id']}/suspend"
    body = problem(api_client.post(url, json={"reason": "test"}), 403)
    assert "X-CSRFToken" in body["detail"]

    response = api_client.post(
        url, json={"reason": "test"}, headers={"X-CSRFToken": _csrf_token(api_client)}
    )
    assert response.status_code == 200, response.json
    assert response.json["status"] == "suspended"


def _csrf_token(api_client: FlaskClient) -> str:
    """A CSRF token valid for the api_client's session (generated in a request carrying its cookie)."""
    from flask import session
    from flask_wtf.csrf import generate_csrf

    api_app = api_client.application
    cookie = api_client.get_cookie(api_app.config.get("SESSION_COOKIE_NAME", "session"))
    assert cookie is not None
    with api_app.test_request_context(headers={"Cookie": f"{cookie.key}={cookie.value}"}):
        token = generate_csrf()
        saved = dict(session)
    with api_client.session_transaction() as sess:
        sess.update(saved)
    return token
