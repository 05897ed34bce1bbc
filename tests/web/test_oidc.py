"""OpenID Connect sign-in against a real OpenID provider (the `oidc-provider` npm package run by
Node on the loopback): the full code flow with PKCE at HTTP level, and every refusal."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from engine import Engine, Settings, VirtualClock
from engine.people.identities import add_mapping
from engine.store.db import transaction
from engine.store.models import AuditEvent, ExternalIdentity, User
from tests.fixtures.oidc import RunningProvider
from tests.web.conftest import Web
from web import create_app

CALLBACK = "http://localhost/login/oidc/test/callback"


def _app(
    deployed: Engine, settings: Settings, clock: VirtualClock, *providers: Any, **more: Any
) -> Web:
    # Without a password form the sign-in page has no CSRF token to send back.
    csrf = more.get("password_login", True)
    app: Flask = create_app(
        replace(settings, oidc_providers=tuple(providers), **more),
        clock=clock,
        engine=deployed,
        config={"TESTING": True, "WTF_CSRF_ENABLED": csrf},
    )
    return Web(app.test_client())


def _provider_login(authorize_url: str, login: str, browser: requests.Session | None = None) -> str:
    """Sign in at the provider's own pages and consent; the URL it sends the browser back to
    (`browser`: keep the provider's cookies there, to sign out at the provider later)."""
    browser = browser or requests.Session()
    url = authorize_url
    for _ in range(12):
        response = browser.get(url, allow_redirects=False, timeout=10)
        if response.status_code in (302, 303):
            url = requests.compat.urljoin(url, response.headers["Location"])
            if url.startswith(CALLBACK):
                return url
            continue
        assert response.status_code == 200, response.text
        action = re.search(r'<form[^>]*action="([^"]+)"', response.text)
        assert action, response.text
        target = requests.compat.urljoin(url, action.group(1))
        if 'name="login"' in response.text:
            form = {"prompt": "login", "login": login, "password": "any"}
        else:
            form = {"prompt": "consent"}
        response = browser.post(target, data=form, allow_redirects=False, timeout=10)
        assert response.status_code in (302, 303), response.text
        url = requests.compat.urljoin(target, response.headers["Location"])
        if url.startswith(CALLBACK):
            return url
    raise AssertionError("the provider never sent the browser back")


def _start(web: Web) -> str:
    response = web.get("/login/oidc/test")
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def _callback(web: Web, url: str) -> Any:
    parts = urlsplit(url)
    return web.get(f"{parts.path}?{parts.query}")


def _with_param(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


def _events(engine: Engine, kind: str) -> list[dict[str, Any]]:
    with engine.session() as s:
        rows = s.execute(select(AuditEvent).where(AuditEvent.kind == kind)).scalars()
        return [dict(r.data or {}) for r in rows]


@pytest.fixture
def provider(oidc_provider: Callable[..., RunningProvider]) -> RunningProvider:
    return oidc_provider()


def test_first_sign_in_creates_a_user_with_the_mapped_role_and_country(
    deployed: Engine, settings: Settings, clock: VirtualClock, provider: RunningProvider
) -> None:
    with transaction(deployed.sessions) as s:
        add_mapping(
            s,
            provider="test",
            claim_value="pf-country-npl",
            role="country",
            country="NPL",
            providers=["test"],
            actor="ada",
            now=deployed.now(),
        )
    web = _app(deployed, settings, clock, provider.settings())
    authorize = _start(web)
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]

    response = _callback(web, _provider_login(authorize, "amina"))

    assert response.status_code == 302 and response.headers["Location"].endswith("/inbox")
    inbox = web.html("/inbox")
    assert "Amina Shrestha" in inbox and "country · NPL" in inbox
    with deployed.session() as s:
        identity = s.execute(select(ExternalIdentity)).scalar_one()
        assert (identity.issuer, identity.subject) == (provider.issuer, "amina")
        user = identity.user
        assert (user.username, user.roles, user.country) == ("amina", ["country"], "NPL")
        assert user.email == "amina@labour.gov.np"
    assert _events(deployed, "user_roles_mapped")[0]["after"] == {
        "roles": ["country"],
        "country": "NPL",
    }
    assert _events(deployed, "user_signed_in")[-1]["method"] == "oidc:test"

    # Signing in again finds the same user by issuer + subject; no second account.
    web.logout()
    _callback(web, _provider_login(_start(web), "amina"))
    with deployed.session() as s:
        assert s.query(User).filter(User.username.like("amina%")).count() == 1


def test_unmapped_first_sign_in_waits_for_an_admin_and_can_make_api_tokens(
    deployed: Engine, settings: Settings, clock: VirtualClock, provider: RunningProvider
) -> None:
    web = _app(deployed, settings, clock, provider.settings())
    response = _callback(web, _provider_login(_start(web), "tom"))
    assert response.headers["Location"].endswith("/welcome")
    assert "waiting for an admin to grant roles" in web.html("/welcome")
    assert "no open tasks" in web.html("/inbox").lower() or "0 open" in web.html("/inbox")
    web.html("/instances")  # a person with no roles sees empty pages, not errors

    page = web.post("/account/api-tokens", {"name": "my script", "expires_in_days": "30"})
    assert page.status_code == 201
    token = re.search(r"(pf_[A-Za-z0-9_-]+)", page.get_data(as_text=True)).group(1)
    me = web.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.get_json()["username"] == "tom"


def test_tampered_state_is_refused(
    deployed: Engine, settings: Settings, clock: VirtualClock, provider: RunningProvider
) -> None:
    web = _app(deployed, settings, clock, provider.settings())
    back = _provider_login(_start(web), "amina")
    response = _callback(web, _with_param(back, state="forged-state"))
    assert response.status_code == 400
    assert "was not started from this browser" in response.get_data(as_text=True)
    assert "Sign out" not in web.html("/login")
    assert _events(deployed, "sign_in_refused")[-1]["reason"] == "state does not match"


def test_id_token_with_another_nonce_is_refused(
    deployed: Engine, settings: Settings, clock: VirtualClock, provider: RunningProvider
) -> None:
    web = _app(deployed, settings, clock, provider.settings())
    authorize = _with_param(_start(web), nonce="a-nonce-from-another-sign-in")
    response = _callback(web, _provider_login(authorize, "amina"))
    assert response.status_code == 400
    assert "it belongs to another sign-in" in response.get_data(as_text=True)
    assert "nonce" in _events(deployed, "sign_in_refused")[-1]["reason"]
    with deployed.session() as s:
        assert s.execute(select(ExternalIdentity)).first() is None


def test_expired_id_token_is_refused(
    deployed: Engine,
    settings: Settings,
    clock: VirtualClock,
    oidc_provider: Callable[..., RunningProvider],
) -> None:
    provider = oidc_provider(id_token={"shift_seconds": -7200})
    web = _app(deployed, settings, clock, provider.settings())
    response = _callback(web, _provider_login(_start(web), "amina"))
    assert response.status_code == 400
    assert "it has expired" in response.get_data(as_text=True)
    assert "Expired" in _events(deployed, "sign_in_refused")[-1]["reason"]


def test_id_token_from_another_issuer_is_refused(
    deployed: Engine,
    settings: Settings,
    clock: VirtualClock,
    oidc_provider: Callable[..., RunningProvider],
) -> None:
    other = oidc_provider()
    provider = oidc_provider(id_token={"iss": other.issuer})
    web = _app(deployed, settings, clock, provider.settings())
    response = _callback(web, _provider_login(_start(web), "amina"))
    assert response.status_code == 400
    assert "issued by another provider" in response.get_data(as_text=True)
    with deployed.session() as s:
        assert s.execute(select(ExternalIdentity)).first() is None


def test_a_provider_whose_discovery_names_another_issuer_is_refused(
    deployed: Engine,
    settings: Settings,
    clock: VirtualClock,
    oidc_provider: Callable[..., RunningProvider],
) -> None:
    provider = oidc_provider(discovery_issuer="https://impostor.example.org")
    web = _app(deployed, settings, clock, provider.settings())
    response = web.get("/login/oidc/test")
    assert response.status_code == 502
    assert "names another issuer" in response.get_data(as_text=True)
    assert "impostor" in _events(deployed, "sign_in_refused")[-1]["reason"]


def test_password_login_can_be_turned_off(
    deployed: Engine, settings: Settings, clock: VirtualClock, provider: RunningProvider
) -> None:
    web = _app(deployed, settings, clock, provider.settings(), password_login=False)
    page = web.html("/login")
    assert "Sign in with Test ID" in page and 'name="password"' not in page
    response = web.post("/login", {"username": "ada", "password": "correct-horse-1"}, csrf=False)
    assert response.status_code == 403
    assert "turned off" in response.get_data(as_text=True)


def test_sign_out_offers_the_providers_end_session(
    deployed: Engine, settings: Settings, clock: VirtualClock, provider: RunningProvider
) -> None:
    web = _app(deployed, settings, clock, provider.settings())
    _callback(web, _provider_login(_start(web), "tom"))
    web.html("/welcome")  # the page the browser lands on; its sign-out form has the CSRF token
    page = web.logout()
    assert page.status_code == 200
    end = re.search(r'href="([^"]+)">Also sign out', page.get_data(as_text=True)).group(1)
    assert end.startswith(provider.issuer) and "client_id=pathfinder" in end
    assert web.get("/inbox").status_code == 302  # the Pathfinder session is over


def test_with_passwords_off_the_api_sends_people_to_the_token_page(
    deployed: Engine, settings: Settings, clock: VirtualClock, provider: RunningProvider
) -> None:
    web = _app(deployed, settings, clock, provider.settings(), password_login=False)
    response = web.client.post(
        "/api/v1/auth/token", json={"username": "ada", "password": "correct-horse-1", "name": "x"}
    )
    assert response.status_code == 403
    assert "/account/api-tokens" in response.get_json()["detail"]


def test_a_deactivated_account_is_refused_with_a_clear_page(
    deployed: Engine, settings: Settings, clock: VirtualClock, provider: RunningProvider
) -> None:
    web = _app(deployed, settings, clock, provider.settings())
    _callback(web, _provider_login(_start(web), "tom"))
    web.html("/welcome")
    web.logout()
    with transaction(deployed.sessions) as s:
        tom = s.execute(select(User).where(User.username == "tom")).scalar_one()
        tom.active = False
    response = _callback(web, _provider_login(_start(web), "tom"))
    assert response.status_code == 403
    assert "account is deactivated" in response.get_data(as_text=True)
    assert web.get("/inbox").status_code == 302
