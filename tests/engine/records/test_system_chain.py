"""Appends to the system chain from many connections at once (users created beside deploys)."""

from __future__ import annotations

import threading
from functools import partial

import pytest
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from engine import Engine
from engine.people.accounts import create_user
from engine.records.history import SYSTEM_CHAIN
from engine.store.db import transaction
from engine.store.models import AuditEvent

THREADS = 8
WRITES = 20


def test_concurrent_system_chain_writes_all_succeed_and_the_chain_verifies(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """8 threads x 20 user creations, each an audited write on the system chain: on PostgreSQL
    they used to take the same next seq and fail with a unique violation."""
    # Password hashing is not under test; a cheap hash keeps the writes close together.
    cheap = partial(generate_password_hash, method="pbkdf2:sha256:1")
    monkeypatch.setattr("engine.people.accounts.generate_password_hash", cheap)
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def work(n: int) -> None:
        barrier.wait()
        for i in range(WRITES):
            try:
                with transaction(engine.sessions) as s:
                    create_user(
                        s, f"user{n}x{i}", "a long password 1", ["secretariat"], now=engine.now()
                    )
            except BaseException as exc:  # noqa: BLE001 - every failure is reported below
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    with engine.session() as s:
        count = s.execute(select(func.count()).where(AuditEvent.chain == SYSTEM_CHAIN)).scalar_one()
    assert count == THREADS * WRITES
    system = [r for r in engine.verify() if r.chain == SYSTEM_CHAIN]
    assert system and system[0].intact, system[0].message
    assert system[0].events == THREADS * WRITES
