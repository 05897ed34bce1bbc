"""Sign-in through OpenID Connect providers (Authlib's Flask client).

Authorization code flow with PKCE (S256); Authlib keeps state, nonce and code verifier in the
session and checks the state on return and the ID token's signature (the provider's JWKS),
audience, nonce, expiry and issuer. We also require the discovery document to name exactly the
configured issuer, and take e-mail, name and groups from the userinfo endpoint when the ID token
does not carry them. Who the person is in Pathfinder, and their roles, is the engine's business
(`engine.identities`).
"""

from __future__ import annotations

import json
import logging
from typing import Any, cast

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, abort, current_app, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from joserfc.errors import JoseError
from werkzeug.wrappers import Response

from engine import OidcProvider, ProviderSession
from web.auth import safe_next, sign_in, the_engine

log = logging.getLogger("pathfinder.web.oidc")
bp = Blueprint("oidc", __name__)

Page = str | Response | tuple[str, int]


def providers() -> dict[str, OidcProvider]:
    """The configured providers by name (empty when OpenID sign-in is not set up)."""
    return cast(dict[str, OidcProvider], current_app.extensions.get("pathfinder_oidc", {}))


def client_for(name: str) -> tuple[OidcProvider, Any]:
    provider = providers().get(name)
    if provider is None:
        abort(404)
    oauth = cast(OAuth, current_app.extensions["pathfinder_oauth"])
    return provider, oauth.create_client(name)


