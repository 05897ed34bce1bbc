"""timer_jobs: partial indexes on the retry time and the lease expiry

Before each sleep a worker reads when it next has something to do: the earliest due time (from
`ix_timer_jobs_due`), the earliest retry of a job backing off and the earliest expiry of a lease
another worker holds. The last two were read by scanning every waiting job (about 20 ms of CPU
per sleep with 10,000 waiting, which a busy worker pays many times a second); these indexes hold
only the few jobs that have a retry time or a lease.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 19:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RETRY = "next_attempt_at IS NOT NULL"
LEASE = "lease_expires_at IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ix_timer_jobs_retry",
        "timer_jobs",
        ["state", "next_attempt_at"],
        sqlite_where=sa.text(RETRY),
        postgresql_where=sa.text(RETRY),
    )
    op.create_index(
        "ix_timer_jobs_lease",
        "timer_jobs",
        ["state", "lease_expires_at"],
        sqlite_where=sa.text(LEASE),
        postgresql_where=sa.text(LEASE),
    )


def downgrade() -> None:
    op.drop_index("ix_timer_jobs_lease", table_name="timer_jobs")
    op.drop_index("ix_timer_jobs_retry", table_name="timer_jobs")
