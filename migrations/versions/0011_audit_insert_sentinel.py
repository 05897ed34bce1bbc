"""audit_events.insert_sentinel: one INSERT for a flush's audit events on SQLite too

SQLAlchemy batches the INSERTs of several new rows into one statement only when it can match
the ids the database returns to the rows it sent. PostgreSQL can by its identity column; SQLite
needs a sentinel column numbered by the statement itself. The column is nullable, carries no
meaning and is covered by nothing (not the hash, not the exports), so existing rows keep NULL.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE (as 0009, 0010): adding a nullable column rewrites nothing on either database.
def upgrade() -> None:
    op.add_column("audit_events", sa.Column("insert_sentinel", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_events", "insert_sentinel")
