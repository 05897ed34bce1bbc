"""Who is calling: a bearer token (engine.tokens) or the web session (flask-login).

Every API view needs a caller unless it is marked `@public`. Auditors are read-only: any
request that is not GET/HEAD/OPTIONS is refused for them, except on views marked
`@allowed_read_only` (managing their own tokens).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from flask import current_app, g, request
from flask_babel import gettext as _

from engine import Actor, Engine, Person
from web.api.errors import forbidden, unauthorized

F = TypeVar("F", bound=Callable[..., Any])
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_ONLY_ROLES = ("auditor",)


@dataclass(frozen=True)
class Caller:
    """The authenticated person behind a request."""

    user_id: int
    username: str
    display_name: str | None
    actor: Actor
    via: str
    """`token` or `session`."""

    @property
    def read_only(self) -> bool:
        return self.actor.has(*READ_ONLY_ROLES)


def public(view: F) -> F:
    """Mark a view that needs no authentication."""
    view.api_public = True  # type: ignore[attr-defined]
    return view


def allowed_read_only(view: F) -> F:
    """Mark a mutating view that read-only callers (auditors) may still use."""
    view.api_read_only_ok = True  # type: ignore[attr-defined]
    return view


def get_engine() -> Engine:
    engine: Engine = current_app.extensions["pathfinder_engine"]
    return engine


def real_now() -> datetime:
    """Wall-clock time for credentials: a simulated clock must not expire or revive tokens."""
    return get_engine().wall_clock.now()


def _caller_for(person: Person, via: str) -> Caller:
    return Caller(person.id, person.username, person.display_name, person.actor, via)


def _token_caller(header: str) -> Caller:
    scheme, _sep, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("Use `Authorization: Bearer <token>`.")
    person = get_engine().tokens.verify(token)
    if person is None:
        raise unauthorized(_("The token is invalid, expired or revoked."))
    return _caller_for(person, "token")


def _session_user() -> Any:
    if getattr(current_app, "login_manager", None) is None:
        return None
    from flask_login import current_user

    return current_user if current_user and current_user.is_authenticated else None


def _session_caller() -> Caller | None:
    signed_in = _session_user()
    if signed_in is None:
        return None
    username = getattr(signed_in, "username", None)
    people = get_engine().people
    if username is None:
        ident = str(signed_in.get_id())
        person = people.get(int(ident)) if ident.isdigit() else people.by_username(ident)
    else:
        person = people.by_username(username)
    if person is None or not person.active:
        return None
    caller = _caller_for(person, "session")
    if request.method not in SAFE_METHODS:
        _check_csrf()
    return caller


def _check_csrf() -> None:
    """A browser session changing data must prove it came from our pages (CSRF header)."""
    if current_app.extensions.get("csrf") is None:
        return
    from flask_wtf.csrf import validate_csrf
    from wtforms.validators import ValidationError

    try:
        validate_csrf(request.headers.get("X-CSRFToken") or request.headers.get("X-CSRF-Token"))
    except ValidationError as exc:
        raise forbidden(
            _(
                "Changes made with a browser session need the X-CSRFToken "
                "header; scripts should use a bearer token."
            )
        ) from exc


def authenticate_request() -> None:
    """`before_request` of the API blueprint: identify the caller, enforce auth and read-only."""
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "api_public", False):
        g.api_caller = None
        return
    header = request.headers.get("Authorization")
    caller = _token_caller(header) if header else _session_caller()
    if caller is None:
        raise unauthorized(
            _("Send `Authorization: Bearer <token>` (from POST /api/v1/auth/token) or sign in.")
        )
    g.api_caller = caller
    if (
        request.method not in SAFE_METHODS
        and caller.read_only
        and not getattr(view, "api_read_only_ok", False)
    ):
        raise forbidden(_("Auditors have read-only access."))


def current_caller() -> Caller:
    caller: Caller | None = g.get("api_caller")
    if caller is None:  # only reachable from a @public view
        raise unauthorized(_("Authentication required."))
    return caller


def current_actor() -> Actor:
    return current_caller().actor


def require_role(*roles: str) -> Actor:
    """The caller's actor, if it holds any of `roles` (admins always do); otherwise 403."""
    actor = current_actor()
    if not actor.has("admin", *roles):
        raise forbidden(
            _("This needs one of the roles: %(roles)s.", roles=", ".join(("admin", *roles)))
        )
    return actor
