"""Daily digests: each user's `digest` messages of a finished day folded into one e-mail."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from engine.mail.rendering import render
from engine.store.db import transaction
from engine.store.models import OutboxMessage, User

if TYPE_CHECKING:
    from engine.mail.mailer import MailConfig

log = logging.getLogger("pathfinder.mail")


def build_digests(sessions: sessionmaker[Session], config: MailConfig, *, now: datetime) -> int:
    """Fold each user's `digest` messages of every finished day into one pending message.

    Returns how many digests were queued. Safe to run from several workers: the digest's
    dedupe key is unique, and a worker that loses the race rolls back.
    """
    today = now.date().isoformat()
    with sessions() as session:
        days = session.execute(
            select(OutboxMessage.user_id, OutboxMessage.digest_date)
            .where(OutboxMessage.state == "digest", OutboxMessage.digest_date < today)
            .group_by(OutboxMessage.user_id, OutboxMessage.digest_date)
        ).all()
    queued = 0
    for user_id, day in days:
        if day is None:
            continue
        try:
            with transaction(sessions) as session:
                queued += _build_digest(session, config, user_id, day, now)
        except IntegrityError:
            log.info("digest of user %s for %s was built by another worker", user_id, day)
    return queued


def _build_digest(
    session: Session, config: MailConfig, user_id: int | None, day: str, now: datetime
) -> int:
    items = list(
        session.execute(
            select(OutboxMessage)
            .where(
                OutboxMessage.state == "digest",
                OutboxMessage.user_id == user_id,
                OutboxMessage.digest_date == day,
            )
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        ).scalars()
    )
    user = session.get(User, user_id) if user_id is not None else None
    if not items or user is None:
        return 0
    key = f"digest:{user_id}:{day}"
    note = f"included in the daily digest {key}"
    if user.notify == "none" or not user.active or not user.email:
        note = "not sent: the recipient switched notifications off"
    for item in items:
        item.state, item.last_error = "skipped", note
    if note.startswith("not sent"):
        return 0
    context = {
        "recipient": user.display_name or user.username,
        "day": date.fromisoformat(day),
        "items": [
            {
                "subject": i.subject,
                "kind": i.kind,
                "link": config.task_link(i.task_id) if i.task_id else None,
            }
            for i in items
        ],
        "settings_link": config.link("notifications/settings"),
        "unsubscribe_link": config.unsubscribe_link(user.id),
    }
    rendered = render("digest", context, locale=user.locale)
    session.add(
        OutboxMessage(
            dedupe_key=key,
            user_id=user.id,
            to_address=user.email,
            kind="digest",
            subject=rendered.subject,
            body_text=rendered.text,
            body_html=rendered.html,
            state="pending",
            digest_date=day,
            attempts=0,
            created_at=now,
        )
    )
    session.flush()
    return 1
