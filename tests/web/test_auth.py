"""Signing in and out, throttling, CSRF, safe redirects, ended sessions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from engine import Engine, VirtualClock
from engine.people.accounts import THROTTLE_FREE_FAILURES, set_password
from engine.store.db import transaction
from engine.store.models import User
from tests.web.conftest import PASSWORD, Web


def test_sign_in_and_out(web: Web) -> None:
    assert web.get("/inbox").headers["Location"] == "/login?next=%2Finbox"
    response = web.post("/login?next=/instances", {"username": "sam", "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/instances"
    assert "Sam" in web.html("/inbox")
    assert web.get("/logout").status_code == 405  # signing out takes a POST (with CSRF token)
    assert web.logout().status_code == 302
    assert web.get("/inbox").status_code == 302


def test_wrong_password_is_refused_with_a_message(web: Web) -> None:
    response = web.login("sam", "nope-nope")
    assert response.status_code == 401
    assert "Unknown username or wrong password." in response.get_data(as_text=True)
    assert 'value="sam"' in response.get_data(as_text=True)


def test_repeated_failures_slow_down_that_username_from_that_address(
    app, clock: VirtualClock
) -> None:  # type: ignore[no-untyped-def]
    attacker = Web(app.test_client())
    owner = Web(app.test_client())
    owner_addr = {"REMOTE_ADDR": "10.0.0.2"}
    for _ in range(THROTTLE_FREE_FAILURES):
        assert attacker.login("sam", "guess-guess").status_code == 401
    response = attacker.login("sam")  # even the right password, while the wait lasts
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "1"
    # The owner, from their own address, is not locked out by someone else's guesses.
    owner.get("/login", environ_base=owner_addr)
    page = owner.client.post(
        "/login",
        data={"username": "sam", "password": PASSWORD, "csrf_token": owner.token},
        environ_base=owner_addr,
    )
    assert page.status_code == 302
    # Each further failure doubles the wait: 1 s, 2 s, 4 s ...
    clock.advance(timedelta(seconds=1))
    assert attacker.login("sam", "guess-guess").status_code == 401
    assert attacker.login("sam", "guess-guess").status_code == 429
    clock.advance(timedelta(seconds=2))
    assert attacker.login("sam", "guess-guess").status_code == 401
    clock.advance(timedelta(seconds=2))
    assert attacker.login("sam", "guess-guess").status_code == 429
    clock.advance(timedelta(seconds=2))
    assert attacker.login("sam").status_code == 302


def test_unknown_usernames_cost_a_password_check_too(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.people.accounts

    checked: list[str] = []
    real = engine.people.accounts.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        checked.append(pwhash)
        return real(pwhash, password)

    monkeypatch.setattr(engine.people.accounts, "check_password_hash", counting)
    assert web.login("nobody-at-all", "guess-guess").status_code == 401
    assert web.login("sam", "guess-guess").status_code == 401
    assert len(checked) == 2  # the same work for an unknown and a known username


def test_forms_without_a_csrf_token_are_refused(web: Web) -> None:
    response = web.post("/login", {"username": "sam", "password": PASSWORD}, csrf=False)
    assert response.status_code == 400
    assert "Form expired" in response.get_data(as_text=True)
    assert web.login("sam").status_code == 302
    assert web.post("/logout", csrf=False).status_code == 400
    assert web.post("/tasks/x/claim", csrf=False).status_code == 400
    assert web.post("/instances/new", {"process": "pathfinder"}, csrf=False).status_code == 400
    assert web.post("/tasks/x/claim", {"csrf_token": "forged"}, csrf=False).status_code == 400


def test_next_parameter_cannot_redirect_off_site(web: Web) -> None:
    for target in ("https://evil.example", "//evil.example/x", "/\\evil.example"):
        response = web.post(f"/login?next={target}", {"username": "sam", "password": PASSWORD})
        assert response.headers["Location"] == "/inbox", target
        web.logout()


def test_deactivating_a_user_or_resetting_the_password_ends_their_session(
    web: Web, deployed: Engine, app
) -> None:
    assert web.login("gus").status_code == 302
    with transaction(deployed.sessions) as s:
        set_password(s.query(User).filter_by(username="gus").one(), "a-new-password")
    assert web.get("/inbox").status_code == 302
    assert web.login("gus", "a-new-password").status_code == 302
    with transaction(deployed.sessions) as s:
        s.query(User).filter_by(username="gus").one().active = False
    assert web.get("/inbox").status_code == 302
    assert web.login("gus", "a-new-password").status_code == 401


def test_session_cookie_is_http_only(web: Web) -> None:
    response = web.login("sam")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_navigation_shows_task_counts(login: Callable[[str], Web], make_case) -> None:
    make_case("NPL", "review_expression_of_interest")
    page = login("secretariat").html("/instances")
    assert '<span class="count" title="open tasks">1</span>' in page


def test_every_password_sign_in_and_refusal_is_on_the_system_audit_chain(
    web: Web, deployed: Engine
) -> None:
    from sqlalchemy import select

    from engine.store.models import AuditEvent

    assert web.login("sam", "wrong-password").status_code == 401
    assert web.login("sam").status_code == 302
    with deployed.session() as s:
        events = [
            (e.kind, e.chain, dict(e.data or {}))
            for e in s.execute(
                select(AuditEvent)
                .where(AuditEvent.kind.in_(["user_signed_in", "sign_in_refused"]))
                .order_by(AuditEvent.id)
            ).scalars()
        ]
    assert [(kind, data.get("username"), data["method"]) for kind, _, data in events] == [
        ("sign_in_refused", "sam", "password"),
        ("user_signed_in", "sam", "password"),
    ]
    assert events[0][2]["reason"] == "unknown username or wrong password"
    assert {chain for _, chain, _ in events} == {"system"}
