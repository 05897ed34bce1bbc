""" "Our procedure": where a country stands, who holds the current step, what comes next and when.

`/procedure` is a country user's own case (their home when nothing waits in the inbox);
`/instances/<id>/procedure` is the same tracker as a tab of every case page.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from engine import NotFound
from web.auth import login_required
from web.pages.common import actor, engine

bp = Blueprint("procedure", __name__)


@bp.get("/procedure")
@login_required
def mine() -> str | Response:
    me = actor()
    found = engine().instances.procedure(me)
    if found is None:
        if not me.country:
            return redirect(url_for("instances.index"))
        return render_template("procedure.html", tracker=None, instance=None, own=True)
    return render_template(
        "procedure.html", tracker=found.tracker, instance=found.instance, own=True
    )


@bp.get("/instances/<int:instance_id>/procedure")
@login_required
def of_case(instance_id: int) -> str:
    found = engine().instances.procedure(actor(), instance_id)
    if found is None or found.tracker is None:
        raise NotFound(_("This case's process does not declare stages."))
    return render_template(
        "procedure.html", tracker=found.tracker, instance=found.instance, own=False
    )
