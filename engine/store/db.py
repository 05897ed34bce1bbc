"""Database plumbing: the declarative base, engines for SQLite and PostgreSQL, sessions."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine as SAEngine
from sqlalchemy import MetaData, create_engine, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapper,
    Session,
    configure_mappers,
    make_transient_to_detached,
    sessionmaker,
)
from sqlalchemy.orm.attributes import manager_of_class

from engine.store import pg, sqlite
from engine.store.sqlite import BUSY_TIMEOUT, LOCK_LATE, SQLiteConnection
from engine.store.sqlite import lock_for_writes as lock_for_writes

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


def loaded_row(session: Session, cls: type[_T], values: dict[str, Any]) -> _T:
    """The object of a mapped class for a row read with a Core statement (`values`: every
    column attribute), in `session` as the ORM's loading with `populate_existing` leaves it:
    persistent, every attribute what the row holds, relationships not loaded (they load on
    first use); the object the session already holds for that row gets the values instead.

    The steps are those of the ORM's own loading (`sqlalchemy.orm.loading._instance`) for one
    row, without what it sets up per query and per entity, which cost several times the
    statement on a task completion's hot path (`session.add` of a detached object, the
    public way, costs as much again: it cascades and checks what a loaded row need not).
    tests/engine/store/test_loaded_rows.py compares such objects with ORM-loaded ones."""
    mapper, keys = _mapped(cls)
    key = (cls, tuple(values[k] for k in keys), None)  # identity token None: one database
    present = session.identity_map.get(key)
    if present is not None:
        state = sa_inspect(present)
        state.dict.update(values)
        state._commit_all(state.dict, session.identity_map)  # as `populate_existing` does
        return present
    if mapper.class_manager.dispatch.load or session.dispatch.loaded_as_persistent:
        obj = new_row(cls, values)  # someone listens for loads: let the ORM attach it
        make_transient_to_detached(obj)
        session.add(obj)
        return obj
    obj = mapper.class_manager.new_instance()
    obj.__dict__.update(values)
    _attach(session, sa_inspect(obj), key)
    return obj


def attach_written(session: Session, obj: object) -> None:
    """Put a new object whose row was just INSERTed by a Core statement into `session` as a
    loaded row (`loaded_row`): every column attribute must be set to what the row holds."""
    _mapper, keys = _mapped(type(obj))
    values, state = obj.__dict__, sa_inspect(obj)
    key = (type(obj), tuple(values[k] for k in keys), None)
    if key in session.identity_map:  # the ORM's way, which refuses a second object of a row
        make_transient_to_detached(obj)
        session.add(obj)
        return
    if state.committed_state or state.expired_attributes:  # set through attributes
        state._commit_all(values)
    _attach(session, state, key)


def _attach(session: Session, state: Any, key: tuple[Any, ...]) -> None:
    # What `loading._instance` does for a new row, and `_commit_all` for what it populated
    # (nothing to clear on a state that was never in a session, or was only just built).
    state.key = key
    state.session_id = session.hash_key
    session.identity_map._add_unpresent(state, key)


_MAPPED: dict[type, tuple[Any, tuple[str, ...]]] = {}


def _mapped(cls: type) -> tuple[Any, tuple[str, ...]]:
    """A mapped class's mapper and its primary key's attribute keys."""
    found = _MAPPED.get(cls)
    if found is None:
        # As the ORM does before it loads: a new process may not have set up its attribute
        # instrumentation yet (an attribute's implementation is made then).
        configure_mappers()
        mapper: Mapper[Any] = sa_inspect(cls)
        keys = tuple(mapper.get_property_by_column(c).key for c in mapper.primary_key)
        found = _MAPPED[cls] = (mapper, keys)
    return found


def make_engine(url: str, **kwargs: Any) -> SAEngine:
    """Create an engine; SQLite gets WAL mode, foreign keys and a busy timeout, and its folder."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        file = path if path and path != ":memory:" and "mode=memory" not in url else None
        connect = {"check_same_thread": False, "factory": SQLiteConnection}
        engine = create_engine(url, connect_args=connect, **kwargs)
        event.listen(engine, "connect", lambda raw, rec: sqlite.pragmas(raw, rec, file))
        event.listen(engine, "begin", sqlite.begin)
        event.listen(engine, "before_cursor_execute", sqlite.first_write)
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


_LATER = "pathfinder.writes_later"


@contextmanager
def transaction(factory: sessionmaker[Session], *, lock_late: bool = False) -> Iterator[Session]:
    """One unit of work that writes: commit on success, roll back on any exception.

    `lock_late` (SQLite; elsewhere ignored): the transaction reads a snapshot and takes the write
    lock only when it writes or calls `lock_for_writes`, so other writers are not held up while
    it works out what to write; writes handed to `write_later` wait for that moment. A caller
    that reads, then writes, must check under the lock that what it read still holds."""
    session = factory()
    session.connection(execution_options={"write": LOCK_LATE if lock_late else True})
    if lock_late and session.get_bind().dialect.name == "sqlite":
        session.info[_LATER] = []
    try:
        yield session
        run_later(session)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def write_later(session: Session, write: Callable[[], object]) -> None:
    """Run `write` now, or, in a `transaction(lock_late=True)` on SQLite, when the transaction
    writes its rows (`run_later`, after `lock_for_writes` and the caller's check)."""
    later = session.info.get(_LATER)
    if later is None:
        write()
    else:
        later.append(write)


def run_later(session: Session) -> None:
    """Run the writes `write_later` kept, in order (from now on writes run at once)."""
    later = session.info.pop(_LATER, None)
    for write in later or ():
        write()


def drop_later(session: Session) -> None:
    """Forget the writes `write_later` kept (the caller starts its work again); later writes
    still wait for `run_later`."""
    if _LATER in session.info:
        session.info[_LATER] = []


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
            if isinstance(raw, SQLiteConnection):
                raw.wait = timeout
            try:
                conn.execution_options(write=True).exec_driver_sql("SELECT 1")
            finally:
                conn.rollback()
                raw.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
                if isinstance(raw, SQLiteConnection):
                    raw.wait = BUSY_TIMEOUT
            return
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {millis}")
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {millis}")
        conn.exec_driver_sql("SELECT pg_current_xact_id()")
        conn.rollback()
