"""API bearer tokens: issue, verify, list and revoke. Only a token's SHA-256 is stored.

The plain token is shown once, when it is created; afterwards its `prefix` (the first characters)
lets an owner tell their tokens apart.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from engine.errors import InvalidData, NotFound
from engine.store.models import ApiToken, User

TOKEN_PREFIX = "pf_"  # noqa: S105 - a marker, not a secret
"""Marks Pathfinder tokens, so secret scanners and people recognise a leaked one."""

PREFIX_LENGTH = 8
"""How many leading characters of a token are stored in clear to identify it."""

DEFAULT_LIFETIME_DAYS = 90
"""Lifetime of a token when the caller does not choose one."""

MAX_LIFETIME_DAYS = 365
"""Longest lifetime a token may be given."""

LAST_USED_RESOLUTION = timedelta(minutes=1)
"""`last_used_at` is written at most this often per token (spares a write on every request)."""


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token, as stored in `ApiToken.token_hash`."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_terms(name: str, lifetime_days: int | None, max_days: int) -> tuple[str, int]:
    """A token request's name and lifetime in days, checked (`InvalidData` says what is wrong):
    `lifetime_days=None` gives the longest lifetime allowed, `max_days`."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidData("The token needs a name.", {"name": "1-200 characters."})
    if lifetime_days is None:
        lifetime_days = max_days
    if not 1 <= lifetime_days <= max_days:
        raise InvalidData(
            "Invalid token lifetime.",
            {"expires_in_days": f"Between 1 and {max_days} days."},
        )
    return name, lifetime_days


def create_token(
    session: Session,
    user: User,
    name: str,
    *,
    now: datetime,
    lifetime_days: int | None = DEFAULT_LIFETIME_DAYS,
    max_days: int = MAX_LIFETIME_DAYS,
) -> tuple[ApiToken, str]:
    """Issue a token for `user`; returns the stored row and the plain token (shown only now).

    Every token expires: `lifetime_days=None` gives the longest lifetime allowed, `max_days`
    (the `PATHFINDER_TOKEN_MAX_DAYS` setting).
    """
    name, lifetime_days = token_terms(name, lifetime_days, max_days)
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=hash_token(plain),
        prefix=plain[:PREFIX_LENGTH],
        created_at=now,
        expires_at=now + timedelta(days=lifetime_days),
    )
    session.add(row)
    session.flush()
    return row, plain


def verify_token(session: Session, token: str, *, now: datetime) -> ApiToken | None:
    """The valid, unexpired, unrevoked token row of an active user (`.user`), or None.

    Marks when the token was last used (at most once a minute); the caller commits, and may
    drop that write if the database is busy.
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = hash_token(token)
    row = session.execute(
        # The user comes with the token in one statement: this runs on every API request.
        select(ApiToken).options(joinedload(ApiToken.user)).where(ApiToken.token_hash == digest)
    ).scalar()
    # The lookup is by hash; compare again in constant time so the check never depends on
    # how the database compares strings.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    if not row.user.active:
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
    return row


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    """The user's tokens, newest first (revoked and expired ones included, marked as such)."""
    return list(
        session.execute(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        ).scalars()
    )


def revoke_token(session: Session, user: User | None, token_id: int, *, now: datetime) -> ApiToken:
    """Revoke one of the user's own tokens; another user's token is reported as not found.
    `user=None` (an admin) may revoke anyone's token."""
    row = session.get(ApiToken, token_id)
    if row is None or (user is not None and row.user_id != user.id):
        raise NotFound(f"You have no token {token_id}.", token_id=token_id)
    if row.revoked_at is None:
        row.revoked_at = now
        session.flush()
    return row


def all_tokens(session: Session) -> list[ApiToken]:
    """Every user's tokens, newest first (for the admins' token page)."""
    return list(session.execute(select(ApiToken).order_by(ApiToken.id.desc())).scalars())


def revoke_all(session: Session, user_id: int, *, now: datetime) -> int:
    """Revoke every unrevoked token of a user (their password was reset); returns how many."""
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
