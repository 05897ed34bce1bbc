"""Read queries the web pages and the API share, so both agree on who sees what.

Everything here filters in SQL on indexed columns; nothing reads serialized workflow state.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Select, bindparam, false, func, or_, select, tuple_
from sqlalchemy.orm import Session

from engine.people.access import Actor, role_for_lane
from engine.people.permissions import STAFF_ROLES
from engine.records.overview import dashboard, element_states
from engine.records.paging import COUNT_CAP, MAX_PER_PAGE, Page, _count, paginate
from engine.records.paging import _paginate as _paginate
from engine.store.models import AuditEvent, HumanTask, Instance, ProcessModel, ProcessVersion

__all__ = [
    "COUNT_CAP",
    "LaneCache",
    "Page",
    "dashboard",
    "element_states",
    "paginate",
]


class InstanceFacts(NamedTuple):
    """The few columns of an instance that a task read needs (not its state or data)."""

    id: int
    country: str | None
    version_id: int
    lock_version: int


LaneCache = dict[frozenset[str], list[tuple[str, str]]]
"""Actionable lanes by role set, for one request: the inbox and the navigation counts read the
process models once. The caller makes one (`{}`) and passes it along; a deployment changes the
lanes, so it never outlives a request."""


def actionable_lanes(
    session: Session, actor: Actor, cache: LaneCache | None = None
) -> list[tuple[str, str]] | None:
    """(process_key, lane) pairs the actor may act in; None means every lane (admins)."""
    if actor.is_admin:
        return None
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


def _actionable(
    session: Session, actor: Actor, lanes: LaneCache | None, columns: Sequence[Any] = (HumanTask,)
) -> Select[Any]:
    query = select(*columns).where(HumanTask.state == "ready")
    pairs = actionable_lanes(session, actor, lanes)
    if pairs is not None:
        lane_match = tuple_(HumanTask.process_key, HumanTask.lane).in_(pairs) if pairs else false()
        query = query.where(or_(lane_match, HumanTask.lane.is_(None)))
    return _scope_country(query, HumanTask.country, actor)


_ORDERS: dict[str, Callable[[], tuple[Any, ...]]] = {
    "due": lambda: (HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at),
    "-due": lambda: (HumanTask.due_at.is_(None), HumanTask.due_at.desc(), HumanTask.created_at),
    "created": lambda: (HumanTask.created_at,),
    "-created": lambda: (HumanTask.created_at.desc(),),
    "name": lambda: (HumanTask.name, HumanTask.created_at),
}

WITH_INSTANCE = (
    *HumanTask.__table__.c,
    Instance.process_version_id.label("instance_version_id"),
    Instance.lock_version.label("instance_lock_version"),
)
"""Columns of `task_query(..., with_instance=True)`: the task's own (by attribute name, as
`TaskView.of` reads them) and its instance's version and lock version."""


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
    lanes: LaneCache | None = None,
    with_instance: bool = False,
) -> Page[Any]:
    """The open tasks `actor` may act on, filtered, sorted (`due`, `-due`, `created`, `-created`,
    `name`) and paginated. The total is counted up to `COUNT_CAP` (or the end of the page):
    `Page.total_capped` says there are more. With `instance_id`, only that instance's tasks
    (found by its index, without reading the inbox). Items are `HumanTask` rows, or with
    `with_instance` plain rows of `WITH_INSTANCE` (no ORM objects; the instance joined)."""
    narrowed = (process_key, country, stage, lane, overdue, due_within_days, claimed_by)
    if with_instance and instance_id is not None and sort == "due" and not any(narrowed):
        return _one_instance(session, actor, instance_id, page, per_page, lanes)
    joined = with_instance or bool(stage)
    query = _actionable(session, actor, lanes, WITH_INSTANCE if with_instance else (HumanTask,))
    if joined:
        query = query.join(Instance, Instance.id == HumanTask.instance_id)
    if instance_id is not None:
        query = query.where(HumanTask.instance_id == instance_id)
    if process_key:
        query = query.where(HumanTask.process_key == process_key)
    if country:
        query = query.where(HumanTask.country == country.upper())
    if lane:
        query = query.where(HumanTask.lane == lane)
    if stage:
        query = query.where(Instance.stage == stage)
    if overdue:
        query = query.where(HumanTask.due_at < now)
    if due_within_days is not None:
        query = query.where(HumanTask.due_at <= now + timedelta(days=due_within_days))
    if claimed_by:
        query = query.where(HumanTask.claimed_by == claimed_by)
    due_first = sort not in _ORDERS or sort == "due"
    order = _ORDERS["due" if due_first else sort]()
    # Soonest due first, undated last, in two spellings. With few matching tasks (a rare lane, a
    # filter) the database finds them through the selective indexes and sorts them; with more
    # than COUNT_CAP it reads `ix_human_tasks_inbox(_country)` in order and stops after the page:
    # `NULLS LAST` is that index's order on both databases (PostgreSQL's default; SQLite scans the
    # dated, then the undated entries), where `due_at IS NULL` makes it sort every matching row.
    in_index_order = None
    if due_first and instance_id is None:
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
        few=instance_id is not None,
        rows=with_instance,
    )


