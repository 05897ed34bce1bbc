"""Every API error as `application/problem+json` (RFC 9457); no stack trace leaves the server."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, InternalServerError

from engine import EngineError, InvalidData, ValidationFailed
from web.i18n import error_fields, error_text, error_title

log = logging.getLogger("pathfinder.api")

PROBLEM_MIMETYPE = "application/problem+json"
PROBLEM_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "errors", "headers"})
"""Members an engine error's details may not overwrite (`status` there is an instance's)."""


def _slug(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    type_: str = "about:blank",
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A problem+json response."""
    body = {"type": type_, "title": title, "status": status, "detail": detail, **extra}
    response = Response(json.dumps(body, default=str), status=status, mimetype=PROBLEM_MIMETYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


class ApiError(Exception):
    """Raised by API code for an HTTP problem the engine does not know about (401, 403, 404...)."""

    def __init__(
        self, status: int, title: str, detail: str, headers: Mapping[str, str] | None = None
    ):
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})


def unauthorized(detail: str) -> ApiError:
    return ApiError(
        401,
        _("Authentication required"),
        detail,
        {"WWW-Authenticate": 'Bearer realm="pathfinder"'},
    )


def forbidden(detail: str) -> ApiError:
    return ApiError(403, _("Not allowed"), detail)


def not_found(detail: str) -> ApiError:
    return ApiError(404, _("Not found"), detail)


def _flatten(messages: Any, prefix: str = "") -> dict[str, str]:
    """webargs/marshmallow messages (nested dicts of lists) as `{field.path: message}`."""
    if isinstance(messages, Mapping):
        out: dict[str, str] = {}
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten(value, path))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "_schema": " ".join(messages)}
    if isinstance(messages, list):
        return _flatten(dict(enumerate(messages)), prefix)
    return {prefix or "_schema": str(messages)}


def _request_errors(exc: HTTPException) -> dict[str, str] | None:
    data = getattr(exc, "data", None)
    messages = data.get("messages") if isinstance(data, Mapping) else None
    if not isinstance(messages, Mapping):
        return None
    # The top level is the location (json, query, files...); field paths read better without it.
    errors: dict[str, str] = {}
    for location_messages in messages.values():
        errors.update(_flatten(location_messages))
    return errors


def handle_http(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status >= 500:
        return handle_unexpected(exc)
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    headers.update(getattr(exc, "data", None) and exc.data.get("headers") or {})  # type: ignore[attr-defined]
    errors = _request_errors(exc)
    if errors is not None:
        return problem(
            status,
            _("Invalid request"),
            _("The request has invalid fields."),
            headers=headers,
            errors=errors,
        )
    return problem(status, exc.name, exc.description or exc.name, headers=headers)


def handle_api_error(exc: ApiError) -> Response:
    return problem(exc.status, exc.title, exc.detail, headers=exc.headers)


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def handle_engine_error(exc: EngineError) -> Response:
    extra: dict[str, Any] = {
        k: v for k, v in exc.details.items() if _plain(v) and k not in PROBLEM_MEMBERS
    }
    if isinstance(exc, InvalidData):
        extra["errors"] = error_fields(exc)
    if isinstance(exc, ValidationFailed):
        extra["errors"] = [
            {
                "element_id": p.element_id,
                "element_name": p.element_name,
                "file": p.file,
                "line": p.line,
                "message": p.message,
                "code": p.code,
                "severity": p.severity,
            }
            for p in exc.problems
        ]
    kind = f"urn:pathfinder:problem:{_slug(type(exc).__name__)}"
    # The message follows Accept-Language (the OpenAPI document itself stays English).
    return problem(exc.http_status, error_title(exc), error_text(exc), type_=kind, **extra)


def handle_unexpected(exc: BaseException) -> Response:
    original = getattr(exc, "original_exception", None) or exc
    if not isinstance(original, HTTPException) or isinstance(original, InternalServerError):
        log.error("API request failed: %s %s", request.method, request.path, exc_info=original)
    return problem(
        500, _("Internal error"), _("The server failed to handle this request; it has been logged.")
    )


def register(blueprint: Any) -> None:
    """Problem handlers for everything raised inside the API blueprint (and its children)."""
    blueprint.register_error_handler(ApiError, handle_api_error)
    blueprint.register_error_handler(EngineError, handle_engine_error)
    blueprint.register_error_handler(HTTPException, handle_http)
    blueprint.register_error_handler(Exception, handle_unexpected)


def register_routing_fallback(app: Flask, prefix: str) -> None:
    """Routing failures (an id out of range, say) happen before a blueprint is chosen, so the
    app-level handlers answer them. Answer API paths with problem+json and hand every other path
    to whatever handler the web app registered."""

    def routing_error(exc: HTTPException) -> Any:
        if request.path == prefix or request.path.startswith(prefix + "/"):
            return handle_http(exc)
        for cls in type(exc).__mro__:
            handler = app.error_handler_spec.get(None, {}).get(None, {}).get(cls)
            if handler is not None:
                return handler(exc)
        return exc

    for code in (404, 405):
        app.register_error_handler(code, routing_error)
