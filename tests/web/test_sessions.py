"""Sessions have a server-side identity (issue 14, finding 5): a cookie copied before logout no
longer works; password resets, deactivation and the idle/absolute timeouts end sessions; API
tokens always expire, end with a password reset, and admins can list and revoke anyone's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from engine import Engine
from engine.people.accounts import reset_password, set_active
from engine.store.db import transaction
from engine.store.models import ApiToken, WebSession
from tests.web.conftest import PASSWORD, Web, user_row


def _cookie(web: Web) -> str:
    cookie = web.client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _with_cookie(app: Flask, value: str) -> Web:
    other = Web(app.test_client())
    other.client.set_cookie("session", value)
    return other


def test_a_cookie_copied_before_logout_no_longer_opens_pages(app: Flask, web: Web) -> None:
    assert web.login("sam").status_code == 302
    copied = _cookie(web)
    assert _with_cookie(app, copied).get("/inbox").status_code == 200
    web.logout()
    assert _with_cookie(app, copied).get("/inbox").status_code == 302  # to the sign-in page


def test_password_reset_and_deactivation_end_sessions(
    app: Flask, web: Web, deployed: Engine
) -> None:
    gus = user_row(deployed, "gus").id
    web.login("gus")
    copied = _cookie(web)
    with transaction(deployed.sessions) as s:
        reset_password(s, gus, "another-password-1", actor="ada", now=deployed.now())
    assert _with_cookie(app, copied).get("/inbox").status_code == 302
    web.login("gus", "another-password-1")
    copied = _cookie(web)
    with transaction(deployed.sessions) as s:
        set_active(s, gus, False, actor="ada", now=deployed.now())
        set_active(s, gus, True, actor="ada", now=deployed.now())
    assert _with_cookie(app, copied).get("/inbox").status_code == 302  # re-activation: no revival
    with deployed.session() as s:
        reasons = [r.end_reason for r in s.execute(select(WebSession)).scalars()]
    assert {"password_reset", "deactivated"} <= set(reasons)


@pytest.fixture
def wall_clock(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Callable[[timedelta], None]:
    """Move the wall clock that sessions run on (the engine's injected `wall_clock`)."""
    offset = [timedelta(0)]

    class Shifted:
        def now(self) -> datetime:
            return datetime.now(UTC) + offset[0]

    monkeypatch.setattr(app.extensions["pathfinder_engine"], "wall_clock", Shifted())

    def advance(by: timedelta) -> None:
        offset[0] += by

    return advance


def test_idle_and_absolute_timeouts_end_sessions(
    web: Web, wall_clock: Callable[[timedelta], None]
) -> None:
    web.login("sam")
    wall_clock(timedelta(minutes=59))
    assert web.get("/inbox").status_code == 200
    wall_clock(timedelta(minutes=61))  # PATHFINDER_SESSION_IDLE_MINUTES (60) without a request
    assert web.get("/inbox").status_code == 302
    web.login("sam")
    for _ in range(12 * 2):  # busy all day: a request every 30 minutes
        wall_clock(timedelta(minutes=30))
        if web.get("/inbox").status_code != 200:
            break
    else:
        pytest.fail("the session outlived PATHFINDER_SESSION_MAX_HOURS")


def test_tokens_always_expire_and_end_with_a_password_reset(
    app: Flask, deployed: Engine, users: object
) -> None:
    client = app.test_client()
    issued = client.post(
        "/api/v1/auth/token",
        json={"username": "sam", "password": PASSWORD, "name": "script", "expires_in_days": None},
    )
    assert issued.status_code == 201, issued.json
    assert issued.json is not None and issued.json["expires_at"] is not None
    bearer = {"Authorization": f"Bearer {issued.json['token']}"}
    assert client.get("/api/v1/auth/me", headers=bearer).status_code == 200
    with transaction(deployed.sessions) as s:
        sam = user_row(deployed, "sam").id
        reset_password(s, sam, "a-brand-new-one", actor="ada", now=deployed.now())
    assert client.get("/api/v1/auth/me", headers=bearer).status_code == 401


def test_admins_list_and_revoke_anyones_tokens(
    app: Flask, login: Callable[[str], Web], deployed: Engine
) -> None:
    client = app.test_client()
    issued = client.post(
        "/api/v1/auth/token", json={"username": "nima", "password": PASSWORD, "name": "laptop"}
    ).json
    assert issued is not None
    admin = login("ada")
    page = admin.html("/admin/tokens")
    assert "laptop" in page and "nima" in page and issued["prefix"] in page
    confirm = admin.html(f"/admin/tokens/{issued['id']}/revoke")
    assert "Yes, revoke" in confirm
    with deployed.session() as s:
        assert s.get(ApiToken, issued["id"]).revoked_at is None  # type: ignore[union-attr]
    admin.post(f"/admin/tokens/{issued['id']}/revoke", {"confirm": "yes"})
    bearer = {"Authorization": f"Bearer {issued['token']}"}
    assert client.get("/api/v1/auth/me", headers=bearer).status_code == 401
    assert "revoked" in admin.html("/admin/tokens")
    assert login("sam").get("/admin/tokens").status_code == 403
