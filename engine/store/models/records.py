"""Tables of what is kept: the audit chain, the e-mail outbox, attachments and submissions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, orm_insert_sentinel

from engine.store.db import Base
from engine.store.models.columns import UTCDateTime


class AuditEvent(Base):
    """An append-only, hash-chained record of something that happened."""

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("chain", "seq"),
        Index("ix_audit_events_country_at", "country", "at"),
        Index("ix_audit_events_kind_at", "kind", "at"),
        Index("ix_audit_events_actor_at", "actor", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain: Mapped[str] = mapped_column(String(40))
    """`instance:<id>` for an instance's events, `system` for deployments and administration."""
    seq: Mapped[int] = mapped_column(Integer)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id"), index=True)
    process_version_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(60))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str | None] = mapped_column(String(150))
    country: Mapped[str | None] = mapped_column(String(3))
    element_id: Mapped[str | None] = mapped_column(String(200))
    element_name: Mapped[str | None] = mapped_column(String(300))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    _sentinel: Mapped[int | None] = orm_insert_sentinel("insert_sentinel")
    """Not part of the record: numbers the rows of one multi-row INSERT so the ids it returns
    are matched to their events, which lets SQLite write a flush's events in one statement
    (SQLAlchemy's insertmanyvalues; PostgreSQL would batch without it). Left out of the hash,
    the exports and every read; NULL on rows inserted alone."""


class OutboxMessage(Base):
    """An e-mail waiting to be sent (or sent, or failed), written with the event that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_next", "state", "next_attempt_at"),
        Index("ix_outbox_user_digest", "user_id", "digest_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    """One message per cause and recipient, however often the cause is seen."""
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    to_address: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36))
    state: Mapped[str] = mapped_column(String(20))
    """pending | digest | sent | failed | skipped"""
    digest_date: Mapped[str | None] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[str | None] = mapped_column(String(250))
    """The Message-ID header, fixed before the first attempt so a resend carries the same one."""
    sending_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Real time an attempt began; still set after a crash means the outcome is unknown."""


class Attachment(Base):
    """An uploaded document, stored once per content (SHA-256) and tied to a task."""

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_sha256", "sha256"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(200))
    uploaded_by: Mapped[str] = mapped_column(String(150))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    task_id: Mapped[str | None] = mapped_column(String(36), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id"), index=True)
    field: Mapped[str | None] = mapped_column(String(200))
    """The form field it was uploaded for."""
    state: Mapped[str] = mapped_column(String(20), default="uploaded")
    """uploaded (not yet part of a completed task) | attached"""


class Submission(Base):
    """What one completed task submitted: written once, in the completion's transaction, and
    never changed (a later task writing a variable of the same name does not touch it)."""

    __tablename__ = "submissions"
    __table_args__ = (
        UniqueConstraint("task_id"),
        Index("ix_submissions_instance_element", "instance_id", "element_id", "round"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"))
    element_id: Mapped[str] = mapped_column(String(200))
    element_name: Mapped[str] = mapped_column(String(300))
    task_id: Mapped[str] = mapped_column(String(36))
    round: Mapped[int] = mapped_column(Integer)
    """1 for the element's first submission in the instance, 2 for the next (a task sent back
    and done again, or the next annual occurrence), and so on."""
    form_file: Mapped[str | None] = mapped_column(String(300))
    ui_form_file: Mapped[str | None] = mapped_column(String(300))
    lane: Mapped[str | None] = mapped_column(String(200))
    submitted_by: Mapped[str] = mapped_column(String(150))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The validated form data, exactly as submitted."""
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """`{id, field, filename, size, sha256}` of each file the submission attached."""
