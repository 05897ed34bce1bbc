"""Sign-in, sessions, roles and CSRF for the web app.

Every sign-in method (the password form, and any added later such as OIDC) ends in `sign_in(user)`,
which opens a server-side session (`engine.sessions`); its random token is what flask-login keeps
in the cookie. Each request checks that session: logout (`sign_out()`), a password reset,
deactivation and the idle/absolute timeouts end it, so a copied cookie stops working.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect
from itsdangerous import URLSafeTimedSerializer
from werkzeug.wrappers import Response

from engine import Actor, Engine, Person, ProviderSession, TooManyAttempts
from web.i18n import error_text

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("pathfinder.web")
bp = Blueprint("auth", __name__)


class WebUser(UserMixin):  # type: ignore[misc]
    """The signed-in person as flask-login sees them (from the engine's `Person`)."""

    def __init__(self, person: Person, token: str = "") -> None:
        self.user_id = person.id
        self.username = person.username
        self.display_name = person.display_name or person.username
        self.roles = list(person.roles)
        self.country = person.country
        self.locale = person.locale
        self.actor: Actor = person.actor
        self.token = token
        # Also part of the id: a changed password ends sessions even when set outside the engine.
        self._stamp = person.stamp

    def get_id(self) -> str:
        return f"{self.token}:{self._stamp}"

    def has(self, *roles: str) -> bool:
        return self.actor.has(*roles)


def the_engine() -> Engine:
    """The engine this app drives."""
    return cast(Engine, current_app.extensions["pathfinder_engine"])


def current_actor() -> Actor:
    """The engine identity of the signed-in user (call only behind `login_required`)."""
    return cast(WebUser, current_user).actor


def credential_now() -> datetime:
    """Wall-clock time for sessions: a simulated (virtual) clock must not end or revive them."""
    return the_engine().wall_clock.now()


def _load_user(user_id: str) -> WebUser | None:
    token, _sep, stamp = user_id.rpartition(":")
    person = the_engine().people.check_session(token)
    if person is not None and person.stamp == stamp:
        return WebUser(person, token)
    return None


def sign_in(person: Person, provider: ProviderSession | None = None) -> None:
    """Open a server-side session for `person` and sign them in: the one entry point every
    sign-in method calls once it has established who the user is (`provider`: who an OpenID
    provider signed in, so that its back-channel logout can end the session)."""
    opened = the_engine().people.open_session(person.id, provider)
    if opened is None:
        abort(403)
    fresh, token = opened
    session.pop("oidc_provider", None)
    login_user(WebUser(fresh, token))


def sign_out() -> None:
    """End the current session on the server and clear the cookie."""
    if current_user.is_authenticated:
        token = cast(WebUser, current_user).token
        the_engine().people.end_session(token, "logout")
    logout_user()
    session.pop("oidc_provider", None)


def login_required(view: F) -> F:
    """Send anonymous visitors to the sign-in page."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
        return view(*args, **kwargs)

    return cast(F, wrapped)


def roles_required(*roles: str) -> Callable[[F], F]:
    """Signed-in users holding any of `roles` pass; others get 403."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
            if not current_actor().has(*roles):
                abort(403)
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorate


def safe_next(target: str | None) -> str:
    """Only same-site paths may be redirect targets (no open redirects)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and "\\" not in target:
            return target
    return url_for("tasks.inbox")


def _login_page(status: int = 200, **context: Any) -> tuple[str, int]:
    from web.oidc import providers

    settings = current_app.extensions["pathfinder_settings"]
    page = render_template(
        "login.html",
        providers=list(providers().values()),
        password_login=settings.password_login,
        username=context.pop("username", ""),
        error=context.pop("error", None),
        **context,
    )
    return page, status


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int] | tuple[str, int, dict[str, str]]:
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request.args.get("next")))
    username = request.form.get("username", "").strip()
    if request.method == "GET":
        return _login_page(username=username)
    if not current_app.extensions["pathfinder_settings"].password_login:
        return _login_page(403, error=_("Sign-in with a password is turned off here."))
    try:
        person = the_engine().people.sign_in(
            username,
            request.form.get("password", ""),
            remote_addr=request.remote_addr,
            method="password",
        )
    except TooManyAttempts as err:
        error = _(
            "%(message)s Or ask an administrator to reset your password.", message=error_text(err)
        )
        page, status = _login_page(429, error=error, username=username)
        return page, status, {"Retry-After": str(err.details.get("retry_after", 1))}
    if person is None:
        return _login_page(401, error=_("Unknown username or wrong password."), username=username)
    sign_in(person)
    return redirect(safe_next(request.args.get("next")))


@bp.post("/logout")
def logout() -> str | Response:
    from web.oidc import end_session_url

    provider = session.get("oidc_provider")
    sign_out()
    end_session = end_session_url(provider) if provider else None
    if end_session:
        return render_template("signed_out.html", end_session=end_session)
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed session cookie, with its signing serializer made once per secret key:
    Flask makes a new one on every request, cookie or not (an API call with a token too)."""

    def __init__(self) -> None:
        self._signing: tuple[tuple[Any, ...], URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """The serializer for the app's current keys (made again when they change)."""
        keys = (app.secret_key, *(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        signing = self._signing
        if signing is None or signing[0] != keys:
            signing = self._signing = (keys, super().get_signing_serializer(app))
        return signing[1]


def init_app(app: Flask) -> None:
    """Register sign-in, CSRF protection and the user loader on `app`."""
    app.session_interface = CookieSessions()
    csrf = CSRFProtect(app)
    app.extensions["csrf"] = csrf
    app.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    app.config.setdefault("REMEMBER_COOKIE_SAMESITE", "Lax")
    manager = LoginManager(app)
    manager.login_view = "auth.login"
    manager.login_message = _("Please sign in to continue.")
    manager.login_message_category = "info"
    manager.session_protection = "basic"
    manager.user_loader(_load_user)
    app.register_blueprint(bp)
