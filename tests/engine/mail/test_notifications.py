"""E-mail notifications end to end: a real SMTP server (aiosmtpd) in the test process.

The helpers at the top (`SmtpSink`, `DEMO`, `add_user`, `mail_config`) are shared with
tests/web/test_notifications_views.py.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from engine import SYSTEM, Actor, Engine, VirtualClock
from engine.clock import add_duration
from engine.mail.digests import build_digests
from engine.mail.mailer import (
    MailConfig,
    read_unsubscribe_token,
    send_pending,
    unsubscribe_token,
)
from engine.mail.notifications import Notifier, mail_pass, scan_due
from engine.store.db import make_engine, make_session_factory, transaction
from engine.store.models import AuditEvent, HumanTask, OutboxMessage, User
from tests.conftest import ROOT, START
from tests.fixtures.bpmn_files import bpmn, flow, user_task

BASE_URL = "https://pathfinder.example.org"

DEMO = bpmn(
    "notify_demo",
    '<bpmn:startEvent id="start" />'
    + '<bpmn:scriptTask id="open" name="Open case"><bpmn:script>pathfinder_status = "candidate"</bpmn:script></bpmn:scriptTask>'
    + user_task("submit", "Submit report", due="P10D")
    + user_task("review", "Review report", due="P5D")
    + '<bpmn:exclusiveGateway id="gw" name="Accepted?" default="f_accept" />'
    + '<bpmn:scriptTask id="award" name="Award status"><bpmn:script>pathfinder_status = "awarded"</bpmn:script></bpmn:scriptTask>'
    + user_task("confirm", "Send confirmation letter", due="P7D")
    + '<bpmn:endEvent id="end" />'
    + flow("f1", "start", "open")
    + flow("f2", "open", "submit")
    + flow("f3", "submit", "review")
    + flow("f4", "review", "gw")
    + flow("f_back", "gw", "submit", 'review_decision == "sent_back"')
    + flow("f_accept", "gw", "award")
    + flow("f5", "award", "confirm")
    + flow("f6", "confirm", "end"),
    lanes={
        "Country": ["submit"],
        "Secretariat": ["start", "open", "review", "gw", "award"],
        "GCG Chair": ["confirm", "end"],
    },
    name="Notification demo",
)
"""The country submits, the Secretariat reviews (sends back or accepts), the chair confirms."""

NIMA = Actor("nima", ["country"], country="NPL")
SAM = Actor("sam", ["secretariat"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 that keeps what it receives (or refuses recipients)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[EmailMessage] = []
        self.reject = False
        self.delay = 0.0
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.reject:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        msg = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(msg)  # type: ignore[arg-type]
        return "250 Message accepted"

    def start(self) -> SmtpSink:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def subjects(self, address: str) -> list[str]:
        return [str(m["Subject"]) for m in self.to(address)]


def mail_config(port: int | None, tmp_path: Path, **overrides: Any) -> MailConfig:
    values: dict[str, Any] = {
        "secret_key": "test-secret",
        "base_url": BASE_URL,
        "smtp_url": f"smtp://127.0.0.1:{port}" if port else None,
        "drop_dir": tmp_path / "mail",
        "reminder_before": "P3D",
        "max_attempts": 3,
        "backoff_seconds": 60,
    }
    return MailConfig(**{**values, **overrides})


def add_user(
    engine: Engine,
    username: str,
    roles: list[str],
    country: str | None = None,
    *,
    email: str | None = "default",
    notify: str = "immediate",
) -> int:
    with transaction(engine.sessions) as s:
        user = User(
            username=username,
            display_name=username.title(),
            password_hash="!",
            roles=roles,
            country=country,
            email=f"{username}@example.org" if email == "default" else email,
            active=True,
            notify=notify,
            created_at=engine.now(),
        )
        s.add(user)
        s.flush()
        return user.id


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def mail(engine: Engine, smtp: SmtpSink, tmp_path: Path) -> MailConfig:
    config = mail_config(smtp.port, tmp_path)
    engine.subscribers = [Notifier(config)]
    engine.deploy({"notify_demo.bpmn": DEMO}, {}, "olu")
    return config


@pytest.fixture
def people(engine: Engine) -> dict[str, str]:
    """Username -> address: two Nepal focal points, one Kenyan, Secretariat, GCG, chair, admin."""
    add_user(engine, "nima", ["country"], "NPL")
    add_user(engine, "nabin", ["country"], "NPL")
    add_user(engine, "kofi", ["country"], "KEN")
    add_user(engine, "sam", ["secretariat"])
    add_user(engine, "gus", ["gcg"])
    add_user(engine, "chris", ["chair"])
    add_user(engine, "ada", ["admin"])
    add_user(engine, "nomail", ["country"], "NPL", email=None)
    add_user(engine, "quiet", ["country"], "NPL", notify="none")
    with engine.session() as s:
        return {u.username: u.email or "" for u in s.execute(select(User)).scalars()}


def deliver(engine: Engine, config: MailConfig, owner: str = "w1") -> Any:
    return send_pending(engine.sessions, config, now=engine.now, owner=owner)


def task_of(engine: Engine, instance_id: int, element_id: str) -> HumanTask:
    [task] = [t for t in engine.ready_tasks(instance_id) if t.element_id == element_id]
    return task


def outbox(engine: Engine) -> list[OutboxMessage]:
    with engine.session() as s:
        return list(s.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())


def start_nepal(engine: Engine) -> int:
    return engine.start("notify_demo", {"country": "NPL", "country_name": "Nepal"}, SYSTEM).id


# -- who gets what -----------------------------------------------------------------------------


def test_new_task_mails_the_lane_role_of_that_country_only(
    engine: Engine, mail: MailConfig, smtp: SmtpSink, people: dict[str, str]
) -> None:
    nepal = start_nepal(engine)
    kenya = engine.start("notify_demo", {"country": "KEN", "country_name": "Kenya"}, SYSTEM).id
    submit_npl, submit_ken = task_of(engine, nepal, "submit"), task_of(engine, kenya, "submit")
    # Written in the transaction that made the task ready, before any worker ran.
    assert {(m.to_address, m.task_id, m.state) for m in outbox(engine)} == {
        (people["nima"], submit_npl.id, "pending"),
        (people["nabin"], submit_npl.id, "pending"),
        (people["kofi"], submit_ken.id, "pending"),
    }

    report = deliver(engine, mail)

    assert len(report.sent) == 3 and len(smtp.messages) == 3
    [to_nima] = smtp.to(people["nima"])
    assert to_nima["Subject"] == "New task: Submit report (Nepal)"
    text = to_nima.get_body(("plain",)).get_content()
    assert f"{BASE_URL}/tasks/{submit_npl.id}" in text
    assert "Due:     14 January 2027" in text  # P10D from 4 January
    html = to_nima.get_body(("html",)).get_content()
    assert f'href="{BASE_URL}/tasks/{submit_npl.id}"' in html
    token = re.search(r"/notifications/unsubscribe/([\w.\-]+)", text).group(1)
    assert read_unsubscribe_token("test-secret", token) is not None
    assert to_nima["List-Unsubscribe"] == f"<{BASE_URL}/notifications/unsubscribe/{token}>"
    assert smtp.subjects(people["kofi"]) == ["New task: Submit report (Kenya)"]
    for nobody in ("sam", "gus", "chris", "ada", "quiet"):
        assert smtp.to(people[nobody]) == []

    engine.complete(submit_npl.id, {"report": "done"}, NIMA)
    deliver(engine, mail)
    assert smtp.subjects(people["sam"]) == ["New task: Review report (Nepal)"]
    assert smtp.to(people["gus"]) == [] and smtp.to(people["chris"]) == []
    assert len(smtp.to(people["nima"])) == 1  # nothing new for the submitter yet


def test_send_back_accept_and_status_change_reach_the_submitter_and_country(
    engine: Engine, mail: MailConfig, smtp: SmtpSink, people: dict[str, str]
) -> None:
    nepal = start_nepal(engine)
    engine.complete(task_of(engine, nepal, "submit").id, {"report": "v1"}, NIMA)
    review = task_of(engine, nepal, "review")
    comments = "Please add the 2026 figures."
    engine.complete(review.id, {"review_decision": "sent_back", "review_comments": comments}, SAM)
    deliver(engine, mail)

    again = task_of(engine, nepal, "submit")
    assert smtp.subjects(people["nima"]) == [
        "New task: Submit report (Nepal)",
        "Sent back: Submit report (Nepal)",  # instead of a second "New task"
    ]
    sent_back = smtp.to(people["nima"])[-1].get_body(("plain",)).get_content()
    assert comments in sent_back and f"{BASE_URL}/tasks/{again.id}" in sent_back
    assert smtp.subjects(people["nabin"])[-1] == "New task: Submit report (Nepal)"

    engine.complete(again.id, {"report": "v2"}, NIMA)
    review = task_of(engine, nepal, "review")
    engine.complete(review.id, {"review_decision": "accepted"}, SAM)
    deliver(engine, mail)

    assert smtp.subjects(people["nima"])[-2:] == [
        "Accepted: Submit report (Nepal)",
        "Nepal: pathfinder status is now awarded",
    ]
    assert smtp.subjects(people["nabin"])[-1] == "Nepal: pathfinder status is now awarded"
    assert not any("status" in s for s in smtp.subjects(people["kofi"]))
    assert not any("candidate" in str(m["Subject"]) for m in smtp.messages)  # first value: no mail
    assert smtp.subjects(people["chris"]) == ["New task: Send confirmation letter (Nepal)"]


def test_assigning_a_task_mails_the_assignee(
    engine: Engine, mail: MailConfig, smtp: SmtpSink, people: dict[str, str]
) -> None:
    add_user(engine, "sue", ["secretariat"])
    nepal = start_nepal(engine)
    engine.complete(task_of(engine, nepal, "submit").id, {"report": "v1"}, NIMA)
    engine.claim(task_of(engine, nepal, "review").id, SAM, assignee="sue")
    deliver(engine, mail)
    assert smtp.subjects("sue@example.org")[-1] == "Assigned to you: Review report (Nepal)"
    assert not any("Assigned" in s for s in smtp.subjects(people["sam"]))


# -- reminders, overdue, escalation ------------------------------------------------------------


def test_reminder_and_overdue_notice_follow_the_virtual_clock(
    engine: Engine, mail: MailConfig, smtp: SmtpSink, clock: VirtualClock, people: dict[str, str]
) -> None:
    nepal = start_nepal(engine)
    submit = task_of(engine, nepal, "submit")
    deliver(engine, mail)
    smtp.messages.clear()

    def scan() -> int:  # what the worker does each pass
        return len(mail_pass(engine.sessions, mail, now=engine.now, owner="w1").sent)

    clock.set(START + timedelta(days=7) - timedelta(seconds=1))
    assert scan() == 0 and smtp.messages == []

    clock.set(START + timedelta(days=7))  # due 14 January, reminder 3 days before
    assert scan() == 2
    assert smtp.subjects(people["nima"]) == ["Reminder: Submit report is due 14 January 2027"]
    assert smtp.subjects(people["nabin"]) == ["Reminder: Submit report is due 14 January 2027"]
    assert scan() == 0  # once only

    clock.set(START + timedelta(days=10) - timedelta(seconds=1))
    assert scan() == 0
    clock.set(START + timedelta(days=10))
    assert scan() == 3
    assert smtp.subjects(people["nima"])[-1] == "Overdue: Submit report (Nepal)"
    assert smtp.subjects(people["sam"]) == ["Escalation: Submit report is overdue (Nepal)"]
    escalation = smtp.to(people["sam"])[0].get_body(("plain",)).get_content()
    assert "It waits for: Nima, Nabin." in escalation
    assert f"{BASE_URL}/tasks/{submit.id}" in escalation
    clock.advance(days=30)
    assert scan() == 0
    assert smtp.to(people["kofi"]) == [] and smtp.to(people["gus"]) == []


def test_claimed_overdue_task_notifies_only_the_assignee(
    engine: Engine, mail: MailConfig, smtp: SmtpSink, clock: VirtualClock, people: dict[str, str]
) -> None:
    nepal = start_nepal(engine)
    engine.claim(task_of(engine, nepal, "submit").id, NIMA)
    clock.set(START + timedelta(days=11))
    with transaction(engine.sessions) as s:
        scan_due(s, engine.now(), mail)
    deliver(engine, mail)
    assert smtp.subjects(people["nima"])[-1] == "Overdue: Submit report (Nepal)"
    assert not any("Overdue" in s for s in smtp.subjects(people["nabin"]))
    assert smtp.subjects(people["sam"]) == ["Escalation: Submit report is overdue (Nepal)"]


def test_due_dates_in_the_inbox_come_from_the_diagram(engine: Engine, clock: VirtualClock) -> None:
    """Every ready task's `due_at` is its creation time plus the diagram's `dueIn`."""
    bundled = ROOT / "processes" / "pathfinder.bpmn"
    forms = {p.name: p.read_bytes() for p in (ROOT / "forms").glob("*.json")}
    engine.deploy({"pathfinder.bpmn": bundled.read_bytes()}, forms, "olu")
    inst = engine.start("pathfinder", {"country": "NPL", "country_name": "Nepal"}, SYSTEM)
    ns = {
        "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
        "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
    }
    tree = ElementTree.parse(bundled)  # noqa: S314 - our own shipped file
    due_in = {
        el.get("id"): prop.get("value")
        for el in tree.iter(f"{{{ns['bpmn']}}}userTask")
        for prop in el.iterfind(".//spiffworkflow:property[@name='dueIn']", ns)
    }
    [task] = engine.ready_tasks(inst.id)
    assert task.element_id in due_in
    assert task.due_at == add_duration(START, due_in[task.element_id])
    # The demo diagram too: P10D from the (virtual) moment the task became ready.
    engine.deploy({"notify_demo.bpmn": DEMO}, {}, "olu")
    clock.advance(days=2)
    demo = engine.start("notify_demo", {"country": "KEN"}, SYSTEM)
    assert task_of(engine, demo.id, "submit").due_at == START + timedelta(days=12)


# -- digest ------------------------------------------------------------------------------------


def test_digest_collects_a_days_messages_into_one_mail(
    engine: Engine, mail: MailConfig, smtp: SmtpSink, clock: VirtualClock, people: dict[str, str]
) -> None:
    with transaction(engine.sessions) as s:
        s.execute(select(User).where(User.username == "nima")).scalar_one().notify = "digest"
    nepal = start_nepal(engine)  # 09:00: new task
    engine.complete(task_of(engine, nepal, "submit").id, {"report": "v1"}, NIMA)
    clock.advance(seconds=3 * 3600)
    review = task_of(engine, nepal, "review")
    engine.complete(review.id, {"review_decision": "sent_back", "review_comments": "More"}, SAM)
    assert build_digests(engine.sessions, mail, now=engine.now()) == 0  # the day is not over
    deliver(engine, mail)
    assert smtp.to(people["nima"]) == []
    assert len(smtp.to(people["nabin"])) == 2  # immediate, unaffected

    clock.set(START.replace(hour=0) + timedelta(days=1, minutes=5))
    assert build_digests(engine.sessions, mail, now=engine.now()) == 1
    assert build_digests(engine.sessions, mail, now=engine.now()) == 0
    deliver(engine, mail)

    [digest] = smtp.to(people["nima"])
    assert digest["Subject"] == "Pathfinder daily digest, 04 January 2027: 2 updates"
    text = digest.get_body(("plain",)).get_content()
    assert "New task: Submit report (Nepal)" in text and "Sent back: Submit report (Nepal)" in text
    assert f"{BASE_URL}/tasks/" in text
    states = {m.kind: m.state for m in outbox(engine) if m.to_address == people["nima"]}
    assert states == {"new_task": "skipped", "sent_back": "skipped", "digest": "sent"}


# -- unsubscribe tokens ------------------------------------------------------------------------


def test_unsubscribe_token_is_refused_when_tampered_or_signed_elsewhere() -> None:
    token = unsubscribe_token("s3cret", 42)
    assert read_unsubscribe_token("s3cret", token) == 42
    assert (
        read_unsubscribe_token("s3cret", token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
        is None
    )
    assert read_unsubscribe_token("s3cret", "x" + token) is None
    assert read_unsubscribe_token("another-secret", token) is None


def test_a_user_who_unsubscribed_after_queueing_is_not_mailed(
    engine: Engine, mail: MailConfig, smtp: SmtpSink, people: dict[str, str]
) -> None:
    start_nepal(engine)
    with transaction(engine.sessions) as s:
        s.execute(select(User).where(User.username == "nima")).scalar_one().notify = "none"
    report = deliver(engine, mail)
    assert len(report.skipped) == 1 and smtp.to(people["nima"]) == []
    assert len(smtp.to(people["nabin"])) == 1


# -- sending: failures, retries, several workers, the dev mail folder ---------------------------


def test_rejected_mail_is_retried_with_backoff_then_shown_as_failed(
    engine: Engine, mail: MailConfig, smtp: SmtpSink, clock: VirtualClock
) -> None:
    with transaction(engine.sessions) as s:
        s.add(_message("m1", "only@example.org", engine))
    smtp.reject = True

    assert deliver(engine, mail).retrying and smtp.messages == []
    [row] = [m for m in outbox(engine) if m.dedupe_key == "m1"]
    assert (row.state, row.attempts) == ("pending", 1)
    assert "550" in row.last_error and row.next_attempt_at == START + timedelta(seconds=60)
    assert deliver(engine, mail).retrying == []  # not before its time

    clock.advance(seconds=60)
    deliver(engine, mail)
    clock.advance(seconds=119)
    assert deliver(engine, mail).failed == []  # second back-off is 120 s
    clock.advance(seconds=1)
    assert len(deliver(engine, mail).failed) == 1
    [row] = [m for m in outbox(engine) if m.dedupe_key == "m1"]
    assert (row.state, row.attempts) == ("failed", 3) and "Mailbox unavailable" in row.last_error
    clock.advance(days=1)
    assert deliver(engine, mail).sent == [] and smtp.messages == []


def test_a_stopped_server_is_retried_until_it_is_back(
    engine: Engine, clock: VirtualClock, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens yet
    config = mail_config(port, tmp_path)
    with transaction(engine.sessions) as s:
        s.add(_message("down", "x@example.org", engine))
    report = send_pending(engine.sessions, config, now=engine.now, owner="w1")
    assert len(report.retrying) == 1
    [row] = outbox(engine)
    assert "Connection" in row.last_error or "refused" in row.last_error.lower()
    sink = SmtpSink(port).start()
    try:
        clock.advance(seconds=60)
        assert len(send_pending(engine.sessions, config, now=engine.now, owner="w1").sent) == 1
        assert sink.subjects("x@example.org") == ["Subject down"]
    finally:
        sink.stop()
    [row] = outbox(engine)
    assert (row.state, row.attempts, row.sent_at) == ("sent", 2, clock.now())


def test_two_workers_never_send_the_same_message_twice(
    engine: Engine, smtp: SmtpSink, tmp_path: Path, database_url: str
) -> None:
    config = mail_config(smtp.port, tmp_path)
    with transaction(engine.sessions) as s:
        for i in range(24):
            s.add(_message(f"bulk{i}", f"user{i}@example.org", engine))
    smtp.delay = 0.01
    other = make_session_factory(make_engine(database_url))  # a separate pool: another "worker"
    barrier = threading.Barrier(2)
    reports: dict[str, Any] = {}

    def work(name: str, sessions: Any) -> None:
        barrier.wait()
        reports[name] = send_pending(sessions, config, now=engine.now, owner=name)

    threads = [
        threading.Thread(target=work, args=("w1", engine.sessions)),
        threading.Thread(target=work, args=("w2", other)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    ids = [str(m["X-Pathfinder-Outbox-Id"]) for m in smtp.messages]
    assert len(ids) == 24 and len(set(ids)) == 24
    assert len(reports["w1"].sent) + len(reports["w2"].sent) == 24
    assert reports["w1"].sent and reports["w2"].sent  # both really worked
    assert {m.state for m in outbox(engine)} == {"sent"}
    other.kw["bind"].dispose()


def test_an_expired_lease_of_a_dead_worker_is_taken_over(
    engine: Engine, smtp: SmtpSink, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    config = mail_config(smtp.port, tmp_path)
    with transaction(engine.sessions) as s:
        alive = _message("alive", "a@example.org", engine)
        alive.lease_owner, alive.lease_expires_at = "w0", datetime.now(UTC) + timedelta(minutes=5)
        dead = _message("dead", "d@example.org", engine)
        dead.lease_owner, dead.lease_expires_at = "w9", datetime.now(UTC) - timedelta(seconds=1)
        s.add_all([alive, dead])
    report = send_pending(engine.sessions, config, now=engine.now, owner="w1")
    assert len(report.sent) == 1 and [m["To"] for m in smtp.messages] == ["d@example.org"]


def test_without_smtp_messages_are_written_to_the_mail_folder(
    engine: Engine, tmp_path: Path, people: dict[str, str]
) -> None:
    config = mail_config(None, tmp_path)
    engine.subscribers = [Notifier(config)]
    engine.deploy({"notify_demo.bpmn": DEMO}, {}, "olu")
    start_nepal(engine)
    assert len(send_pending(engine.sessions, config, now=engine.now, owner="w1").sent) == 2
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 2
    parsed = [message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
    assert {m["To"] for m in parsed} == {people["nima"], people["nabin"]}
    assert {m["Subject"] for m in parsed} == {"New task: Submit report (Nepal)"}


def test_subscribers_are_passed_in_and_hear_each_event_once(
    engine: Engine, mail: MailConfig, people: dict[str, str]
) -> None:
    heard: list[str] = []
    quiet = Engine(
        engine.sessions,
        engine.clock,
        settings=engine.settings,
        subscribers=[lambda _s, events: heard.extend(e.kind for e in events)],
    )
    engine.subscribers = []  # this test's engine alone writes (one Engine per session factory)
    start_nepal(quiet)
    assert outbox(engine) == []  # no Notifier given: no mail
    assert heard.count("task_ready") == 1 and heard.count("instance_started") == 1


def _message(key: str, to: str, engine: Engine) -> OutboxMessage:
    return OutboxMessage(
        dedupe_key=key,
        to_address=to,
        kind="test",
        subject=f"Subject {key}",
        body_text=f"Body {key}\n",
        state="pending",
        attempts=0,
        created_at=engine.now(),
    )


def test_mail_problems_never_stop_the_procedure(
    engine: Engine, mail: MailConfig, people: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("template bug")

    monkeypatch.setattr("engine.mail.notifications.render", broken)
    nepal = start_nepal(engine)
    assert task_of(engine, nepal, "submit") and outbox(engine) == []


def test_without_a_secret_key_mails_link_to_the_settings_page(
    engine: Engine, tmp_path: Path, people: dict[str, str]
) -> None:
    config = mail_config(None, tmp_path, secret_key="")
    engine.subscribers = [Notifier(config)]
    engine.deploy({"notify_demo.bpmn": DEMO}, {}, "olu")
    start_nepal(engine)
    body = outbox(engine)[0].body_text
    assert f"Stop these e-mails: {BASE_URL}/notifications/settings" in body


class _DiesAfterSending:
    """Hands the message to the SMTP server, then the worker process dies (before recording)."""

    def __init__(self, config: MailConfig) -> None:
        from engine.mail.transports import transport_for

        self.inner = transport_for(config)

    def send(self, message: EmailMessage) -> None:
        self.inner.send(message)
        raise SystemExit("killed")


def test_a_message_accepted_before_a_crash_is_not_resent_within_the_lease(
    engine: Engine, smtp: SmtpSink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses
    from datetime import UTC, datetime

    wall = VirtualClock(datetime.now(UTC))  # leases run on the injected wall clock
    config = dataclasses.replace(mail_config(smtp.port, tmp_path), lease_clock=wall)
    with transaction(engine.sessions) as s:
        s.add(_message("once", "o@example.org", engine))
    with pytest.raises(SystemExit):
        send_pending(
            engine.sessions, config, now=engine.now, owner="w1", transport=_DiesAfterSending(config)
        )
    [row] = outbox(engine)
    assert row.state == "pending" and row.message_id and row.sending_since is not None
    assert len(smtp.messages) == 1

    # The restarted worker (a new name) leaves it alone while the dead one's lease runs.
    assert send_pending(engine.sessions, config, now=engine.now, owner="w2").sent == []
    assert len(smtp.messages) == 1

    # After the lease: sent again with the same Message-ID, and the resend is on the record.
    wall.set(wall.now() + timedelta(seconds=config.lease_seconds + 1))
    assert len(send_pending(engine.sessions, config, now=engine.now, owner="w2").sent) == 1
    first, second = smtp.messages
    assert first["Message-ID"] == second["Message-ID"] == row.message_id
    [row] = outbox(engine)
    assert row.state == "sent" and row.sending_since is None
    with engine.session() as s:
        [event] = s.execute(select(AuditEvent).where(AuditEvent.kind == "mail_resent")).scalars()
    assert event.data["outbox_id"] == row.id and event.data["message_id"] == row.message_id
    assert all(r.intact for r in engine.verify())
