"""`pathfinder worker` processes sharing one PostgreSQL: each timer fires exactly once, the work is
shared, and a worker killed mid-batch leaves nothing lost or doubled.

Exactly once is counted from the audit trail: one `timer_fired` event per timer job, with the
lease owner (`--name`) in its data telling which worker fired it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine import SYSTEM, Engine, Settings, VirtualClock
from engine.clock import SystemClock
from engine.store.db import transaction
from engine.store.models import AuditEvent, Instance, TimerJob
from tests.fixtures.bpmn_files import bpmn, flow

ROOT = Path(__file__).resolve().parents[3]

pytestmark = [pytest.mark.xdist_group("worker-processes"), pytest.mark.timeout(300)]
FINISH = 150.0
"""Seconds the workers get to finish (a few on an idle machine; CI machines can be busy)."""

# One hour after the start, a script notes the tick and the instance ends.
TICK = bpmn(
    "tick",
    '<bpmn:startEvent id="start" />'
    + '<bpmn:intermediateCatchEvent id="hour" name="One hour later">'
    + '<bpmn:timerEventDefinition><bpmn:timeDuration>"PT1H"</bpmn:timeDuration>'
    + "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    + '<bpmn:scriptTask id="note" name="Note the tick"><bpmn:script>ticked = True</bpmn:script>'
    + "</bpmn:scriptTask>"
    + '<bpmn:endEvent id="end" />'
    + flow("f1", "start", "hour")
    + flow("f2", "hour", "note")
    + flow("f3", "note", "end"),
)


@pytest.fixture
def pg_settings(settings: Settings, is_postgres: bool) -> Settings:
    if not is_postgres:
        pytest.skip("worker processes share PostgreSQL: set TEST_DATABASE_URL to run them")
    return settings


def due_timers(settings: Settings, count: int) -> Engine:
    """`count` instances whose timer fell due an hour ago (real time).

    One instance is started through the engine; the others are row copies of it (instance and
    timer job, a fresh audit chain each), which is what `count` starts would have written, in a
    fraction of the time.
    """
    engine = Engine.from_settings(settings, VirtualClock(SystemClock().now() - timedelta(hours=2)))
    engine.deploy({"tick.bpmn": TICK}, {}, "olu")
    first = engine.start("tick", {}, SYSTEM)
    with transaction(engine.sessions) as s:
        row = s.get(Instance, first.id)
        [job] = s.execute(select(TimerJob)).scalars()
        assert row is not None
        copies = [
            Instance(
                **{c: getattr(row, c) for c in INSTANCE_COPY},
                audit_count=0,
                audit_head=None,
                lock_version=1,
            )
            for _ in range(count - 1)
        ]
        s.add_all(copies)
        s.flush()
        s.add_all(
            TimerJob(
                instance_id=copy.id,
                **{c: getattr(job, c) for c in ("task_id", "element_id", "kind", "due_at")},
                state="waiting",
                attempts=0,
            )
            for copy in copies
        )
    return engine


INSTANCE_COPY = (
    "process_version_id",
    "process_key",
    "status",
    "label",
    "data",
    "state",
    "started_by",
    "created_at",
    "updated_at",
)


@pytest.fixture
def spawn(
    pg_settings: Settings, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `pathfinder worker` processes on the test database; kill leftovers at the end."""
    procs: list[subprocess.Popen[bytes]] = []
    script = Path(sys.executable).with_name("pathfinder")
    command = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "from cli.main import main; main()"]
    )

    def run(name: str, *args: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DATABASE_URL": pg_settings.database_url,
            "PATHFINDER_TIMER_LEASE_SECONDS": "2",
            "PYTHONUNBUFFERED": "1",
        }
        log = (tmp_path / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [*command, "worker", "--name", name, "--max-sleep", "1", *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        return proc

    yield run
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def fired_by(engine: Engine) -> Counter[str]:
    """How many timers each worker fired, from the audit trail."""
    with engine.session() as s:
        rows = s.execute(select(AuditEvent.data).where(AuditEvent.kind == "timer_fired")).scalars()
        return Counter(str(d.get("worker")) for d in rows)


def waiting(engine: Engine) -> int:
    """Timer jobs not fired yet (a cheap poll while workers run)."""
    with engine.session() as s:
        return s.execute(select(func.count()).select_from(TimerJob)).scalar_one()


def wait_until(
    condition: Callable[[], bool], timeout: float, procs: list[subprocess.Popen[bytes]]
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "workers did not finish in time"
        assert all(p.poll() is None for p in procs), "a worker exited early"
        time.sleep(0.25)


def assert_each_fired_once(engine: Engine, count: int) -> None:
    with engine.session() as s:
        per_job = Counter(
            (instance_id, data["task_id"])
            for instance_id, data in s.execute(
                select(AuditEvent.instance_id, AuditEvent.data).where(
                    AuditEvent.kind == "timer_fired"
                )
            )
        )
        assert len(per_job) == count and set(per_job.values()) == {1}
        assert s.execute(select(func.count()).select_from(TimerJob)).scalar() == 0
        statuses = Counter(s.execute(select(Instance.status)).scalars())
        assert statuses == {"completed": count}
        sample = list(s.execute(select(Instance.id).order_by(Instance.id).limit(20)).scalars())
    assert all(r.intact for i in sample for r in engine.verify(i))


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        assert proc.wait(timeout=15) == 0


def test_two_worker_processes_fire_a_thousand_timers_exactly_once(
    pg_settings: Settings, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    engine = due_timers(pg_settings, 1000)
    workers = [spawn("alpha", "--batch", "25"), spawn("beta", "--batch", "25")]
    wait_until(lambda: waiting(engine) == 0, FINISH, workers)
    stop(*workers)
    assert_each_fired_once(engine, 1000)
    shares = fired_by(engine)
    assert set(shares) == {"alpha", "beta"} and min(shares.values()) > 0, shares


def test_a_worker_killed_mid_batch_is_recovered_after_its_lease_expires(
    pg_settings: Settings, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    engine = due_timers(pg_settings, 200)
    doomed = spawn("doomed", "--batch", "1000")  # leases every job in one go
    wait_until(lambda: waiting(engine) <= 180, FINISH, [doomed])  # 20 fired
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    with engine.session() as s:
        left = s.execute(select(TimerJob.lease_owner, TimerJob.lease_expires_at)).all()
    assert left and {owner for owner, _ in left} == {"doomed"}  # its unfinished batch, still leased
    lease_end = max(expires for _, expires in left if expires is not None)

    survivor = spawn("survivor")
    wait_until(lambda: waiting(engine) == 0, FINISH, [survivor])
    stop(survivor)
    assert_each_fired_once(engine, 200)
    assert fired_by(engine) == {"doomed": 200 - len(left), "survivor": len(left)}
    with engine.session() as s:
        recovered = [
            at
            for at, data in s.execute(
                select(AuditEvent.at, AuditEvent.data).where(AuditEvent.kind == "timer_fired")
            )
            if data["worker"] == "survivor"
        ]
    assert min(recovered) >= lease_end  # taken over only once the dead worker's lease ran out
