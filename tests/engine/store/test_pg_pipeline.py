"""PostgreSQL: a write transaction runs in pipeline mode. A write marked `PIPELINED` (its result
unread) goes to the server with the next statement that is waited for, or with the COMMIT;
anything else is waited for as before. The transaction stays one: all or nothing, and an error
a queued write raises comes back as SQLAlchemy raises any driver error, inside it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine as SAEngine
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from engine.store.db import make_engine, make_session_factory, transaction
from engine.store.pg import PIPELINED, pipelined

QUEUED = {PIPELINED: True}


@pytest.fixture
def bind(database_url: str) -> Iterator[SAEngine]:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's pipeline mode")
    bind = make_engine(database_url, pool_size=1, max_overflow=0)
    with bind.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS pipeline_tally"))
        conn.execute(text("CREATE TABLE pipeline_tally (n integer PRIMARY KEY)"))
    yield bind
    with bind.begin() as conn:
        conn.execute(text("DROP TABLE pipeline_tally"))
    bind.dispose()


@pytest.fixture
def sessions(bind: SAEngine) -> sessionmaker[Session]:
    return make_session_factory(bind)


def _tally(sessions: sessionmaker[Session]) -> list[int]:
    with sessions() as s:
        return list(s.execute(text("SELECT n FROM pipeline_tally ORDER BY n")).scalars())


def _insert(s: Session, n: int) -> None:
    s.execute(text("INSERT INTO pipeline_tally VALUES (:n)").execution_options(**QUEUED), {"n": n})


def test_queued_writes_commit_with_the_transaction(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        assert pipelined(s.connection())
        _insert(s, 1)
        _insert(s, 2)
        # A statement waited for sees the queued writes before it: they ran first.
        assert s.execute(text("SELECT count(*) FROM pipeline_tally")).scalar() == 2
        _insert(s, 3)
    assert _tally(sessions) == [1, 2, 3]
    with sessions() as s:  # the connection is back out of pipeline mode for reads
        assert not pipelined(s.connection())
        assert s.execute(text("SELECT 1")).scalar() == 1


def test_an_error_in_a_queued_write_is_raised_by_the_next_statement_waited_for(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:
        _insert(s, 1)
    with pytest.raises(IntegrityError), transaction(sessions) as s:
        _insert(s, 2)
        _insert(s, 1)  # duplicate key: raised below, not here
        s.execute(text("SELECT 1"))
    assert _tally(sessions) == [1]  # the 2 went with the failed transaction


def test_an_error_in_a_queued_write_is_raised_by_the_commit(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:
        _insert(s, 1)
    with pytest.raises(IntegrityError) as raised, transaction(sessions) as s:
        _insert(s, 2)
        _insert(s, 1)
    assert "pipeline_tally_pkey" in str(raised.value)
    assert _tally(sessions) == [1]
    with transaction(sessions) as s:  # the same pooled connection writes again
        _insert(s, 2)
    assert _tally(sessions) == [1, 2]


def test_a_transaction_that_raises_rolls_back_its_queued_writes(
    sessions: sessionmaker[Session],
) -> None:
    with pytest.raises(RuntimeError, match="stop"), transaction(sessions) as s:
        _insert(s, 1)
        _insert(s, 1)  # the error this would raise is dropped with the rollback
        raise RuntimeError("stop")
    assert _tally(sessions) == []


def test_begin_goes_with_the_first_statement_and_commit_with_the_last_writes(
    bind: SAEngine, sessions: sessionmaker[Session]
) -> None:
    """Round trips of a transaction that reads, writes twice unread and once read: three (the
    read with its BEGIN, the UPDATE with the writes before it, the COMMIT)."""
    waited: list[str] = []

    def after(conn: Any, _cu: Any, statement: str, _p: Any, context: Any, _m: bool) -> None:
        if not context.execution_options.get(PIPELINED):
            waited.append(statement.split()[0])

    event.listen(bind, "after_cursor_execute", after)
    with transaction(sessions) as s:
        s.execute(text("SELECT count(*) FROM pipeline_tally")).scalar()
        _insert(s, 1)
        _insert(s, 2)
        updated = s.execute(text("UPDATE pipeline_tally SET n = n + 10 WHERE n = 2"))
        assert updated.rowcount == 1  # waited for: its row count is read
    event.remove(bind, "after_cursor_execute", after)
    assert waited == ["SELECT", "UPDATE"]
    assert _tally(sessions) == [1, 12]


def test_a_server_side_cursor_leaves_the_pipeline_inside_the_transaction(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:
        _insert(s, 1)
        rows = s.execute(
            text("SELECT n FROM pipeline_tally").execution_options(yield_per=1)
        ).scalars()
        assert list(rows) == [1]
        assert not pipelined(s.connection())
        _insert(s, 2)
    assert _tally(sessions) == [1, 2]
