"""web_sessions: the OpenID provider's issuer, subject and session id a session was opened with

An OpenID provider's back-channel logout names the person (`sub`) or the provider's own session
(`sid`) that ended; these columns find the Pathfinder sessions to end. Sessions opened with a
password leave them null.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 01:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE, as in 0009: a batch rebuild of a table others point at trips their keys.
def upgrade() -> None:
    op.add_column("web_sessions", sa.Column("oidc_issuer", sa.String(length=500), nullable=True))
    op.add_column("web_sessions", sa.Column("oidc_subject", sa.String(length=255), nullable=True))
    op.add_column("web_sessions", sa.Column("oidc_sid", sa.String(length=255), nullable=True))
    op.create_index("ix_web_sessions_oidc_subject", "web_sessions", ["oidc_issuer", "oidc_subject"])
    op.create_index("ix_web_sessions_oidc_sid", "web_sessions", ["oidc_issuer", "oidc_sid"])


def downgrade() -> None:
    op.drop_index("ix_web_sessions_oidc_sid", table_name="web_sessions")
    op.drop_index("ix_web_sessions_oidc_subject", table_name="web_sessions")
    op.drop_column("web_sessions", "oidc_sid")
    op.drop_column("web_sessions", "oidc_subject")
    op.drop_column("web_sessions", "oidc_issuer")
