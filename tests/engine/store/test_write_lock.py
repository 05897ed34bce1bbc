"""SQLite write transactions queue on a lock file beside the database (engine/store/writelock.py):
held from BEGIN IMMEDIATE to commit or rollback, never by a read, released when a transaction
fails, and shared by processes, so two processes writing at once lose no update."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine as SAEngine
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from engine.store.db import check_writable, make_engine, make_session_factory, transaction
from engine.store.writelock import LOCK_SUFFIX


@pytest.fixture
def db_file(database_url: str) -> Path:
    if not database_url.startswith("sqlite"):
        pytest.skip("the lock file is SQLite's")
    return Path(database_url.split("///", 1)[1])


def _held(lock_file: Path) -> bool:
    """Whether some connection holds the lock file (tried from a descriptor of our own)."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _counter(url: str) -> SAEngine:
    bind = make_engine(url)
    with bind.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS tally (n INTEGER NOT NULL)"))
        if conn.execute(text("SELECT count(*) FROM tally")).scalar() == 0:
            conn.execute(text("INSERT INTO tally VALUES (0)"))
    return bind


def test_a_write_transaction_holds_the_lock_file_until_it_ends(db_file: Path) -> None:
    bind = _counter(f"sqlite:///{db_file}")
    sessions = make_session_factory(bind)
    lock_file = Path(str(db_file) + LOCK_SUFFIX)
    with sessions() as s:  # a read takes no lock
        s.execute(text("SELECT n FROM tally"))
        assert not _held(lock_file)
    with transaction(sessions) as s:
        assert _held(lock_file)
        s.execute(text("UPDATE tally SET n = n + 1"))
    assert not _held(lock_file)
    with pytest.raises(RuntimeError), transaction(sessions) as s:
        s.execute(text("UPDATE tally SET n = n + 1"))
        raise RuntimeError("the step failed")
    assert not _held(lock_file), "a rolled-back transaction hands the lock on"
    with sessions() as s:
        assert s.execute(text("SELECT n FROM tally")).scalar() == 1
    bind.dispose()


def test_a_waiting_writer_starts_when_the_holder_commits(db_file: Path) -> None:
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
        time.sleep(0.2)  # the other writer is waiting on the lock file meanwhile
        order.append("first commits")
    waiter.join(10)
    assert order == ["first commits", "second in"]
    with first.connect() as conn:
        assert conn.execute(text("SELECT n FROM tally")).scalar() == 10
    first.dispose()
    second.dispose()


def test_the_readiness_probe_gives_up_while_a_writer_holds_the_lock(db_file: Path) -> None:
    bind = _counter(f"sqlite:///{db_file}")
    sessions = make_session_factory(bind)
    probe = make_engine(f"sqlite:///{db_file}")
    with transaction(sessions) as s:
        s.execute(text("UPDATE tally SET n = n + 1"))
        started = time.monotonic()
        with pytest.raises(OperationalError, match="locked"):
            check_writable(probe, 0.2)
        assert time.monotonic() - started < 5
    check_writable(probe, 0.2)
    bind.dispose()
    probe.dispose()


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
