"""User accounts: creation, password checks (werkzeug's scrypt hashing), lookups."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from engine.errors import N_, Conflict, Forbidden, InvalidData, NotFound, TooManyAttempts
from engine.people import sessions, tokens
from engine.people.access import ROLES, Actor
from engine.people.identities import audit_refusal, audit_sign_in
from engine.people.permissions import may_change_active, may_change_roles
from engine.records.history import Recorder
from engine.store.models import LoginAttempt, User

THROTTLE_FREE_FAILURES = 3
"""Failed sign-ins for one username from one address that cost nothing; each further one doubles
the wait before the next try (1 s, 2 s, 4 s ... up to THROTTLE_MAX_DELAY)."""
THROTTLE_FAILURES = THROTTLE_FREE_FAILURES + 2
"""Failures after which a wait of a couple of seconds is certain (kept for callers and tests)."""
THROTTLE_WINDOW = timedelta(minutes=15)
"""Failures older than this are forgotten."""
THROTTLE_MAX_DELAY = timedelta(minutes=15)
"""The longest wait between tries for one username from one address."""
ADDRESS_FREE_FAILURES = 30
"""Failures from one address (any usernames) within the window before that address waits too."""

_DUMMY_HASH: list[str] = []
"""A password hash to check against when the username is unknown, so that answers for unknown
and known usernames take the same time (computed once, with the current hashing method)."""

USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,150}$")
MIN_PASSWORD = 8


def _check(
    username: str, roles: Iterable[str], country: str | None, password: str | None
) -> dict[str, str]:
    errors = {}
    if not USERNAME.match(username):
        errors["username"] = "2-150 letters, digits or . _ @ -"
    bad = [r for r in roles if r not in ROLES]
    if bad or not list(roles):
        errors["roles"] = f"Choose from: {', '.join(ROLES)}."
    if "country" in roles and not (country and len(country) == 3 and country.isalpha()):
        errors["country"] = "Country users need an ISO 3166-1 alpha-3 code (e.g. NPL)."
    if password is not None and len(password) < MIN_PASSWORD:
        errors["password"] = f"At least {MIN_PASSWORD} characters."
    return errors


def create_user(
    session: Session,
    username: str,
    password: str,
    roles: Iterable[str],
    *,
    now: datetime,
    country: str | None = None,
    email: str | None = None,
    display_name: str | None = None,
    actor: str = "system",
    locale: str | None = None,
) -> User:
    """Add a user (recorded on the system chain).

    Refuses a taken username or an invalid role, country or password.
    """
    roles = list(dict.fromkeys(roles))
    errors = _check(username, roles, country, password)
    if errors:
        raise InvalidData("The user could not be created.", errors)
    if session.execute(select(User.id).where(User.username == username)).scalar() is not None:
        raise Conflict(
            N_("A user named '%(username)s' already exists."), params={"username": username}
        )
    user = User(
        username=username,
        password_hash=generate_password_hash(password),
        roles=roles,
        country=country.upper() if country else None,
        email=email,
        display_name=display_name,
        active=True,
        notify="immediate",
        locale=locale,
        created_at=now,
    )
    session.add(user)
    session.flush()
    _audit(session, "user_created", actor, now, user, roles=roles, country=user.country)
    return user


def set_password(user: User, password: str) -> None:
    """Replace a user's password (hashed)."""
    if len(password) < MIN_PASSWORD:
        raise InvalidData(
            "Password too short.", {"password": f"At least {MIN_PASSWORD} characters."}
        )
    user.password_hash = generate_password_hash(password)


def _audit(
    session: Session, kind: str, actor: str, now: datetime, user: User, **data: object
) -> None:
    Recorder(session, None, now).record(
        kind,
        actor=actor,
        element_id=f"user:{user.username}",
        data={"username": user.username, **data},
    )


def update_user(
    session: Session,
    user_id: int,
    *,
    actor: str,
    now: datetime,
    roles: list[str],
    country: str | None,
    email: str | None,
    display_name: str | None,
) -> User:
    """Change a user's roles, country and contact details; recorded on the system chain."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user with id {user_id}.")
    errors = _check(user.username, roles, country, None)
    if not may_change_roles(actor, user.username, roles):
        errors["roles"] = "You cannot remove your own admin role."
    if errors:
        raise InvalidData("The user could not be saved.", errors)
    before = {"roles": list(user.roles or []), "country": user.country, "email": user.email}
    user.roles, user.country = list(dict.fromkeys(roles)), country.upper() if country else None
    user.email, user.display_name = email, display_name
    after = {"roles": user.roles, "country": user.country, "email": user.email}
    _audit(session, "user_updated", actor, now, user, before=before, after=after)
    return user


def set_active(session: Session, user_id: int, active: bool, *, actor: str, now: datetime) -> User:
    """Deactivate (or re-activate) an account; recorded on the system chain."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user with id {user_id}.")
    if not may_change_active(actor, user.username, active):
        raise Forbidden("You cannot deactivate your own account.")
    user.active = active
    if not active:
        sessions.end_all(session, user.id, now=now, reason="deactivated")
    _audit(session, "user_activated" if active else "user_deactivated", actor, now, user)
    return user


def reset_password(
    session: Session, user_id: int, password: str, *, actor: str, now: datetime
) -> User:
    """Set a new password for someone (recorded, without the password)."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user with id {user_id}.")
    set_password(user, password)
    # Whoever knew the old password may hold a session or a token: end them all.
    sessions.end_all(session, user.id, now=now, reason="password_reset")
    tokens.revoke_all(session, user.id, now=now)
    _audit(session, "password_reset", actor, now, user)
    return user


def _dummy_hash() -> str:
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(generate_password_hash("pathfinder-dummy-password"))
    return _DUMMY_HASH[0]


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None. Unknown and inactive users cost a
    password check too, so the answer's timing does not tell which usernames exist."""
    user = session.execute(select(User).where(User.username == username)).scalar()
    if user is None or not user.active:
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    return user


