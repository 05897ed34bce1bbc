"""PostgreSQL: a read opens no transaction (no BEGIN, no ROLLBACK: two round trips fewer, and
psycopg keeps its prepared statements); the first statement that writes or locks opens one,
which then commits or rolls back whole; a write transaction is one from its first statement."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine as SAEngine
from sqlalchemy import event, text

from engine.store.db import make_engine, make_session_factory, transaction

IDLE, IN_TRANSACTION = 0, 2  # psycopg.pq.TransactionStatus


@pytest.fixture
def bind(database_url: str) -> Any:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's transactions")
    bind = make_engine(database_url)
    yield bind
    bind.dispose()


def _statuses(bind: SAEngine) -> list[tuple[str, int]]:
    """(statement, transaction status right after it) for every statement sent from now on."""
    seen: list[tuple[str, int]] = []

    def after(_c: Any, cursor: Any, statement: str, *_a: Any) -> None:
        seen.append((statement.split()[0], int(cursor.connection.info.transaction_status)))

    event.listen(bind, "after_cursor_execute", after)
    return seen


def test_a_read_session_runs_outside_a_transaction(bind: SAEngine) -> None:
    sessions = make_session_factory(bind)
    seen = _statuses(bind)
    with sessions() as s:
        s.execute(text("SELECT 1"))
        s.execute(text("SELECT 2"))
    assert seen == [("SELECT", IDLE), ("SELECT", IDLE)]


def test_a_write_transaction_is_one_from_its_first_read(bind: SAEngine) -> None:
    sessions = make_session_factory(bind)
    seen = _statuses(bind)
    with transaction(sessions) as s:
        s.execute(text("SELECT 1"))
    assert seen == [("SELECT", IN_TRANSACTION)]


def test_a_read_that_writes_commits_or_rolls_back_whole(bind: SAEngine) -> None:
    with bind.connect() as conn:
        conn.execute(text("CREATE TEMP TABLE tally (n integer)"))
        conn.commit()
        seen = _statuses(bind)
        conn.execute(text("SELECT count(*) FROM tally"))
        conn.execute(text("INSERT INTO tally VALUES (1)"))
        conn.execute(text("INSERT INTO tally VALUES (2)"))
        conn.rollback()
        assert conn.execute(text("SELECT count(*) FROM tally")).scalar() == 0
        assert seen[:3] == [("SELECT", IDLE), ("INSERT", IN_TRANSACTION), ("INSERT", 2)]
        conn.execute(text("INSERT INTO tally VALUES (3)"))
        conn.commit()
        assert conn.execute(text("SELECT count(*) FROM tally")).scalar() == 1


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT n FROM tally FOR UPDATE",
        "SELECT n FROM tally FOR NO KEY UPDATE SKIP LOCKED",
        "SELECT n FROM tally FOR SHARE",
        "SELECT pg_advisory_xact_lock(42)",
        "SELECT pg_notify('pathfinder_test', 'x')",
    ],
)
def test_a_locking_select_opens_the_transaction_that_keeps_the_lock(
    bind: SAEngine, statement: str
) -> None:
    with bind.connect() as conn:
        conn.execute(text("CREATE TEMP TABLE tally (n integer)"))
        conn.commit()
        seen = _statuses(bind)
        conn.execute(text(statement))
        assert seen == [("SELECT", IN_TRANSACTION)]
        conn.rollback()


def test_a_streamed_read_gets_the_transaction_its_cursor_needs(bind: SAEngine) -> None:
    with bind.connect() as conn:
        rows = conn.execution_options(yield_per=2).execute(
            text("SELECT generate_series(1, 5) AS n")
        )
        assert [r.n for r in rows] == [1, 2, 3, 4, 5]


def test_a_server_with_a_stricter_isolation_keeps_reads_in_a_transaction(
    bind: SAEngine, database_url: str
) -> None:
    strict = make_engine(
        database_url,
        connect_args={"options": "-c default_transaction_isolation=repeatable\\ read"},
    )
    seen = _statuses(strict)
    with make_session_factory(strict)() as s:
        s.execute(text("SELECT 1"))
        s.execute(text("SELECT 2"))
    assert seen == [("SELECT", IN_TRANSACTION), ("SELECT", IN_TRANSACTION)]
    strict.dispose()
