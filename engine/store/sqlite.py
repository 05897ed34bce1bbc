"""SQLite's write lock, taken in turn by the writers of one process and as late as a write
transaction can afford.

SQLite lets one connection write at a time (`BEGIN IMMEDIATE` takes the lock for the whole write
transaction). Two things here shorten the time writers spend waiting for it:

- `WriterQueue`: threads of one process queue for it in Python, woken the moment the holder
  commits or rolls back, instead of in SQLite's busy handler, which sleeps between tries.
- `LOCK_LATE` transactions (`engine.store.db.transaction(lock_late=True)`) read a snapshot and
  take the lock only to write (`lock_for_writes`, or their first write), so the work of deciding
  what to write (a task completion's engine step) holds nobody up; the caller checks under the
  lock that what it read still holds (the instance's lock_version).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

LOCKED = "database is locked"


class WriterQueue:
    """The writers of one SQLite database in this process, taking its write lock in turn.

    SQLite lets one connection write at a time. A second writer's `BEGIN IMMEDIATE` waits in
    SQLite's busy handler, which sleeps (1, 2, 5, 10, ... 100 ms) between tries instead of waking
    when the lock is free, so threads of one process that write at once lost most of their time
    asleep. Here such a thread waits on a Python lock, released the moment the holder commits
    or rolls back; the busy handler is left only to writers of other processes. A thread that
    already holds the lock (a second write transaction inside its first) does not queue: it
    meets SQLite's lock as before, and waiting is bounded by the busy timeout either way."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None

    def enter(self, timeout: float) -> bool:
        """Wait for the other writers of this process; True when this thread now holds the
        queue and must `leave` it, False when it held it already (a nested write transaction:
        SQLite's lock and its busy timeout decide, as without the queue). After `timeout`
        seconds, "database is locked", as SQLite says when its busy timeout is over."""
        me = threading.get_ident()
        if self._owner == me:
            return False
        if not self._lock.acquire(timeout=timeout):
            raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError(LOCKED))
        self._owner = me
        return True

    def leave(self) -> None:
        """Let the next writer in."""
        self._owner = None
        self._lock.release()

    def forget(self) -> None:
        """Start empty (in a child process just forked: whoever held the queue in the parent
        is not there, and a server that forks its workers must not inherit a taken lock)."""
        self._lock = threading.Lock()
        self._owner = None


_QUEUES: dict[str, WriterQueue] = {}
_QUEUES_LOCK = threading.Lock()


def _forget_queues() -> None:
    global _QUEUES_LOCK  # noqa: PLW0603 - a forked child starts with fresh locks
    _QUEUES_LOCK = threading.Lock()
    for queue in _QUEUES.values():
        queue.forget()


def writer_queue(path: str) -> WriterQueue:
    """The process's one queue for the database file at `path` (engines on one file share it:
    the write lock they wait for is the file's). A forked child starts with every queue free."""
    key = os.path.realpath(path)
    with _QUEUES_LOCK:
        if not _QUEUES:
            os.register_at_fork(after_in_child=_forget_queues)
        return _QUEUES.setdefault(key, WriterQueue())


BUSY_TIMEOUT = 30.0
"""Seconds a writer waits for SQLite's write lock before "database is locked"."""


