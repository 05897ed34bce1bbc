"""The e-mail pages: my settings, unsubscribe without signing in, the admin outbox."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine import SYSTEM, Engine, Settings, VirtualClock
from engine.mail.mailer import MailConfig, send_pending
from engine.mail.notifications import Notifier
from engine.store.db import transaction
from engine.store.models import OutboxMessage, User
from tests.engine.mail.test_notifications import BASE_URL, DEMO, SmtpSink, add_user, mail_config
from tests.web.conftest import session_cookie_id
from web import create_app
from web.pages import notifications as notifications_views


@pytest.fixture
def app(engine: Engine, settings: Settings, clock: VirtualClock) -> Flask:
    app = create_app(settings, clock=clock, engine=engine, config={"TESTING": True})
    if "notifications" not in app.blueprints:
        notifications_views.init_app(app)
    return app


@pytest.fixture
def config(engine: Engine, settings: Settings, tmp_path: Path) -> MailConfig:
    """Mail as the app would send it: no SMTP, so `.eml` files under the app's var/mail."""
    config = mail_config(None, tmp_path, drop_dir=settings.var_dir / "mail")
    engine.subscribers = [Notifier(config)]
    engine.deploy({"notify_demo.bpmn": DEMO}, {}, "olu")
    return config


@pytest.fixture
def sign_in(app: Flask, engine: Engine) -> Callable[[str], FlaskClient]:
    def sign_in(username: str) -> FlaskClient:
        client = app.test_client()
        ident = session_cookie_id(engine, username)
        with client.session_transaction() as sess:
            sess["_user_id"], sess["_fresh"] = ident, True
        return client

    return sign_in


def _user(engine: Engine, username: str) -> User:
    with engine.session() as s:
        return s.execute(select(User).where(User.username == username)).scalar_one()


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_my_settings_change_address_and_preference(
    engine: Engine, sign_in: Callable[[str], FlaskClient]
) -> None:
    add_user(engine, "nima", ["country"], "NPL")
    client = sign_in("nima")
    page = client.get("/notifications/settings").get_data(as_text=True)
    assert 'value="nima@example.org"' in page and 'value="immediate" checked' in page

    bad = client.post(
        "/notifications/settings",
        data={"csrf_token": _csrf(page), "email": "not-an-address", "notify": "digest"},
    )
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "Enter an e-mail address such as name@example.org." in text
    assert 'value="not-an-address"' in text and 'value="digest" checked' in text  # kept
    assert _user(engine, "nima").email == "nima@example.org"

    ok = client.post(
        "/notifications/settings",
        data={"csrf_token": _csrf(page), "email": "nima@gov.np", "notify": "digest"},
        follow_redirects=True,
    )
    assert "Your e-mail settings are saved." in ok.get_data(as_text=True)
    user = _user(engine, "nima")
    assert (user.email, user.notify) == ("nima@gov.np", "digest")


def test_settings_need_a_signed_in_user(app: Flask) -> None:
    response = app.test_client().get("/notifications/settings")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_unsubscribe_link_from_a_mail_works_without_signing_in(
    app: Flask, engine: Engine, config: MailConfig
) -> None:
    add_user(engine, "nima", ["country"], "NPL")
    engine.start("notify_demo", {"country": "NPL", "country_name": "Nepal"}, SYSTEM)
    [message] = _outbox(engine)
    link = re.search(r"(\S+/notifications/unsubscribe/\S+)", message.body_text).group(1)
    assert link.startswith(BASE_URL)
    path = link.removeprefix(BASE_URL)
    client = app.test_client()

    confirm = client.get(path)  # a link scanner's GET changes nothing
    assert confirm.status_code == 200 and "Stop Pathfinder e-mails?" in confirm.get_data(
        as_text=True
    )
    assert _user(engine, "nima").notify == "immediate"

    done = client.post(path)  # no session, no CSRF token: the signed link is the credential
    assert done.status_code == 200 and "You are unsubscribed" in done.get_data(as_text=True)
    assert _user(engine, "nima").notify == "none"
    assert "already unsubscribed" in client.get(path).get_data(as_text=True)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-3] + ("abc" if not t.endswith("abc") else "xyz"),  # signature changed
        lambda t: t.replace(t.split(".")[0], "eyJ1IjoyfQ"),  # another user id, old signature
        lambda t: t[: len(t) // 2],  # cut short
    ],
)
def test_tampered_unsubscribe_link_is_refused_with_a_clear_page(
    app: Flask, engine: Engine, config: MailConfig, tamper: Callable[[str], str]
) -> None:
    add_user(engine, "nima", ["country"], "NPL")
    add_user(engine, "nabin", ["country"], "NPL")
    path = config.unsubscribe_link(_user(engine, "nima").id).removeprefix(BASE_URL)
    token = path.rsplit("/", 1)[1]
    bad = path.replace(token, tamper(token))
    client = app.test_client()
    for response in (client.get(bad), client.post(bad)):
        assert response.status_code == 400
        assert "This unsubscribe link is not valid" in response.get_data(as_text=True)
    assert {_user(engine, u).notify for u in ("nima", "nabin")} == {"immediate"}


