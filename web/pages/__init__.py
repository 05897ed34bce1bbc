"""Server-rendered pages: inbox and tasks, countries (instances), dashboard, administration."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from typing import Any

from flask import Flask, g, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from engine import human_size
from web import assets
from web.i18n import element_filter
from web.pages import (
    admin,
    attachments,
    dashboard,
    errors,
    instances,
    procedure,
    tasks,
    values,
)
from web.pages.common import STAFF, actor, engine, lanes
from web.pages.formrender import option_label

log = logging.getLogger("pathfinder.web")


def pretty(value: Any) -> Markup:
    """Show case data readably (the timeline, case variables): lists as comma lists, objects as
    nested lists with labels for their keys (`budget_usd` -> `Budget USD`), ISO dates; never a
    Python repr."""
    if value is None or value == "":
        return escape("—")
    if isinstance(value, bool):
        return escape(_("Yes") if value else _("No"))
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            return escape(", ".join(option_label(v) for v in value) or "—")
        items = Markup("").join(Markup("<li>{}</li>").format(pretty(v)) for v in value)
        return Markup("<ol class='nested'>{}</ol>").format(items)
    if isinstance(value, dict):
        rows = Markup("").join(
            Markup("<dt>{}</dt><dd>{}</dd>").format(option_label(k), pretty(v))
            for k, v in value.items()
        )
        return Markup("<dl class='nested'>{}</dl>").format(rows)
    if isinstance(value, (datetime, date)):
        return escape(value.isoformat())
    return escape(str(value))


def _nav() -> dict[str, Any]:
    if not current_user.is_authenticated:
        return {}
    me = actor()
    try:
        counts = engine().tasks.counts(me, lanes=lanes())
    except Exception:  # noqa: BLE001 - an error page must render even when the database fails
        log.exception("Could not count tasks for the navigation")
        counts = {"open": 0, "overdue": 0, "mine": 0}
    return {"nav_counts": counts, "may_dashboard": me.has(*STAFF)}


def stage_name(code: str | None) -> str:
    """A stage code by the title its process declares (`gcg_report` -> `Report to the GCG`)."""
    if not code:
        return "—"
    if "stage_titles" not in g:
        try:
            g.stage_titles = engine().instances.stage_titles()
        except Exception:  # noqa: BLE001 - a label must not break an (error) page
            log.exception("Could not read the stage titles")
            g.stage_titles = {}
    return element_filter(g.stage_titles.get(code) or code.replace("_", " ").capitalize())


def _favicon() -> Response:
    # Browsers ask for /favicon.ico on pages (and files) that carry no <link rel="icon">.
    return redirect(url_for("static", filename="favicon.svg"), code=301)


def init_app(app: Flask) -> None:
    """Register the page blueprints, error pages, template helpers and the bpmn-js assets."""
    app.register_blueprint(tasks.bp)
    app.register_blueprint(instances.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(attachments.bp)
    app.register_blueprint(procedure.bp)
    assets.init_app(app)
    errors.init_app(app)
    app.context_processor(_nav)
    app.add_url_rule("/favicon.ico", "favicon", _favicon)
    app.add_template_filter(pretty, "pretty")
    app.add_template_filter(stage_name, "stage_name")
    app.add_template_filter(values.case_value, "case_value")
    app.add_template_filter(values.variable_label, "variable_label")
    app.add_template_filter(human_size, "filesize")
    app.add_template_filter(lambda v: json.dumps(v, sort_keys=True), "tojson_sorted")
