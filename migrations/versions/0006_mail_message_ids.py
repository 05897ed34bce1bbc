"""mail message ids: a stable Message-ID per outbox message and the start of the current attempt

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 10:30:00.000000

`message_id` is fixed before the first attempt, so a message sent again after a worker died
mid-send carries the same Message-ID (mail clients show it once). `sending_since` is set while an
attempt runs; found set by the next worker, it means the earlier attempt's outcome is unknown.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_id", sa.String(length=250), nullable=True))
        batch_op.add_column(sa.Column("sending_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("sending_since")
        batch_op.drop_column("message_id")
