"""Sign-in, sessions, roles and CSRF for the web app.

flask-login keeps the signed-in user's id in the session cookie; every request reloads the
user row, so a deactivated account or a reset password ends existing sessions at once.
"""

from __future__ import annotations

from collections.abc import Callable
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
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect
from werkzeug.wrappers import Response

from engine import Actor, Engine, accounts, identities
from engine.accounts import actor_for
from engine.db import transaction
from engine.errors import TooManyAttempts
from engine.models import User

F = TypeVar("F", bound=Callable[..., Any])
bp = Blueprint("auth", __name__)


class WebUser(UserMixin):  # type: ignore[misc]
    """The signed-in person as flask-login sees them (a detached copy of the user row)."""

    def __init__(self, row: User) -> None:
        self.user_id = row.id
        self.username = row.username
        self.display_name = row.display_name or row.username
        self.roles = list(row.roles or [])
        self.country = row.country
        self.actor: Actor = actor_for(row)
        # Part of the session id: resetting the password signs out every other session.
        self._stamp = row.password_hash[-12:]

    def get_id(self) -> str:
        return f"{self.user_id}:{self._stamp}"

    def has(self, *roles: str) -> bool:
        return self.actor.has(*roles)


def the_engine() -> Engine:
    """The engine this app drives."""
    return cast(Engine, current_app.extensions["pathfinder_engine"])


def current_actor() -> Actor:
    """The engine identity of the signed-in user (call only behind `login_required`)."""
    return cast(WebUser, current_user).actor


def _load_user(user_id: str) -> WebUser | None:
    ident, _, stamp = user_id.partition(":")
    if not ident.isdigit():
        return None
    with the_engine().session() as s:
        row = s.get(User, int(ident))
        if row is None or not row.active or row.password_hash[-12:] != stamp:
            return None
        return WebUser(row)


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


def sign_in(user: WebUser) -> None:
    """Start a session for `user`: the one entry point of every way of signing in."""
    session.pop("oidc_provider", None)
    login_user(user)


def sign_out() -> None:
    """End the session (the CSRF token stays, so an open sign-in form still works)."""
    logout_user()
    session.pop("oidc_provider", None)


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
def login() -> str | Response | tuple[str, int]:
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request.args.get("next")))
    username = request.form.get("username", "").strip()
    if request.method == "GET":
        return _login_page(username=username)
    if not current_app.extensions["pathfinder_settings"].password_login:
        return _login_page(403, error="Sign-in with a password is turned off here.")
    engine = the_engine()
    try:
        with transaction(engine.sessions) as s:
            row = accounts.sign_in(
                s,
                username,
                request.form.get("password", ""),
                now=engine.now(),
                remote_addr=request.remote_addr,
            )
            user = WebUser(row) if row else None
    except TooManyAttempts as err:
        with transaction(engine.sessions) as s:
            identities.audit_refusal(
                s, engine.now(), "password", "too many attempts", username=username[:150]
            )
        error = f"{err.message} Or ask an administrator to reset your password."
        return _login_page(429, error=error, username=username)
    if user is None:
        return _login_page(401, error="Unknown username or wrong password.", username=username)
    sign_in(user)
    return redirect(safe_next(request.args.get("next")))


@bp.post("/logout")
def logout() -> str | Response:
    from web.oidc import end_session_url

    provider = session.get("oidc_provider")
    sign_out()
    end_session = end_session_url(provider) if provider else None
    if end_session:
        return render_template("signed_out.html", end_session=end_session)
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    """Register sign-in, CSRF protection and the user loader on `app`."""
    csrf = CSRFProtect(app)
    app.extensions["csrf"] = csrf
    app.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    app.config.setdefault("REMEMBER_COOKIE_SAMESITE", "Lax")
    manager = LoginManager(app)
    manager.login_view = "auth.login"
    manager.login_message = "Please sign in to continue."
    manager.login_message_category = "info"
    manager.session_protection = "basic"
    manager.user_loader(_load_user)
    app.register_blueprint(bp)
