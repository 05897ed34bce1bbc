"""Tables of the people who sign in: users, API tokens, web sessions, sign-in attempts, and
identities at OpenID providers with the claim mappings that give them roles.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.store.db import Base
from engine.store.models.columns import UTCDateTime


class User(Base):
    """A person who signs in; roles decide which lanes and pages they reach."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(300))
    password_hash: Mapped[str] = mapped_column(String(300))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    country: Mapped[str | None] = mapped_column(String(3))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    notify: Mapped[str] = mapped_column(String(20), default="immediate")
    """immediate | digest | none"""
    locale: Mapped[str | None] = mapped_column(String(10))
    """The user's language (`en`, `fr`, `es`); None: the browser's Accept-Language decides."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiToken(Base):
    """A bearer token for the REST API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    """The first characters of the token, shown so owners can tell tokens apart."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class WebSession(Base):
    """A signed-in browser session. The cookie carries a random token; only its SHA-256 is the
    id here, so logout, password resets, deactivation and timeouts can end it on the server."""

    __tablename__ = "web_sessions"
    __table_args__ = (
        Index("ix_web_sessions_user_ended", "user_id", "ended_at"),
        Index("ix_web_sessions_oidc_subject", "oidc_issuer", "oidc_subject"),
        Index("ix_web_sessions_oidc_sid", "oidc_issuer", "oidc_sid"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """Hex SHA-256 of the token in the cookie."""
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(40))
    """logout, idle, expired, password_reset, deactivated, provider_logout."""
    oidc_issuer: Mapped[str | None] = mapped_column(String(500))
    """For a session opened through an OpenID provider: its issuer, the person's `sub` there and
    the provider's session id (`sid`, when the ID token carries one), so that the provider's
    back-channel logout can end it. Null for a password sign-in."""
    oidc_subject: Mapped[str | None] = mapped_column(String(255))
    oidc_sid: Mapped[str | None] = mapped_column(String(255))


class LoginAttempt(Base):
    """Failed sign-ins, for throttling (shared by every web process through the database)."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_remote_addr_at", "remote_addr", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class ExternalIdentity(Base):
    """A person at an OpenID provider (`iss` + `sub`, stable) tied to a Pathfinder user."""

    __tablename__ = "external_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    provider: Mapped[str] = mapped_column(String(40))
    """The provider's name in the settings it was last seen through."""
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class ClaimMapping(Base):
    """A claim value (e.g. a group) of a provider that grants a role, and optionally a country."""

    __tablename__ = "claim_mappings"
    __table_args__ = (UniqueConstraint("provider", "claim_value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))
    claim_value: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(40))
    country: Mapped[str | None] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(150))
