"""Noun handles on `Engine`: `engine.people` and `engine.tokens`.

Each handle is bound to the engine's sessions and clocks, opens its own transactions and returns
frozen read types, so the web app and the CLI never hold a database session or a row (as do
the other handles: `engine.processes`, `engine.tasks`, `engine.instances`, `engine.audit`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from engine.people import accounts, identities, sessions
from engine.people import tokens as token_rows
from engine.people.access import Actor
from engine.people.password_sign_in import password_checked
from engine.people.token_cache import TokenCache
from engine.store.db import transaction
from engine.store.models import ApiToken, User

if TYPE_CHECKING:
    from engine.bpmn.handles import Models
    from engine.core import Engine
    from engine.people.admin import Access, Users

log = logging.getLogger("pathfinder.web")


@dataclass(frozen=True)
class Person:
    """A user account as the web app and the API read it."""

    id: int
    """The account's id."""
    username: str
    """The sign-in name."""
    display_name: str | None
    """The name shown to people, if set."""
    email: str | None
    """Where mail goes, if set."""
    roles: tuple[str, ...]
    """The account's roles."""
    country: str | None
    """ISO alpha-3 country of a country user."""
    active: bool
    """False once an admin deactivated the account."""
    locale: str | None = None
    """The language the person chose for pages and mail, if any."""
    stamp: str = ""
    """Changes whenever the password changes (the tail of its hash): part of a web session's
    id, so a changed password ends sessions even when it was set outside the engine."""

    @classmethod
    def of(cls, row: User) -> Person:
        """The read view of a user row."""
        return cls(
            row.id,
            row.username,
            row.display_name,
            row.email,
            tuple(row.roles or ()),
            row.country,
            row.active,
            row.locale,
            row.password_hash[-12:],
        )

    @property
    def actor(self) -> Actor:
        """The engine identity this person acts as."""
        return Actor(self.username, self.roles, self.country)


@dataclass(frozen=True)
class TokenView:
    """An API token as its owner (or an admin) sees it; never the token itself."""

    id: int
    """The token's id (to revoke it)."""
    name: str
    """What the token is for, as its owner named it."""
    prefix: str
    """The first characters of the token, to recognise it."""
    created_at: datetime
    """When it was issued."""
    expires_at: datetime | None
    """When it stops working."""
    last_used_at: datetime | None
    """When it was last used (to the minute)."""
    revoked_at: datetime | None
    """When it was revoked, if it was."""

    @classmethod
    def of(cls, row: ApiToken) -> TokenView:
        """The read view of a token row."""
        return cls(
            row.id,
            row.name,
            row.prefix,
            row.created_at,
            row.expires_at,
            row.last_used_at,
            row.revoked_at,
        )


