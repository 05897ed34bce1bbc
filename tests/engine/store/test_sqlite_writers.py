"""SQLite writers take turns (`BEGIN IMMEDIATE`; threads of one process in a Python queue first,
other processes in SQLite's busy handler): a second writer waits for the first to commit and
writes on its result, and two server processes writing at once (`PATHFINDER_WORKERS=2`) lose no
update and see no "database is locked"."""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine as SAEngine
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from engine.store.db import make_engine, make_session_factory, transaction


@pytest.fixture
def db_file(database_url: str) -> Path:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    return Path(database_url.split("///", 1)[1])


def _counter(url: str) -> SAEngine:
    bind = make_engine(url)
    with bind.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS tally (n INTEGER NOT NULL)"))
        if conn.execute(text("SELECT count(*) FROM tally")).scalar() == 0:
            conn.execute(text("INSERT INTO tally VALUES (0)"))
    return bind


def test_a_waiting_writer_writes_after_the_holder_commits(db_file: Path) -> None:
    url = f"sqlite:///{db_file}"
    first, second = _counter(url), make_engine(url)
    order: list[str] = []
    inside = threading.Event()

    def other() -> None:
        inside.wait()
        with transaction(make_session_factory(second)) as s:
            order.append("second in")
            s.execute(text("UPDATE tally SET n = n * 10"))

    waiter = threading.Thread(target=other)
    waiter.start()
    with transaction(make_session_factory(first)) as s:
        s.execute(text("UPDATE tally SET n = n + 1"))
        inside.set()
        time.sleep(0.2)  # the other writer is waiting for the write lock meanwhile
        order.append("first commits")
    waiter.join(10)
    assert order == ["first commits", "second in"]
    with first.connect() as conn:
        assert conn.execute(text("SELECT n FROM tally")).scalar() == 10
    first.dispose()
    second.dispose()


def _add(url: str, times: int) -> None:
    sessions = make_session_factory(make_engine(url))
    for _ in range(times):
        with transaction(sessions) as s:
            n = s.execute(text("SELECT n FROM tally")).scalar_one()
            s.execute(text("UPDATE tally SET n = :n"), {"n": n + 1})


def test_two_processes_writing_at_once_lose_no_update(db_file: Path) -> None:
    url = f"sqlite:///{db_file}"
    _counter(url).dispose()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_add, args=(url, 100)) for _ in range(2)]
    for p in procs:
        p.start()
    _add(url, 100)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    bind = make_engine(url)
    with bind.connect() as conn:
        assert conn.execute(text("SELECT n FROM tally")).scalar() == 300
    bind.dispose()


def _impatient(bind: SAEngine) -> None:
    """Writers of `bind` give up at once when SQLite's write lock is taken (busy timeout 0)."""
    event.listen(bind, "connect", lambda raw, _rec: raw.execute("PRAGMA busy_timeout=0"))


@pytest.mark.parametrize("ending", ["commit", "rollback", "error"])
def test_a_writer_of_this_process_waits_its_turn_in_the_queue(db_file: Path, ending: str) -> None:
    # However short SQLite's busy timeout, a second writer of the same process is let in when
    # the first ends its transaction (committed, rolled back or failed), never refused.
    url = f"sqlite:///{db_file}"
    first, second = _counter(url), make_engine(url)
    _impatient(second)
    inside, outcome = threading.Event(), []

    def other() -> None:
        inside.wait()
        try:
            with transaction(make_session_factory(second)) as s:
                s.execute(text("UPDATE tally SET n = n + 10"))
            outcome.append("written")
        except OperationalError as exc:
            outcome.append(str(exc.orig))

    waiter = threading.Thread(target=other)
    waiter.start()
    with contextlib.suppress(ZeroDivisionError), transaction(make_session_factory(first)) as s:
        s.execute(text("UPDATE tally SET n = n + 1"))
        inside.set()
        time.sleep(0.2)
        if ending == "rollback":
            s.rollback()
        elif ending == "error":
            _ = 1 / 0
    waiter.join(10)
    assert outcome == ["written"]
    with first.connect() as conn:
        assert conn.execute(text("SELECT n FROM tally")).scalar() == (
            11 if ending == "commit" else 10
        )
    first.dispose()
    second.dispose()


def test_a_second_write_transaction_in_the_same_thread_meets_sqlite_not_the_queue(
    db_file: Path,
) -> None:
    # The queue does not wait for the thread itself: the inner writer gets SQLite's own answer
    # once its busy timeout is over (here at once), as before the queue, instead of hanging.
    url = f"sqlite:///{db_file}"
    outer, inner = _counter(url), make_engine(url)
    _impatient(inner)
    with transaction(make_session_factory(outer)) as s:
        s.execute(text("UPDATE tally SET n = n + 1"))
        with (
            pytest.raises(OperationalError, match="locked"),
            transaction(make_session_factory(inner)) as t,
        ):
            t.execute(text("UPDATE tally SET n = n + 100"))
    with outer.connect() as conn:
        assert conn.execute(text("SELECT n FROM tally")).scalar() == 1
    outer.dispose()
    inner.dispose()
