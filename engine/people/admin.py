"""Admin handles on `Engine`: `engine.users` (accounts and every user's API tokens, as admins
manage them) and `engine.access` (the OpenID claim mappings that grant roles at sign-in).

Each handle opens its own sessions and transactions and returns frozen read types and pages of
them, so the admin pages hold no database session or row. What an admin may not do to their own
account is decided in `engine.people.permissions` and enforced here as well.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from engine.errors import NotFound
from engine.people import accounts, identities, permissions
from engine.people import tokens as token_rows
from engine.people.access import ROLES, Actor
from engine.people.handles import Person
from engine.records.paging import contains, read_page
from engine.records.queries import Page
from engine.store.db import transaction
from engine.store.models import ApiToken, ClaimMapping, User

if TYPE_CHECKING:
    from engine.core import Engine

TOKEN_STATES = ("active", "expired", "revoked")
"""The states the admins' token list filters on."""

USER_STATES = ("active", "inactive")
"""The account states the users list filters on."""


@dataclass(frozen=True)
class TokenRow:
    """One API token as the admins' page shows it (never the token itself)."""

    id: int
    """The token's id."""
    username: str
    """Its owner."""
    name: str
    """What its owner named it for."""
    prefix: str
    """Its first characters, to recognise it."""
    created_at: datetime
    """When it was issued."""
    expires_at: datetime | None
    """When it stops working."""
    last_used_at: datetime | None
    """When it was last used."""
    state: str
    """`active`, `expired` or `revoked` (on the wall clock)."""

    @classmethod
    def of(cls, row: ApiToken, at: datetime) -> TokenRow:
        """The read view of a token row, its state as of `at`."""
        expires = row.expires_at
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        state = (
            "revoked"
            if row.revoked_at
            else "expired"
            if expires is not None and expires <= at
            else "active"
        )
        return cls(
            row.id,
            row.user.username,
            row.name,
            row.prefix,
            row.created_at,
            row.expires_at,
            row.last_used_at,
            state,
        )


@dataclass(frozen=True)
class ClaimMappingView:
    """A claim value of an OpenID provider that grants a role (and maybe a country)."""

    id: int
    """The mapping's id."""
    provider: str
    """The provider's configured name."""
    claim_value: str
    """The value of the roles claim (a group name or id)."""
    role: str
    """The role it grants."""
    country: str | None
    """The country it grants, for country users."""
    created_by: str
    """The admin who added it."""

    @classmethod
    def of(cls, row: ClaimMapping) -> ClaimMappingView:
        """The read view of a claim mapping row."""
        return cls(row.id, row.provider, row.claim_value, row.role, row.country, row.created_by)


