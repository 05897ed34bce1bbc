"""A short-lived cache of checked API tokens, so a request does not read its token every time.

A hit is the person a token belonged to when it was last read, kept `seconds` at most (and never
past the token's expiry). Anything this process commits to a user or a token (roles, country,
deactivation, a revocation, a password reset that revokes every token) empties the cache when
it commits, so it takes effect on the next request; another process's change takes effect
within `seconds` (the setting `PATHFINDER_TOKEN_CACHE_SECONDS`; 0 turns the cache off).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from engine.store.models import ApiToken, User

if TYPE_CHECKING:
    from engine.people.handles import Person

MAX_ENTRIES = 4096
"""Tokens kept at most; the cache starts over when full."""

_CHANGED = "pathfinder.credentials_changed"
_NOTED_ONLY = frozenset({"last_used_at"})
"""Token columns a change of which does not empty the cache (written by the check itself)."""


class TokenCache:
    """Checked tokens by their plain value, for `seconds` (monotonic time)."""

    def __init__(self, seconds: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        """`seconds`: how long a hit may be served from memory (0: never)."""
        self.seconds = seconds
        self._monotonic = monotonic
        self._entries: dict[str, tuple[Person, datetime | None, float]] = {}
        self._lock = threading.Lock()

    def get(self, token: str, now: datetime) -> Person | None:
        """The cached person of `token`, if it was checked less than `seconds` ago and has not
        expired by `now` (wall clock)."""
        with self._lock:
            found = self._entries.get(token)
        if found is None:
            return None
        person, expires_at, until = found
        if self._monotonic() >= until or (expires_at is not None and expires_at <= now):
            with self._lock:
                self._entries.pop(token, None)
            return None
        return person

    def put(self, token: str, person: Person, expires_at: datetime | None) -> None:
        """Remember a token just checked in the database."""
        if self.seconds <= 0:
            return
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[token] = (person, expires_at, self._monotonic() + self.seconds)

    def clear(self) -> None:
        """Forget every token (a user or token row changed)."""
        with self._lock:
            self._entries.clear()

    def watch(self, sessions: sessionmaker[Session]) -> None:
        """Empty the cache whenever a session of `sessions` commits a change to a user or a token
        (ORM changes, and UPDATE/DELETE statements on those tables)."""
        event.listen(sessions, "before_flush", _note_flush)
        event.listen(sessions, "do_orm_execute", _note_statement)
        event.listen(sessions, "after_commit", lambda s: self._after_commit(s))
        event.listen(sessions, "after_soft_rollback", lambda s, _t: s.info.pop(_CHANGED, None))

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(_CHANGED, False):
            self.clear()


def _changes_credentials(obj: Any) -> bool:
    if isinstance(obj, User):
        return True
    if not isinstance(obj, ApiToken):
        return False
    state = inspect(obj)
    changed = {a.key for a in state.attrs if a.history.has_changes()}
    return bool(changed - _NOTED_ONLY)


def _note_flush(session: Session, _context: Any, _instances: Any) -> None:
    if any(
        _changes_credentials(o) for o in (*session.new, *session.dirty, *session.deleted)
    ) and not session.info.get(_CHANGED):
        session.info[_CHANGED] = True


def _note_statement(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    if mapper is not None and mapper.class_ in (User, ApiToken):
        state.session.info[_CHANGED] = True
