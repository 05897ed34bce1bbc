"""inbox indexes: open tasks in the inbox order, for everyone, per country and per assignee

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 04:00:00.000000

`(state, due_at, created_at, id)` and `(state, country, due_at, created_at, id)` replace
`(state, due_at)` and `(state, country)`, which are their prefixes; `(claimed_by, state)`
replaces `(claimed_by)` so that "assigned to me" is not read through the state-only prefixes.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("human_tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_human_tasks_inbox", ["state", "due_at", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_human_tasks_inbox_country",
            ["state", "country", "due_at", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_human_tasks_claimed_by_state", ["claimed_by", "state"], unique=False
        )
        batch_op.drop_index("ix_human_tasks_state_due")
        batch_op.drop_index("ix_human_tasks_state_country")
        batch_op.drop_index("ix_human_tasks_claimed_by")


def downgrade() -> None:
    with op.batch_alter_table("human_tasks", schema=None) as batch_op:
        batch_op.create_index("ix_human_tasks_claimed_by", ["claimed_by"], unique=False)
        batch_op.create_index("ix_human_tasks_state_country", ["state", "country"], unique=False)
        batch_op.create_index("ix_human_tasks_state_due", ["state", "due_at"], unique=False)
        batch_op.drop_index("ix_human_tasks_claimed_by_state")
        batch_op.drop_index("ix_human_tasks_inbox_country")
        batch_op.drop_index("ix_human_tasks_inbox")