class People:
    """User accounts as the web app and the API need them (`engine.people`)."""

    def __init__(self, engine: Engine) -> None:
        """Bind the handle to `engine`'s sessions and clocks."""
        self._engine = engine

    def get(self, user_id: int) -> Person | None:
        """The account with this id, or None."""
        with self._engine.sessions() as s:
            row = s.get(User, user_id)
            return Person.of(row) if row is not None else None

    def by_username(self, username: str) -> Person | None:
        """The account with this sign-in name, or None."""
        with self._engine.sessions() as s:
            row = s.execute(select(User).where(User.username == username)).scalar()
            return Person.of(row) if row is not None else None

    def create(
        self,
        username: str,
        password: str,
        roles: Sequence[str],
        *,
        country: str | None = None,
        email: str | None = None,
        display_name: str | None = None,
        actor: str = "system",
    ) -> Person:
        """Add an account (recorded on the system chain); `InvalidData` names what is wrong."""
        with transaction(self._engine.sessions) as s:
            row = accounts.create_user(
                s,
                username,
                password,
                roles,
                now=self._engine.now(),
                country=country,
                email=email,
                display_name=display_name,
                actor=actor,
            )
            return Person.of(row)

    def refuse(self, method: str, reason: str, **data: object) -> None:
        """Record a refused sign-in (who tried, as far as known, how and why)."""
        with transaction(self._engine.sessions) as s:
            identities.audit_refusal(s, self._engine.now(), method, reason, **data)

    def sign_in_external(
        self,
        *,
        provider: str,
        issuer: str,
        claims: Mapping[str, Any],
        roles_claim: str,
        username_claim: str,
    ) -> tuple[Person | None, str | None]:
        """The person an OpenID provider vouches for (created or updated from the claims),
        or None with the refusal to show (`engine.identities.sign_in_external`)."""
        with transaction(self._engine.sessions) as s:
            result = identities.sign_in_external(
                s,
                provider=provider,
                issuer=issuer,
                claims=claims,
                roles_claim=roles_claim,
                username_claim=username_claim,
                now=self._engine.now(),
            )
            person = Person.of(result.user) if result.user is not None else None
            return person, result.refusal

    # -- web sessions (on the wall clock) ----------------------------------------------------

    def _limits(self) -> sessions.SessionLimits:
        settings = self._engine.settings
        return sessions.SessionLimits(
            idle=timedelta(minutes=settings.session_idle_minutes),
            max_age=timedelta(hours=settings.session_max_hours),
        )

    def open_session(
        self, user_id: int, provider: sessions.ProviderSession | None = None
    ) -> tuple[Person, str] | None:
        """Open a web session for an active account: the person and the cookie's token; None for
        a missing or deactivated account (`provider`: for the provider's back-channel logout)."""
        with transaction(self._engine.sessions) as s:
            row = s.get(User, user_id)
            if row is None or not row.active:
                return None
            token = sessions.start(s, row, now=self._engine.wall_clock.now(), provider=provider)
            return Person.of(row), token

    def end_provider_sessions(
        self, provider: str, issuer: str, sub: str | None, sid: str | None
    ) -> int:
        """Back-channel logout: end the sessions `provider` opened with its session `sid` (else
        for `subject`), each person's noted on the system chain. Returns how many ended."""
        now, at = self._engine.wall_clock.now(), self._engine.now()
        with transaction(self._engine.sessions) as s:
            return identities.signed_out_by_provider(s, provider, issuer, sub, sid, now, at)

    def check_session(self, token: str) -> Person | None:
        """The person whose web session `token` is still open (idle and absolute timeouts),
        or None. Ends a session that ran out; notes it as seen, best effort."""
        engine = self._engine
        now = engine.wall_clock.now()
        with engine.sessions() as s:
            found = sessions.check(s, token, now=now, limits=self._limits())
            person = Person.of(found.user) if found.user is not None else None
        if found.end_reason:
            self.end_session(token, found.end_reason)
        elif found.touch:
            try:
                with transaction(engine.sessions) as s:
                    sessions.touch(s, token, now=now)
            except Exception:  # noqa: BLE001 - "last seen" is best effort; a busy database may drop it
                log.warning("could not note the session as seen", exc_info=True)
        return person

    def end_session(self, token: str, reason: str) -> None:
        """End a web session (logout, timeout)."""
        with transaction(self._engine.sessions) as s:
            sessions.end(s, token, now=self._engine.wall_clock.now(), reason=reason)

    def purge(self) -> tuple[int, int]:
        """Delete web sessions and sign-in attempts older than `session_retention_days`:
        (sessions, attempts) deleted. Sessions are on the wall clock, attempts on the engine's."""
        keep = timedelta(days=self._engine.settings.session_retention_days)
        with transaction(self._engine.sessions) as s:
            return sessions.purge(
                s,
                sessions_before=self._engine.wall_clock.now() - keep,
                attempts_before=self._engine.now() - keep,
            )

    def sign_in(
        self, username: str, password: str, *, remote_addr: str | None, method: str
    ) -> Person | None:
        """Check a password with the shared throttling (`engine.accounts.begin_sign_in`); None
        for wrong credentials. `TooManyAttempts` is raised after the refusal is audited."""
        with password_checked(self._engine, username, password, remote_addr, method) as (_, row):
            return Person.of(row) if row is not None else None


