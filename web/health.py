"""Health endpoints for load balancers and orchestrators (see docs/operations.md)."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: the process serves requests (no database access)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Readiness: the process can write to its database (a write probe that writes nothing,
    failing after `PATHFINDER_READYZ_TIMEOUT` seconds when another writer holds the lock)."""
    engine = current_app.extensions["pathfinder_engine"]
    try:
        engine.check_writable()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported briefly
        current_app.logger.warning("readiness check failed: %s", exc)
        return jsonify(status="unavailable", database=type(exc).__name__), 503
    return jsonify(status="ready", database="ok"), 200


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)
