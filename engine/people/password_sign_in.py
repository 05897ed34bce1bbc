"""A password sign-in in two short transactions, the password hash checked between them.

Checking a password hash costs about a tenth of a second of CPU (PBKDF2). Inside the write
transaction that records the attempt it held the database's write lock that long: on SQLite,
every other writer of every process (task completions, timers) waited for each sign-in.
`accounts.begin_sign_in` checks the throttle and records the attempt (counted as a failure
until proven right, so guesses sent side by side still see each other), the hash is checked
holding nothing, and `accounts.finish_sign_in` clears the failures or audits the refusal.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from engine.errors import TooManyAttempts
from engine.people import accounts, identities
from engine.store.db import transaction
from engine.store.models import User

if TYPE_CHECKING:
    from engine.core import Engine


@contextmanager
def password_checked(
    engine: Engine, username: str, password: str, remote_addr: str | None, method: str
) -> Iterator[tuple[Session, User | None]]:
    """Yield the second transaction and the user (None for wrong credentials), after a
    throttled, audited password check. `TooManyAttempts` is raised after the refusal is
    audited."""
    try:
        with transaction(engine.sessions) as s:
            attempt = accounts.begin_sign_in(
                s, username, password, now=engine.now(), remote_addr=remote_addr, method=method
            )
    except TooManyAttempts:
        with transaction(engine.sessions) as s:
            identities.audit_refusal(
                s, engine.now(), method, "too many attempts", username=username[:150]
            )
        raise
    matched = attempt is not None and attempt.password_matches(password)
    with transaction(engine.sessions) as s:
        if attempt is None:
            yield s, None
            return
        yield s, accounts.finish_sign_in(s, attempt, matched, now=engine.now(), method=method)
