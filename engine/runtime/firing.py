"""Firing the due timers of several instances in one transaction.

A group shares what a firing costs besides its own rows: the instance rows are locked with one
`SELECT ... FOR UPDATE`, the fired timer jobs go with one `DELETE`, and one flush writes every
instance's task, audit and state rows (new task rows in one INSERT). Mail is not worked out
here: the outbox worker queues it after commit. Each instance still locks only its own row.

An instance whose model step fails (or that conflicts or is gone) does not cost the others
their firing: its engine run happens in memory before anything of it is written, so its changes
are dropped from the session and the others are written without it; the caller then counts the
failure against that instance alone (`record_failure`), exactly as for a lone firing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from engine.errors import Conflict, NotFound
from engine.records.history import Recorder
from engine.runtime.context import Loaded, Runtime, StepFailed
from engine.runtime.execution import flush_rows, lock_instance, lock_instances, restore, save
from engine.runtime.steps import run_engine
from engine.states import InstanceStatus
from engine.store.models import Instance, TimerJob

if TYPE_CHECKING:
    from engine.runtime.timers import RetryPolicy


@dataclass
class GroupOutcome:
    """What became of each instance of a group, by instance id."""

    fired: dict[int, bool] = field(default_factory=dict)
    """Instances that ran (or were no longer running): whether they still hold leased jobs."""
    failed: dict[int, Exception] = field(default_factory=dict)
    """Instances whose model step failed: nothing of them was written."""
    deferred: dict[int, Exception] = field(default_factory=dict)
    """Instances that were gone or changed meanwhile: nothing of them was written."""


def fire_group(
    session: Session, rt: Runtime, instance_ids: Sequence[int], worker: str | None = None
) -> GroupOutcome:
    """Fire the due timers of `instance_ids` (in that order) and run each instance on, in the
    caller's transaction; see the module docstring for what is shared and how a failure is kept
    to its own instance.

    A failure while writing (the flush: a concurrent change) raises `Conflict` for the group:
    the caller rolls the transaction back and runs the instances one per transaction.
    """
    outcome = GroupOutcome()
    rows = lock_instances(session, instance_ids)
    gone: list[tuple[int, str]] = []
    with session.no_autoflush:  # the rows go out together in the flush below
        for instance_id in instance_ids:
            row = rows.get(instance_id)
            if row is None:
                outcome.deferred[instance_id] = NotFound(
                    f"Instance {instance_id} does not exist.", instance_id=instance_id
                )
                continue
            loaded = _run(session, rt, row, worker, outcome)
            if loaded is None:
                continue
            save(loaded, flush=False)
            gone.extend((instance_id, task_id) for task_id in loaded.gone_timers or ())
            outcome.fired[instance_id] = bool(loaded.timer_rows)
    flush_rows(session)
    if gone:
        session.execute(
            delete(TimerJob).where(tuple_(TimerJob.instance_id, TimerJob.task_id).in_(gone))
        )
    return outcome


def _run(
    session: Session, rt: Runtime, row: Instance, worker: str | None, outcome: GroupOutcome
) -> Loaded | None:
    """Restore the instance and run it in memory; the loaded instance to save, or None when it
    is not to be saved (not running, or failed: then its changes are dropped)."""
    loaded: Loaded | None = None
    try:
        loaded = restore(session, rt, row)
        loaded.worker = worker
        loaded.gone_timers = []
        if row.status != InstanceStatus.RUNNING:
            outcome.fired[row.id] = True
            return None
        run_engine(loaded, fail_fast=True)
    except Exception as exc:  # noqa: BLE001 - the caller retries or defers this instance alone
        _drop(session, row, loaded)
        target = outcome.deferred if isinstance(exc, Conflict | NotFound) else outcome.failed
        target[row.id] = exc
        return None
    return loaded


def _drop(session: Session, row: Instance, loaded: Loaded | None) -> None:
    """Forget what a failed run changed in memory: its new audit events, and the row's changes
    (data, chain head), which are expired so the flush leaves the row as it was."""
    for event in loaded.recorder.events if loaded is not None else ():
        if event in session.new:
            session.expunge(event)
    session.expire(row)


def record_failure(
    session: Session,
    rt: Runtime,
    owner: str,
    instance_id: int,
    exc: Exception,
    policy: RetryPolicy,
) -> None:
    """Count a failed attempt on `owner`'s jobs of the instance: back off, or raise an incident."""
    row = lock_instance(session, instance_id)
    jobs = list(
        session.execute(
            select(TimerJob).where(
                TimerJob.instance_id == instance_id, TimerJob.lease_owner == owner
            )
        ).scalars()
    )
    if not jobs:
        return  # the lease was taken over meanwhile: the other worker counts its own attempt
    error = exc.message if isinstance(exc, StepFailed) else f"{type(exc).__name__}: {exc}"
    failed_at = getattr(exc, "element_id", None)
    attempts = max(j.attempts for j in jobs) + 1
    now = rt.now()
    incident = attempts >= policy.max_attempts
    for job in jobs:
        job.attempts, job.last_error = attempts, error
        job.lease_owner = job.lease_expires_at = None
        job.state = "incident" if incident else "waiting"
        job.next_attempt_at = None if incident else now + policy.delay(attempts)
    timer = jobs[0].element_id
    data = {
        "error": error,
        "attempts": attempts,
        "timer": timer,
        "failed_element": failed_at,
        "task_ids": [j.task_id for j in jobs],
        "worker": owner,
    }
    recorder = Recorder(session, row, now)
    if not incident:
        next_at = jobs[0].next_attempt_at
        recorder.record(
            "timer_retry_scheduled",
            element_id=timer,
            data=data | {"next_attempt_at": next_at.isoformat() if next_at else None},
        )
        return
    row.status = "error"
    row.error_element_id = failed_at or timer
    row.error_message = (
        f"The timer '{timer}' failed {attempts} times; the last error was: {error}. "
        "Fix the cause, then retry the instance."
    )
    row.updated_at = now
    recorder.record("incident", element_id=failed_at or timer, data=data)
