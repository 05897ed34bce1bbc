"""Sending the outbox: retries and leases (templates in `rendering`, SMTP and `.eml` files in
`transports`, daily digests in `digests`).

Messages are written to the outbox by `engine.notifications` in the transaction of the event that
caused them; this module sends them. A worker leases one message at a time (owner + expiry, in
real time, like timer jobs), sends it outside any transaction, then marks it sent only if it
still holds the lease, so several workers never send the same message twice. A worker killed
between the SMTP hand-over and the update leaves a lease that expires; until then no worker sends
the message again, and after it the message is sent again (at least once beats never) with the
same Message-ID, fixed before the first attempt, so the recipient's mail client shows it once.
Such a resend is recorded on the system chain (`mail_resent`).
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import Clock, SystemClock
from engine.mail.digests import build_digests as build_digests  # notifications' import
from engine.mail.rendering import render as render  # notifications' import
from engine.mail.transports import Transport as Transport
from engine.mail.transports import transport_for
from engine.records.history import Recorder, _iso
from engine.store.db import transaction
from engine.store.models import OutboxMessage, User

log = logging.getLogger("pathfinder.mail")

UNSUBSCRIBE_SALT = "pathfinder-unsubscribe"


@dataclass(frozen=True)
class MailConfig:
    """What rendering and sending mail needs; built from `Settings` by `from_settings`."""

    secret_key: str
    """Signs unsubscribe links; must be the web app's `PATHFINDER_SECRET_KEY`."""
    base_url: str = "http://127.0.0.1:5000"
    """`PATHFINDER_BASE_URL`: where links in messages point (`{base_url}/tasks/{task_id}`)."""
    smtp_url: str | None = None
    """`PATHFINDER_SMTP_URL`: `smtp://user:pass@host:587?starttls=1` or `smtps://host:465`;
    unset writes `.eml` files to `drop_dir` instead (development)."""
    mail_from: str = "Pathfinder <pathfinder@localhost>"
    """`PATHFINDER_MAIL_FROM`: the From header of every message."""
    drop_dir: Path = Path("var/mail")
    """Where messages go as `.eml` files when no SMTP server is configured."""
    reminder_before: str = "P3D"
    """`PATHFINDER_REMINDER_BEFORE`: ISO 8601 duration before the due date to send a reminder."""
    max_attempts: int = 5
    """`PATHFINDER_MAIL_MAX_ATTEMPTS`: sending attempts before a message is marked failed."""
    backoff_seconds: float = 60.0
    """`PATHFINDER_MAIL_BACKOFF_SECONDS`: first retry delay (engine clock); doubles each time."""
    lease_seconds: int = 120
    """How long a worker owns a message it is sending; longer than `smtp_timeout`."""
    lease_clock: Clock = field(default_factory=SystemClock)
    """The clock leases and `.eml` file names run on: real time (the engine's `wall_clock`),
    even when the engine runs on a virtual clock."""
    smtp_timeout: float = 30.0
    """Seconds an SMTP connection may stall before the attempt counts as failed."""

    @classmethod
    def from_settings(cls, settings: Any, lease_clock: Clock | None = None) -> MailConfig:
        """Read the mail settings (fields missing on older `Settings` keep their defaults);
        leases run on `lease_clock` (default: the real time)."""

        def pick(name: str, default: Any) -> Any:
            value = getattr(settings, name, None)
            return default if value is None or value == "" else value

        return cls(
            secret_key=settings.secret_key,
            base_url=str(pick("base_url", cls.base_url)).rstrip("/"),
            smtp_url=pick("smtp_url", None),
            mail_from=pick("mail_from", cls.mail_from),
            drop_dir=Path(settings.var_dir) / "mail",
            reminder_before=pick("reminder_before", cls.reminder_before),
            max_attempts=int(pick("mail_max_attempts", cls.max_attempts)),
            backoff_seconds=float(pick("mail_backoff_seconds", cls.backoff_seconds)),
            lease_clock=lease_clock or SystemClock(),
        )

    def link(self, path: str) -> str:
        """An absolute link into the web app."""
        return f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"

    def task_link(self, task_id: str) -> str:
        """The address of a task's page."""
        return self.link(f"tasks/{task_id}")

    def unsubscribe_link(self, user_id: int) -> str:
        """The no-login unsubscribe link; the settings page (sign-in needed) without a secret."""
        if not self.secret_key:
            return self.link("notifications/settings")
        return self.link(f"notifications/unsubscribe/{unsubscribe_token(self.secret_key, user_id)}")


# -- unsubscribe tokens -----------------------------------------------------------------------


def unsubscribe_token(secret_key: str, user_id: int) -> str:
    """A signed, URL-safe token that lets its holder switch off mail for `user_id`."""
    if not secret_key:
        raise ValueError("unsubscribe links need PATHFINDER_SECRET_KEY to be set")
    return URLSafeSerializer(secret_key, salt=UNSUBSCRIBE_SALT).dumps({"u": user_id})


def read_unsubscribe_token(secret_key: str, token: str) -> int | None:
    """The user id in a valid token; None for a tampered, truncated or foreign token."""
    if not secret_key:
        return None
    try:
        payload = URLSafeSerializer(secret_key, salt=UNSUBSCRIBE_SALT).loads(token)
    except BadSignature:
        return None
    user_id = payload.get("u") if isinstance(payload, dict) else None
    return user_id if isinstance(user_id, int) else None


