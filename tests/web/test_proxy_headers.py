"""PATHFINDER_TRUSTED_PROXIES: behind N reverse proxies, the client's address and the scheme come
from the X-Forwarded-* entries those proxies added, and from nothing a client wrote itself."""

from __future__ import annotations

import dataclasses

import pytest
from flask import Flask, request
from sqlalchemy import select

from engine import Engine, Settings, VirtualClock
from engine.store.db import transaction
from engine.store.models import LoginAttempt
from tests.web.conftest import Web
from web import create_app


def _app(settings: Settings, engine: Engine, clock: VirtualClock, proxies: int) -> Flask:
    app = create_app(
        dataclasses.replace(settings, trusted_proxies=proxies),
        clock=clock,
        engine=engine,
        config={"TESTING": True},
    )
    # What the app makes of the request: its client address and the address it would link to.
    app.add_url_rule("/_seen", "seen", lambda: f"{request.remote_addr} {request.url_root}")
    return app


def _failed_sign_in_addresses(engine: Engine) -> list[str | None]:
    with transaction(engine.sessions) as s:
        return list(s.scalars(select(LoginAttempt.remote_addr).order_by(LoginAttempt.id)))


FORWARDED = {
    "X-Forwarded-For": "198.51.100.9, 203.0.113.7",  # a client's own claim, then the proxy's
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "pathfinder.example.org",
}


def test_without_trusted_proxies_forwarded_headers_are_ignored(
    deployed: Engine, settings: Settings, clock: VirtualClock, users
) -> None:  # type: ignore[no-untyped-def]
    app = _app(settings, deployed, clock, proxies=0)
    client = app.test_client()
    assert client.get("/_seen", headers=FORWARDED).get_data(as_text=True) == (
        "127.0.0.1 http://localhost/"
    )
    web = Web(client)
    web.get("/login")
    page = client.post(
        "/login",
        data={"username": "sam", "password": "guess-guess", "csrf_token": web.token},
        headers=FORWARDED,
    )
    assert page.status_code == 401
    assert _failed_sign_in_addresses(deployed) == ["127.0.0.1"]


def test_behind_one_trusted_proxy_its_entries_are_used(
    deployed: Engine, settings: Settings, clock: VirtualClock, users
) -> None:  # type: ignore[no-untyped-def]
    app = _app(settings, deployed, clock, proxies=1)
    client = app.test_client()
    # The last X-Forwarded-For entry is the one the proxy appended: the one before it could be
    # anything a client typed, so it is not believed.
    assert client.get("/_seen", headers=FORWARDED).get_data(as_text=True) == (
        "203.0.113.7 https://localhost/"  # X-Forwarded-Host is never read
    )
    web = Web(client)
    web.get("/login")
    for address in ("203.0.113.7", "203.0.113.8"):
        page = client.post(
            "/login",
            data={"username": "sam", "password": "guess-guess", "csrf_token": web.token},
            headers={"X-Forwarded-For": address},
        )
        assert page.status_code == 401
    # Sign-in throttling counts failures by the real client address, not the proxy's.
    assert _failed_sign_in_addresses(deployed) == ["203.0.113.7", "203.0.113.8"]


def test_trusted_proxies_setting_is_a_whole_number() -> None:
    assert Settings.from_env({}).trusted_proxies == 0
    assert Settings.from_env({"PATHFINDER_TRUSTED_PROXIES": "2"}).trusted_proxies == 2
    for bad in ("-1", "one", "1.5"):
        with pytest.raises(ValueError, match="PATHFINDER_TRUSTED_PROXIES must be a whole number"):
            Settings.from_env({"PATHFINDER_TRUSTED_PROXIES": bad})