class SQLiteConnection(sqlite3.Connection):
    """pysqlite's connection, leaving the writer queue as soon as its transaction ends."""

    queue: WriterQueue | None = None
    """The queue of this connection's database file (None: not queued, e.g. `:memory:`)."""
    in_queue = False
    """Whether this connection's transaction holds the queue (from `BEGIN IMMEDIATE` on)."""
    wait = BUSY_TIMEOUT
    """Seconds to wait in the queue: the busy timeout (`check_writable` lowers both)."""
    lock_later = False
    """A write transaction that has not taken the write lock yet (`transaction(lock_late=True)`):
    it reads a snapshot until `lock_for_writes` or its first write."""

    def commit(self) -> None:
        """Commit, then let this process's next writer in."""
        try:
            super().commit()
        finally:
            self.leave_queue()

    def rollback(self) -> None:
        """Roll back, then let this process's next writer in."""
        try:
            super().rollback()
        finally:
            self.leave_queue()

    def close(self) -> None:
        """Close (a transaction still open ends), then let this process's next writer in."""
        try:
            super().close()
        finally:
            self.leave_queue()

    def leave_queue(self) -> None:
        """Let this process's next writer in (the transaction ended)."""
        self.lock_later = False
        if self.in_queue:
            self.in_queue = False
            assert self.queue is not None
            self.queue.leave()

    def begin_immediate(self, begin: Callable[[], object]) -> None:
        """Take the write lock with `begin` (`BEGIN IMMEDIATE`), after this process's writers."""
        self.lock_later = False
        if self.queue is not None and not self.in_queue:
            self.in_queue = self.queue.enter(self.wait)
        try:
            begin()
        except BaseException:
            self.leave_queue()
            raise


def pragmas(dbapi_connection: Any, _record: Any, path: str | None = None) -> None:
    """On connect: WAL, foreign keys, the busy timeout, and the writer queue of `path`."""
    # Let SQLAlchemy emit BEGIN itself (see `begin`) instead of pysqlite's implicit one.
    dbapi_connection.isolation_level = None
    if path and isinstance(dbapi_connection, SQLiteConnection):
        dbapi_connection.queue = writer_queue(path)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


LOCK_LATE = "late"
"""The `write` execution option of a write transaction that takes SQLite's write lock at its
first write (or `lock_for_writes`) rather than at `BEGIN` (see `transaction`)."""


def begin(conn: Any) -> None:
    """On a transaction's start: `BEGIN`, or `BEGIN IMMEDIATE` for a write transaction."""
    # Write transactions take the write lock up front, so two writers queue (busy_timeout)
    # instead of the second failing on a stale snapshot when it first writes; threads of this
    # process queue in Python first (WriterQueue). A LOCK_LATE transaction starts as a read.
    write = conn.get_execution_options().get("write", False)
    raw = conn.connection.dbapi_connection
    if not write or not isinstance(raw, SQLiteConnection):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
    elif write == LOCK_LATE:
        conn.exec_driver_sql("BEGIN")
        raw.lock_later = True
    else:
        raw.begin_immediate(lambda: conn.exec_driver_sql("BEGIN IMMEDIATE"))


def first_write(
    conn: Any, cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
) -> None:
    """Before each statement: a LOCK_LATE transaction's first write takes the lock first."""
    # A LOCK_LATE transaction that writes before `lock_for_writes`: take the lock here, on a
    # fresh snapshot, rather than let SQLite upgrade a snapshot another writer may have made
    # stale (which fails at once, SQLITE_BUSY_SNAPSHOT). The caller's version check (the
    # instance's lock_version) then tells whether what it read still holds.
    raw = cursor.connection
    if getattr(raw, "lock_later", False) and statement.lstrip()[:7].upper().startswith(_WRITES):
        _relock(conn, raw)


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "SAVEPOI")
"""Statements that take the lock first (a SAVEPOINT too: the ROLLBACK that ends the snapshot
would drop it)."""


def _relock(conn: Any, raw: SQLiteConnection) -> None:
    raw.execute("ROLLBACK")  # ends the read snapshot (transaction control, like BEGIN)
    raw.begin_immediate(lambda: raw.execute("BEGIN IMMEDIATE"))


def lock_for_writes(session: Session) -> bool:
    """Take SQLite's write lock now in a `transaction(lock_late=True)` that has not written yet:
    its read snapshot ends and the writes see the database as it is under the lock. True when it
    did so: what the transaction read before may have changed since, so the caller checks (the
    instance's lock_version) before it writes. False when the transaction already held the lock
    (or is not such a transaction, or not SQLite): what it read is current."""
    conn = session.connection()
    raw = conn.connection.dbapi_connection
    if not isinstance(raw, SQLiteConnection) or not raw.lock_later:
        return False
    _relock(conn, raw)
    return True
