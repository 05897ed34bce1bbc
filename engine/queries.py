"""Read queries the web pages and the API share, so both agree on who sees what.

Everything here filters in SQL on indexed columns; nothing reads serialized workflow state.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, false, func, or_, select, tuple_
from sqlalchemy.orm import Session

from engine.access import Actor, role_for_lane
from engine.models import AuditEvent, HumanTask, Instance, ProcessModel, ProcessVersion, TimerJob

T = TypeVar("T")
MAX_PER_PAGE = 100
STAFF_ROLES = ("admin", "secretariat", "chair", "gcg", "auditor", "process_owner")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a longer list."""

    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def _paginate(session: Session, query: Select[Any], page: int, per_page: int) -> Page[Any]:
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, page)
    total = session.execute(
        select(func.count()).select_from(query.order_by(None).subquery())
    ).scalar_one()
    items = list(session.execute(query.limit(per_page).offset((page - 1) * per_page)).scalars())
    return Page(items, int(total), page, per_page)


def actionable_lanes(session: Session, actor: Actor) -> list[tuple[str, str]] | None:
    """(process_key, lane) pairs the actor may act in; None means every lane (admins)."""
    if actor.is_admin:
        return None
    models = {m.key: m.lane_roles or {} for m in session.execute(select(ProcessModel)).scalars()}
    pairs: set[tuple[str, str]] = set()
    for key, lanes in session.execute(
        select(ProcessVersion.process_key, ProcessVersion.lanes)
    ).all():
        for lane in lanes or []:
            if role_for_lane(lane, models.get(key, {})) in actor.roles:
                pairs.add((key, lane))
    return sorted(pairs)


def _scope_country(query: Select[Any], column: Any, actor: Actor) -> Select[Any]:
    if actor.has("country") and not actor.has(*STAFF_ROLES):
        return query.where(column == actor.country) if actor.country else query.where(false())
    return query


def _actionable(session: Session, actor: Actor) -> Select[Any]:
    query = select(HumanTask).where(HumanTask.state == "ready")
    pairs = actionable_lanes(session, actor)
    if pairs is not None:
        lane_match = tuple_(HumanTask.process_key, HumanTask.lane).in_(pairs) if pairs else false()
        query = query.where(or_(lane_match, HumanTask.lane.is_(None)))
    return _scope_country(query, HumanTask.country, actor)


def task_query(
    session: Session,
    actor: Actor,
    *,
    now: datetime,
    process_key: str | None = None,
    country: str | None = None,
    stage: str | None = None,
    lane: str | None = None,
    overdue: bool = False,
    due_within_days: int | None = None,
    claimed_by: str | None = None,
    sort: str = "due",
    page: int = 1,
    per_page: int = 25,
) -> Page[HumanTask]:
    """The open tasks `actor` may act on, filtered, sorted (`due`, `-due`, `created`, `-created`,
    `name`) and paginated."""
    query = _actionable(session, actor)
    if process_key:
        query = query.where(HumanTask.process_key == process_key)
    if country:
        query = query.where(HumanTask.country == country.upper())
    if lane:
        query = query.where(HumanTask.lane == lane)
    if stage:
        query = query.join(Instance, Instance.id == HumanTask.instance_id).where(
            Instance.stage == stage
        )
    if overdue:
        query = query.where(HumanTask.due_at < now)
    if due_within_days is not None:
        query = query.where(HumanTask.due_at <= now + timedelta(days=due_within_days))
    if claimed_by:
        query = query.where(HumanTask.claimed_by == claimed_by)
    order = {
        "due": (HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at),
        "-due": (HumanTask.due_at.is_(None), HumanTask.due_at.desc(), HumanTask.created_at),
        "created": (HumanTask.created_at,),
        "-created": (HumanTask.created_at.desc(),),
        "name": (HumanTask.name, HumanTask.created_at),
    }.get(sort, (HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at))
    return _paginate(session, query.order_by(*order, HumanTask.id), page, per_page)


def task_counts(session: Session, actor: Actor, now: datetime) -> dict[str, int]:
    """Counts for the navigation: open tasks, overdue ones, and those claimed by the actor."""
    base = _actionable(session, actor).subquery()
    row = session.execute(
        select(
            func.count(),
            func.count().filter(base.c.due_at < now),
            func.count().filter(base.c.claimed_by == actor.username),
        ).select_from(base)
    ).one()
    return {"open": int(row[0]), "overdue": int(row[1]), "mine": int(row[2])}


def instance_query(
    session: Session,
    actor: Actor,
    *,
    status: str | None = None,
    stage: str | None = None,
    country: str | None = None,
    process_key: str | None = None,
    page: int = 1,
    per_page: int = 25,
) -> Page[Instance]:
    """Instances `actor` may see, newest activity first."""
    query = _scope_country(select(Instance), Instance.country, actor)
    if status:
        query = query.where(Instance.status == status)
    if stage:
        query = query.where(Instance.stage == stage)
    if country:
        query = query.where(Instance.country == country.upper())
    if process_key:
        query = query.where(Instance.process_key == process_key)
    return _paginate(
        session, query.order_by(Instance.updated_at.desc(), Instance.id.desc()), page, per_page
    )


def can_view_instance(actor: Actor, instance: Instance) -> bool:
    """Staff see every instance; country users only their own country's."""
    if actor.has(*STAFF_ROLES):
        return True
    return (
        actor.has("country") and instance.country is not None and instance.country == actor.country
    )


def open_tasks(session: Session, instance_id: int) -> list[HumanTask]:
    """An instance's open tasks, oldest first."""
    return list(
        session.execute(
            select(HumanTask)
            .where(HumanTask.instance_id == instance_id, HumanTask.state == "ready")
            .order_by(HumanTask.created_at, HumanTask.id)
        ).scalars()
    )


def completed_tasks(session: Session, instance_id: int) -> list[HumanTask]:
    """An instance's completed tasks, in the order they were completed."""
    return list(
        session.execute(
            select(HumanTask)
            .where(HumanTask.instance_id == instance_id, HumanTask.state == "completed")
            .order_by(HumanTask.completed_at, HumanTask.id)
        ).scalars()
    )


def element_states(
    session: Session, instance_id: int, up_to_seq: int | None = None
) -> dict[str, list[str]]:
    """Element ids to highlight on the diagram: completed, active (open tasks), waiting (timers).

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
    for kind, element, _data in session.execute(query.order_by(AuditEvent.seq)).all():
        if kind in ("element_completed", "task_completed"):
            completed.add(element)
            active[element] = (
                max(0, active[element] - 1) if kind == "task_completed" else active[element]
            )
        elif kind == "task_ready":
            active[element] += 1
        elif kind == "task_cancelled":
            active[element] = max(0, active[element] - 1)
        elif kind == "timer_scheduled":
            waiting[element] += 1
        elif kind == "timer_cancelled":
            waiting[element] = max(0, waiting[element] - 1)
        elif kind == "timer_fired":
            waiting[element] = max(0, waiting[element] - 1)
            completed.add(element)
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
    }


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


def history_page(
    session: Session,
    instance_id: int,
    *,
    kinds: list[str] | None = None,
    actor: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[AuditEvent]:
    """One page of an instance's audit events in order, optionally by kind and actor."""
    query = select(AuditEvent).where(AuditEvent.instance_id == instance_id)
    if kinds:
        query = query.where(AuditEvent.kind.in_(kinds))
    if actor:
        query = query.where(AuditEvent.actor == actor)
    return _paginate(session, query.order_by(AuditEvent.seq), page, per_page)
