"""The worker loop: woken by a nearer timer, takes over a dead worker's leases, stops cleanly."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine import Actor, Engine, Settings, VirtualClock
from engine.runtime.timers import acquire, fire_due_timers
from engine.runtime.worker import Worker
from engine.store.db import transaction
from engine.store.models import AuditEvent, TimerJob
from tests.fixtures.bpmn_files import YEARLY, bpmn, flow, user_task

# A timer one second after the start (real time in these tests), then a task.
SOON = bpmn(
    "soon",
    '<bpmn:startEvent id="start" />'
    + '<bpmn:intermediateCatchEvent id="second" name="One second later">'
    + '<bpmn:timerEventDefinition><bpmn:timeDuration>"PT1S"</bpmn:timeDuration>'
    + "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    + user_task("after", "After the second")
    + '<bpmn:endEvent id="end" />'
    + flow("f1", "start", "second")
    + flow("f2", "second", "after")
    + flow("f3", "after", "end"),
)
LONG_SLEEP = 30.0
"""Far longer than any wait below: a test that passes was woken, not polled."""


def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> float:
    """Seconds until `condition` held; fails after `timeout`."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, "condition not met in time"
        time.sleep(0.02)
    return time.monotonic() - start


def fired_events(engine: Engine) -> list[AuditEvent]:
    with engine.session() as s:
        query = select(AuditEvent).where(AuditEvent.kind == "timer_fired")
        return list(s.execute(query.order_by(AuditEvent.id)).scalars())


@pytest.fixture
def real_time(settings: Settings) -> Engine:
    """An engine on the system clock (the worker really sleeps)."""
    return Engine.from_settings(settings)


@pytest.fixture
def running() -> Iterator[Callable[[Worker], Worker]]:
    """Run workers in threads; stop and join them at the end of the test."""
    started: list[tuple[Worker, threading.Thread]] = []

    def run(worker: Worker) -> Worker:
        thread = threading.Thread(target=worker.run_forever, daemon=True)
        thread.start()
        started.append((worker, thread))
        wait_for(lambda: worker.asleep_until is not None)
        return worker

    yield run
    for worker, thread in started:
        worker.stop()
        thread.join(timeout=10)
        assert not thread.is_alive()


def test_a_timer_written_in_this_process_wakes_the_sleeping_worker(
    real_time: Engine, running: Callable[[Worker], Worker], actors: dict[str, Actor]
) -> None:
    real_time.deploy({"soon.bpmn": SOON}, {}, "olu")
    worker = running(Worker(real_time, max_sleep=LONG_SLEEP, listen=False).attach())
    real_time.start("soon", {}, actors["admin"])  # the commit calls the worker's hook
    waited = wait_for(lambda: fired_events(real_time), timeout=LONG_SLEEP / 3)
    assert waited < 5
    [event] = fired_events(real_time)
    assert event.data["worker"] == worker.name


def test_only_a_nearer_timer_cuts_the_sleep_short(
    real_time: Engine, running: Callable[[Worker], Worker]
) -> None:
    worker = running(Worker(real_time, max_sleep=LONG_SLEEP, listen=False))
    planned = worker.asleep_until
    assert planned is not None
    worker.notice(planned + timedelta(hours=1))
    time.sleep(0.2)
    assert worker.asleep_until == planned  # still the same sleep
    worker.notice(planned - timedelta(seconds=10))
    wait_for(lambda: worker.asleep_until != planned, timeout=2)


def test_a_dead_workers_leases_are_taken_over_when_they_expire(
    settings: Settings, clock: VirtualClock, actors: dict[str, Actor]
) -> None:
    engine = Engine.from_settings(dataclasses.replace(settings, timer_lease_seconds=1), clock)
    engine.deploy({"yearly.bpmn": YEARLY}, {}, "olu")
    inst = engine.start("yearly", {}, actors["admin"])
    clock.advance(years=1, days=1)
    with transaction(engine.sessions) as s:  # a worker leases the job, then dies
        assert acquire(s, "dead", clock.now(), 100, 1).jobs == 1

    survivor = Worker(engine, listen=False, name="survivor", max_sleep=LONG_SLEEP)
    assert survivor.run_once() == 0  # the lease is still live
    pause = survivor.sleep_seconds()
    assert 0 < pause <= 1.1  # it wakes when the lease runs out, not after max_sleep
    time.sleep(pause)
    assert survivor.run_once() == 1
    [event] = fired_events(engine)
    assert event.instance_id == inst.id and event.data["worker"] == "survivor"


def test_stopping_releases_the_leases_not_worked_on(
    engine: Engine, clock: VirtualClock, actors: dict[str, Actor]
) -> None:
    engine.deploy({"yearly.bpmn": YEARLY}, {}, "olu")
    for _ in range(3):
        engine.start("yearly", {}, actors["admin"])
    clock.advance(years=2)
    ran: list[int] = []
    done = fire_due_timers(
        engine.sessions,
        engine.runtime,
        owner="leaving",
        on_fired=ran.append,
        should_stop=lambda: bool(ran),
        group=1,  # one instance per transaction: the stop is seen after the first
    )
    assert done == 1
    with engine.session() as s:
        owners = [j.lease_owner for j in s.execute(select(TimerJob)).scalars()]
    assert owners == [None, None]  # free for another worker at once
    assert Worker(engine, listen=False).run_once() == 2
    assert len(fired_events(engine)) == 3


def test_a_timer_written_by_another_process_wakes_the_worker_through_notify(
    settings: Settings,
    is_postgres: bool,
    running: Callable[[Worker], Worker],
    actors: dict[str, Actor],
) -> None:
    if not is_postgres:
        pytest.skip("LISTEN/NOTIFY needs PostgreSQL: set TEST_DATABASE_URL")
    elsewhere = Engine.from_settings(settings)  # its own pool and no hook: like another process
    elsewhere.deploy({"soon.bpmn": SOON}, {}, "olu")
    worker = running(Worker(Engine.from_settings(settings), max_sleep=LONG_SLEEP))
    wait_for(worker.listening.is_set)
    elsewhere.start("soon", {}, actors["admin"])
    waited = wait_for(lambda: fired_events(elsewhere), timeout=LONG_SLEEP / 3)
    assert waited < 5
    assert fired_events(elsewhere)[0].data["worker"] == worker.name


def test_a_busy_worker_runs_the_mail_pass_at_most_every_mail_seconds(
    real_time: Engine, running: Callable[[Worker], Worker], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waking many times a second (timers falling due), the loop leaves the mail pass out until
    `MAIL_SECONDS` have passed since the last one; `run_once()` alone always runs it."""
    from engine.runtime import worker as module

    passes: list[bool] = []
    mailed: list[float] = []
    monkeypatch.setattr(module, "MAIL_SECONDS", 3600.0)
    monkeypatch.setattr(module.notifications, "mail_pass", lambda *a, **k: mailed.append(1.0))

    class Counting(Worker):
        def run_once(self, *, mail: bool = True) -> int:
            passes.append(mail)
            return super().run_once(mail=mail)

    worker = running(Counting(real_time, max_sleep=0.01, listen=False))
    wait_for(lambda: len(passes) >= 5)
    assert passes[0] and not any(passes[1:]) and len(mailed) == 1
    assert worker.run_once() == 0 and len(mailed) == 2
