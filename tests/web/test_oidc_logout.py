"""OpenID Connect Back-Channel Logout against a real OpenID provider (`oidc-provider`): signing
out at the provider ends the Pathfinder sessions it opened, and only those; a logout token that
is forged, meant for another application or not a logout token ends nothing."""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
import requests
from flask import Flask
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select
from werkzeug.serving import make_server

from engine import Engine, Settings, VirtualClock
from engine.store.models import AuditEvent, WebSession
from tests.fixtures.oidc import CLIENT_ID, RunningProvider
from tests.web.conftest import Web
from tests.web.test_oidc import _callback, _provider_login, _start
from web import create_app

EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_PATH = "/login/oidc/test/backchannel-logout"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(
    deployed: Engine,
    settings: Settings,
    clock: VirtualClock,
    users,  # type: ignore[no-untyped-def]
    oidc_provider: Callable[..., RunningProvider],
) -> Iterator[tuple[Flask, RunningProvider]]:
    """The app, served over HTTP (the provider posts logout tokens to it), and a provider that
    knows its back-channel logout URI."""
    port = _free_port()
    provider = oidc_provider(backchannel_logout_uri=f"http://127.0.0.1:{port}{LOGOUT_PATH}")
    app = create_app(
        replace(settings, oidc_providers=(provider.settings(),)),
        clock=clock,
        engine=deployed,
        config={"TESTING": True},
    )
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, provider
    finally:
        server.shutdown()
        thread.join(10)


def _signed_in_through_provider(app: Flask, login: str) -> tuple[Web, requests.Session]:
    """A browser signed in to Pathfinder through the provider; its session at the provider."""
    web, at_provider = Web(app.test_client()), requests.Session()
    response = _callback(web, _provider_login(_start(web), login, at_provider))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert web.get("/welcome").status_code == 200
    return web, at_provider


def _sign_out_at_provider(issuer: str, browser: requests.Session) -> None:
    """What a person does at the provider: ask to sign out, and confirm."""
    page = browser.get(f"{issuer}/session/end", params={"client_id": CLIENT_ID}, timeout=10)
    assert page.status_code == 200, page.text
    action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
    xsrf = re.search(r'name="xsrf" value="([^"]+)"', page.text)
    assert action and xsrf, page.text
    done = browser.post(
        requests.compat.urljoin(page.url, action.group(1)),
        data={"xsrf": xsrf.group(1), "logout": "yes"},
        allow_redirects=False,
        timeout=20,
    )
    assert done.status_code in (302, 303), done.text


def _signed_out(web: Web) -> bool:
    response = web.get("/welcome")
    return response.status_code == 302 and "/login" in response.headers["Location"]


def _logout_token(provider: RunningProvider, **claims: Any) -> str:
    """A logout token signed with the provider's own key (unless `key` says otherwise)."""
    key = claims.pop("key", None) or RSAKey.import_key(provider.private_jwk())
    now = int(time.time())
    body = {
        "iss": provider.issuer,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
        "events": {EVENT: {}},
        **claims,
    }
    body = {k: v for k, v in body.items() if v is not None}
    header = {"alg": "RS256", "typ": "logout+jwt", "kid": key.kid or "test-key-1"}
    return jwt.encode(header, body, key)


def test_signing_out_at_the_provider_ends_the_sessions_it_opened(
    served: tuple[Flask, RunningProvider], deployed: Engine
) -> None:
    app, provider = served
    web, at_provider = _signed_in_through_provider(app, "amina")
    bystander = Web(app.test_client())  # someone else, signed in with a password
    assert bystander.login("sam").status_code == 302
    with deployed.session() as s:
        [row] = s.scalars(select(WebSession).where(WebSession.oidc_subject == "amina")).all()
        assert row.oidc_issuer == provider.issuer and row.oidc_sid  # the provider's session id

    _sign_out_at_provider(provider.issuer, at_provider)

    assert _signed_out(web)
    assert not _signed_out(bystander)
    with deployed.session() as s:
        assert s.get_one(WebSession, row.id).end_reason == "provider_logout"
        [event] = s.scalars(
            select(AuditEvent).where(AuditEvent.kind == "user_signed_out_by_provider")
        ).all()
        assert event.data == {"username": "amina", "provider": "test", "sessions": 1}
        assert event.actor == "oidc:test"


def test_a_logout_token_naming_only_the_person_ends_all_their_provider_sessions(
    served: tuple[Flask, RunningProvider],
) -> None:
    app, provider = served
    laptop, _ = _signed_in_through_provider(app, "amina")
    phone, _ = _signed_in_through_provider(app, "amina")
    other, _ = _signed_in_through_provider(app, "tom")
    client = app.test_client()

    answer = client.post(LOGOUT_PATH, data={"logout_token": _logout_token(provider, sub="amina")})

    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert _signed_out(laptop) and _signed_out(phone)
    assert not _signed_out(other)


@pytest.mark.parametrize(
    ("what", "claims"),
    [
        ("signed with another key", {"key": RSAKey.generate_key(2048, parameters={"kid": "x"})}),
        ("for another application", {"aud": "someone-else"}),
        ("from another issuer", {"iss": "https://elsewhere.example.org"}),
        ("not a logout event", {"events": {"http://example.org/other": {}}}),
        ("an ID token (it has a nonce)", {"nonce": "n-0S6_WzA2Mj"}),
        ("expired", {"iat": int(time.time()) - 3600, "exp": int(time.time()) - 1800}),
        ("naming nobody", {"sub": None}),
    ],
)
def test_a_logout_token_that_does_not_verify_ends_nothing(
    served: tuple[Flask, RunningProvider], what: str, claims: dict[str, Any]
) -> None:
    app, provider = served
    web, _ = _signed_in_through_provider(app, "amina")
    token = _logout_token(provider, **{"sub": "amina", **claims})

    answer = app.test_client().post(LOGOUT_PATH, data={"logout_token": token})

    assert answer.status_code == 400, what
    assert answer.get_json()["error"] == "invalid_request"
    assert not _signed_out(web), what


def test_a_request_without_a_logout_token_is_refused(
    served: tuple[Flask, RunningProvider],
) -> None:
    app, _ = served
    client = app.test_client()
    assert client.post(LOGOUT_PATH, data={}).status_code == 400
    assert client.post(LOGOUT_PATH, data={"logout_token": "x" * 20_000}).status_code == 400
    assert client.post(LOGOUT_PATH, data={"logout_token": "not.a.jwt"}).status_code == 400
    assert client.post("/login/oidc/nobody/backchannel-logout", data={}).status_code == 404
