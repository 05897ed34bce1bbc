"""The REST API under /api/v1: flask-smorest blueprints, marshmallow schemas, problem+json errors.

`init_app` builds a fresh `api` blueprint per app, nests one blueprint per resource in it, and
serves the generated OpenAPI document at /api/v1/openapi.json and a reference page at /api/v1/docs.
"""

from __future__ import annotations

import http
from typing import Any

from flask import Blueprint as FlaskBlueprint
from flask import Flask
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from web.api import (
    attachments,
    docs,
    errors,
    history,
    instances,
    models,
    simulation,
    submissions,
    tasks,
    tokens,
)
from web.api.auth import authenticate_request
from web.api.blueprint import ApiBlueprint
from web.api.schemas import ProblemSchema

PREFIX = "/api/v1"
RESOURCES = (
    tokens.blp,
    models.blp,
    instances.blp,
    history.blp,
    submissions.blp,
    tasks.blp,
    attachments.blp,
    simulation.blp,
)
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

DESCRIPTION = """Everything the Pathfinder web app does, for scripts and other systems.

Authentication: send `Authorization: Bearer <token>`; get a token from POST /api/v1/auth/token
with a username and password. A signed-in browser session also works (changes then need the
X-CSRFToken header). Without either, every operation except getting a token answers 401.

Roles and countries work as in the web app. Auditors are read-only (403 on every change except
revoking their own tokens). Country users see only their own country: another country's
instances, tasks and history answer 404, exactly as if they did not exist.

Lists are paginated with `page` (from 1) and `per_page` (1-100, default 25) and answer
`{items, page, per_page, total, pages}`.

Errors are RFC 9457 `application/problem+json`: `{type, title, status, detail}`; 422 adds
`errors`, keyed by field path for data (`actions.0.budget`), or a list of
`{element_id, element_name, file, line, message, code, severity}` for a refused process model.
Dates are ISO 8601 in UTC. The simulation endpoints exist only on a server started with
`pathfinder serve --simulate`; otherwise they answer 404."""


class PathfinderApi(Api):  # type: ignore[misc]
    """flask-smorest's Api, with problem+json error responses and no app-wide error handlers
    (the web pages keep their own; the API's handlers are registered on its blueprint)."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        pass

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = ProblemSchema
            prepare_response(response, self.spec, errors.PROBLEM_MIMETYPE)
            self.spec.components.response(status.name, response, lazy=True)
            if status >= 400:
                self.spec.components.response(f"Problem{status.value}", dict(response), lazy=True)
        default = {"description": "Any error (problem+json)", "schema": ProblemSchema}
        prepare_response(default, self.spec, errors.PROBLEM_MIMETYPE)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)


def _make_api(app: Flask) -> PathfinderApi:
    app.config.setdefault("OPENAPI_URL_PREFIX", None)  # the api blueprint serves the document
    api = PathfinderApi(
        app,
        spec_kwargs={
            "title": "Pathfinder API",
            "version": "1.0",
            "openapi_version": "3.0.3",
            "info": {"description": DESCRIPTION},
            "security": [{"bearerAuth": []}, {"sessionCookie": []}],
        },
    )
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "POST /api/v1/auth/token"}
    )
    api.spec.components.security_scheme(
        "sessionCookie",
        {
            "type": "apiKey",
            "in": "cookie",
            "name": app.config.get("SESSION_COOKIE_NAME", "session"),
        },
    )
    return api


def _make_blueprint() -> ApiBlueprint:
    # An `ApiBlueprint` too: the outer blueprint prepares the OpenAPI document of the nested
    # ones, with its own content-type mapping (multipart bodies).
    blueprint = ApiBlueprint("api", __name__, url_prefix=PREFIX)
    for resource in RESOURCES:
        blueprint.register_blueprint(resource)
    # Routes outside the OpenAPI document: the document itself, its reference page, and a
    # catch-all so unknown addresses under /api/v1 answer problem+json too.
    add = FlaskBlueprint.add_url_rule
    add(blueprint, "/openapi.json", "openapi_json", docs.openapi_json)
    add(blueprint, "/docs", "docs", docs.reference_page)
    add(blueprint, "/", "unknown_route", docs.unknown_route, methods=ALL_METHODS)
    add(blueprint, "/<path:path>", "unknown_route", docs.unknown_route, methods=ALL_METHODS)
    blueprint.before_request(authenticate_request)
    errors.register(blueprint)
    return blueprint


def init_app(app: Flask) -> None:
    """Register the API on `app` (after the web's auth, so its CSRF protection can exempt it)."""
    api = _make_api(app)
    app.extensions["pathfinder_api"] = api
    blueprint = _make_blueprint()
    api.register_blueprint(blueprint)
    errors.register_routing_fallback(app, PREFIX)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        # Flask-WTF matches the request's own blueprint, so exempt the nested ones too.
        for name, registered in app.blueprints.items():
            if name == "api" or name.startswith("api."):
                csrf.exempt(registered)
