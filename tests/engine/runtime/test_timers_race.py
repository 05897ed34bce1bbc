"""A person completing a task while a worker fires the timer on the same task: one wins cleanly."""

from __future__ import annotations

import threading
from datetime import timedelta

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from engine import Actor, Conflict, Engine, VirtualClock
from engine.runtime.execution import load
from engine.runtime.worker import Worker
from engine.store.models import HumanTask, TimerJob
from tests.fixtures.bpmn_files import bpmn, flow, user_task

# Answer within a day, or the question escalates (interrupting boundary timer).
DEADLINE = bpmn(
    "deadline",
    '<bpmn:startEvent id="start" />'
    + user_task("answer", "Answer the question")
    + '<bpmn:boundaryEvent id="too_late" name="One day passed" attachedToRef="answer">'
    + '<bpmn:timerEventDefinition><bpmn:timeDuration>"P1D"</bpmn:timeDuration>'
    + "</bpmn:timerEventDefinition></bpmn:boundaryEvent>"
    + user_task("escalate", "Handle the escalation")
    + '<bpmn:endEvent id="end" />'
    + '<bpmn:endEvent id="escalated" />'
    + flow("f1", "start", "answer")
    + flow("f2", "answer", "end")
    + flow("f3", "too_late", "escalate")
    + flow("f4", "escalate", "escalated"),
)
RACES = 8


def test_completion_racing_the_timer_ends_in_one_consistent_state(
    engine: Engine, clock: VirtualClock, actors: dict[str, Actor]
) -> None:
    engine.deploy({"deadline.bpmn": DEADLINE}, {}, "olu")
    ids = [engine.start("deadline", {}, actors["admin"]).id for _ in range(RACES)]
    answers = {t.instance_id: t.id for t in engine.ready_tasks()}
    clock.advance(timedelta(days=1, seconds=1))  # the answer comes in just as the timer is due

    refused: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def person() -> None:
        barrier.wait()
        for instance_id in reversed(ids):  # the worker goes oldest first: they meet midway
            try:
                engine.complete(answers[instance_id], {}, actors["admin"])
            except Conflict:  # NotReady too: the timer won and cancelled the task
                refused.append(instance_id)
            except BaseException as exc:  # noqa: BLE001 - reported by the assert below
                errors.append(exc)

    def worker() -> None:
        barrier.wait()
        try:
            Worker(engine, listen=False, batch=1, name="racer").run_once()
        except BaseException as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=person), threading.Thread(target=worker)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    Worker(engine, listen=False).run_once()  # whatever the racer deferred on a conflict

    for instance_id in ids:
        kinds = [e.kind for e in engine.history(instance_id)]
        answered = kinds.count("task_completed")
        fired = kinds.count("timer_fired")
        assert answered + fired == 1, (instance_id, kinds)
        inst = engine.instance(instance_id)
        open_tasks = [t.element_id for t in engine.ready_tasks(instance_id)]
        with engine.session() as s:
            rows = {
                t.element_id: t.state
                for t in s.execute(
                    select(HumanTask).where(HumanTask.instance_id == instance_id)
                ).scalars()
            }
            jobs = s.execute(select(TimerJob).where(TimerJob.instance_id == instance_id)).all()
            wf = load(s, engine.runtime, instance_id).wf
            ready = sorted(t.task_spec.name for t in wf.get_tasks(state=TaskState.READY))
        assert jobs == []
        if answered:
            assert instance_id not in refused
            assert inst.status == "completed" and open_tasks == [] and ready == []
            assert rows == {"answer": "completed"}
        else:
            assert instance_id in refused
            assert inst.status == "running" and open_tasks == ["escalate"] == ready
            assert rows == {"answer": "cancelled", "escalate": "ready"}
        assert all(r.intact for r in engine.verify(instance_id))
