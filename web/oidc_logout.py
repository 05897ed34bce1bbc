"""OpenID Connect Back-Channel Logout 1.0: a provider tells Pathfinder, server to server, that a
person signed out there, and the sessions it opened for them end (docs/security.md, Sessions).

The provider posts a signed logout token; it carries no cookie and no CSRF token, so the token's
signature (the provider's published keys), issuer, audience, age and event are the whole proof.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import requests
from flask import Blueprint, Flask, request
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from werkzeug.wrappers import Response

from engine import OidcProvider
from web.auth import the_engine
from web.oidc import Refused, checked_metadata, client_for

log = logging.getLogger("pathfinder.web.oidc")
bp = Blueprint("oidc_logout", __name__)

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_LOGOUT_TOKEN = 16 * 1024
"""Characters of a logout token we read at most (a real one is under 2,000)."""
KEYS_REFETCH_SECONDS = 60.0
"""A logout token naming a key we do not know makes us fetch the provider's keys again at
most this often, so that tokens with made-up key ids cannot make us call the provider."""
_refetched: dict[str, float] = {}
_refetch_lock = threading.Lock()


@bp.post("/login/oidc/<name>/backchannel-logout")
def backchannel_logout(name: str) -> Response:
    """OpenID Connect Back-Channel Logout 1.0: the provider tells us, server to server, that a
    person signed out there; we end the sessions it opened for them. No cookie and no CSRF
    token: the logout token's signature, issuer and audience are the proof."""
    provider, client = client_for(name)
    try:
        claims = _logout_claims(provider, client, request.form.get("logout_token", ""))
    except Refused as refused:
        log.warning("back-channel logout from %s refused: %s", provider.name, refused.reason)
        status = 503 if refused.status == 502 else 400
        return _no_store(status, {"error": "invalid_request", "error_description": refused.reason})
    ended = the_engine().people.end_provider_sessions(
        provider.name, claims["iss"], claims.get("sub"), claims.get("sid")
    )
    log.info("back-channel logout from %s ended %d session(s)", provider.name, ended)
    return _no_store(200, None)


def _no_store(status: int, body: dict[str, str] | None) -> Response:
    return Response(
        json.dumps(body) if body is not None else "",
        status=status,
        mimetype="application/json" if body is not None else None,
        headers={"Cache-Control": "no-store"},
    )


def _logout_claims(provider: OidcProvider, client: Any, raw: str) -> dict[str, Any]:
    """The claims of a logout token, verified as the specification asks (section 2.6):
    signature by the provider's keys, `iss`, `aud`, `iat`, the back-channel event, a `sid` or
    a `sub`, and no `nonce`. `Refused` with the reason for anything else."""
    if not raw:
        raise Refused("no logout_token in the request", "")
    if len(raw) > MAX_LOGOUT_TOKEN:
        raise Refused(f"logout_token longer than {MAX_LOGOUT_TOKEN} characters", "")
    metadata = checked_metadata(provider, client)
    registry = JWSRegistry(
        algorithms=metadata.get("id_token_signing_alg_values_supported"),
        strict_check_header=False,
    )
    try:
        try:
            token = jwt.decode(
                raw, KeySet.import_key_set(client.fetch_jwk_set()), registry=registry
            )
        except InvalidKeyIdError:
            if not _may_refetch(provider.name):
                raise
            keys = KeySet.import_key_set(client.fetch_jwk_set(force=True))
            token = jwt.decode(raw, keys, registry=registry)
        jwt.JWTClaimsRegistry(
            leeway=provider.leeway_seconds,
            iss={"essential": True, "value": metadata["issuer"]},
            aud={"essential": True, "value": provider.client_id},
            iat={"essential": True},
        ).validate(token.claims)
    except (JoseError, ValueError) as err:
        raise Refused(f"logout token rejected: {type(err).__name__}: {err}", "") from err
    except requests.RequestException as err:
        raise Refused(
            f"the provider's keys could not be read: {type(err).__name__}", "", 502
        ) from err
    claims = dict(token.claims)
    events = claims.get("events")
    if not isinstance(events, dict) or BACKCHANNEL_EVENT not in events:
        raise Refused("logout token without the back-channel logout event", "")
    if "nonce" in claims:
        raise Refused("logout token carries a nonce", "")
    for key in ("sub", "sid"):
        if key in claims and not isinstance(claims[key], str):
            raise Refused(f"logout token's {key} is not a string", "")
    if not claims.get("sub") and not claims.get("sid"):
        raise Refused("logout token names neither a sub nor a sid", "")
    return claims


def _may_refetch(name: str) -> bool:
    with _refetch_lock:
        now = time.monotonic()
        if now - _refetched.get(name, -KEYS_REFETCH_SECONDS) < KEYS_REFETCH_SECONDS:
            return False
        _refetched[name] = now
        return True


def init_app(app: Flask) -> None:
    """Register the back-channel logout route, exempt from CSRF (a provider's server posts it)."""
    app.register_blueprint(bp)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(backchannel_logout)
