"""SQLite write transactions queue on a lock file beside the database, across threads and
processes, so a waiting writer starts the moment the previous one commits.

SQLite lets one writer at a time hold the database; the others wait in its busy handler, which
sleeps 1, 2, 5, 10, 15, 20, 25, 50, then 100 ms between tries. A writer that needs the lock for
5 ms can so lose 20 ms or more asleep while the lock is already free, and with several server
processes (`PATHFINDER_WORKERS`) the writers spent more time asleep than writing. Here a write
transaction first takes an exclusive `flock` on `<database>-writelock`, which the kernel hands
to the next waiter at once when it is released (at commit or rollback), and then `BEGIN
IMMEDIATE`, which finds the database free (the busy handler stays for writers that do not take
the file lock: tools, migrations, a read session that writes).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from typing import Any

from sqlalchemy.exc import OperationalError

LOCK_SUFFIX = "-writelock"
"""The lock file's name is the database file's name with this appended."""


class WriteLockedConnection(sqlite3.Connection):
    """A pysqlite connection that holds the database's lock file from `lock_for_write` to the
    end of that transaction (`commit`, `rollback` or `close`). In-memory databases and `file:`
    URIs have no lock file; there it does nothing."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        name = os.fsdecode(database) if isinstance(database, str | bytes | os.PathLike) else ""
        plain = name and name != ":memory:" and not name.startswith("file:")
        self._lock_path = name + LOCK_SUFFIX if plain else None
        self._lock_fd: int | None = None
        self._locked = False

    def lock_for_write(self, timeout: float | None = None) -> None:
        """Wait for the lock file (at most `timeout` seconds when given, else as long as the
        holder's transaction lasts); raises `OperationalError` when the time is up."""
        if self._lock_path is None or self._locked:
            return
        if self._lock_fd is None:
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        if timeout is None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)  # releases the GIL while it waits
        else:
            self._try_until(time.monotonic() + timeout)
        self._locked = True

    def _try_until(self, deadline: float) -> None:
        assert self._lock_fd is not None
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OperationalError(
                        "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
                    ) from None
                time.sleep(0.005)

    def unlock(self) -> None:
        """Let the next writer in (after this connection's transaction ended)."""
        if self._locked:
            self._locked = False
            assert self._lock_fd is not None
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def commit(self) -> None:
        """Commit, then hand the lock file on."""
        try:
            super().commit()
        finally:
            self.unlock()

    def rollback(self) -> None:
        """Roll back, then hand the lock file on."""
        try:
            super().rollback()
        finally:
            self.unlock()

    def close(self) -> None:
        """Close the connection and its lock file (which releases the lock)."""
        try:
            super().close()
        finally:
            self._locked = False
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
