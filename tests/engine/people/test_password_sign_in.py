"""A password sign-in checks the password hash holding no database lock: other writers (task
completions, timers, other sign-ins) go on while it runs, and the throttle still counts every
attempt, including guesses sent side by side."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from engine import Engine, TooManyAttempts
from engine.people import accounts
from engine.people.accounts import THROTTLE_FREE_FAILURES
from engine.store.db import transaction
from engine.store.models import AuditEvent, LoginAttempt

PASSWORD = "a long enough password"


def _write_meanwhile(engine: Engine) -> bool:
    """Whether another thread can write (a sign-in attempt row) within a few seconds."""
    done = threading.Event()

    def write() -> None:
        with transaction(engine.sessions) as s:
            s.add(LoginAttempt(username="someone-else", remote_addr="10.9.9.9", at=engine.now()))
        done.set()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return done.wait(timeout=5)


def test_the_password_check_holds_up_no_other_writer(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.people.create("ana", PASSWORD, ["secretariat"])
    real = accounts.check_password_hash
    seen: list[bool] = []

    def slow_check(stored: str, given: str) -> Any:
        seen.append(_write_meanwhile(engine))
        return real(stored, given)

    monkeypatch.setattr(accounts, "check_password_hash", slow_check)
    person = engine.people.sign_in("ana", PASSWORD, remote_addr="10.0.0.1", method="password")
    assert person is not None and person.username == "ana"
    assert seen == [True]
    with engine.session() as s:  # the right password leaves no failure behind
        left = s.scalars(select(LoginAttempt.username)).all()
        assert left == ["someone-else"]
        kinds = s.scalars(select(AuditEvent.kind).where(AuditEvent.kind == "user_signed_in"))
        assert list(kinds) == ["user_signed_in"]


def test_guesses_sent_side_by_side_are_all_counted(engine: Engine) -> None:
    engine.people.create("ana", PASSWORD, ["secretariat"])
    results: list[object] = []
    barrier = threading.Barrier(THROTTLE_FREE_FAILURES + 2)

    def guess() -> None:
        barrier.wait(timeout=10)
        try:
            results.append(
                engine.people.sign_in(
                    "ana", "wrong-guess", remote_addr="10.0.0.7", method="password"
                )
            )
        except TooManyAttempts as exc:
            results.append(exc)

    threads = [threading.Thread(target=guess) for _ in range(THROTTLE_FREE_FAILURES + 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == THROTTLE_FREE_FAILURES + 2 and all(
        r is None or isinstance(r, TooManyAttempts) for r in results
    )
    with engine.session() as s:
        counted = s.scalar(select(func.count()).select_from(LoginAttempt))
    refused = sum(isinstance(r, TooManyAttempts) for r in results)
    assert counted == len(results) - refused  # every guess that was checked is on the count
    assert refused >= 1  # and the ones past the free failures had to wait
    with pytest.raises(TooManyAttempts):
        engine.people.sign_in("ana", PASSWORD, remote_addr="10.0.0.7", method="password")


def test_a_wrong_token_request_counts_no_failure(engine: Engine) -> None:
    engine.people.create("ana", PASSWORD, ["secretariat"])
    from engine import InvalidData

    with pytest.raises(InvalidData):
        engine.tokens.issue("ana", PASSWORD, "", 30, remote_addr="10.0.0.1")
    with engine.session() as s:
        assert s.scalar(select(func.count()).select_from(LoginAttempt)) == 0
