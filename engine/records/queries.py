"""Read queries the web pages and the API share, so both agree on who sees what.

Everything here filters in SQL on indexed columns; nothing reads serialized workflow state.
"""

from __future__ import annotations

import math
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, false, func, literal, or_, select, tuple_
from sqlalchemy.orm import Session

from engine.people.access import Actor, role_for_lane
from engine.people.permissions import STAFF_ROLES
from engine.store.models import (
    AuditEvent,
    HumanTask,
    Instance,
    ProcessModel,
    ProcessVersion,
    TimerJob,
)

T = TypeVar("T")
MAX_PER_PAGE = 100
COUNT_CAP = 1000
"""Task totals and navigation counts stop counting here ("1,000+"): counting 50,000 open tasks
on every request is what made the Secretariat's inbox slow."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a longer list."""

    items: list[T]
    total: int
    page: int
    per_page: int
    total_capped: bool = False
    """The count stopped at `total`: there are more items (and more pages) than it says."""

    @property
    def pages(self) -> int:
        """How many pages there are (at least 1)."""
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_next(self) -> bool:
        """Whether a next page exists."""
        return self.page < self.pages or self.total_capped

    @property
    def has_prev(self) -> bool:
        """Whether a previous page exists."""
        return self.page > 1


def _count(session: Session, query: Select[Any], limit: int | None = None) -> int:
    """How many rows `query` matches, counting at most `limit` of them."""
    rows = query.order_by(None)
    if limit is not None:
        rows = rows.with_only_columns(literal(1), maintain_column_froms=True).limit(limit)
    return int(session.execute(select(func.count()).select_from(rows.subquery())).scalar_one())


def _paginate(
    session: Session,
    query: Select[Any],
    page: int,
    per_page: int,
    cap: int | None = None,
    when_capped: Select[Any] | None = None,
) -> Page[Any]:
    """One page of `query`. With `cap`, the total is counted only up to `cap` or to the end of
    this page, whichever is further (plus one row, to know whether there are more); past it the
    page is read with `when_capped` (the same rows in the same order, written for another plan)."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, page)
    if cap is None:
        total, capped = _count(session, query), False
    else:
        known = max(cap, page * per_page)
        total = _count(session, query, known + 1)
        total, capped = min(total, known), total > known
    if capped and when_capped is not None:
        query = when_capped
    items = list(session.execute(query.limit(per_page).offset((page - 1) * per_page)).scalars())
    return Page(items, total, page, per_page, capped)


def paginate(session: Session, query: Select[Any], page: int, per_page: int = 50) -> Page[Any]:
    """One page of any list `query` (admin lists: the outbox, users)."""
    return _paginate(session, query, page, per_page)


_lane_cache: ContextVar[dict[frozenset[str], list[tuple[str, str]]] | None] = ContextVar(
    "pathfinder_lane_cache", default=None
)


def cache_lanes(on: bool) -> None:
    """Start (with nothing cached) or stop caching `actionable_lanes` in the current context:
    the web app turns it on for each request, so the inbox and the navigation counts read the
    process models once. Off by default: a deployment changes the lanes."""
    _lane_cache.set({} if on else None)


def actionable_lanes(session: Session, actor: Actor) -> list[tuple[str, str]] | None:
    """(process_key, lane) pairs the actor may act in; None means every lane (admins)."""
    if actor.is_admin:
        return None
    cache = _lane_cache.get()
    if cache is not None and actor.roles in cache:
        return cache[actor.roles]
    models = {m.key: m.lane_roles or {} for m in session.execute(select(ProcessModel)).scalars()}
    pairs: set[tuple[str, str]] = set()
    for key, lanes in session.execute(
        select(ProcessVersion.process_key, ProcessVersion.lanes)
    ).all():
        for lane in lanes or []:
            if role_for_lane(lane, models.get(key, {})) in actor.roles:
                pairs.add((key, lane))
    found = sorted(pairs)
    if cache is not None:
        cache[actor.roles] = found
    return found


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
    instance_id: int | None = None,
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
    `name`) and paginated. The total is counted up to `COUNT_CAP` (or the end of the page):
    `Page.total_capped` says there are more. With `instance_id`, only that instance's tasks
    (found by its index, without reading the inbox)."""
    query = _actionable(session, actor)
    if instance_id is not None:
        query = query.where(HumanTask.instance_id == instance_id)
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
    due_first = (HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at)
    order = {
        "due": due_first,
        "-due": (HumanTask.due_at.is_(None), HumanTask.due_at.desc(), HumanTask.created_at),
        "created": (HumanTask.created_at,),
        "-created": (HumanTask.created_at.desc(),),
        "name": (HumanTask.name, HumanTask.created_at),
    }.get(sort, due_first)
    # Soonest due first, undated last, in two spellings. With few matching tasks (a rare lane, a
    # filter) the database finds them through the selective indexes and sorts them; with more
    # than COUNT_CAP it reads `ix_human_tasks_inbox(_country)` in order and stops after the page:
    # `NULLS LAST` is that index's order on both databases (PostgreSQL's default; SQLite scans the
    # dated, then the undated entries), where `due_at IS NULL` makes it sort every matching row.
    in_index_order = None
    if order is due_first:
        in_index_order = query.order_by(
            HumanTask.due_at.asc().nulls_last(), HumanTask.created_at, HumanTask.id
        )
    return _paginate(
        session,
        query.order_by(*order, HumanTask.id),
        page,
        per_page,
        COUNT_CAP,
        when_capped=in_index_order,
    )


def task_counts(session: Session, actor: Actor, now: datetime) -> dict[str, int]:
    """Counts for the navigation: open tasks, overdue ones, and those claimed by the actor.

    Each stops at `COUNT_CAP + 1`: a count above `COUNT_CAP` means "more than `COUNT_CAP`"
    (see `count_label`)."""
    base = _actionable(session, actor)
    limit = COUNT_CAP + 1
    total = _count(session, base, limit)
    if total <= COUNT_CAP:  # few open tasks: one pass over them counts all three exactly
        sub = base.subquery()
        row = session.execute(
            select(
                func.count(),
                func.count().filter(sub.c.due_at < now),
                func.count().filter(sub.c.claimed_by == actor.username),
            ).select_from(sub)
        ).one()
        return {"open": int(row[0]), "overdue": int(row[1]), "mine": int(row[2])}
    return {
        "open": total,
        "overdue": _count(session, base.where(HumanTask.due_at < now), limit),
        "mine": _count(session, base.where(HumanTask.claimed_by == actor.username), limit),
    }


def count_label(count: int, capped: bool = False) -> str:
    """A count for people: `1,000+` when it went past `COUNT_CAP` (or was `capped`)."""
    if capped:
        return f"{count:,}+"
    return f"{COUNT_CAP:,}+" if count > COUNT_CAP else str(count)


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


def task_with_instance(session: Session, task_id: str) -> tuple[HumanTask, Instance] | None:
    """A task row with its instance row, in one statement (every API task route starts here)."""
    found = session.execute(
        select(HumanTask, Instance)
        .join(Instance, Instance.id == HumanTask.instance_id)
        .where(HumanTask.id == task_id)
    ).first()
    return (found[0], found[1]) if found is not None else None


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
        if kind in ("instance_error", "incident"):
            incidents[element] += 1
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
