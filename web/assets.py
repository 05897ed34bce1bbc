"""Serves the bpmn-js bundles installed from npm (node_modules/bpmn-js/dist), no CDN.

Only files inside that folder with asset suffixes are served; `send_from_directory` refuses
paths that climb out of it.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, abort, current_app, send_from_directory
from werkzeug.wrappers import Response

from engine import PROJECT_ROOT

SUFFIXES = {".js", ".css", ".woff", ".woff2", ".ttf", ".eot", ".svg", ".map"}
bp = Blueprint("vendor", __name__, url_prefix="/vendor")


def bpmn_js_dist() -> Path:
    return Path(
        current_app.config.get("BPMN_JS_DIST") or PROJECT_ROOT / "node_modules" / "bpmn-js" / "dist"
    )


@bp.get("/bpmn-js/<path:filename>")
def bpmn_js(filename: str) -> Response:
    if Path(filename).suffix not in SUFFIXES:
        abort(404)
    response = send_from_directory(bpmn_js_dist(), filename, max_age=86400)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
