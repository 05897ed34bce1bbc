"""Comparing versions of a process model and moving running instances to another version."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from engine import NotFound
from web.auth import current_actor, the_engine
from web.inputs import db_int
from web.pages.modeler.base import Page, bp, owners_only, version

if TYPE_CHECKING:
    from engine.bpmn.handles import ModelVersion
    from engine.bpmn.model_diff import ModelDiff


@bp.get("/<key>/diff")
@owners_only
def diff(key: str) -> str:
    latest = version(key)
    new_number = request.args.get("to", type=db_int) or latest.version
    old_number = request.args.get("from", type=db_int) or max(new_number - 1, 1)
    old, new, result = _diff(key, old_number, new_number)
    return render_template(
        "modeler/diff.html",
        key=key,
        old=old,
        new=new,
        diff=result,
        versions=list(range(1, latest.version + 1)),
        marks=result.ids(),
    )


@bp.get("/<key>/diff.json")
@owners_only
def diff_json(key: str) -> Response:
    old_number = request.args.get("from", type=db_int) or 1
    return jsonify(_diff(key, old_number, request.args.get("to", type=db_int))[2].to_dict())


def _diff(key: str, old: int, new: int | None) -> tuple[ModelVersion, ModelVersion, ModelDiff]:
    """Two versions and what changed between them (`new`: the newest when None), or 404."""
    try:
        return the_engine().models.diff(key, old, new)
    except NotFound:
        abort(404)


@bp.get("/<key>/migrate")
@owners_only
def migrate_plan(key: str) -> str:
    target = version(key, request.args.get("to", type=db_int))
    models = the_engine().models
    checks = models.migration_plan(key, target.version)
    names = {  # element names of each version instances are on, shown with the id on hover
        n: models.element_names(key, n) for n in {c.from_version for c in checks}
    }
    return render_template(
        "modeler/migrate.html", key=key, target=target, checks=checks, names=names
    )


@bp.post("/<key>/migrate")
@owners_only
def migrate_run(key: str) -> Page:
    target = version(key, request.form.get("to", type=db_int))
    ids = request.form.getlist("instance", type=db_int)
    outcomes = the_engine().models.migrate(key, target.version, current_actor(), ids)
    moved = [o for o in outcomes if o.migrated]
    refused = [o for o in outcomes if not o.migrated]
    if moved:
        flash(
            _(
                "Moved %(moved)s instance(s) to version %(version)s.",
                moved=len(moved),
                version=target.version,
            ),
            "success",
        )
    for outcome in refused:
        flash(
            _(
                "Instance %(instance_id)s not moved: %(reasons)s",
                instance_id=outcome.instance_id,
                reasons=" ".join(outcome.reasons),
            ),
            "error",
        )
    if not outcomes:
        flash(_("Choose at least one instance to move."), "error")
    return redirect(url_for("modeler.migrate_plan", key=key, to=target.version))