class Users:
    """User accounts and their API tokens as admins manage them (`engine.users`)."""

    roles: tuple[str, ...] = tuple(ROLES)
    """Every role an account may hold."""
    min_password: int = accounts.MIN_PASSWORD
    """The shortest password accepted."""
    username_pattern: re.Pattern[str] = accounts.USERNAME
    """What a sign-in name may look like."""

    def __init__(self, engine: Engine) -> None:
        """Bind the handle to `engine`'s sessions and clocks."""
        self._engine = engine

    def page(
        self, *, q: str = "", role: str = "", state: str = "", number: int = 1
    ) -> Page[Person]:
        """A page of accounts, active ones first, by name; `q` looks in the name, display name,
        e-mail and country, `role` and `state` (`active`/`inactive`) narrow it."""
        query = select(User).order_by(User.active.desc(), User.username)
        if q:
            query = query.where(
                contains(User.username, q)
                | contains(User.display_name, q)
                | contains(User.email, q)
                | contains(User.country, q)
            )
        if state in USER_STATES:
            query = query.where(User.active.is_(state == "active"))
        if role:  # roles are a JSON list: filter in Python, then page the matching ids
            with self._engine.sessions() as s:
                ids = [u.id for u in s.execute(query).scalars() if role in (u.roles or [])]
            query = query.where(User.id.in_(ids))
        return read_page(self._engine.sessions, query, number, Person.of)

    def get(self, user_id: int) -> Person:
        """The account with this id; `NotFound` when there is none."""
        with self._engine.sessions() as s:
            row = s.get(User, user_id)
            if row is None:
                raise NotFound(f"User {user_id} does not exist.")
            return Person.of(row)

    def create(
        self,
        username: str,
        password: str,
        roles: Sequence[str],
        *,
        actor: Actor,
        country: str | None = None,
        email: str | None = None,
        display_name: str | None = None,
    ) -> Person:
        """Add an account (audited); `InvalidData` names what is wrong, `Conflict` a name that
        is taken; `Forbidden` unless the actor is an admin."""
        permissions.check_may_administer(actor)
        return self._engine.people.create(
            username,
            password,
            roles,
            country=country,
            email=email,
            display_name=display_name,
            actor=actor.username,
        )

    def update(
        self,
        user_id: int,
        *,
        actor: Actor,
        roles: Sequence[str],
        country: str | None,
        email: str | None,
        display_name: str | None,
    ) -> Person:
        """Change an account's roles, country and contact details (audited). `InvalidData`
        names what is wrong, including an admin taking the admin role from themselves
        (`permissions.may_change_roles`)."""
        permissions.check_may_administer(actor)
        with transaction(self._engine.sessions) as s:
            row = accounts.update_user(
                s,
                user_id,
                actor=actor.username,
                now=self._engine.now(),
                roles=list(roles),
                country=country,
                email=email,
                display_name=display_name,
            )
            return Person.of(row)

    def set_active(self, user_id: int, active: bool, *, actor: Actor) -> Person:
        """Deactivate or re-activate an account (audited); `Forbidden` for deactivating
        oneself (`permissions.may_change_active`)."""
        permissions.check_may_administer(actor)
        with transaction(self._engine.sessions) as s:
            row = accounts.set_active(
                s, user_id, active, actor=actor.username, now=self._engine.now()
            )
            return Person.of(row)

    def reset_password(self, user_id: int, password: str, *, actor: Actor) -> None:
        """Set a new password (audited; the account's other sessions end); `InvalidData` for a
        password that is too weak."""
        permissions.check_may_administer(actor)
        with transaction(self._engine.sessions) as s:
            accounts.reset_password(
                s, user_id, password, actor=actor.username, now=self._engine.now()
            )

    def set_locale(self, user_id: int, code: str) -> None:
        """Remember the language a person chose for pages and mail."""
        with transaction(self._engine.sessions) as s:
            s.get_one(User, user_id).locale = code

    # -- every user's API tokens (on the wall clock) -----------------------------------------

    def tokens_page(self, *, user: str = "", state: str = "", number: int = 1) -> Page[TokenRow]:
        """A page of every user's API tokens, newest first; `user` looks in the owner's name,
        `state` is one of `TOKEN_STATES`."""
        at = self._engine.wall_clock.now()  # tokens expire on the wall clock
        query = select(ApiToken).join(ApiToken.user).order_by(ApiToken.id.desc())
        if user:
            query = query.where(contains(User.username, user))
        live = ApiToken.expires_at.is_(None) | (ApiToken.expires_at > at)
        if state == "revoked":
            query = query.where(ApiToken.revoked_at.is_not(None))
        elif state == "expired":
            query = query.where(ApiToken.revoked_at.is_(None), ~live)
        elif state == "active":
            query = query.where(ApiToken.revoked_at.is_(None), live)
        return read_page(self._engine.sessions, query, number, lambda t: TokenRow.of(t, at))

    def token(self, token_id: int) -> TokenRow:
        """One API token of any user; `NotFound` when there is none."""
        with self._engine.sessions() as s:
            row = s.get(ApiToken, token_id)
            if row is None:
                raise NotFound(f"Token {token_id} does not exist.")
            return TokenRow.of(row, self._engine.wall_clock.now())

    def revoke_token(self, token_id: int, *, actor: Actor) -> None:
        """Revoke any user's token; `Forbidden` unless the actor is an admin."""
        permissions.check_may_administer(actor)
        with transaction(self._engine.sessions) as s:
            token_rows.revoke_token(s, None, token_id, now=self._engine.wall_clock.now())


class Access:
    """How sign-ins through an OpenID provider get their roles (`engine.access`)."""

    def __init__(self, engine: Engine) -> None:
        """Bind the handle to `engine`'s sessions and clock."""
        self._engine = engine

    def mappings_page(
        self, *, q: str = "", provider: str = "", role: str = "", number: int = 1
    ) -> Page[ClaimMappingView]:
        """A page of the claim mappings, by provider and claim value; `q` looks in the claim
        value and country, `provider` and `role` narrow it."""
        query = select(ClaimMapping).order_by(ClaimMapping.provider, ClaimMapping.claim_value)
        if q:
            query = query.where(
                contains(ClaimMapping.claim_value, q) | contains(ClaimMapping.country, q)
            )
        if provider:
            query = query.where(ClaimMapping.provider == provider)
        if role:
            query = query.where(ClaimMapping.role == role)
        return read_page(self._engine.sessions, query, number, ClaimMappingView.of)

    def mapping(self, mapping_id: int) -> ClaimMappingView:
        """One claim mapping; `NotFound` when there is none."""
        with self._engine.sessions() as s:
            return ClaimMappingView.of(identities.mapping(s, mapping_id))

    def add_mapping(
        self,
        *,
        provider: str,
        claim_value: str,
        role: str,
        country: str,
        providers: Sequence[str],
        actor: Actor,
    ) -> ClaimMappingView:
        """Map a claim value of a configured provider to a role (audited); `InvalidData` names
        a wrong field, `Conflict` a value already mapped, `Forbidden` a non-admin."""
        permissions.check_may_administer(actor)
        with transaction(self._engine.sessions) as s:
            row = identities.add_mapping(
                s,
                provider=provider,
                claim_value=claim_value,
                role=role,
                country=country,
                providers=list(providers),
                actor=actor.username,
                now=self._engine.now(),
            )
            return ClaimMappingView.of(row)

    def delete_mapping(self, mapping_id: int, *, actor: Actor) -> None:
        """Delete a claim mapping (audited); `NotFound` when there is none."""
        permissions.check_may_administer(actor)
        with transaction(self._engine.sessions) as s:
            identities.delete_mapping(s, mapping_id, actor=actor.username, now=self._engine.now())
