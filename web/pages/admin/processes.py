"""Process models' lanes (admins and process owners): who acts in each lane."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import ROLES, NotFound, permissions
from web.auth import roles_required
from web.pages.admin.lists import Page, bp, list_filters
from web.pages.common import actor, engine, page_number


@bp.get("/processes")
@roles_required(*permissions.MODEL_OWNER_ROLES)
def processes() -> str:
    args = list_filters(("q",))
    page = engine().models.lanes_page(number=page_number(), **args)
    return render_template("admin/processes.html", models=page.items, page=page, args=args)


@bp.route("/processes/<key>/lanes", methods=["GET", "POST"])
@roles_required(*permissions.MODEL_OWNER_ROLES)
def process_lanes(key: str) -> Page:
    try:
        model = engine().models.lanes(key)
    except NotFound:
        abort(404)
    name = model.name or key
    current = {row.lane: row.role for row in model.lanes}
    if request.method == "POST":
        chosen = {row.lane: request.form.get(f"lane-{i}", "") for i, row in enumerate(model.lanes)}
        bad = [lane for lane, role in chosen.items() if role not in ROLES]
        if bad:
            return render_template(
                "admin/lanes.html",
                key=key,
                name=name,
                current=chosen,
                roles=ROLES,
                error=_("Choose a role for: %(bad)s.", bad=", ".join(bad)),
            ), 422
        engine().models.set_lane_roles(key, chosen, actor=actor())
        flash(
            _(
                "Lane roles of %(name)s saved by %(username)s.",
                name=name,
                username=actor().username,
            ),
            "success",
        )
        return redirect(url_for("admin.processes"))
    return render_template(
        "admin/lanes.html", key=key, name=name, current=current, roles=ROLES, error=None
    )
