"""Web fixtures: the app on the test engine with the real pathfinder process deployed, a user
per role, a test client that signs in and sends CSRF tokens like a browser, and cases driven to
a chosen task with the demo payloads."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from engine import Actor, Engine, Settings, VirtualClock
from engine.demo import drive
from engine.people.accounts import actor_for, create_user
from engine.store.db import transaction
from engine.store.models import Instance, User
from tests.conftest import ROOT
from web import create_app

PASSWORD = "correct-horse-1"
USERS: dict[str, tuple[list[str], str | None]] = {
    "ada": (["admin"], None),
    "olu": (["process_owner"], None),
    "sam": (["secretariat"], None),
    "sue": (["secretariat"], None),
    "chris": (["chair"], None),
    "gus": (["gcg"], None),
    "nima": (["country"], "NPL"),
    "kofi": (["country"], "KEN"),
    "aud": (["auditor"], None),
}
"""One user per role (two Secretariat members; country users for Nepal and Kenya)."""
ROLE_USER = {
    "admin": "ada",
    "process_owner": "olu",
    "secretariat": "sam",
    "chair": "chris",
    "gcg": "gus",
    "country": "nima",
    "auditor": "aud",
}
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class Web:
    """A test client that behaves like a browser: keeps the CSRF token of the pages it saw."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.token: str | None = None

    def _remember(self, response: TestResponse) -> TestResponse:
        if response.mimetype == "text/html" and (
            m := TOKEN.search(response.get_data(as_text=True))
        ):
            self.token = m.group(1)
        return response

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        return self._remember(self.client.get(url, **kwargs))

    def post(
        self,
        url: str,
        data: Mapping[str, Any] | list[tuple[str, str]] | None = None,
        *,
        csrf: bool = True,
        **kwargs: Any,
    ) -> TestResponse:
        form = MultiDict(data or {})
        if csrf:
            if self.token is None:
                self.get("/login")
            form["csrf_token"] = self.token or ""
        return self._remember(self.client.post(url, data=form, **kwargs))

    def login(self, username: str, password: str = PASSWORD) -> TestResponse:
        return self.post("/login", {"username": username, "password": password})

    def logout(self) -> TestResponse:
        return self.post("/logout")

    def html(self, url: str, status: int = 200) -> str:
        response = self.get(url)
        assert response.status_code == status, (url, response.status_code)
        return response.get_data(as_text=True)


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """scrypt costs ~0.2 s per hash; tests hash with a cheap method (checked the same way)."""
    from werkzeug.security import generate_password_hash

    import engine.people.accounts

    monkeypatch.setattr(
        engine.people.accounts,
        "generate_password_hash",
        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1000"),
    )


@pytest.fixture
def deployed(engine: Engine) -> Engine:
    """The test engine with the bundled pathfinder process and its forms deployed."""
    engine.deploy_directory(ROOT / "processes", ROOT / "forms")
    return engine


@pytest.fixture
def users(deployed: Engine) -> dict[str, Actor]:
    """Every user of `USERS`, created in the database; username -> actor."""
    out = {}
    with transaction(deployed.sessions) as s:
        for name, (roles, country) in USERS.items():
            user = create_user(
                s,
                name,
                PASSWORD,
                roles,
                now=deployed.now(),
                country=country,
                display_name=name.title(),
            )
            out[name] = actor_for(user)
    return out


@pytest.fixture
def app(
    deployed: Engine, settings: Settings, clock: VirtualClock, users: dict[str, Actor]
) -> Flask:
    """The web app, CSRF protection on (as in production)."""
    return create_app(settings, clock=clock, engine=deployed, config={"TESTING": True})


@pytest.fixture
def web(app: Flask) -> Web:
    return Web(app.test_client())


@pytest.fixture
def login(web: Web) -> Callable[[str], Web]:
    """Sign in as a username of `USERS` (or a role name of `ROLE_USER`)."""

    def sign_in(who: str) -> Web:
        web.logout() if web.token else None
        response = web.login(ROLE_USER.get(who, who))
        assert response.status_code == 302, response.get_data(as_text=True)
        return web

    return sign_in


@pytest.fixture
def make_case(
    deployed: Engine, clock: VirtualClock, users: dict[str, Actor]
) -> Callable[..., Instance]:
    """Start a pathfinder case for a country and drive it until `stop_at` is ready."""

    def make(
        country: str = "NPL", stop_at: str | None = "submit_expression_of_interest"
    ) -> Instance:
        instance = deployed.start(
            "pathfinder", {"country": country, "country_name": f"Country {country}"}, users["sam"]
        )
        if stop_at != "register_approach":
            problems = drive(deployed, clock, instance.id, stop_at=stop_at, actors=users)
            assert not problems, problems
        return deployed.instance(instance.id)

    return make


def task_of(engine: Engine, instance: Instance, element_id: str) -> str:
    """The id of the ready task for `element_id` in `instance`."""
    ids = [t.id for t in engine.ready_tasks(instance.id) if t.element_id == element_id]
    assert ids, [t.element_id for t in engine.ready_tasks(instance.id)]
    return ids[0]


def user_row(engine: Engine, username: str) -> User:
    with engine.session() as s:
        row = s.query(User).filter_by(username=username).one()
        s.expunge(row)
        return row


def session_cookie_id(engine: Engine, username: str) -> str:
    """A flask-login user id for `username` backed by a real server-side session, for tests that
    put it into the cookie directly (`sess["_user_id"] = ...`) instead of signing in."""
    from web.auth import WebUser

    person = engine.people.by_username(username)
    assert person is not None
    opened = engine.people.open_session(person.id)
    assert opened is not None
    return WebUser(*opened).get_id()
