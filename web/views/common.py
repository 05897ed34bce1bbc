"""Small helpers the page blueprints share: the engine, the actor, the clock, paging."""

from __future__ import annotations

from datetime import datetime

from flask import abort, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import Actor, Engine, procedure
from engine.models import Instance, ProcessModel
from web.auth import current_actor, the_engine

STAFF = ("admin", "process_owner", "secretariat", "chair", "gcg", "auditor")
"""Roles that see every country (the dashboard is for them)."""
MANAGERS = ("admin", "secretariat")
"""Roles that may suspend, resume, cancel or retry instances."""

__all__ = ["MANAGERS", "STAFF", "actor", "engine", "now", "page_number", "require_form_int"]


def engine() -> Engine:
    return the_engine()


def actor() -> Actor:
    return current_actor()


def now() -> datetime:
    return the_engine().now()


def page_number() -> int:
    raw = request.args.get("page", "1")
    return max(1, int(raw)) if raw.isdigit() else 1


def require_form_int(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    if not raw.lstrip("-").isdigit():
        abort(400)
    return int(raw)


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
    statuses = ["running", "suspended", "error", "completed", "cancelled"]
    return {
        "processes": processes,
        "countries": [(c, c) for c in countries],
        "stages": [(s, titles.get(s) or s.replace("_", " ")) for s in stages],
        "statuses": [(s, s) for s in statuses],
    }
