"""instances.mailed_seq: the outbox worker queues mail after commit, not in the write transaction

Each instance remembers up to which event of its chain the mail was queued; events after it
(`audit_count > mailed_seq`, a partial index) owe their mail. Existing instances start fully
mailed: their mail was queued in their own transactions.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 16:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DUE = "audit_count > mailed_seq"


# Plain ALTER TABLE (as 0009): a batch rebuild of `instances` would trip the foreign keys that
# point at it.
def upgrade() -> None:
    op.add_column(
        "instances", sa.Column("mailed_seq", sa.Integer(), nullable=False, server_default="0")
    )
    op.execute("UPDATE instances SET mailed_seq = audit_count")
    op.create_index(
        "ix_instances_mail_due",
        "instances",
        ["id"],
        sqlite_where=sa.text(DUE),
        postgresql_where=sa.text(DUE),
    )


def downgrade() -> None:
    op.drop_index("ix_instances_mail_due", table_name="instances")
    op.drop_column("instances", "mailed_seq")