# -- building and sending ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Leased:
    """A detached copy of what sending one outbox row needs."""

    id: int
    to_address: str
    subject: str
    body_text: str
    body_html: str | None
    user_id: int | None
    dedupe_key: str
    attempts: int
    message_id: str


def build_message(item: _Leased, config: MailConfig, now: datetime) -> EmailMessage:
    """The MIME message for an outbox row: text and HTML alternatives plus unsubscribe headers."""
    msg = EmailMessage()
    msg["From"] = config.mail_from
    msg["To"] = item.to_address
    msg["Subject"] = item.subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = item.message_id
    msg["X-Pathfinder-Outbox-Id"] = str(item.id)
    msg["Auto-Submitted"] = "auto-generated"
    if item.user_id is not None and config.secret_key:
        msg["List-Unsubscribe"] = f"<{config.unsubscribe_link(item.user_id)}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(item.body_text)
    if item.body_html:
        msg.add_alternative(item.body_html, subtype="html")
    return msg


@dataclass
class SendReport:
    """What one `send_pending` pass did."""

    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)


def _lease_next(
    session: Session, owner: str, now: datetime, lease_seconds: int, lease_clock: Clock
) -> int | None:
    """Lease the oldest sendable message for `owner`; its id, or None when there is none."""
    real = lease_clock.now()
    free = or_(OutboxMessage.lease_expires_at.is_(None), OutboxMessage.lease_expires_at < real)
    query = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.state == "pending",
            or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now),
            free,
        )
        .order_by(OutboxMessage.id)
        .limit(5)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    for message_id in session.execute(query).scalars().all():
        # Conditional update: of two workers that saw the same row, only one wins it.
        won = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.state == "pending", free)
            .values(lease_owner=owner, lease_expires_at=real + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        )
        if won.rowcount == 1:  # type: ignore[attr-defined]
            return int(message_id)
    return None


def _load_leased(
    session: Session, message_id: int, now: datetime, config: MailConfig
) -> _Leased | None:
    """The leased row as a detached copy, or None (and `skipped`) when its user opted out.

    Fixes the Message-ID on the first attempt and marks the attempt begun (`sending_since`);
    an attempt already marked means the one before was cut off after it may have been sent."""
    row = session.get_one(OutboxMessage, message_id)
    user = session.get(User, row.user_id) if row.user_id is not None else None
    if user is not None and (not user.active or user.notify == "none"):
        row.state, row.last_error = "skipped", "the recipient switched notifications off"
        row.lease_owner = row.lease_expires_at = None
        return None
    if row.message_id is None:
        domain = parseaddr(config.mail_from)[1].rpartition("@")[2] or "pathfinder.local"
        row.message_id = make_msgid(idstring=f"outbox{row.id}", domain=domain)
    if row.sending_since is not None:
        Recorder(session, None, now).record(
            "mail_resent",
            actor=row.lease_owner,
            data={
                "outbox_id": row.id,
                "kind": row.kind,
                "message_id": row.message_id,
                "interrupted_attempt_began": _iso(row.sending_since),
            },
        )
    row.sending_since = config.lease_clock.now()
    return _Leased(
        row.id,
        row.to_address,
        row.subject,
        row.body_text,
        row.body_html,
        row.user_id,
        row.dedupe_key,
        row.attempts,
        row.message_id,
    )


def _finish(
    sessions: sessionmaker[Session],
    item: _Leased,
    owner: str,
    config: MailConfig,
    now: datetime,
    error: str | None,
) -> str:
    """Record the outcome of one attempt, if `owner` still holds the lease; returns the state."""
    attempts = item.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "lease_owner": None,
        "lease_expires_at": None,
        "sending_since": None,
    }
    if error is None:
        values.update(state="sent", sent_at=now, last_error=None, next_attempt_at=None)
    elif attempts >= config.max_attempts:
        values.update(state="failed", last_error=error, next_attempt_at=None)
    else:
        delay = config.backoff_seconds * 2 ** (attempts - 1)
        values.update(last_error=error, next_attempt_at=now + timedelta(seconds=delay))
    with transaction(sessions) as session:
        done = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == item.id, OutboxMessage.lease_owner == owner)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            log.warning("lost the lease on outbox message %s before recording it", item.id)
    return str(values.get("state", "pending"))


def send_pending(
    sessions: sessionmaker[Session],
    config: MailConfig,
    *,
    now: Callable[[], datetime],
    owner: str,
    transport: Transport | None = None,
    limit: int = 200,
) -> SendReport:
    """Send due pending messages one lease at a time; failures back off, then become `failed`.

    `now` is the engine clock (retry times follow it); leases follow the real time.
    """
    transport = transport or transport_for(config)
    report = SendReport()
    for _ in range(limit):
        with transaction(sessions) as session:
            message_id = _lease_next(
                session, owner, now(), config.lease_seconds, config.lease_clock
            )
            item = (
                _load_leased(session, message_id, now(), config) if message_id is not None else None
            )
        if message_id is None:
            break
        if item is None:
            report.skipped.append(message_id)
            continue
        error = None
        try:
            transport.send(build_message(item, config, now()))
        except (smtplib.SMTPException, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:2000]
            log.warning("sending outbox message %s failed: %s", item.id, error)
        state = _finish(sessions, item, owner, config, now(), error)
        {"sent": report.sent, "failed": report.failed}.get(state, report.retrying).append(item.id)
    return report
