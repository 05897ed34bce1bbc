"""Error pages in the site layout: engine errors and HTTP errors map to 4xx/5xx, never a trace."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from engine import EngineError
from web.i18n import error_text, error_title

log = logging.getLogger("pathfinder.web")

TITLES = {
    400: (_l("Bad request"), _l("The request could not be understood.")),
    403: (_l("Not allowed"), _l("Your roles or your country do not give you access to this page.")),
    404: (
        _l("Not found"),
        _l("There is nothing at this address. It may have been removed, or the link is wrong."),
    ),
    405: (_l("Not allowed"), _l("This address does not accept that kind of request.")),
    409: (
        _l("Changed by someone else"),
        _l("Someone changed this in the meantime. Reload and try again."),
    ),
    422: (_l("Cannot be processed"), _l("The data sent could not be processed.")),
    429: (_l("Too many requests"), _l("Please wait a moment and try again.")),
    500: (
        _l("Something went wrong"),
        _l("An unexpected error happened on our side. It has been logged."),
    ),
}


def _api() -> bool:
    return request.blueprint == "api" or request.path.startswith("/api/")


def _page(status: int, message: str | None = None, title: str | None = None) -> tuple[str, int]:
    default_title, default_message = TITLES.get(
        status, TITLES[500] if status >= 500 else TITLES[400]
    )
    html = render_template(
        "error.html",
        status=status,
        title=title or default_title,
        message=message or default_message,
    )
    return html, status


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(err: CSRFError) -> tuple[str, int]:
        return _page(
            400,
            _(
                "This form has expired or was not sent from this site "
                "(missing security token). Go back, reload the page and "
                "submit it again."
            ),
            _("Form expired"),
        )

    @app.errorhandler(EngineError)
    def engine_error(err: EngineError):  # type: ignore[no-untyped-def]
        if _api():  # the API blueprint normally answers these itself, as problem+json
            body = {"title": error_title(err), "status": err.http_status, "detail": error_text(err)}
            return body, err.http_status, {"Content-Type": "application/problem+json"}
        return _page(err.http_status, error_text(err), error_title(err))

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):  # type: ignore[no-untyped-def]
        if _api() or err.code is None or err.code < 400:
            return err
        return _page(err.code, None)

    @app.errorhandler(InternalServerError)
    def server_error(err: InternalServerError):  # type: ignore[no-untyped-def]
        if _api():
            return err
        log.error(
            "Unhandled error on %s %s",
            request.method,
            request.path,
            exc_info=err.original_exception,
        )
        return _page(500)
