"""submissions: each completed task's submission as its own immutable record

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 10:30:00.000000

The data step rebuilds the submissions of existing instances from their audit trail: every
`task_completed` event holds what the task submitted, who, when and the attachments' hashes.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    submissions = op.create_table(
        "submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("element_id", sa.String(length=200), nullable=False),
        sa.Column("element_name", sa.String(length=300), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("form_file", sa.String(length=300), nullable=True),
        sa.Column("ui_form_file", sa.String(length=300), nullable=True),
        sa.Column("lane", sa.String(length=200), nullable=True),
        sa.Column("submitted_by", sa.String(length=150), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"], ["instances.id"], name=op.f("fk_submissions_instance_id_instances")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submissions")),
        sa.UniqueConstraint("task_id", name=op.f("uq_submissions_task_id")),
    )
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_submissions_instance_element",
            ["instance_id", "element_id", "round"],
            unique=False,
        )
    _backfill(submissions)


def _backfill(submissions: sa.Table) -> None:
    """One submission per `task_completed` event, numbered per instance and element."""
    bind = op.get_bind()
    events = sa.table(
        "audit_events",
        sa.column("instance_id", sa.Integer),
        sa.column("chain", sa.String),
        sa.column("seq", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("actor", sa.String),
        sa.column("element_id", sa.String),
        sa.column("element_name", sa.String),
        sa.column("data", sa.JSON),
    )
    tasks = sa.table(
        "human_tasks",
        sa.column("id", sa.String),
        sa.column("form_file", sa.String),
        sa.column("ui_form_file", sa.String),
    )
    forms = {r.id: (r.form_file, r.ui_form_file) for r in bind.execute(sa.select(tasks))}
    rounds: dict[tuple[int, str], int] = {}
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    query = (
        sa.select(events)
        .where(events.c.kind == "task_completed", events.c.instance_id.is_not(None))
        .order_by(events.c.instance_id, events.c.seq)
    )
    for ev in bind.execute(query):
        data = ev.data or {}
        task_id = data.get("task_id")
        if not task_id or task_id in seen or not ev.element_id:
            continue
        seen.add(task_id)
        key = (ev.instance_id, ev.element_id)
        rounds[key] = rounds.get(key, 0) + 1
        at = ev.at if ev.at.tzinfo else ev.at.replace(tzinfo=UTC)
        form_file, ui_file = forms.get(task_id, (None, None))
        rows.append(
            {
                "instance_id": ev.instance_id,
                "element_id": ev.element_id,
                "element_name": ev.element_name or ev.element_id,
                "task_id": task_id,
                "round": rounds[key],
                "form_file": form_file,
                "ui_form_file": ui_file,
                "lane": data.get("lane"),
                "submitted_by": ev.actor or "system",
                "submitted_at": _stored(at, bind.dialect.name),
                "data": data.get("submitted") or {},
                "attachments": data.get("attachments") or [],
            }
        )
    if rows:
        op.bulk_insert(submissions, rows)


def _stored(at: datetime, dialect: str) -> datetime:
    """SQLite keeps naive UTC (as the models' UTC type writes it); PostgreSQL keeps the zone."""
    at = at.astimezone(UTC)
    return at.replace(tzinfo=None) if dialect == "sqlite" else at


def downgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_index("ix_submissions_instance_element")
    op.drop_table("submissions")
