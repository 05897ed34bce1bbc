"""Simulating an edited diagram on a virtual clock (a throwaway database per simulation)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import jsonify, request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from engine import EngineError, InvalidData, ValidationFailed
from web.auth import current_actor, the_engine
from web.i18n import error_fields, error_text
from web.pages.modeler.base import bp, owners_only, problem_dict
from web.pages.modeler.checks import posted


def _engine_error(error: EngineError) -> tuple[Response, int]:
    if isinstance(error, ValidationFailed):
        problems = [problem_dict(p) for p in error.problems]
        return jsonify({"message": error_text(error), "problems": problems}), 422
    errors = error_fields(error) if isinstance(error, InvalidData) else None
    body = {"message": error_text(error), "errors": errors}
    return jsonify(body), error.http_status if error.http_status != 403 else 422


@bp.post("/simulate")
@owners_only
def simulate_start() -> tuple[Response, int]:
    _key, _name, files, forms = posted()
    body = request.get_json(silent=True) or {}
    models = the_engine().models
    try:
        data = models.json_object(body.get("data"))
        start = body.get("start")
        begin = datetime.fromisoformat(start).replace(tzinfo=UTC) if start else None
        sim = models.simulate(files, forms, owner=current_actor().username, start=begin, data=data)
    except EngineError as error:
        return _engine_error(error)
    except ValueError as error:
        return jsonify({"message": _("Invalid start date: %(error)s.", error=error)}), 400
    return jsonify(sim.snapshot()), 200


@bp.post("/simulate/<token>/<any(complete, advance, stop):action>")
@owners_only
def simulate_act(token: str, action: str) -> tuple[Response, int]:
    models = the_engine().models
    store = models.simulations
    body = request.get_json(silent=True) or {}
    try:
        sim = store.get(token, current_actor().username)
        if action == "stop":
            store.discard(token, current_actor().username)
            return jsonify({"stopped": True}), 200
        with sim.lock:
            if action == "complete":
                data = models.json_object(body.get("data"))
                sim.complete(str(body.get("task_id", "")), data)
            else:
                amounts = {u: int(body.get(u) or 0) for u in ("days", "months", "years")}
                sim.advance(**amounts)
            return jsonify(sim.snapshot()), 200
    except EngineError as error:
        return _engine_error(error)
    except (TypeError, ValueError, OverflowError):
        return jsonify({"message": _("Days, months and years must be whole numbers.")}), 400