def _wait(failures: int, free: int, last: datetime | None, now: datetime) -> timedelta:
    """How much longer to wait after `failures` recent failures, the last at `last`."""
    if last is None or failures < free:
        return timedelta(0)
    delay = min(timedelta(seconds=2 ** min(failures - free, 20)), THROTTLE_MAX_DELAY)
    last = last if last.tzinfo else last.replace(tzinfo=now.tzinfo)
    return max(timedelta(0), last + delay - now)


SIGN_IN_LOCK = 0x5046_5349_474E_494E  # "PFSIGNIN"
"""PostgreSQL advisory lock key that queues the first part of password sign-ins."""


@dataclass(frozen=True)
class Attempt:
    """A password sign-in between its two short transactions (`begin_sign_in`,
    `finish_sign_in`): its password is checked in between, holding no database lock (a password
    hash costs a tenth of a second of CPU, and on SQLite a write transaction holds every writer)."""

    username: str
    remote_addr: str | None
    attempt_id: int
    """The `LoginAttempt` row counted as a failure until the password proves right: guesses
    sent side by side see each other's attempts, so the throttle stays as strict as when the
    check ran inside the transaction."""
    user_id: int | None
    """The active user of that name, if any."""
    password_hash: str | None

    def password_matches(self, password: str) -> bool:
        """Check `password` (no database). Unknown and inactive users cost a check too, so the
        answer's timing does not tell which usernames exist."""
        if self.password_hash is None:
            check_password_hash(_dummy_hash(), password)
            return False
        return check_password_hash(self.password_hash, password)


def begin_sign_in(
    session: Session,
    username: str,
    password: str,
    *,
    now: datetime,
    remote_addr: str | None = None,
    method: str = "password",
) -> Attempt | None:
    """The first part of a password sign-in, throttled for every web process and the API.

    Failures are counted per username *and* client address, with a wait that doubles with each
    failure past THROTTLE_FREE_FAILURES; someone guessing from elsewhere therefore never locks
    the owner out. An address failing for many usernames waits too. Raises `TooManyAttempts`
    (with `details["retry_after"]` in seconds) while a wait is due. Otherwise records the
    attempt (as a failure until `finish_sign_in` says otherwise) and returns it; None for a
    username or password no account can have (refused and audited at once)."""
    username = username[:150]
    if "\x00" in username or "\x00" in password:
        audit_refusal(session, now, method, "invalid characters")
        return None  # no account can have one; PostgreSQL cannot even compare it
    if session.get_bind().dialect.name == "postgresql":
        # Count and record in turn, as SQLite's write lock makes them: under READ COMMITTED two
        # guesses would each count failures without the other's (a few milliseconds each).
        session.execute(select(func.pg_advisory_xact_lock(SIGN_IN_LOCK)))
    since = now - THROTTLE_WINDOW
    pair_failures, pair_last = session.execute(
        select(func.count(), func.max(LoginAttempt.at)).where(
            LoginAttempt.username == username,
            LoginAttempt.remote_addr == remote_addr
            if remote_addr is not None
            else LoginAttempt.remote_addr.is_(None),
            LoginAttempt.at >= since,
        )
    ).one()
    wait = _wait(pair_failures, THROTTLE_FREE_FAILURES, pair_last, now)
    if remote_addr is not None:
        addr_failures, addr_last = session.execute(
            select(func.count(), func.max(LoginAttempt.at)).where(
                LoginAttempt.remote_addr == remote_addr, LoginAttempt.at >= since
            )
        ).one()
        wait = max(wait, _wait(addr_failures, ADDRESS_FREE_FAILURES, addr_last, now))
    if wait > timedelta(0):
        seconds = max(1, int(wait.total_seconds() + 0.999))
        raise TooManyAttempts(
            N_("Too many failed sign-ins for '%(user)s'. Wait %(seconds)s seconds and try again."),
            params={"user": username, "seconds": seconds},
            retry_after=seconds,
        )
    attempt = LoginAttempt(username=username, remote_addr=remote_addr, at=now)
    session.add(attempt)
    session.flush()
    user = session.execute(select(User).where(User.username == username)).scalar()
    active = user is not None and user.active
    return Attempt(
        username=username,
        remote_addr=remote_addr,
        attempt_id=attempt.id,
        user_id=user.id if user is not None and active else None,
        password_hash=user.password_hash if user is not None and active else None,
    )


def finish_sign_in(
    session: Session, attempt: Attempt, matched: bool, *, now: datetime, method: str
) -> User | None:
    """The second part: the user when the password matched and the account is still active
    with the same password (else the recorded failure stays), audited either way."""
    user = session.get(User, attempt.user_id) if matched and attempt.user_id else None
    if user is None or not user.active or user.password_hash != attempt.password_hash:
        audit_refusal(
            session, now, method, "unknown username or wrong password", username=attempt.username
        )
        return None
    session.execute(
        delete(LoginAttempt).where(
            LoginAttempt.username == attempt.username,
            LoginAttempt.remote_addr == attempt.remote_addr
            if attempt.remote_addr is not None
            else LoginAttempt.remote_addr.is_(None),
        )
    )
    audit_sign_in(session, now, user.username, method)
    return user


def actor_for(user: User) -> Actor:
    """The engine-side identity of a signed-in user."""
    return Actor(user.username, roles=user.roles or (), country=user.country)
