"""Alembic environment: the URL comes from the caller (engine.migrate) or DATABASE_URL."""

from __future__ import annotations

from alembic import context

from engine.config import Settings
from engine.store import models  # noqa: F401  (registers every table on Base.metadata)
from engine.store.db import Base, make_engine

config = context.config


def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Render the engine's UTC datetime type as the plain column type it stores."""
    if type_ == "type" and type(obj).__name__ == "_UTCDateTime":
        return "sa.DateTime(timezone=True)"
    return False


url = config.attributes.get("url") or Settings.from_env().database_url


def run() -> None:
    if context.is_offline_mode():
        context.configure(
            url=url, target_metadata=Base.metadata, render_as_batch=True, render_item=render_item
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(
            connection=connectable,
            target_metadata=Base.metadata,
            render_as_batch=True,
            render_item=render_item,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,
            render_item=render_item,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
