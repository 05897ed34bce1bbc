"""PostgreSQL: two people complete the same task at once. The first to lock the instance and
the task (`lock_task`, `FOR UPDATE OF` both) completes it; the second waits on the row locks,
then reads the task as it is after the first's commit and is refused as `NotReady`; one
`task_completed` event, and the audit chain verifies. The first holds its locks until the
second is seen waiting on them in `pg_stat_activity`, so the two always meet."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from engine import Actor, Engine, NotReady
from engine.runtime import execution
from engine.runtime import tasks as task_module
from tests.engine.runtime.test_concurrent_completions import PAIR, _open, _side_by_side


@pytest.fixture
def postgres_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's row locks (SQLite: test_concurrent_completions.py)")


def _waiting_on_a_lock(database_url: str) -> Callable[[], bool]:
    """Whether a session of this database waits for a lock another holds (from a connection
    of its own, outside the engine's pool)."""
    watcher = create_engine(database_url, pool_size=1, max_overflow=0)

    def waiting() -> bool:
        with watcher.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar()
        return bool(found)

    waiting.dispose = watcher.dispose  # type: ignore[attr-defined]
    return waiting


@pytest.fixture
def first_holds_its_locks(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[str]]:
    """The first completion to lock its instance keeps the locks until another session waits
    for one; yields a list that holds True once that happened."""
    waiting = _waiting_on_a_lock(database_url)
    real = execution.restore
    passed: list[str] = []
    met: list[bool] = []
    guard = threading.Lock()

    def hold(session: Any, rt: Any, row: Any) -> Any:
        with guard:
            first = not passed
            passed.append(threading.current_thread().name)
        if first:
            deadline = time.monotonic() + 20
            while not waiting():
                assert time.monotonic() < deadline, "the second completion never waited"
                time.sleep(0.02)
            met.append(True)
        return real(session, rt, row)

    # Restoring the workflow comes right after the locking read, on either path (the API's
    # `lock_task`; the posted form's `load`, after it read the task without a lock).
    monkeypatch.setattr(execution, "restore", hold)
    monkeypatch.setattr(task_module, "restore", hold)
    yield met
    waiting.dispose()  # type: ignore[attr-defined]


@pytest.mark.usefixtures("postgres_only")
def test_the_same_task_twice_at_once_completes_once(
    engine: Engine, actors: dict[str, Actor], first_holds_its_locks: list[str]
) -> None:
    engine.deploy({"pair.bpmn": PAIR}, {}, "olu")
    admin = actors["admin"]
    instance_id = engine.start("pair", {}, admin).id
    left = _open(engine, instance_id)["left"]
    results = _side_by_side(
        lambda: engine.complete(left, {}, admin), lambda: engine.complete(left, {}, admin)
    )
    assert first_holds_its_locks == [True]  # the second waited on the first's locks
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1 and isinstance(refused[0], NotReady), results
    assert "no longer open" in str(refused[0]) and "ada" in str(refused[0])
    kinds = [e.kind for e in engine.history(instance_id)]
    assert kinds.count("task_completed") == 1
    assert sorted(_open(engine, instance_id)) == ["right"]
    assert all(r.intact for r in engine.verify(instance_id))


@pytest.mark.usefixtures("postgres_only")
def test_the_same_task_form_posted_twice_at_once_completes_once(
    engine: Engine, actors: dict[str, Actor], first_holds_its_locks: list[str]
) -> None:
    # The web's posted form: the loser is told someone else was first, and nothing is lost.
    engine.deploy({"pair.bpmn": PAIR}, {}, "olu")
    admin = actors["admin"]
    instance_id = engine.start("pair", {}, admin).id
    left = _open(engine, instance_id)["left"]

    def post() -> object:
        return engine.tasks.submit(left, admin, parse=lambda _form: {})

    results = _side_by_side(post, post)
    assert first_holds_its_locks == [True]
    assert sorted(bool(getattr(r, "done", False)) for r in results) == [False, True], results
    [lost] = [r for r in results if not getattr(r, "done", True)]
    assert isinstance(getattr(lost, "conflict", None), NotReady)
    kinds = [e.kind for e in engine.history(instance_id)]
    assert kinds.count("task_completed") == 1
    assert all(r.intact for r in engine.verify(instance_id))
