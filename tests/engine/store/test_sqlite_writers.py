"""SQLite writers take turns (`BEGIN IMMEDIATE`; threads of one process in a Python queue first,
then the processes on a lock file, `<database>-writelock`, with SQLite's busy handler behind
both): a second writer waits for the first to commit and writes on its result, two server
processes writing at once (`PATHFINDER_WORKERS=2`) lose no update and see no "database is
locked", a writer of another process is let in when the holder ends (also when it crashed),
and a wait longer than the timeout is "database is locked", never a hang."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine as SAEngine
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from engine.store.db import check_writable, make_engine, make_session_factory, transaction


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


def _hold(url: str, inside: Any, release: Any, crash: bool) -> None:
    """In another process: hold the write lock until `release` is set (or until killed)."""
    with transaction(make_session_factory(make_engine(url))) as s:
        s.execute(text("UPDATE tally SET n = n + 1"))
        inside.set()
        release.wait(30)
        if crash:
            os._exit(3)  # no commit, no rollback, no cleanup: the kernel lets go of the locks


def _holder(url: str, crash: bool = False) -> tuple[Any, Any, Any]:
    ctx = multiprocessing.get_context("spawn")
    inside, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold, args=(url, inside, release, crash))
    proc.start()
    assert inside.wait(60)
    return proc, release, ctx


@pytest.mark.parametrize("crash", [False, True], ids=["commits", "crashes"])
def test_a_writer_of_another_process_waits_on_the_lock_file(db_file: Path, crash: bool) -> None:
    # SQLite's busy timeout is 0 here: the writer is let in because it waited for the other
    # process on the lock file, woken when the holder committed, or died holding the lock.
    url = f"sqlite:///{db_file}"
    _counter(url).dispose()
    proc, release, _ = _holder(url, crash)
    bind = make_engine(url)
    _impatient(bind)
    outcome: list[str] = []

    def write() -> None:
        with transaction(make_session_factory(bind)) as s:
            s.execute(text("UPDATE tally SET n = n + 10"))
        outcome.append("written")

    waiter = threading.Thread(target=write)
    waiter.start()
    time.sleep(0.3)
    assert outcome == []  # still waiting for the other process
    release.set()
    waiter.join(30)
    proc.join(30)
    assert outcome == ["written"]
    assert proc.exitcode == (3 if crash else 0)
    with bind.connect() as conn:
        assert conn.execute(text("SELECT n FROM tally")).scalar() == (10 if crash else 11)
    assert Path(f"{db_file}-writelock").exists()
    bind.dispose()


def test_a_wait_for_another_process_longer_than_the_timeout_is_database_is_locked(
    db_file: Path,
) -> None:
    # The lock file's wait is bounded (here by the readiness check's 0.3 s), and after the
    # holder ends the next writer of this process takes the lock file again.
    url = f"sqlite:///{db_file}"
    _counter(url).dispose()
    proc, release, _ = _holder(url)
    bind = make_engine(url)
    started = time.monotonic()
    with pytest.raises(OperationalError, match="locked"):
        check_writable(bind, 0.3)
    assert time.monotonic() - started < 5
    release.set()
    proc.join(30)
    assert proc.exitcode == 0
    with transaction(make_session_factory(bind)) as s:
        s.execute(text("UPDATE tally SET n = n + 10"))
    with bind.connect() as conn:
        assert conn.execute(text("SELECT n FROM tally")).scalar() == 11
    bind.dispose()
