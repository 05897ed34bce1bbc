"""The dashboard: countries by stage and by pathfinder status, upcoming reviews, overdue tasks."""

from __future__ import annotations

from flask import Blueprint, render_template

from web.auth import roles_required
from web.pages.common import STAFF, engine, now

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.get("")
@roles_required(*STAFF)
def index() -> str:
    figures = engine().instances.dashboard()
    return render_template(
        "dashboard.html", figures=figures, now=now(), stage_titles=figures["stage_titles"]
    )
