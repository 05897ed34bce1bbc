"""Browser sessions with a server-side identity: started at sign-in, ended by logout, password
reset, deactivation, or the idle and absolute timeouts.

The cookie holds a random token; the database holds only its SHA-256, so a stolen database
cannot be turned into sessions, and a copied cookie stops working once its session ends.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from engine.store.models import LoginAttempt, User, WebSession

TOUCH_RESOLUTION = timedelta(minutes=1)
"""`last_seen_at` is written at most this often per session (spares a write on every request)."""


@dataclass(frozen=True)
class SessionLimits:
    """How long a session may stay unused, and how long it may last at most."""

    idle: timedelta
    max_age: timedelta


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ProviderSession:
    """Who an OpenID provider signed in: its issuer, the person's `sub` there, and the
    provider's own session id (`sid`) when its ID token carries one."""

    issuer: str
    subject: str
    sid: str | None = None


def start(
    session: Session, user: User, *, now: datetime, provider: ProviderSession | None = None
) -> str:
    """Open a session for `user`; returns the token for the cookie (not stored anywhere)."""
    token = secrets.token_urlsafe(32)
    row = WebSession(id=_digest(token), user_id=user.id, created_at=now, last_seen_at=now)
    if provider is not None:
        row.oidc_issuer, row.oidc_subject = provider.issuer, provider.subject
        row.oidc_sid = provider.sid
    session.add(row)
    session.flush()
    return token


@dataclass(frozen=True)
class Check:
    """What `check` found: the user (None if the session is over) and what to write, if anything."""

    user: User | None
    end_reason: str | None = None
    touch: bool = False


def check(session: Session, token: str, *, now: datetime, limits: SessionLimits) -> Check:
    """Read-only: is the session behind `token` still open, and must it be ended or touched?"""
    if not token or len(token) > 100:
        return Check(None)
    row = session.get(WebSession, _digest(token))
    if row is None or row.ended_at is not None:
        return Check(None)
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return Check(None, "deactivated")
    if now - _aware(row.last_seen_at) > limits.idle:
        return Check(None, "idle")
    if now - _aware(row.created_at) > limits.max_age:
        return Check(None, "expired")
    return Check(user, touch=now - _aware(row.last_seen_at) >= TOUCH_RESOLUTION)


def touch(session: Session, token: str, *, now: datetime) -> None:
    """Note that the session was used now."""
    row = session.get(WebSession, _digest(token))
    if row is not None and row.ended_at is None:
        row.last_seen_at = now


def end(session: Session, token: str, *, now: datetime, reason: str) -> None:
    """End one session (logout, or a timeout found by `check`)."""
    row = session.get(WebSession, _digest(token))
    if row is not None and row.ended_at is None:
        row.ended_at, row.end_reason = now, reason


def end_for_provider(
    session: Session, issuer: str, *, subject: str | None, sid: str | None, now: datetime
) -> list[int]:
    """End the open sessions an OpenID provider's logout names: those opened with its session
    `sid` if it gives one, else every one of the person `subject` opened through it. Returns
    the users whose sessions ended (one entry per session)."""
    if sid is None and subject is None:
        return []
    where = [WebSession.oidc_issuer == issuer, WebSession.ended_at.is_(None)]
    if sid is not None:
        where.append(WebSession.oidc_sid == sid)
    if subject is not None:
        where.append(WebSession.oidc_subject == subject)
    rows = list(session.execute(select(WebSession).where(*where)).scalars())
    for row in rows:
        row.ended_at, row.end_reason = now, "provider_logout"
    return [row.user_id for row in rows]


def end_all(session: Session, user_id: int, *, now: datetime, reason: str) -> int:
    """End every open session of a user (password reset, deactivation); returns how many."""
    result = session.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def open_sessions(session: Session, user_id: int) -> list[WebSession]:
    """A user's open sessions, newest first."""
    return list(
        session.execute(
            select(WebSession)
            .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
            .order_by(WebSession.created_at.desc())
        ).scalars()
    )


def purge(
    session: Session, *, sessions_before: datetime, attempts_before: datetime
) -> tuple[int, int]:
    """Delete web sessions over before `sessions_before` (ended then, or unused since: past
    any idle timeout) and sign-in attempts made before `attempts_before`; returns (sessions,
    attempts) deleted. Attempts only throttle guessing for minutes; sign-ins and refusals stay
    in the audit."""
    over = func.coalesce(WebSession.ended_at, WebSession.last_seen_at) < sessions_before
    ended = session.execute(delete(WebSession).where(over)).rowcount  # type: ignore[attr-defined]
    tried = session.execute(  # type: ignore[attr-defined]
        delete(LoginAttempt).where(LoginAttempt.at < attempts_before)
    ).rowcount
    return int(ended or 0), int(tried or 0)
