"""Task completions of one process and of two run their engine step side by side (SQLite: on a
read snapshot, the write lock taken only to write the rows) and end as if they had taken turns:
different instances both complete, two people on the same task get one completion and one
refusal, two tasks of one instance both complete (the second runs again on the first's result),
and every audit chain still verifies."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from engine import Actor, Engine, NotReady
from engine.config import Settings
from engine.runtime import execution
from tests.fixtures.bpmn_files import bpmn, flow, user_task

# Two people's tasks side by side (a parallel gateway), then one more.
PAIR = bpmn(
    "pair",
    '<bpmn:startEvent id="start" /><bpmn:parallelGateway id="fork" />'
    + user_task("left", "Left review")
    + user_task("right", "Right review")
    + '<bpmn:parallelGateway id="join" />'
    + user_task("sign", "Sign off")
    + '<bpmn:endEvent id="end" />'
    + flow("f1", "start", "fork")
    + flow("f2", "fork", "left")
    + flow("f3", "fork", "right")
    + flow("f4", "left", "join")
    + flow("f5", "right", "join")
    + flow("f6", "join", "sign")
    + flow("f7", "sign", "end"),
)


@pytest.fixture
def sqlite_only(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL locks the instance row first: nothing runs side by side")


@pytest.fixture
def locks_taken(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], None]]:
    """Arrange for `n` completions to meet before any takes the write lock: each finished
    its step on a snapshot first (with the lock taken at BEGIN, they would wait here forever)."""
    real = execution.lock_for_writes
    state: dict[str, Any] = {}
    seen = threading.local()

    def meeting(session: Any) -> bool:
        barrier = state.get("barrier")
        if barrier is not None and not getattr(seen, "met", False):
            seen.met = True
            barrier.wait(timeout=20)
        return real(session)

    monkeypatch.setattr(execution, "lock_for_writes", meeting)

    def arrange(n: int) -> None:
        state["barrier"] = threading.Barrier(n)

    yield arrange


def _side_by_side(*calls: Callable[[], object]) -> list[object]:
    """Run `calls` in threads at once; each one's result or the exception it raised."""
    results: list[object] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except BaseException as exc:  # noqa: BLE001 - returned to the test's asserts
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def _open(engine: Engine, instance_id: int) -> dict[str, str]:
    return {t.element_id: t.id for t in engine.ready_tasks(instance_id)}


@pytest.mark.usefixtures("sqlite_only")
def test_two_instances_complete_side_by_side(
    engine: Engine, actors: dict[str, Actor], locks_taken: Callable[[int], None]
) -> None:
    engine.deploy({"pair.bpmn": PAIR}, {}, "olu")
    admin = actors["admin"]
    first, second = (engine.start("pair", {}, admin).id for _ in range(2))
    locks_taken(2)
    results = _side_by_side(
        lambda: engine.complete(_open(engine, first)["left"], {}, admin),
        lambda: engine.complete(_open(engine, second)["left"], {}, admin),
    )
    assert [type(r).__name__ for r in results] == ["Instance", "Instance"]
    for instance_id in (first, second):
        assert sorted(_open(engine, instance_id)) == ["right"]
        assert all(r.intact for r in engine.verify(instance_id))


@pytest.mark.usefixtures("sqlite_only")
def test_the_same_task_twice_completes_once(
    engine: Engine, actors: dict[str, Actor], locks_taken: Callable[[int], None]
) -> None:
    engine.deploy({"pair.bpmn": PAIR}, {}, "olu")
    admin = actors["admin"]
    instance_id = engine.start("pair", {}, admin).id
    left = _open(engine, instance_id)["left"]
    locks_taken(2)
    results = _side_by_side(
        lambda: engine.complete(left, {}, admin), lambda: engine.complete(left, {}, admin)
    )
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1 and isinstance(refused[0], NotReady), results
    assert "no longer open" in str(refused[0])
    kinds = [e.kind for e in engine.history(instance_id)]
    assert kinds.count("task_completed") == 1
    assert sorted(_open(engine, instance_id)) == ["right"]
    assert all(r.intact for r in engine.verify(instance_id))