class Tokens:
    """API bearer tokens (`engine.tokens`): issued, listed, revoked and checked on the wall
    clock, so a simulated clock never expires or revives one."""

    def __init__(self, engine: Engine) -> None:
        """Bind the handle to `engine`'s sessions and clocks."""
        self._engine = engine
        self._cache = TokenCache(engine.settings.token_cache_seconds)
        self._cache.watch(engine.sessions)

    default_days: int = token_rows.DEFAULT_LIFETIME_DAYS
    """The lifetime the token form suggests."""

    @property
    def max_days(self) -> int:
        """The longest lifetime a token may get (`PATHFINDER_TOKEN_MAX_DAYS`)."""
        return self._engine.settings.token_max_days

    def of_user(self, user_id: int) -> list[TokenView]:
        """The user's tokens, newest first (revoked and expired ones included)."""
        with self._engine.sessions() as s:
            user = s.get_one(User, user_id)
            return [TokenView.of(t) for t in token_rows.list_tokens(s, user)]

    def create(
        self, user_id: int, name: str, lifetime_days: int | None = None
    ) -> tuple[TokenView, str]:
        """Issue a token for the user; the plain token is returned only now. `InvalidData`
        names a bad name or lifetime."""
        with transaction(self._engine.sessions) as s:
            return self._new_token(s, s.get_one(User, user_id), name, lifetime_days)

    def _new_token(
        self, s: Session, user: User, name: str, lifetime_days: int | None
    ) -> tuple[TokenView, str]:
        row, plain = token_rows.create_token(
            s,
            user,
            name,
            now=self._engine.wall_clock.now(),
            lifetime_days=lifetime_days,
            max_days=self.max_days,
        )
        return TokenView.of(row), plain

    def issue(
        self,
        username: str,
        password: str,
        name: str,
        lifetime_days: int | None,
        *,
        remote_addr: str | None,
    ) -> tuple[TokenView, str] | None:
        """Check a password (throttled, audited) and issue a token in the same transaction;
        None for wrong credentials, `TooManyAttempts` while a wait is due."""
        token_rows.token_terms(name, lifetime_days, self.max_days)  # before any password check
        method = "api-token-request"
        with password_checked(self._engine, username, password, remote_addr, method) as (s, user):
            return None if user is None else self._new_token(s, user, name, lifetime_days)

    def revoke(self, user_id: int, token_id: int) -> TokenView:
        """Revoke one of the user's own tokens; another user's answers `NotFound`."""
        with transaction(self._engine.sessions) as s:
            user = s.get_one(User, user_id)
            row = token_rows.revoke_token(s, user, token_id, now=self._engine.wall_clock.now())
            return TokenView.of(row)

    def verify(self, token: str) -> Person | None:
        """The active person a valid token belongs to, or None. Notes when it was last used,
        best effort: a busy database never fails the request for that."""
        now = self._engine.wall_clock.now()
        cached = self._cache.get(token, now)
        if cached is not None:
            return cached
        with self._engine.sessions() as s:
            row = token_rows.verify_token(s, token, now=now)
            if row is None:
                return None
            person, expires_at = Person.of(row.user), row.expires_at
            try:
                s.commit()
            except SQLAlchemyError:
                s.rollback()
        self._cache.put(token, person, expires_at)
        return person


class AdminHandles:
    """The admin and modelling handles of `Engine`, made on first use: `engine.users`
    (`engine/people/admin.py`), `engine.access` (same) and `engine.models`
    (`engine/bpmn/handles.py`)."""

    @cached_property
    def users(self) -> Users:
        """Accounts and every user's API tokens, as admins manage them."""
        from engine.people.admin import Users

        return Users(cast("Engine", self))

    @cached_property
    def access(self) -> Access:
        """The OpenID claim mappings that grant roles at sign-in."""
        from engine.people.admin import Access

        return Access(cast("Engine", self))

    @cached_property
    def models(self) -> Models:
        """Process models to edit, check, compare, migrate and simulate; lane roles."""
        from engine.bpmn.handles import Models

        return Models(cast("Engine", self))
