"""Write transactions as the engine's callers see them: a clash with a concurrent writer at the
database surfaces as `Conflict`, an engine error, never as a driver exception."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from engine.errors import N_, Conflict, EngineError
from engine.store.db import transaction as _transaction


def as_engine_error(exc: BaseException) -> EngineError | None:
    """The engine error an exception stands for: itself, `Conflict` for a write that clashed
    with a concurrent one at the database, or None for anything else (a bug)."""
    if isinstance(exc, EngineError):
        return exc
    if isinstance(exc, IntegrityError | StaleDataError):
        return Conflict("Another process changed the same data at the same moment.")
    return None


@contextmanager
def transaction(sessions: sessionmaker[Session], *, lock_late: bool = False) -> Iterator[Session]:
    """A write transaction; a clash with a concurrent writer surfaces as `Conflict`.
    `lock_late`: SQLite's write lock is taken only to write (`engine.store.db.transaction`)."""
    try:
        with _transaction(sessions, lock_late=lock_late) as session:
            yield session
    except (IntegrityError, StaleDataError) as exc:
        raise Conflict(
            N_("Someone else changed this at the same moment. Reload and try again.")
        ) from exc
