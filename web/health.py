"""Health endpoints for load balancers and orchestrators (see docs/operations.md)."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, jsonify
from sqlalchemy import text

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: the process serves requests (no database access)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Readiness: the process can reach its database."""
    engine = current_app.extensions["pathfinder_engine"]
    try:
        with engine.session() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported briefly
        current_app.logger.warning("readiness check failed: %s", exc)
        return jsonify(status="unavailable", database=type(exc).__name__), 503
    return jsonify(status="ready", database="ok"), 200


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)
