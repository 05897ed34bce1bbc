"""How many times one task completion walks SpiffWorkflow's task tree.

Each walk visits every task of the instance (completed history included), and costs about as
much as the step's own work in SpiffWorkflow; a completion once took six. The counts are
deterministic, so a walk added on the hot path shows here (see docs/benchmarks.md, "Fewer
walks of the task tree").
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import SpiffWorkflow
from SpiffWorkflow.util.task import TaskIterator

from engine import Engine
from tests.fixtures.bpmn_files import bpmn, flow, user_task

_SPIFF = str(Path(SpiffWorkflow.__file__).parent)

# A timer between two tasks: after `fill`, the instance waits an hour for `check`.
TIMED = bpmn(
    "timed",
    '<bpmn:startEvent id="start" />'
    + user_task("fill", "Fill in")
    + '<bpmn:intermediateCatchEvent id="wait" name="An hour later">'
    + '<bpmn:timerEventDefinition><bpmn:timeDuration>"PT1H"</bpmn:timeDuration>'
    + "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    + user_task("check", "Check")
    + '<bpmn:endEvent id="end" />'
    + flow("f1", "start", "fill")
    + flow("f2", "fill", "wait")
    + flow("f3", "wait", "check")
    + flow("f4", "check", "end"),
)


class Walks(list[tuple[str, str]]):
    """Each walk as (who asked for it, the SpiffWorkflow function it went through): the
    engine's function when engine code asked SpiffWorkflow for tasks (`get_tasks`), or
    `SpiffWorkflow` for the library's own walks inside a call (running a task, engine steps,
    `is_completed`)."""

    def engine(self) -> list[str]:
        return [who for who, _ in self if who != "SpiffWorkflow"]


@contextmanager
def counting_walks() -> Iterator[Walks]:
    walks = Walks()
    init = TaskIterator.__init__

    def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        frame = sys._getframe(1)
        inner = frame
        while frame is not None and frame.f_code.co_filename.startswith(_SPIFF):
            inner, frame = frame, frame.f_back
        assert frame is not None
        asked = inner.f_code.co_name in ("get_tasks", "get_tasks_iterator")
        who = f"{Path(frame.f_code.co_filename).stem}.{frame.f_code.co_name}"
        walks.append((who if asked else "SpiffWorkflow", inner.f_code.co_name))
        init(self, *args, **kwargs)

    with mock.patch.object(TaskIterator, "__init__", counted):
        yield walks


def test_a_completion_walks_the_tree_twice_without_timers(
    engine: Engine, review_bundle, actors
) -> None:
    engine.deploy(*review_bundle, actor="olu")
    inst = engine.start("review", {"country": "NPL"}, actors["country"])
    [fill] = engine.ready_tasks(inst.id)
    with counting_walks() as walks:
        engine.complete(fill.id, {"title": "Workshop", "amount": 2}, actors["country"])
    # restore: the READY and waiting tasks (one walk); run_engine: one walk after its round,
    # whose READY tasks `save` reuses. No timer event in the model: no walk for timers first.
    assert walks.engine() == ["rows.scan", "rows.scan"], walks
    # SpiffWorkflow's own: waiting tasks after `task.run()`, `do_engine_steps`' update, and
    # `is_completed` (which stops at the first unfinished task).
    assert len(walks) == 5, walks


def test_a_completion_walks_the_tree_three_times_with_a_timer(engine: Engine, actors) -> None:
    engine.deploy({"timed.bpmn": TIMED}, actor="olu")
    inst = engine.start("timed", {}, actors["admin"])
    [fill] = engine.ready_tasks(inst.id)
    with counting_walks() as walks:
        engine.complete(fill.id, {}, actors["admin"])
    # The waiting timers before the first round too: a timer reached by the task just run is
    # recorded as fired by the round that fires it.
    assert walks.engine() == ["rows.scan", "rows.waiting_timers", "rows.scan"], walks
    assert len(walks) == 6, walks
    assert engine.ready_tasks(inst.id) == []  # waiting for the timer


@pytest.mark.parametrize("model", ["review", "timed"])
def test_counting_sees_an_added_walk(engine: Engine, review_bundle, actors, model) -> None:
    """The counter is not blind: one more `get_tasks` in the step is one more walk."""
    from engine.runtime import steps

    if model == "review":
        engine.deploy(*review_bundle, actor="olu")
        inst = engine.start("review", {"country": "NPL"}, actors["country"])
        data: dict[str, Any] = {"title": "Workshop", "amount": 2}
    else:
        engine.deploy({"timed.bpmn": TIMED}, actor="olu")
        inst = engine.start("timed", {}, actors["admin"])
        data = {}
    [task] = engine.ready_tasks(inst.id)
    real = steps.scan

    def scan_twice(wf: Any) -> Any:
        wf.get_tasks()
        return real(wf)

    with counting_walks() as walks, mock.patch.object(steps, "scan", scan_twice):
        engine.complete(task.id, data, actors["admin"] if model == "timed" else actors["country"])
    assert walks.engine().count("test_tree_walks.scan_twice") == 1, walks
