"""PostgreSQL (psycopg) connections: reads outside a transaction, write transactions pipelined.

Every round trip to the server costs a send, a wake-up of its backend and a wake-up of ours, on
the same cores; a request waits for each in turn. So a read runs outside a transaction (no BEGIN,
no ROLLBACK) where the isolation level allows it, and a write transaction runs in psycopg's
pipeline mode: its BEGIN goes with its first statement, its COMMIT with its last writes, and a
write whose result nobody reads (`PIPELINED`) with the next statement that is waited for.
`engine.store.db.make_engine` installs these listeners on a psycopg engine (`listen`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, overload

import psycopg
from psycopg.pq import ExecStatus
from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError


def listen(engine: Engine) -> None:
    """Install this module's behaviour on a psycopg engine."""
    event.listen(engine, "connect", _pg_read_committed)
    event.listen(engine, "begin", _pg_begin)
    event.listen(engine, "before_cursor_execute", _pg_before_execute)
    event.listen(engine, "after_cursor_execute", _pg_after_execute)
    event.listen(engine, "commit", _pg_commit)
    event.listen(engine, "rollback", _pg_rollback)
    event.listen(engine, "reset", _pg_checkin)


_TRANSACTION_NEEDED = re.compile(
    r"\bFOR\s+(?:UPDATE|SHARE|NO\s+KEY\s+UPDATE|KEY\s+SHARE)\b"
    r"|pg_advisory|pg_notify|nextval|setval",
    re.IGNORECASE,
)
"""What makes a SELECT need the transaction it would otherwise run without: a row lock, an
advisory lock, a notification (delivered at commit, dropped on rollback) or a sequence."""


def _pg_read_committed(dbapi_connection: Any, record: Any) -> None:
    dbapi_connection.cursor_factory = Cursor
    # Reads leave out the transaction only where it gives them nothing: under READ COMMITTED
    # (PostgreSQL's default) each statement takes its own snapshot anyway. A server set to a
    # stricter default keeps every read in a transaction, as before.
    level = dbapi_connection.execute("SHOW default_transaction_isolation").fetchone()[0]
    dbapi_connection.rollback()
    record.info["pathfinder.reads_outside_transaction"] = level == "read committed"


def _pg_begin(conn: Any) -> None:
    # A write transaction (`transaction()`) opens a database transaction, pipelined (see
    # PIPELINED); anything else starts without one (psycopg autocommit): a read sends no BEGIN
    # and no ROLLBACK, and a ROLLBACK would also drop psycopg's prepared statements. See
    # _pg_before_execute.
    fairy = conn.connection
    raw = fairy.dbapi_connection
    if raw is None or raw.info.transaction_status != 0:  # psycopg.pq.TransactionStatus.IDLE
        return
    write = conn.get_execution_options().get("write", False)
    if write and raw.isolation_level is None and raw.read_only is None and raw.deferrable is None:
        # BEGIN as psycopg would send it, but queued: it travels with the first statement.
        raw.autocommit = True
        context = raw.pipeline()
        fairy.info[_PIPELINE] = (context, context.__enter__())
        raw.execute("BEGIN", prepare=False)
        return
    raw.autocommit = not write and fairy.info.get("pathfinder.reads_outside_transaction", False)


def _pg_before_execute(
    conn: Any, cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
) -> None:
    # Outside a write transaction, the first statement that is not a plain SELECT (a write, a
    # row or advisory lock, a SAVEPOINT, a server-side cursor) opens the transaction, which
    # then runs to the session's commit or rollback as before. The plain SELECTs before it ran
    # each on its own snapshot, as they do inside a READ COMMITTED transaction (PostgreSQL's
    # default, used here), so a read sees what it saw before, two fewer round trips.
    if _PIPELINE in conn.info:
        if getattr(cursor, "name", None):  # a server-side cursor cannot run in a pipeline
            _end_pipeline(conn.info)
        return
    raw = cursor.connection
    if (
        raw.autocommit
        and (getattr(cursor, "name", None) or _needs_transaction(statement))
        # not in the BEGIN of a write transaction already (libpq's status: `raw.info` would
        # build an object to ask it)
        and raw.pgconn.transaction_status == 0
    ):
        raw.autocommit = False


@lru_cache(maxsize=512)
def _needs_transaction(statement: str) -> bool:
    # Whether a statement is anything but a plain SELECT. SQLAlchemy hands over the same few
    # compiled strings again and again (their hash is kept on the string): one search each.
    return statement.lstrip()[:6].upper() != "SELECT" or bool(_TRANSACTION_NEEDED.search(statement))


