"""Pooled PostgreSQL connections: pinged at checkout only after sitting idle, and replaced when
the server closed them meanwhile (instead of `pool_pre_ping`'s round trip on every checkout)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, text

from engine.store import db
from engine.store.db import make_engine


@pytest.fixture
def pg_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("pooled server connections: PostgreSQL only")
    return database_url


def test_a_connection_killed_while_idle_is_replaced(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bind = make_engine(pg_url)
    with bind.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    other = make_engine(pg_url)
    with other.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)  # it has been idle "long enough"
    with bind.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != pid
    bind.dispose()
    other.dispose()


def test_a_busy_connection_is_not_pinged(pg_url: str) -> None:
    bind = make_engine(pg_url)
    with bind.connect() as conn:
        conn.execute(text("SELECT 1"))
    sent: list[str] = []
    event.listen(bind, "before_cursor_execute", lambda _c, _cu, sql, *_: sent.append(sql))
    pings: list[str] = []
    real = bind.pool._dialect.do_ping  # what pool_pre_ping would call

    def counting(dbapi_connection: Any) -> bool:
        pings.append("ping")
        return bool(real(dbapi_connection))

    bind.pool._dialect.do_ping = counting  # type: ignore[method-assign]
    for _ in range(3):
        with bind.connect() as conn:
            conn.execute(text("SELECT 2"))
    assert pings == [] and sent == ["SELECT 2"] * 3
    bind.dispose()
