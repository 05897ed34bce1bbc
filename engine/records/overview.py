"""What the diagram highlights and what the dashboard counts, read from the audit trail and
the instance, task and timer rows."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from engine.store.models import AuditEvent, HumanTask, Instance, TimerJob

_STEPS: dict[str, tuple[str | None, int]] = {
    "task_ready": ("active", 1),
    "task_completed": ("active", -1),
    "task_cancelled": ("active", -1),
    "timer_scheduled": ("waiting", 1),
    "timer_cancelled": ("waiting", -1),
    "timer_fired": ("waiting", -1),
}
"""How an audit event moves an element's count of open tasks or waiting timers."""


def element_states(
    session: Session, instance_id: int, up_to_seq: int | None = None
) -> dict[str, Any]:
    """Element ids to highlight on the diagram: completed, active (open tasks), waiting (timers),
    and under `counts` how often each element was done, how many of it are open and how many
    incidents (errors) it had, for the badges on the diagram (as Camunda Operate shows them).

    With `up_to_seq`, the state as it stood after that audit event (for replay).
    """
    query = select(AuditEvent.kind, AuditEvent.element_id, AuditEvent.data).where(
        AuditEvent.instance_id == instance_id, AuditEvent.element_id.is_not(None)
    )
    if up_to_seq is not None:
        query = query.where(AuditEvent.seq <= up_to_seq)
    completed: set[str] = set()
    active: Counter[str] = Counter()
    waiting: Counter[str] = Counter()
    finished: dict[str, Counter[str]] = {}
    incidents: Counter[str] = Counter()
    for kind, element, _data in session.execute(query.order_by(AuditEvent.seq)).all():
        if kind in ("element_completed", "task_completed", "timer_fired"):
            finished.setdefault(element, Counter())[kind] += 1
            completed.add(element)
        if kind in ("instance_error", "incident"):
            incidents[element] += 1
        counter, step = _STEPS.get(kind, (None, 0))
        if counter is not None:
            tally = active if counter == "active" else waiting
            tally[element] = max(0, tally[element] + step)
    if up_to_seq is None:
        waiting = Counter(
            session.execute(
                select(TimerJob.element_id).where(TimerJob.instance_id == instance_id)
            ).scalars()
        )
    return {
        "completed": sorted(completed),
        "active": sorted(e for e, n in active.items() if n > 0),
        "waiting": sorted(e for e, n in waiting.items() if n > 0),
        "counts": _element_counts(finished, active, incidents),
    }


def _element_counts(
    finished: dict[str, Counter[str]], active: Counter[str], incidents: Counter[str]
) -> dict[str, dict[str, int]]:
    # A user task records both task_completed and element_completed: count the larger, once.
    done = {e: max(c.values()) for e, c in finished.items()}
    out: dict[str, dict[str, int]] = {}
    for element in sorted(set(done) | set(active) | set(incidents)):
        row = {
            "done": done.get(element, 0),
            "active": active[element],
            "incidents": incidents[element],
        }
        if any(row.values()):
            out[element] = row
    return out


def dashboard(session: Session, now: datetime, process_key: str = "pathfinder") -> dict[str, Any]:
    """Figures for the dashboard: countries by stage and status, upcoming reviews, overdue tasks."""
    active = and_(
        Instance.process_key == process_key, Instance.status.in_(("running", "suspended", "error"))
    )
    rows = session.execute(select(Instance).where(active)).scalars().all()
    by_stage = Counter(r.stage or "unknown" for r in rows)
    by_status = Counter(str((r.data or {}).get("pathfinder_status") or "unknown") for r in rows)
    upcoming = session.execute(
        select(Instance, TimerJob.due_at)
        .join(TimerJob, TimerJob.instance_id == Instance.id)
        .where(active, TimerJob.element_id.like("%review%"), TimerJob.due_at >= now)
        .order_by(TimerJob.due_at)
        .limit(20)
    ).all()
    overdue = list(
        session.execute(
            select(HumanTask)
            .where(HumanTask.state == "ready", HumanTask.due_at < now)
            .order_by(HumanTask.due_at)
            .limit(20)
        ).scalars()
    )
    return {
        "by_stage": dict(by_stage.most_common()),
        "by_status": dict(by_status.most_common()),
        "upcoming_reviews": [(inst, due) for inst, due in upcoming],
        "overdue_tasks": overdue,
        "active_instances": len(rows),
    }
