"""`/auth`: exchange a username and password for a bearer token; list and revoke your tokens."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_babel import gettext as _

from engine import tokens
from engine.accounts import sign_in
from engine.db import transaction
from engine.errors import TooManyAttempts
from engine.identities import audit_refusal
from engine.models import ApiToken, User
from web.api.auth import allowed_read_only, current_caller, get_engine, public, real_now
from web.api.blueprint import ID, ApiBlueprint
from web.api.errors import ApiError, unauthorized
from web.api.schemas import MeSchema, NewTokenSchema, TokenRequestSchema, TokenSchema

blp = ApiBlueprint(
    "auth", __name__, url_prefix="/auth", tag="Auth", description="Tokens and the caller."
)


def _token_dict(row: ApiToken) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "last_used_at": row.last_used_at,
        "revoked_at": row.revoked_at,
    }


@blp.route("/token", methods=["POST"])
@public
@blp.doc(security=[])
@blp.arguments(TokenRequestSchema)
@blp.response(201, NewTokenSchema)
@blp.problems(401, 403, 429)
def issue_token(args: dict[str, Any]) -> dict[str, Any]:
    """Get a bearer token

    The token is shown only in this response; store it. Send it as `Authorization: Bearer <token>`.
    Where passwords are turned off (single sign-on only), create tokens on the web page
    /account/api-tokens instead.
    """
    if not current_app.extensions["pathfinder_settings"].password_login:
        raise ApiError(
            403,
            _("Passwords are turned off"),
            _(
                "Sign-in with a password is turned off here. Sign in on the "
                "web and create a token on your API tokens page "
                "(/account/api-tokens)."
            ),
        )
    engine = get_engine()
    try:
        with transaction(engine.sessions) as session:
            user = sign_in(
                session,
                args["username"],
                args["password"],
                now=engine.now(),
                remote_addr=request.remote_addr,
                method="api-token-request",
            )
            if user is not None:
                row, plain = tokens.create_token(
                    session,
                    user,
                    args["name"],
                    now=real_now(),
                    lifetime_days=args["expires_in_days"],
                    max_days=engine.settings.token_max_days,
                )
                return {**_token_dict(row), "token": plain, "token_type": "Bearer"}
    except TooManyAttempts as exc:
        with transaction(engine.sessions) as session:
            audit_refusal(
                session,
                engine.now(),
                "api-token-request",
                "too many attempts",
                username=str(args["username"])[:150],
            )
        raise ApiError(
            429,
            exc.title,
            exc.message,
            {"Retry-After": str(exc.details.get("retry_after", 1))},
        ) from exc
    raise unauthorized(_("Unknown username or wrong password."))


@blp.route("/tokens")
@blp.response(200, TokenSchema(many=True))
def list_tokens() -> list[dict[str, Any]]:
    """List your tokens (revoked and expired ones included)"""
    caller = current_caller()
    with get_engine().session() as session:
        user = session.get_one(User, caller.user_id)
        return [_token_dict(t) for t in tokens.list_tokens(session, user)]


@blp.route(f"/tokens/<{ID}:token_id>", methods=["DELETE"])
@allowed_read_only
@blp.response(204)
@blp.alt_response(404, response="Problem404")
def revoke_token(token_id: int) -> None:
    """Revoke one of your tokens"""
    caller = current_caller()
    with transaction(get_engine().sessions) as session:
        user = session.get_one(User, caller.user_id)
        tokens.revoke_token(session, user, token_id, now=real_now())


@blp.route("/me")
@blp.response(200, MeSchema)
def me() -> dict[str, Any]:
    """Who you are to the API: roles, country, and whether you may change anything"""
    caller = current_caller()
    return {
        "username": caller.username,
        "display_name": caller.display_name,
        "roles": sorted(caller.actor.roles),
        "country": caller.actor.country,
        "read_only": caller.read_only,
        "auth": caller.via,
    }
