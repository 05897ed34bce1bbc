"""Small helpers the page blueprints share: the engine, the actor, the clock, paging."""

from __future__ import annotations

from datetime import datetime

from flask import abort, g, request

from engine import Actor, Engine, InstanceView, permissions
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


def visible_instance(instance_id: int) -> InstanceView:
    """The instance, if this user may see it. Another country's case answers NotFound (404)
    exactly as a missing one does, so pages do not reveal which cases exist (as on the API)."""
    return the_engine().instances.visible(actor(), instance_id)


def lanes() -> dict[frozenset[str], list[tuple[str, str]]]:
    """This request's cache of the actor's lanes (the inbox and the navigation counts share
    it; a new request starts empty, so a deployment is seen at once)."""
    if "lanes" not in g:
        g.lanes = {}
    cache: dict[frozenset[str], list[tuple[str, str]]] = g.lanes
    return cache


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


def filter_options() -> dict[str, list[tuple[str, str]]]:
    """Choices for the process / country / stage / status filters."""
    return the_engine().instances.filter_options()