PIPELINED = "pathfinder.pipelined"
"""Execution option (True) of a write whose result nobody reads: no RETURNING, its row count
not checked. In a PostgreSQL write transaction such a statement is sent without waiting for the
server's answer, which comes back with the next statement that is waited for, or with the
COMMIT; an error it raises is raised there, inside the same transaction (psycopg's pipeline
mode). Any other statement is waited for, as before: a completion's task UPDATE, submission and
next task go with the instance's UPDATE, whose row count checks the optimistic lock, in one
round trip, and BEGIN goes with the first statement. Elsewhere the option changes nothing."""

_PIPELINE = "pathfinder.pipeline"
"""Connection info key: (context manager, psycopg Pipeline) of the write transaction under way."""


def pipelined(conn: Any) -> bool:
    """Whether `conn` (a SQLAlchemy connection) is in a pipelined write transaction."""
    return _PIPELINE in conn.info


def _pg_after_execute(
    conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool
) -> None:
    # Wait for the server's answers (this statement's and any before it) unless no one reads it.
    pipelined = conn.info.get(_PIPELINE)
    if pipelined is None or (context is not None and context.execution_options.get(PIPELINED)):
        return
    pipelined[1].sync()


def _end_pipeline(info: dict[str, Any], *, discard: bool = False) -> None:
    """Leave pipeline mode (a round trip: what is queued is sent and answered); with `discard`,
    for a transaction about to be rolled back, an error a queued write raised is dropped."""
    pipelined = info.pop(_PIPELINE, None)
    if pipelined is None:
        return
    try:
        pipelined[0].__exit__(None, None, None)
    except Exception:  # psycopg.Error; only a transaction being rolled back drops it
        if not discard:
            raise


def _pg_commit(conn: Any) -> None:
    # COMMIT queued behind the transaction's last writes and sent with the Sync that ends
    # pipeline mode: one round trip. psycopg's own commit() then finds the connection idle and
    # sends nothing. An error (a queued write's, or the COMMIT's) is raised as SQLAlchemy
    # raises a driver error, from the session's commit, which then rolls back.
    if _PIPELINE not in conn.info:
        return
    dbapi = conn.dialect.loaded_dbapi
    try:
        try:
            conn.connection.dbapi_connection.execute("COMMIT", prepare=False)
        except dbapi.Error:
            _end_pipeline(conn.info, discard=True)  # the first error is the one to raise
            raise
        _end_pipeline(conn.info)
    except dbapi.Error as exc:
        raise DBAPIError.instance("COMMIT", None, exc, dbapi.Error, dialect=conn.dialect) from exc


def _pg_rollback(conn: Any) -> None:
    # Before ROLLBACK: out of the pipeline, whatever a queued write answered (it is undone).
    if not conn.invalidated:
        _end_pipeline(conn.info, discard=True)


def _pg_checkin(_dbapi_connection: Any, record: Any, _reset_state: Any) -> None:
    # A connection back in the pool outside its transaction's commit or rollback (e.g. an
    # error while ending it): a read on it next runs outside pipeline mode.
    _end_pipeline(record.info, discard=True)


_ROWS = (ExecStatus.TUPLES_OK, ExecStatus.SINGLE_TUPLE, ExecStatus.TUPLES_CHUNK)


class Cursor(psycopg.Cursor[Any]):
    """psycopg's cursor, with a `description` that describes a column only when asked.

    psycopg builds a `Column` per column (its name decoded, its type looked up) each time
    `description` is read; SQLAlchemy reads it once per statement but, for a statement it has
    compiled and run before (the hot path's), only to see whether rows came back: it keeps the
    result's columns with the compiled statement. Those objects were about a tenth of the CPU
    a hot-path request spent in psycopg."""

    @property
    def description(self) -> Sequence[psycopg.Column] | None:  # type: ignore[override]
        """The current result's columns (each made when first read); None when the statement
        returned no rows (as psycopg's)."""
        res = self.pgresult
        if res and (res.nfields or res.status in _ROWS):
            return _Columns(self, res.nfields)
        return None


class _Columns(Sequence[psycopg.Column]):
    """`Cursor.description`: psycopg's columns of the result at hand when it was read, each
    made when first read."""

    __slots__ = ("_cursor", "_made", "_n")

    def __init__(self, cursor: Cursor, n: int) -> None:
        # What psycopg's Column reads of its cursor, kept: the cursor may run another statement
        # before a column is read.
        self._cursor = SimpleNamespace(
            pgresult=cursor.pgresult, _encoding=cursor._encoding, adapters=cursor.adapters
        )
        self._n = n
        self._made: dict[int, psycopg.Column] = {}

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> psycopg.Column: ...

    @overload
    def __getitem__(self, index: slice) -> list[psycopg.Column]: ...

    def __getitem__(self, index: int | slice) -> psycopg.Column | list[psycopg.Column]:
        if isinstance(index, slice):
            return [self[i] for i in range(self._n)[index]]
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError(index)
        column = self._made.get(index)
        if column is None:
            column = self._made[index] = psycopg.Column(self._cursor, index)  # type: ignore[arg-type]
        return column
