"""Small helpers the page blueprints share: the engine, the actor, the clock, paging."""

from __future__ import annotations

from datetime import datetime

from flask import abort, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import Actor, Engine, InstanceStatus
from engine.people import permissions
from engine.records import procedure
from engine.store.models import Instance, ProcessModel
from web.auth import current_actor, the_engine
from web.inputs import db_int

STAFF = permissions.STAFF_ROLES
"""Roles that see every country (the dashboard is for them)."""

__all__ = [
    "STAFF",
    "actor",
    "engine",
    "now",
    "page_number",
    "require_form_int",
    "visible_instance",
]


def engine() -> Engine:
    return the_engine()


def actor() -> Actor:
    return current_actor()


def now() -> datetime:
    return the_engine().now()


def visible_instance(session: Session, instance_id: int) -> Instance:
    """The instance, if this user may see it. Another country's case answers NotFound (404)
    exactly as a missing one does, so pages do not reveal which cases exist (as on the API)."""
    return permissions.visible_instance(session, actor(), instance_id)


def page_number() -> int:
    """The `?page=` asked for; anything that is not a page number the database can reach is 1."""
    return max(1, request.args.get("page", 1, type=db_int))


def require_form_int(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    try:
        return db_int(raw)
    except ValueError:
        abort(400)


def filter_options(session: Session) -> dict[str, list[tuple[str, str]]]:
    """Choices for the process / country / stage / status filters."""
    processes = [
        (m.key, m.name or m.key)
        for m in session.execute(select(ProcessModel).order_by(ProcessModel.key)).scalars()
    ]
    countries = sorted(
        {c for c in session.execute(select(Instance.country).distinct()).scalars() if c}
    )
    stages = sorted({s for s in session.execute(select(Instance.stage).distinct()).scalars() if s})
    titles = procedure.stage_titles(session)
    statuses = list(InstanceStatus)
    return {
        "processes": processes,
        "countries": [(c, c) for c in countries],
        "stages": [(s, titles.get(s) or s.replace("_", " ")) for s in stages],
        "statuses": [(s, s) for s in statuses],
    }