def test_admin_outbox_shows_failed_messages_with_their_errors_and_the_mail_folder(
    app: Flask,
    engine: Engine,
    config: MailConfig,
    settings: Settings,
    tmp_path: Path,
    sign_in: Callable[[str], FlaskClient],
) -> None:
    add_user(engine, "ada", ["admin"], email=None)
    add_user(engine, "nima", ["country"], "NPL")
    engine.start("notify_demo", {"country": "NPL", "country_name": "Nepal"}, SYSTEM)
    send_pending(engine.sessions, config, now=engine.now, owner="w1")  # to var/mail
    sink = SmtpSink()  # never started: the connection is refused
    refused = mail_config(sink.port, tmp_path, max_attempts=1)
    with transaction(engine.sessions) as s:
        s.add(
            OutboxMessage(
                dedupe_key="x",
                to_address="gone@example.org",
                kind="test",
                subject="Will fail",
                body_text="-",
                state="pending",
                attempts=0,
                created_at=engine.now(),
            )
        )
    assert send_pending(engine.sessions, refused, now=engine.now, owner="w1").failed

    admin = sign_in("ada")
    page = admin.get("/notifications/admin/outbox?state=failed").get_data(as_text=True)
    assert "gone@example.org" in page and "Will fail" in page and "ConnectionRefusedError" in page
    assert "nima@example.org" not in page  # filtered to failed
    everything = admin.get("/notifications/admin/outbox").get_data(as_text=True)
    [eml] = list((settings.var_dir / "mail").glob("*.eml"))
    assert eml.name in everything
    shown = admin.get(f"/notifications/admin/mail/{eml.name}").get_data(as_text=True)
    assert "New task: Submit report (Nepal)" in shown and "nima@example.org" in shown
    assert admin.get("/notifications/admin/mail/..%2Fpathfinder.db").status_code == 404

    [failed] = [m for m in _outbox(engine) if m.state == "failed"]
    admin.post(f"/notifications/admin/outbox/{failed.id}/retry", data={"csrf_token": _csrf(page)})
    assert {m.dedupe_key: m.state for m in _outbox(engine)}["x"] == "pending"

    assert sign_in("nima").get("/notifications/admin/outbox").status_code == 403


def _outbox(engine: Engine) -> list[OutboxMessage]:
    with engine.session() as s:
        return list(s.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())


def test_admin_outbox_is_paged_and_filtered_by_recipient(
    app: Flask, engine: Engine, sign_in: Callable[[str], FlaskClient]
) -> None:
    add_user(engine, "ada", ["admin"], email=None)
    with transaction(engine.sessions) as s:
        s.add_all(
            OutboxMessage(
                dedupe_key=f"k{i}",
                to_address=f"person{i}@example.org",
                kind="test",
                subject=f"Message {i}",
                body_text="-",
                state="sent",
                attempts=1,
                created_at=engine.now(),
            )
            for i in range(120)
        )
    admin = sign_in("ada")
    first = admin.get("/notifications/admin/outbox").get_data(as_text=True)
    assert first.count('<tr class="outbox-') == 50  # one page, not all 120 rows
    assert "Page 1 of 3" in first and "Message 119" in first and "Message 69<" not in first
    third = admin.get("/notifications/admin/outbox?page=3").get_data(as_text=True)
    assert third.count('<tr class="outbox-') == 20 and "Message 0<" in third
    found = admin.get("/notifications/admin/outbox?to=person7%40").get_data(as_text=True)
    assert found.count('<tr class="outbox-') == 1 and "Message 7<" in found
