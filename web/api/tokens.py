"""`/auth`: exchange a username and password for a bearer token; list and revoke your tokens."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_babel import gettext as _

from engine import TokenView, TooManyAttempts
from web.api.auth import allowed_read_only, current_caller, get_engine, public
from web.api.blueprint import ID, ApiBlueprint
from web.api.errors import ApiError, unauthorized
from web.api.schemas import MeSchema, NewTokenSchema, TokenRequestSchema, TokenSchema
from web.i18n import error_text, error_title

blp = ApiBlueprint(
    "auth", __name__, url_prefix="/auth", tag="Auth", description="Tokens and the caller."
)


def _token_dict(row: TokenView) -> dict[str, Any]:
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
    try:
        issued = get_engine().tokens.issue(
            args["username"],
            args["password"],
            args["name"],
            args["expires_in_days"],
            remote_addr=request.remote_addr,
        )
    except TooManyAttempts as exc:
        raise ApiError(
            429,
            error_title(exc),
            error_text(exc),
            {"Retry-After": str(exc.details.get("retry_after", 1))},
        ) from exc
    if issued is None:
        raise unauthorized(_("Unknown username or wrong password."))
    row, plain = issued
    return {**_token_dict(row), "token": plain, "token_type": "Bearer"}


@blp.route("/tokens")
@blp.response(200, TokenSchema(many=True))
def list_tokens() -> list[dict[str, Any]]:
    """List your tokens (revoked and expired ones included)"""
    caller = current_caller()
    return [_token_dict(t) for t in get_engine().tokens.of_user(caller.user_id)]


@blp.route(f"/tokens/<{ID}:token_id>", methods=["DELETE"])
@allowed_read_only
@blp.response(204)
@blp.alt_response(404, response="Problem404")
def revoke_token(token_id: int) -> None:
    """Revoke one of your tokens"""
    caller = current_caller()
    get_engine().tokens.revoke(caller.user_id, token_id)


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
