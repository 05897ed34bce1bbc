""" "Our procedure": where a country stands, who holds the current step, what comes next and when.

`/procedure` is a country user's own case (their home when nothing waits in the inbox);
`/instances/<id>/procedure` is the same tracker as a tab of every case page.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from engine import NotFound
from engine.records import procedure
from web.auth import login_required
from web.pages.common import actor, engine, now
from web.pages.instances import _visible

bp = Blueprint("procedure", __name__)


@bp.get("/procedure")
@login_required
def mine() -> str | Response:
    me = actor()
    with engine().session() as s:
        inst = procedure.country_case(s, me)
        if inst is None:
            if not me.country:
                return redirect(url_for("instances.index"))
            return render_template("procedure.html", tracker=None, instance=None, own=True)
        tracker = procedure.build(s, inst, me, now())
        return render_template("procedure.html", tracker=tracker, instance=inst, own=True)


@bp.get("/instances/<int:instance_id>/procedure")
@login_required
def of_case(instance_id: int) -> str:
    me = actor()
    with engine().session() as s:
        inst = _visible(instance_id, s)
        tracker = procedure.build(s, inst, me, now())
        if tracker is None:
            raise NotFound(_("This case's process does not declare stages."))
        return render_template("procedure.html", tracker=tracker, instance=inst, own=False)