class Refused(Exception):
    def __init__(self, reason: str, message: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason, self.message, self.status = reason, message, status


def checked_metadata(provider: OidcProvider, client: Any) -> dict[str, Any]:
    """The provider's discovery document, checked to name the configured issuer."""
    try:
        metadata = cast(dict[str, Any], client.load_server_metadata())
    except (requests.RequestException, ValueError) as err:
        client.server_metadata = {}
        raise Refused(
            f"discovery failed: {type(err).__name__}",
            _(
                "%(button_label)s cannot be reached just now. Try again in a few minutes.",
                button_label=provider.button_label,
            ),
            502,
        ) from err
    if str(metadata.get("issuer", "")).rstrip("/") != provider.issuer:
        client.server_metadata = {}
        raise Refused(
            f"discovery names issuer {metadata.get('issuer')!r}",
            _(
                "%(button_label)s is not set up correctly (it names another "
                "issuer). Tell your administrator.",
                button_label=provider.button_label,
            ),
            502,
        )
    return metadata


def _refusal_page(provider: OidcProvider, refused: Refused) -> tuple[str, int]:
    the_engine().people.refuse(
        f"oidc:{provider.name}", refused.reason, remote_addr=request.remote_addr
    )
    log.warning("OpenID sign-in through %s refused: %s", provider.name, refused.reason)
    return render_template(
        "oidc_refused.html", provider=provider, message=refused.message
    ), refused.status


@bp.get("/login/oidc/<name>")
def start(name: str) -> Page:
    """Send the browser to the provider's authorization endpoint."""
    provider, client = client_for(name)
    try:
        checked_metadata(provider, client)
    except Refused as refused:
        return _refusal_page(provider, refused)
    session["oidc_next"] = safe_next(request.args.get("next"))
    redirect_uri = url_for("oidc.callback", name=name, _external=True)
    return cast(Response, client.authorize_redirect(redirect_uri))


@bp.get("/login/oidc/<name>/callback")
def callback(name: str) -> Page:
    """The provider sends the browser back here with a code; exchange and verify it."""
    provider, client = client_for(name)
    try:
        claims, issuer = _verified_claims(provider, client)
    except Refused as refused:
        return _refusal_page(provider, refused)
    user, refusal = the_engine().people.sign_in_external(
        provider=provider.name,
        issuer=issuer,
        claims=claims,
        roles_claim=provider.roles_claim,
        username_claim=provider.username_claim,
    )
    if refusal or user is None:
        page = render_template("oidc_refused.html", provider=provider, message=refusal)
        return page, 403
    target = session.pop("oidc_next", None) or url_for("tasks.inbox")
    sid = claims.get("sid")
    sign_in(
        user, ProviderSession(issuer, str(claims["sub"]), sid if isinstance(sid, str) else None)
    )
    session["oidc_provider"] = provider.name
    if not user.roles:
        return Response(status=302, headers={"Location": url_for("oidc.waiting")})
    return Response(status=302, headers={"Location": target})


def _verified_claims(provider: OidcProvider, client: Any) -> tuple[dict[str, Any], str]:
    """The ID token's claims (plus userinfo) and its issuer; `Refused` for anything wrong."""
    if request.args.get("error"):
        raise Refused(
            f"provider answered {request.args.get('error')}",
            _(
                "%(button_label)s did not sign you in (%(error)s).",
                button_label=provider.button_label,
                error=request.args.get("error_description") or request.args.get("error"),
            ),
        )
    metadata = checked_metadata(provider, client)
    try:
        token = client.authorize_access_token(
            claims_options={
                "iss": {"essential": True, "values": [metadata["issuer"]]},
                "exp": {"essential": True},
            },
            leeway=provider.leeway_seconds,
        )
    except MismatchingStateError as err:
        raise Refused(
            "state does not match",
            _(
                "This sign-in was not started from this browser, or was "
                "already used. Please start again."
            ),
        ) from err
    except OAuthError as err:
        raise Refused(
            f"token request refused: {err.error}",
            _(
                "%(button_label)s refused to complete the sign-in. Please start again.",
                button_label=provider.button_label,
            ),
        ) from err
    except JoseError as err:
        raise Refused(
            f"ID token rejected: {type(err).__name__}: {err}",
            _(
                "The identity token from %(button_label)s could not be "
                "verified (%(err)s). Please start again; if it keeps "
                "happening, tell your administrator.",
                button_label=provider.button_label,
                err=_explain(err),
            ),
        ) from err
    except requests.RequestException as err:
        raise Refused(
            f"token request failed: {type(err).__name__}",
            _(
                "%(button_label)s cannot be reached just now. Try again in a few minutes.",
                button_label=provider.button_label,
            ),
            502,
        ) from err
    claims = token.get("userinfo")
    if not claims or not claims.get("sub"):
        raise Refused(
            "no ID token",
            _(
                "%(button_label)s sent no identity token. Tell your administrator.",
                button_label=provider.button_label,
            ),
        )
    claims = _with_userinfo(provider, client, metadata, token, dict(claims))
    return _with_overage(provider, client, token, claims), metadata["issuer"]


MAX_GROUPS_BYTES = 4 * 1024 * 1024
"""Largest answer read from the groups URL (20,000 group ids are under 1 MB)."""


def _with_overage(
    provider: OidcProvider, client: Any, token: dict[str, Any], claims: dict[str, Any]
) -> dict[str, Any]:
    """The claims with the roles claim read from `groups_url` when the ID token says it did not
    fit (`_claim_names` names it: Entra's groups overage). `Refused` when it cannot be read:
    signing in without them would keep roles the person may have lost."""
    names = claims.get("_claim_names")
    if provider.roles_claim in claims or not (
        isinstance(names, dict) and provider.roles_claim in names
    ):
        return claims
    if not provider.groups_url:
        raise Refused(
            f"{provider.roles_claim} did not fit in the ID token and no groups URL is set",
            _(
                "Your account at %(button_label)s belongs to too many groups to fit in its "
                "sign-in token, and Pathfinder is not set up to read them. Tell your "
                "administrator.",
                button_label=provider.button_label,
            ),
            403,
        )
    try:
        answer = client.post(
            provider.groups_url,
            token=token,
            json={"securityEnabledOnly": False},
            timeout=15,
            stream=True,
        )
        answer.raise_for_status()
        body = answer.raw.read(MAX_GROUPS_BYTES + 1, decode_content=True)
        if len(body) > MAX_GROUPS_BYTES:
            raise ValueError(f"answer larger than {MAX_GROUPS_BYTES} bytes")
        values = json.loads(body).get("value")
        if not isinstance(values, list):
            raise ValueError("answer has no 'value' list")
    except (requests.RequestException, OAuthError, ValueError, AttributeError) as err:
        raise Refused(
            f"groups could not be read from {provider.groups_url}: {type(err).__name__}: {err}",
            _(
                "%(button_label)s signed you in, but your groups could not be read just now. "
                "Try again in a few minutes; if it keeps happening, tell your administrator.",
                button_label=provider.button_label,
            ),
            502,
        ) from err
    log.info(
        "%s: read %d %s values from the groups URL (overage)",
        provider.name,
        len(values),
        provider.roles_claim,
    )
    return {**claims, provider.roles_claim: values}


def _explain(err: JoseError) -> str:
    claim = getattr(err, "claim", None) or str(err)
    if "exp" in claim or "expired" in claim.lower():
        return "it has expired"
    if "iss" in claim:
        return "it was issued by another provider"
    if "nonce" in claim:
        return "it belongs to another sign-in"
    if "aud" in claim:
        return "it was issued for another application"
    return "its signature or contents are not valid"


def _with_userinfo(
    provider: OidcProvider,
    client: Any,
    metadata: dict[str, Any],
    token: dict[str, Any],
    claims: dict[str, Any],
) -> dict[str, Any]:
    """Add the userinfo endpoint's claims the ID token lacks (same `sub` required)."""
    if not metadata.get("userinfo_endpoint"):
        return claims
    try:
        extra = client.userinfo(token=token)
    except (requests.RequestException, OAuthError, ValueError):
        log.warning("userinfo of %s could not be read; using the ID token only", provider.name)
        return claims
    if extra.get("sub") != claims["sub"]:
        return claims
    return {**extra, **claims}


@bp.get("/welcome")
def waiting() -> Page:
    """Shown after a first sign-in that gave no roles yet."""
    if not current_user.is_authenticated:
        return Response(status=302, headers={"Location": url_for("auth.login")})
    return render_template("oidc_waiting.html")


def end_session_url(name: str | None) -> str | None:
    """Where to end the session at the provider the user signed in with, if it offers that."""
    provider = providers().get(name or "")
    if provider is None:
        return None
    oauth = cast(OAuth, current_app.extensions["pathfinder_oauth"])
    client = oauth.create_client(provider.name)
    try:
        metadata = checked_metadata(provider, client)
    except Refused:
        return None
    if not metadata.get("end_session_endpoint"):
        return None
    return cast(
        str,
        client.create_logout_url(
            post_logout_redirect_uri=url_for("auth.login", _external=True),
            client_id=provider.client_id,
        )["url"],
    )


def init_app(app: Flask, configured: tuple[OidcProvider, ...]) -> None:
    """Register the configured providers with Authlib and the sign-in routes."""
    oauth = OAuth(app)
    for provider in configured:
        oauth.register(
            name=provider.name,
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            server_metadata_url=f"{provider.issuer}/.well-known/openid-configuration",
            client_kwargs={
                "scope": " ".join(provider.scopes),
                "code_challenge_method": "S256",
                "timeout": 15,
            },
        )
    app.extensions["pathfinder_oauth"] = oauth
    app.extensions["pathfinder_oidc"] = {p.name: p for p in configured}
    app.register_blueprint(bp)
    from web import oidc_logout

    oidc_logout.init_app(app)