@cache
def _instance_tasks() -> Select[Any]:
    """One instance's open tasks with its columns, soonest due first: built (and its cache key
    computed) once, since the API asks it after every step."""
    return (
        select(*WITH_INSTANCE)
        .join(Instance, Instance.id == HumanTask.instance_id)
        .where(HumanTask.state == "ready", HumanTask.instance_id == bindparam("instance_id"))
        .order_by(*_ORDERS["due"](), HumanTask.id)
    )


def _one_instance(
    session: Session,
    actor: Actor,
    instance_id: int,
    page: int,
    per_page: int,
    lanes: LaneCache | None,
) -> Page[Any]:
    """`task_query(instance_id=…, with_instance=True)` without other filters: the instance's
    few open tasks read by one prepared statement, then the actor's lanes and country applied
    as `_actionable` applies them in SQL, and the page cut and counted as `_paginate` would."""
    rows = session.execute(_instance_tasks(), {"instance_id": instance_id}).all()
    pairs = actionable_lanes(session, actor, lanes)
    if pairs is not None:
        allowed = set(pairs)
        rows = [r for r in rows if r.lane is None or (r.process_key, r.lane) in allowed]
    if actor.has("country") and not actor.has(*STAFF_ROLES):
        rows = [r for r in rows if actor.country and r.country == actor.country]
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, page)
    known = max(COUNT_CAP, page * per_page)
    items = list(rows[(page - 1) * per_page : page * per_page])
    return Page(items, min(len(rows), known), page, per_page, len(rows) > known)


def task_counts(
    session: Session, actor: Actor, now: datetime, lanes: LaneCache | None = None
) -> dict[str, int]:
    """Counts for the navigation: open tasks, overdue ones, and those claimed by the actor.

    Each stops at `COUNT_CAP + 1`: a count above `COUNT_CAP` means "more than `COUNT_CAP`"
    (see `count_label`)."""
    base = _actionable(session, actor, lanes)
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


@cache
def _task_with_instance() -> Select[Any]:
    return (
        select(*WITH_INSTANCE, Instance.country.label("instance_country"))
        .join(Instance, Instance.id == HumanTask.instance_id)
        .where(HumanTask.id == bindparam("task_id"))
    )


def task_with_instance(session: Session, task_id: str) -> tuple[Any, InstanceFacts] | None:
    """A task (a plain row of its columns, as `TaskView.of` reads them) with what the API's task
    routes need of its instance (country, version and lock version), in one prepared statement
    that leaves the instance's state and data unread."""
    found = session.execute(_task_with_instance(), {"task_id": task_id}).first()
    if found is None:
        return None
    facts = InstanceFacts(
        found.instance_id,
        found.instance_country,
        found.instance_version_id,
        found.instance_lock_version,
    )
    return found, facts


def instance_facts(session: Session, ids: Collection[int]) -> dict[int, InstanceFacts]:
    """Country, version and lock version of each instance in `ids`, in one statement."""
    if not ids:
        return {}
    rows = session.execute(
        select(
            Instance.id, Instance.country, Instance.process_version_id, Instance.lock_version
        ).where(Instance.id.in_(sorted(ids)))
    )
    return {row[0]: InstanceFacts(row[0], row[1], row[2], row[3]) for row in rows}


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
