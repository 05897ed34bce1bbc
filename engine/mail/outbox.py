"""The `engine.outbox` handle: the queued e-mail as the admin's outbox page reads and retries it,
and each person's mail settings and unsubscribe link."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from engine.mail import notifications
from engine.mail.mailer import read_unsubscribe_token
from engine.records.queries import Page, paginate
from engine.states import OutboxState
from engine.store.db import transaction
from engine.store.models import OutboxMessage, User

if TYPE_CHECKING:
    from engine.core import Engine


class Outbox:
    """Queued e-mail and who wants which (`engine.outbox`)."""

    def __init__(self, engine: Engine) -> None:
        """Bind the handle to `engine`'s sessions and settings."""
        self._engine = engine

    def queue_due(self) -> int:
        """Queue the mail that events committed since the last worker pass owe (the worker's
        mail pass does this first); returns how many messages were added."""
        return notifications.queue_due(self._engine.sessions, self._engine.mail)

    def counts(self) -> dict[str, int]:
        """How many messages are in each state."""
        with self._engine.sessions() as s:
            rows = s.execute(
                select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
            ).all()
            return {state: int(count) for state, count in rows}

    def page(self, *, state: str = "", to: str = "", number: int = 1) -> Page[Any]:
        """One page of messages, newest first, by state and a part of the address (the rows
        are detached copies, for reading)."""
        query = select(OutboxMessage).order_by(OutboxMessage.id.desc())
        if state:
            query = query.where(OutboxMessage.state == state)
        if to:
            query = query.where(OutboxMessage.to_address.contains(to, autoescape=True))
        with self._engine.sessions() as s:
            return paginate(s, query, number)

    def retry(self, message_id: int) -> bool | None:
        """Put a failed message back in the queue: True when it was failed, False when it was
        in another state, None when there is no such message."""
        with transaction(self._engine.sessions) as s:
            row = s.get(OutboxMessage, message_id)
            if row is None:
                return None
            if row.state != OutboxState.FAILED:
                return False
            row.state, row.attempts, row.next_attempt_at = OutboxState.PENDING, 0, None
            return True

    def settings_of(self, user_id: int) -> tuple[str, str]:
        """A person's mail address (or "") and how they want mail (`immediate`, …, `none`)."""
        with self._engine.sessions() as s:
            user = s.get_one(User, user_id)
            return user.email or "", user.notify or "immediate"

    def save_settings(self, user_id: int, email: str | None, notify: str) -> None:
        """Store a person's mail address and preference (checked by the caller's form)."""
        with transaction(self._engine.sessions) as s:
            user = s.get_one(User, user_id)
            user.email, user.notify = email, notify

    def unsubscribe_target(self, token: str, secret_key: str) -> tuple[int, str, bool] | None:
        """Whom an unsubscribe link signed with `secret_key` names: (user id, name, already
        unsubscribed), or None for a link that is forged or names no account."""
        user_id = read_unsubscribe_token(secret_key, token)
        if user_id is None:
            return None
        with self._engine.sessions() as s:
            user = s.get(User, user_id)
            if user is None:
                return None
            return user.id, user.display_name or user.username, user.notify == "none"

    def unsubscribe(self, user_id: int) -> None:
        """Send this person no more e-mail."""
        with transaction(self._engine.sessions) as s:
            s.get_one(User, user_id).notify = "none"