@pytest.mark.usefixtures("sqlite_only")
def test_two_tasks_of_one_instance_both_complete(
    engine: Engine, actors: dict[str, Actor], locks_taken: Callable[[int], None]
) -> None:
    engine.deploy({"pair.bpmn": PAIR}, {}, "olu")
    admin = actors["admin"]
    instance_id = engine.start("pair", {}, admin).id
    tasks = _open(engine, instance_id)
    locks_taken(2)
    results = _side_by_side(
        lambda: engine.complete(tasks["left"], {}, admin),
        lambda: engine.complete(tasks["right"], {}, admin),
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    # The one that wrote second ran again on the first's result: the join passed.
    assert sorted(_open(engine, instance_id)) == ["sign"]
    kinds = [e.kind for e in engine.history(instance_id)]
    assert kinds.count("task_completed") == 2
    assert all(r.intact for r in engine.verify(instance_id))


def _complete_all(url: str, var_dir: str, task_ids: list[str]) -> None:
    engine = Engine.from_settings(
        Settings(database_url=url, secret_key="test-secret", var_dir=Path(var_dir))
    )
    for task_id in task_ids:
        engine.complete(task_id, {}, Actor("ada", ["admin"]))


@pytest.mark.usefixtures("sqlite_only")
def test_two_processes_complete_tasks_of_the_same_instances(
    engine: Engine, actors: dict[str, Actor], database_url: str, tmp_path: Path
) -> None:
    engine.deploy({"pair.bpmn": PAIR}, {}, "olu")
    ids = [engine.start("pair", {}, actors["admin"]).id for _ in range(12)]
    tasks = {i: _open(engine, i) for i in ids}
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(
            target=_complete_all,
            args=(database_url, str(tmp_path / "var"), [tasks[i][side] for i in ids]),
        )
        for side in ("left", "right")
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    for instance_id in ids:
        assert sorted(_open(engine, instance_id)) == ["sign"]
        assert all(r.intact for r in engine.verify(instance_id))


@pytest.mark.usefixtures("sqlite_only")
def test_the_same_task_form_posted_twice_completes_once(
    engine: Engine, actors: dict[str, Actor], locks_taken: Callable[[int], None]
) -> None:
    # The web's posted form (no files): the loser is told someone else was first, as before.
    engine.deploy({"pair.bpmn": PAIR}, {}, "olu")
    admin = actors["admin"]
    instance_id = engine.start("pair", {}, admin).id
    left = _open(engine, instance_id)["left"]
    locks_taken(2)

    def post() -> object:
        return engine.tasks.submit(left, admin, parse=lambda _form: {})

    results = _side_by_side(post, post)
    assert sorted(bool(getattr(r, "done", False)) for r in results) == [False, True], results
    [lost] = [r for r in results if not getattr(r, "done", True)]
    assert isinstance(getattr(lost, "conflict", None), NotReady)
    kinds = [e.kind for e in engine.history(instance_id)]
    assert kinds.count("task_completed") == 1
    assert all(r.intact for r in engine.verify(instance_id))


@pytest.mark.usefixtures("sqlite_only")
def test_a_draft_saved_while_the_task_completes_does_not_stay_behind(
    engine: Engine, actors: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.deploy({"pair.bpmn": PAIR}, {}, "olu")
    admin = actors["admin"]
    instance_id = engine.start("pair", {}, admin).id
    left = _open(engine, instance_id)["left"]
    real = execution.lock_for_writes

    def draft_first(session: Any) -> bool:
        # Between the completion's snapshot and its write lock, someone saves a draft (a
        # draft moves no lock version, so the completion does not run again).
        monkeypatch.setattr(execution, "lock_for_writes", real)
        engine.tasks.save_draft(left, {"note": "typed while it was being submitted"}, admin)
        return real(session)

    monkeypatch.setattr(execution, "lock_for_writes", draft_first)
    engine.complete(left, {}, admin)
    with engine.sessions() as s:
        query = text("SELECT state, draft FROM human_tasks WHERE id = :id")
        state, draft = s.execute(query, {"id": left}).one()
    assert state == "completed"
    assert draft is None  # SQL NULL: neither the draft nor the JSON text null
