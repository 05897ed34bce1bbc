"""Tables of process models and their running instances: versions, ready tasks, timers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.store.db import Base
from engine.store.models.columns import UTCDateTime


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
    draft: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    """Unfinished form input (SQL NULL when there is none, from the ORM and from Core alike)."""
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
        # The worker reads the earliest retry time and lease expiry before every sleep; these
        # partial indexes hold only the few jobs backing off or leased (migration 0012).
        Index(
            "ix_timer_jobs_retry",
            "state",
            "next_attempt_at",
            sqlite_where=text("next_attempt_at IS NOT NULL"),
            postgresql_where=text("next_attempt_at IS NOT NULL"),
        ),
        Index(
            "ix_timer_jobs_lease",
            "state",
            "lease_expires_at",
            sqlite_where=text("lease_expires_at IS NOT NULL"),
            postgresql_where=text("lease_expires_at IS NOT NULL"),
        ),
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
