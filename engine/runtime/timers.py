"""Firing due timers: acquire jobs under a lease, run the instances on, retry, raise incidents.

A job is leased (owner + expiry, in real time) before its instance is run, so two workers do not
pick the same job; a lease left by a killed worker expires and another worker takes the job over.
Exactly-once comes from the instance, not the lease: each firing runs in one transaction that
locks the instance row (`lock_instance`; PostgreSQL `FOR UPDATE`, SQLite one writer) and saves
with a version check, and a timer that already fired is no longer waiting in the restored
workflow, so a repeated attempt (a taken-over lease, a second worker) fires nothing.

Instances are fired in groups (`GROUP`, 20) in one transaction each (`engine.runtime.firing`):
one lock statement, one job DELETE and one flush for the group. An instance whose model step
fails is left out of its group's writes and its failure is recorded on its own; a group whose
write fails (a concurrent change) is rolled back and its instances run one transaction each.

Failures: a model step that fails while a timer runs the instance rolls the transaction back (the
timer stays due) and the job is retried after `RetryPolicy.backoff_seconds`, doubling each time;
after `max_attempts` the job becomes an **incident**: the instance goes to `error` with the message
in `error_message`, an `incident` audit event is written, and `Engine.retry` resolves it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import Clock, SystemClock
from engine.errors import Conflict, NotFound
from engine.runtime import execution, firing, instances
from engine.store.db import transaction
from engine.store.models import Instance, TimerJob

log = logging.getLogger("pathfinder.timers")


@dataclass(frozen=True)
class RetryPolicy:
    """How failing timer jobs are retried."""

    max_attempts: int = 3
    """Attempts before the job becomes an incident on its instance."""
    backoff_seconds: float = 30.0
    """Delay before the second attempt; doubled for each further one."""
    lease_seconds: int = 60
    """How long a worker owns a job before another worker may take it over. A worker renews its
    leases while it works through a batch, so this bounds the recovery time after a crash."""
    lease_clock: Clock = field(default_factory=SystemClock)
    """The clock leases run on: real time (the engine's `wall_clock`), even when instances run
    on a virtual clock."""

    def delay(self, attempts: int) -> timedelta:
        """The wait before the next attempt after `attempts` failed ones."""
        return timedelta(seconds=self.backoff_seconds * 2 ** max(0, attempts - 1))


@dataclass(frozen=True)
class Lease:
    """Jobs leased in one acquire."""

    instance_ids: list[int]
    """Distinct instances of the leased jobs, oldest due first."""
    jobs: int
    """How many jobs were leased (an instance may have several)."""


def acquire(
    session: Session,
    owner: str,
    due_before: datetime,
    limit: int,
    lease_seconds: int,
    lease_clock: Clock | None = None,
) -> Lease:
    """Lease up to `limit` due jobs for `owner`, oldest due first, in one statement.

    The jobs are chosen and leased by one `UPDATE ... WHERE id IN (SELECT ...) RETURNING`. On
    PostgreSQL the inner select takes its rows `FOR UPDATE SKIP LOCKED`, so concurrent workers
    lease disjoint jobs without waiting on each other; on SQLite write transactions are
    serialized.
    """
    now = (lease_clock or SystemClock()).now()
    chosen = (
        select(TimerJob.id)
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
        chosen = chosen.with_for_update(skip_locked=True, of=TimerJob)
    leased = session.execute(
        update(TimerJob)
        .where(TimerJob.id.in_(chosen.scalar_subquery()))
        .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds))
        .returning(TimerJob.instance_id, TimerJob.due_at, TimerJob.id)
        .execution_options(synchronize_session=False)
    ).all()
    # RETURNING gives no order: oldest due first again, as they were chosen.
    jobs = sorted(leased, key=lambda job: (job.due_at, job.id))
    return Lease(list(dict.fromkeys(job.instance_id for job in jobs)), len(jobs))


def _release(session: Session, owner: str, instance_ids: Sequence[int], *, ok: bool) -> None:
    """Give up `owner`'s leases on these instances' jobs; `ok` also clears their failure count."""
    if not instance_ids:
        return
    values: dict[str, object] = {"lease_owner": None, "lease_expires_at": None}
    if ok:
        values |= {"attempts": 0, "next_attempt_at": None, "last_error": None}
    session.execute(
        update(TimerJob)
        .where(TimerJob.instance_id.in_(instance_ids), TimerJob.lease_owner == owner)
        .values(**values)
    )


def _renew(
    factory: sessionmaker[Session],
    owner: str,
    instance_ids: Sequence[int],
    seconds: int,
    lease_clock: Clock,
) -> None:
    """Extend `owner`'s leases on jobs it has not reached yet (a heartbeat during long batches)."""
    with transaction(factory) as session:
        session.execute(
            update(TimerJob)
            .where(TimerJob.instance_id.in_(instance_ids), TimerJob.lease_owner == owner)
            .values(lease_expires_at=lease_clock.now() + timedelta(seconds=seconds))
        )


def _run_one(
    factory: sessionmaker[Session],
    rt: execution.Runtime,
    owner: str,
    instance_id: int,
    policy: RetryPolicy,
) -> bool | None:
    """Fire one instance's due timers in one transaction. None when it did not run; else
    whether it still holds leased jobs (the caller releases those in bulk; an instance whose
    jobs all fired has nothing left to release)."""
    try:
        with transaction(factory) as session:
            return instances.fire_due(session, rt, instance_id, worker=owner)
    except (Conflict, NotFound) as exc:
        # Someone else changed the instance meanwhile: release; the next pass sees the new state.
        log.info("timer job for instance %s deferred: %s", instance_id, exc)
        with transaction(factory) as session:
            _release(session, owner, [instance_id], ok=False)
    except Exception as exc:  # noqa: BLE001 - any failure is retried, then an incident
        _failed(factory, rt, owner, instance_id, exc, policy)
    return None


def _failed(
    factory: sessionmaker[Session],
    rt: execution.Runtime,
    owner: str,
    instance_id: int,
    exc: Exception,
    policy: RetryPolicy,
) -> None:
    """Count a failed firing against its instance, in a transaction of its own."""
    log.warning("timer job for instance %s failed: %s", instance_id, exc, exc_info=exc)
    with transaction(factory) as session:
        firing.record_failure(session, rt, owner, instance_id, exc, policy)


GROUP = 20
"""Instances fired together in one transaction (each locks only its own instance row)."""


def _run_group(
    factory: sessionmaker[Session], rt: execution.Runtime, owner: str, instance_ids: Sequence[int]
) -> firing.GroupOutcome | None:
    """Fire several instances' due timers in one transaction (`firing.fire_group`: a failing
    instance is left out, the others are written). None when the group's write failed (a
    concurrent change): then nothing of it was written and the caller runs them one by one."""
    try:
        with transaction(factory) as session:
            return firing.fire_group(session, rt, instance_ids, worker=owner)
    except Exception as exc:  # noqa: BLE001 - each instance is tried again on its own
        log.info(
            "timer group of %d instances rolled back (%s); firing one by one",
            len(instance_ids),
            exc,
        )
        return None


def fire_due_timers(
    factory: sessionmaker[Session],
    rt: execution.Runtime,
    *,
    owner: str = "worker",
    batch: int = 100,
    policy: RetryPolicy | None = None,
    on_fired: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    group: int = GROUP,
) -> int:
    """Fire every timer due at `rt.now()`, oldest first, up to `group` instances per
    transaction (see the module docstring for failures inside a group).

    Returns how many instances ran. `should_stop` is asked between groups; on stop, the
    leases not yet worked on are released so another worker can take them at once.
    """
    policy = policy or RetryPolicy()
    done = 0
    seen: set[int] = set()
    while True:
        with transaction(factory) as session:
            lease = acquire(
                session, owner, rt.now(), batch, policy.lease_seconds, policy.lease_clock
            )
            fresh = [i for i in lease.instance_ids if i not in seen]
            again = [i for i in lease.instance_ids if i in seen]
            if again:
                # Run once already in this pass and due again (a timer set a moment later).
                _release(session, owner, again, ok=False)
        if not fresh:
            return done
        seen.update(fresh)
        work = _Work()
        try:
            _work_through(factory, rt, owner, fresh, policy, work, on_fired, should_stop, group)
        finally:
            # Jobs of instances that ran and are still waiting (a cycle's next occurrence, a
            # second timer) are handed back, and their failure counts cleared; on a stop the
            # ones not reached are handed back too, so another worker can take them at once.
            # Instances whose jobs all fired hold no lease any more, and a failed or deferred
            # one had its lease settled already: nothing to write for them.
            others = [i for i in fresh if i not in work.ran and i not in work.settled]
            if work.held or others:
                with transaction(factory) as session:
                    _release(session, owner, work.held, ok=True)
                    _release(session, owner, others, ok=False)
        done += len(work.ran)
        if lease.jobs < batch or (should_stop is not None and should_stop()):
            return done


@dataclass
class _Work:
    """What became of the leased instances of one acquire."""

    ran: list[int] = field(default_factory=list)
    """Instances that ran."""
    held: list[int] = field(default_factory=list)
    """Instances that ran and still have (leased) timer jobs."""
    settled: list[int] = field(default_factory=list)
    """Instances that did not run and whose leases were dealt with (a failure counted)."""


def _work_through(
    factory: sessionmaker[Session],
    rt: execution.Runtime,
    owner: str,
    instance_ids: Sequence[int],
    policy: RetryPolicy,
    work: _Work,
    on_fired: Callable[[int], None] | None,
    should_stop: Callable[[], bool] | None,
    group: int = GROUP,
) -> None:
    """Run the leased instances in order, `group` per transaction, renewing the leases on the
    rest as time passes."""

    def fired(instance_id: int, left: bool) -> None:
        work.ran.append(instance_id)
        if left:
            work.held.append(instance_id)
        if on_fired:
            on_fired(instance_id)

    renewed = time.monotonic()
    size = max(1, group)
    for start in range(0, len(instance_ids), size):
        if should_stop is not None and should_stop():
            return
        if time.monotonic() - renewed > policy.lease_seconds / 3:
            _renew(factory, owner, instance_ids[start:], policy.lease_seconds, policy.lease_clock)
            renewed = time.monotonic()
        chunk = instance_ids[start : start + size]
        outcome = _run_group(factory, rt, owner, chunk)
        if outcome is None:
            for n, instance_id in enumerate(chunk):
                if n and should_stop is not None and should_stop():
                    return
                one = _run_one(factory, rt, owner, instance_id, policy)
                if one is not None:
                    fired(instance_id, one)
                else:
                    work.settled.append(instance_id)
            continue
        for instance_id in chunk:
            if instance_id in outcome.fired:
                fired(instance_id, outcome.fired[instance_id])
            elif instance_id in outcome.failed:
                _failed(factory, rt, owner, instance_id, outcome.failed[instance_id], policy)
                work.settled.append(instance_id)
            else:  # gone or changed meanwhile: its lease is handed back with the others'
                log.info(
                    "timer job for instance %s deferred: %s",
                    instance_id,
                    outcome.deferred.get(instance_id),
                )


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def next_due(session: Session, lease_clock: Clock | None = None) -> datetime | None:
    """When a worker next has something to fire (engine clock): the earliest due time of a
    waiting job of a running instance that no live lease holds (by `lease_clock`, real time),
    or its retry time while it backs off.

    Read as the smaller of two index walks in one statement, not a minimum over every waiting
    job (a worker asks before each sleep): the first due job not backing off (`ix_timer_jobs_due`)
    and the first retry time later than its job's due time (`ix_timer_jobs_retry`)."""
    lease_now = (lease_clock or SystemClock()).now()
    free = (
        TimerJob.state == "waiting",
        Instance.status == "running",
        or_(TimerJob.lease_expires_at.is_(None), TimerJob.lease_expires_at < lease_now),
    )

    def earliest(column: Any, *where: Any) -> Any:
        return (
            select(column)
            .join(Instance, Instance.id == TimerJob.instance_id)
            .where(*free, *where)
            .order_by(column)
            .limit(1)
            .scalar_subquery()
        )

    due = earliest(
        TimerJob.due_at,
        or_(TimerJob.next_attempt_at.is_(None), TimerJob.next_attempt_at <= TimerJob.due_at),
    )
    retry = earliest(
        TimerJob.next_attempt_at,
        TimerJob.next_attempt_at.is_not(None),
        TimerJob.next_attempt_at > TimerJob.due_at,
    )
    first, backing_off = session.execute(select(due, retry)).one()
    found = [_aware(v) for v in (first, backing_off) if v is not None]
    return min(found) if found else None  # type: ignore[type-var]


def next_lease_expiry(session: Session, lease_clock: Clock | None = None) -> datetime | None:
    """When the earliest live lease on a waiting job runs out (real time): a worker that died
    holding it leaves its jobs to whoever wakes up then."""
    lease_now = (lease_clock or SystemClock()).now()
    value = session.execute(
        select(TimerJob.lease_expires_at)
        .where(TimerJob.state == "waiting", TimerJob.lease_expires_at >= lease_now)
        .order_by(TimerJob.lease_expires_at)
        .limit(1)
    ).scalar()
    return _aware(value)
