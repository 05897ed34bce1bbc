"""Fixtures for the REST API tests: an api_app on the test engine, a user and a token per role.

Register with `pytest_plugins = ["tests.web.api_conftest"]`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from engine import Engine, Settings, VirtualClock
from engine.people.tokens import create_token
from engine.store.db import transaction
from engine.store.models import User
from web import create_app

PASSWORD = "correct-horse-battery"

ROLE_USERS: dict[str, tuple[str, list[str], str | None]] = {
    "admin": ("ada", ["admin"], None),
    "owner": ("olu", ["process_owner"], None),
    "secretariat": ("sam", ["secretariat"], None),
    "chair": ("chris", ["chair"], None),
    "gcg": ("gus", ["gcg"], None),
    "country": ("nima", ["country"], "NPL"),
    "other_country": ("kofi", ["country"], "KEN"),
    "auditor": ("aud", ["auditor"], None),
}
"""Role key -> (username, roles, country); the usernames match the `actors` fixture."""


@pytest.fixture(scope="session")
def password_hash() -> str:
    """One scrypt hash for every test user (hashing is deliberately slow)."""
    return generate_password_hash(PASSWORD)


@pytest.fixture
def api_users(engine: Engine, password_hash: str, clock: VirtualClock) -> dict[str, int]:
    """Role key -> user id, one active user per role."""
    ids = {}
    with transaction(engine.sessions) as session:
        for key, (username, roles, country) in ROLE_USERS.items():
            user = User(
                username=username,
                display_name=username.title(),
                password_hash=password_hash,
                roles=roles,
                country=country,
                active=True,
                notify="none",
                created_at=clock.now(),
            )
            session.add(user)
            session.flush()
            ids[key] = user.id
    return ids


@pytest.fixture
def api_tokens(engine: Engine, api_users: dict[str, int]) -> dict[str, str]:
    """Role key -> a valid bearer token."""
    out = {}
    with transaction(engine.sessions) as session:
        for key, user_id in api_users.items():
            user = session.get_one(User, user_id)
            _, out[key] = create_token(session, user, "tests", now=datetime.now(UTC))
    return out


@pytest.fixture
def auth(api_tokens: dict[str, str]) -> Callable[[str], dict[str, str]]:
    """`auth("country")` -> the Authorization header of that role's user."""
    return lambda key: {"Authorization": f"Bearer {api_tokens[key]}"}


@pytest.fixture
def make_api_app(settings: Settings, clock: VirtualClock, engine: Engine) -> Callable[..., Flask]:
    """Build the api_app on the test engine; `make_api_app(simulate=True)` for the simulation API."""

    def build(*, simulate: bool = False, **config: Any) -> Flask:
        app_settings = dataclasses.replace(settings, simulate=simulate)
        return create_app(
            app_settings, clock=clock, engine=engine, config={"TESTING": True, **config}
        )

    return build


@pytest.fixture
def api_app(make_api_app: Callable[..., Flask]) -> Flask:
    return make_api_app()


@pytest.fixture
def api_client(api_app: Flask) -> FlaskClient:
    return api_app.test_client()


@pytest.fixture
def review_model(engine: Engine, review_bundle: tuple[dict[str, bytes], dict[str, bytes]]) -> str:
    """The `review` process deployed: Country fills in a request, the Secretariat decides."""
    files, forms = review_bundle
    engine.deploy(files, forms)
    return "review"


@pytest.fixture
def start_review(
    api_client: FlaskClient, auth: Callable[[str], dict[str, str]], review_model: str
) -> Callable[..., dict[str, Any]]:
    """Start a `review` instance through the API; returns the instance document."""

    def start(country: str = "NPL", as_role: str = "admin") -> dict[str, Any]:
        response = api_client.post(
            "/api/v1/instances",
            json={"process_key": review_model, "data": {"country": country}},
            headers=auth(as_role),
        )
        assert response.status_code == 201, response.json
        body: dict[str, Any] = response.json  # type: ignore[assignment]
        return body

    return start


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """The response is a problem+json document with `status`; returns its body."""
    assert response.status_code == status, (response.status_code, response.data[:500])
    assert response.mimetype == "application/problem+json", response.mimetype
    body: dict[str, Any] = response.get_json(force=True)
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    assert "Traceback" not in response.get_data(as_text=True)
    return body


@pytest.fixture
def problem() -> Callable[[Any, int], dict[str, Any]]:
    """`problem(response, 404)` asserts a problem+json answer with that status; returns its body."""
    return assert_problem


@pytest.fixture
def password() -> str:
    """Every test user's password."""
    return PASSWORD
