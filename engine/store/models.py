"""Tables. What the UI queries (ready tasks, due timers, instance status, history) lives in
indexed columns; the SpiffWorkflow state is an opaque JSON document per instance."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from engine.store.db import Base


class _UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; every stored time must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UTCDateTime = _UTCDateTime()


class ProcessModel(Base):
    """A process key (the BPMN process id) and settings shared by all its versions."""

    __tablename__ = "process_models"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(300))
    lane_roles: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    """Lane name -> role allowed to act in it. Lanes not listed map by name (see access.py)."""
    start_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Roles that may start instances; empty means process owners and admins only."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    versions: Mapped[list[ProcessVersion]] = relationship(
        back_populates="model", order_by="ProcessVersion.version"
    )


class ProcessVersion(Base):
    """One deployed version of a process: its source files, forms and parsed spec."""

    __tablename__ = "process_versions"
    __table_args__ = (
        UniqueConstraint("process_key", "version"),
        Index("ix_process_versions_key_hash", "process_key", "content_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_key: Mapped[str] = mapped_column(ForeignKey("process_models.key"))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(300))
    content_hash: Mapped[str] = mapped_column(String(64))
    dialect: Mapped[str] = mapped_column(String(20))
    main_file: Mapped[str] = mapped_column(String(300))
    files: Mapped[dict[str, str]] = mapped_column(JSON)
    """File name -> BPMN/DMN XML text, as deployed."""
    forms: Mapped[dict[str, str]] = mapped_column(JSON)
    """Form file name -> JSON text, snapshotted so running instances keep their forms."""
    executable: Mapped[bool] = mapped_column(Boolean)
    not_executable_reason: Mapped[str | None] = mapped_column(Text)
    spec_json: Mapped[str | None] = mapped_column(Text)
    lanes: Mapped[list[str]] = mapped_column(JSON, default=list)
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    deployed_by: Mapped[str] = mapped_column(String(150))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)

    model: Mapped[ProcessModel] = relationship(back_populates="versions")


class Instance(Base):
    """A running (or finished) process instance."""

    __tablename__ = "instances"
    __table_args__ = (
        Index("ix_instances_status_process", "status", "process_key"),
        Index("ix_instances_country", "country"),
        Index("ix_instances_stage", "stage"),
        Index(
            "ix_instances_mail_due",
            "id",
            sqlite_where=text("audit_count > mailed_seq"),
            postgresql_where=text("audit_count > mailed_seq"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    """running | suspended | completed | cancelled | error"""
    business_key: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(3))
    stage: Mapped[str | None] = mapped_column(String(100))
    label: Mapped[str | None] = mapped_column(String(300))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Instance-level variables: every key a task set, latest value wins."""
    state: Mapped[str] = mapped_column(Text)
    """SpiffWorkflow state (spec stripped; the version's spec is re-attached on load)."""
    error_element_id: Mapped[str | None] = mapped_column(String(200))
    error_message: Mapped[str | None] = mapped_column(Text)
    started_by: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    audit_head: Mapped[str | None] = mapped_column(String(64))
    """Hash of the newest audit event of this instance's chain (detects a removed tail)."""
    audit_count: Mapped[int] = mapped_column(Integer, default=0)
    mailed_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """The last event of the instance's chain whose mail the outbox worker has queued
    (`notifications.queue_due`); events after it still owe their mail."""
    lock_version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": lock_version}

    process_version: Mapped[ProcessVersion] = relationship()


class HumanTask(Base):
    """A user or manual task that a person can act on (or did)."""

    __tablename__ = "human_tasks"
    __table_args__ = (
        Index("ix_human_tasks_state_lane", "state", "lane"),
        # The inbox order (soonest due first, undated last, then oldest): staff read the open
        # tasks in this index's order and stop after a page; country users use the second.
        Index("ix_human_tasks_inbox", "state", "due_at", "created_at", "id"),
        Index("ix_human_tasks_inbox_country", "state", "country", "due_at", "created_at", "id"),
        # "Assigned to me": two equalities, so SQLite picks it over the state-only prefixes.
        Index("ix_human_tasks_claimed_by_state", "claimed_by", "state"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    """The SpiffWorkflow task id (UUID)."""
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(200))
    element_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(300))
    lane: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(3))
    form_file: Mapped[str | None] = mapped_column(String(300))
    ui_form_file: Mapped[str | None] = mapped_column(String(300))
    instructions: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20))
    """ready | completed | cancelled"""
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(150))
    draft: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    draft_by: Mapped[str | None] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[str | None] = mapped_column(String(150))
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When the reminder before the due date was queued (None: not yet)."""
    overdue_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When the overdue notice and escalation were queued (None: not yet)."""


class TimerJob(Base):
    """A waiting timer event, with the lease a worker holds while firing it."""

    __tablename__ = "timer_jobs"
    __table_args__ = (
        UniqueConstraint("instance_id", "task_id"),
        Index("ix_timer_jobs_due", "state", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(60))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(20), default="waiting")
    """waiting | incident"""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


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
    __table_args__ = (Index("ix_web_sessions_user_ended", "user_id", "ended_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """Hex SHA-256 of the token in the cookie."""
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(40))
    """logout, idle, expired, password_reset, deactivated."""


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
