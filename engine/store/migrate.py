"""Schema migrations (Alembic), callable from the CLI and from tests."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from engine.config import PROJECT_ROOT


def alembic_config(url: str) -> Config:
    """Alembic configuration for `url`, using the project's migrations folder."""
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    """The revision the database at `url` is at (None if never migrated)."""
    from alembic.runtime.migration import MigrationContext

    from engine.store.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        rev = MigrationContext.configure(conn).get_current_revision()
    engine.dispose()
    return rev
