"""Database plumbing: the declarative base, engines for SQLite and PostgreSQL, sessions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine as SAEngine
from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.orm.attributes import manager_of_class

from engine.store import pg

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


_T = TypeVar("_T")


class Base(DeclarativeBase):
    """Declarative base for every table (plain SQLAlchemy, no Flask)."""

    metadata = MetaData(naming_convention=NAMING)


def new_row(cls: type[_T], values: dict[str, Any]) -> _T:
    """A new (transient) object of a mapped class holding `values`, built as the ORM builds a
    row it loads (the values straight into the object's dict) rather than through the
    constructor, which records each attribute's change history at about ten times the cost.
    For rows a step only inserts: an INSERT, the ORM's or `engine.runtime.writes`', reads the
    values, not their history."""
    obj: _T = manager_of_class(cls).new_instance()
    obj.__dict__.update(values)
    return obj


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _sqlite_begin) instead of pysqlite's implicit one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # Write transactions take the write lock up front, so two writers queue (busy_timeout)
    # instead of the second failing on a stale snapshot when it first writes.
    immediate = conn.get_execution_options().get("write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str, **kwargs: Any) -> SAEngine:
    """Create an engine; SQLite gets WAL mode, foreign keys and a busy timeout, and its folder."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = create_engine(url, **kwargs)
    event.listen(engine, "checkin", _idle_since)
    event.listen(engine, "checkout", _ping_if_idle)
    if engine.dialect.driver == "psycopg":
        pg.listen(engine)
    return engine


PING_AFTER_IDLE = 10.0
"""Seconds a pooled connection may sit unused before it is checked (`SELECT 1`) at checkout.

SQLAlchemy's `pool_pre_ping` pings on every checkout: one more round trip for each session of
each request, on the hot path. A connection back in the pool a moment ago is alive; one idle
for a while may have been closed by a database restart or a firewall, so only that one is
pinged, and a dead one is replaced before the request sees it."""


def _idle_since(_dbapi_connection: Any, record: Any) -> None:
    record.info["pathfinder.idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    since = record.info.get("pathfinder.idle_since")
    if since is None or time.monotonic() - since < PING_AFTER_IDLE:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
    except Exception as exc:  # noqa: BLE001 - any failure: let the pool connect afresh
        raise DisconnectionError(str(exc)) from exc


def make_session_factory(engine: SAEngine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work that writes: commit on success, roll back on any exception."""
    session = factory()
    session.connection(execution_options={"write": True})
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def check_writable(engine: SAEngine, timeout: float) -> None:
    """Raise unless a write transaction can start within `timeout` seconds (nothing is written).

    SQLite: take the database's write lock (`BEGIN IMMEDIATE`), which fails while another
    connection holds it, with the busy timeout lowered to `timeout`. PostgreSQL: assign a
    transaction id, which fails on a read-only server, under a statement and lock timeout.
    """
    millis = max(int(timeout * 1000), 1)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            raw = conn.connection.dbapi_connection
            assert raw is not None
            raw.execute(f"PRAGMA busy_timeout={millis}")
            try:
                conn.execution_options(write=True).exec_driver_sql("SELECT 1")
            finally:
                conn.rollback()
                raw.execute("PRAGMA busy_timeout=30000")
            return
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {millis}")
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {millis}")
        conn.exec_driver_sql("SELECT pg_current_xact_id()")
        conn.rollback()
