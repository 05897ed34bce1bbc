"""Firing due timers: acquire jobs under a lease, run each instance on, retry, raise incidents.

A job is leased (owner + expiry, in real time) before its instance is run, so two workers never
fire the same instance at once; a lease left by a killed worker expires and another worker takes
the job over. The instance's optimistic lock makes a repeated attempt a no-op: a timer that already
fired is no longer waiting, so it cannot fire twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from engine import execution, instances
from engine.db import transaction
from engine.errors import Conflict, NotFound
from engine.history import Recorder
from engine.models import Instance, TimerJob

log = logging.getLogger("pathfinder.timers")


def real_now() -> datetime:
    """Leases run on real time even when instances run on a virtual clock."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class RetryPolicy:
    """How failing timer jobs are retried."""

    max_attempts: int = 3
    """Attempts before the job becomes an incident on its instance."""
    backoff_seconds: float = 30.0
    """Delay before the second attempt; doubled for each further one."""
    lease_seconds: int = 60
    """How long a worker owns a job before another worker may take it over."""


def acquire(
    session: Session, owner: str, due_before: datetime, limit: int, lease_seconds: int
) -> list[int]:
    """Lease up to `limit` due jobs for `owner`; return the distinct instance ids, oldest first."""
    now = real_now()
    query = (
        select(TimerJob)
        .join(Instance, Instance.id == TimerJob.instance_id)
        .where(
            TimerJob.state == "waiting",
            TimerJob.due_at <= due_before,
            Instance.status == "running",
            or_(TimerJob.next_attempt_at.is_(None), TimerJob.next_attempt_at <= due_before),
            or_(TimerJob.lease_expires_at.is_(None), TimerJob.lease_expires_at < now),
        )
        .order_by(TimerJob.due_at, TimerJob.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=TimerJob)
    jobs = session.execute(query).scalars().all()
    expires = now + timedelta(seconds=lease_seconds)
    order: list[int] = []
    for job in jobs:
        job.lease_owner, job.lease_expires_at = owner, expires
        if job.instance_id not in order:
            order.append(job.instance_id)
    session.flush()
    return order


def _release(session: Session, owner: str, instance_id: int) -> None:
    session.execute(
        update(TimerJob)
        .where(TimerJob.instance_id == instance_id, TimerJob.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )


def _record_failure(
    session: Session,
    rt: execution.Runtime,
    owner: str,
    instance_id: int,
    error: str,
    policy: RetryPolicy,
) -> None:
    row = session.get(Instance, instance_id)
    jobs = (
        session.execute(
            select(TimerJob).where(
                TimerJob.instance_id == instance_id, TimerJob.lease_owner == owner
            )
        )
        .scalars()
        .all()
    )
    if row is None or not jobs:
        return
    attempts = max(j.attempts for j in jobs) + 1
    now = rt.now()
    recorder = Recorder(session, row, now)
    for job in jobs:
        job.attempts, job.last_error = attempts, error
        job.lease_owner = job.lease_expires_at = None
        if attempts >= policy.max_attempts:
            job.state = "incident"
        else:
            job.next_attempt_at = now + timedelta(
                seconds=policy.backoff_seconds * 2 ** (attempts - 1)
            )
    if attempts >= policy.max_attempts:
        row.status = "error"
        row.error_element_id = jobs[0].element_id
        row.error_message = f"Timer job failed {attempts} times: {error}"
        recorder.record(
            "incident", element_id=jobs[0].element_id, data={"error": error, "attempts": attempts}
        )
    else:
        recorder.record(
            "timer_retry_scheduled",
            element_id=jobs[0].element_id,
            data={"error": error, "attempts": attempts, "next_attempt_at": jobs[0].next_attempt_at},
        )


def fire_due_timers(
    factory: sessionmaker[Session],
    rt: execution.Runtime,
    *,
    owner: str = "worker",
    batch: int = 100,
    policy: RetryPolicy | None = None,
    on_fired: Callable[[int], None] | None = None,
) -> int:
    """Fire every timer due at `rt.now()`, one transaction per instance. Returns instances run."""
    policy = policy or RetryPolicy()
    done = 0
    seen: set[int] = set()
    while True:
        with transaction(factory) as session:
            ids = acquire(session, owner, rt.now(), batch, policy.lease_seconds)
            fresh = [i for i in ids if i not in seen]
            for instance_id in set(ids) - set(fresh):
                # Run once already in this pass and still due (fires a moment later): next pass.
                _release(session, owner, instance_id)
        if not fresh:
            return done
        seen.update(fresh)
        for instance_id in fresh:
            try:
                with transaction(factory) as session:
                    instances.fire_due(session, rt, instance_id)
                    _release(session, owner, instance_id)
                done += 1
                if on_fired:
                    on_fired(instance_id)
            except (Conflict, NotFound) as exc:
                # Someone else changed the instance meanwhile: release and let the next pass see it.
                log.info("timer job for instance %s deferred: %s", instance_id, exc)
                with transaction(factory) as session:
                    _release(session, owner, instance_id)
            except Exception as exc:  # noqa: BLE001 - any failure is retried, then an incident
                log.exception("timer job for instance %s failed", instance_id)
                with transaction(factory) as session:
                    _record_failure(
                        session, rt, owner, instance_id, f"{type(exc).__name__}: {exc}", policy
                    )
        if len(ids) < batch:
            return done


def next_due(session: Session) -> datetime | None:
    """When the next waiting timer falls due (for a worker deciding how long to sleep)."""
    value = session.execute(
        select(TimerJob.due_at)
        .join(Instance, Instance.id == TimerJob.instance_id)
        .where(TimerJob.state == "waiting", Instance.status == "running")
        .order_by(TimerJob.due_at)
        .limit(1)
    ).scalar()
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
