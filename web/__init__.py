"""The Flask app: built by `create_app(settings)`; the engine does the work, views stay thin."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from engine import Clock, Engine, Settings, SystemClock, VirtualClock

log = logging.getLogger("pathfinder.web")


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    engine: Engine | None = None,
    config: dict[str, Any] | None = None,
) -> Flask:
    """Build the web app around an engine (made from `settings` unless one is given)."""
    settings = settings or Settings.from_env()
    if clock is None:
        clock = VirtualClock() if settings.simulate else SystemClock()
    engine = engine or Engine.from_settings(settings, clock)

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_SECURE=settings.secure_cookies,
        # Room for a form with two files at the per-file limit; a single file over the limit
        # is refused by the attachment checks with the rest of the form kept.
        MAX_CONTENT_LENGTH=int(max(25, 2 * settings.max_upload_mb + 5) * 1024 * 1024),
        PATHFINDER_SETTINGS=settings,
    )
    app.config.update(config or {})
    if settings.trusted_proxies:
        # Only the entries the trusted proxies appended are believed; anything a client wrote
        # into the same headers before them is ignored. The host is the Host header the proxy
        # passes on: X-Forwarded-Host is not read, as a proxy that does not set it would let a
        # client's own value through.
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0
        )
    app.extensions["pathfinder_engine"] = engine
    app.extensions["pathfinder_settings"] = settings

    from web import api, auth, guards, headers, health, i18n, inputs, oidc, timing
    from web import pages as views
    from web.pages import account as account_views
    from web.pages import audit as audit_views
    from web.pages import modeler as modeler_views
    from web.pages import notifications as notifications_views

    timing.init_app(app)  # first: the clock starts before any other hook runs
    inputs.init_app(app)  # first: routes added later use its bounded `int` converter
    guards.init_app(app)
    headers.init_app(app)
    i18n.init_app(app)

    auth.init_app(app)
    oidc.init_app(app, settings.oidc_providers)
    app.register_blueprint(account_views.bp)
    views.init_app(app)
    app.register_blueprint(audit_views.bp)
    notifications_views.init_app(app)  # after auth: it exempts the unsubscribe view from CSRF
    api.init_app(app)
    modeler_views.init_app(app)
    health.init_app(app)
    return app
