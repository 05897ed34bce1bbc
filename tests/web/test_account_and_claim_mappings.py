"""The self-service API-token page and the admin page of sign-in claim mappings."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from flask import Flask

from engine import Engine, Settings, VirtualClock
from engine.config import OidcProvider
from tests.web.conftest import Web
from web import create_app


def test_anyone_signed_in_creates_and_revokes_their_own_api_tokens(
    login: Callable[[str], Web],
) -> None:
    web = login("nima")
    page = web.post("/account/api-tokens", {"name": "nightly export", "expires_in_days": "30"})
    assert page.status_code == 201
    token = re.search(r"(pf_[A-Za-z0-9_-]+)", page.get_data(as_text=True)).group(1)
    api = web.client.application.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/auth/me", headers=auth).get_json()["username"] == "nima"

    listing = web.html("/account/api-tokens")
    assert "nightly export" in listing and token not in listing  # shown once only
    revoke = re.search(r'href="(/account/api-tokens/\d+/revoke)"', listing).group(1)
    assert "Yes, revoke" in web.html(revoke)  # asks first
    assert api.get("/api/v1/auth/me", headers=auth).status_code == 200
    web.post(revoke, {"confirm": "yes"})
    assert api.get("/api/v1/auth/me", headers=auth).status_code == 401
    assert "revoked" in web.html("/account/api-tokens")


def test_bad_token_input_is_refused_with_the_form_kept(login: Callable[[str], Web]) -> None:
    web = login("nima")
    page = web.post("/account/api-tokens", {"name": "kept name", "expires_in_days": "9999"})
    assert page.status_code == 422
    assert 'value="kept name"' in page.get_data(as_text=True)
    assert (
        web.post("/account/api-tokens", {"name": "x", "expires_in_days": "ten"}).status_code == 422
    )
    assert (
        web.post("/account/api-tokens", {"name": "mine", "expires_in_days": "5"}).status_code == 201
    )
    mine = re.search(r'href="/account/api-tokens/(\d+)/revoke"', web.html("/account/api-tokens"))
    # Another user's token is not found, not revoked.
    other = login("sam")
    assert other.get(f"/account/api-tokens/{mine.group(1)}/revoke").status_code == 404
    assert (
        other.post(f"/account/api-tokens/{mine.group(1)}/revoke", {"confirm": "yes"}).status_code
        == 404
    )


def _admin_web(deployed: Engine, settings: Settings, clock: VirtualClock) -> Web:
    provider = OidcProvider(name="corp", issuer="https://id.example.org", client_id="pf")
    app: Flask = create_app(
        replace(settings, oidc_providers=(provider,)),
        clock=clock,
        engine=deployed,
        config={"TESTING": True},
    )
    web = Web(app.test_client())
    assert web.login("ada").status_code == 302
    return web


def test_admin_maps_a_group_and_deletes_it_after_confirming(
    deployed: Engine, settings: Settings, clock: VirtualClock, users: object
) -> None:
    web = _admin_web(deployed, settings, clock)
    assert "Sign-in claim mappings" in web.html("/admin/users")
    form = {"provider": "corp", "claim_value": "pf-npl", "role": "country", "country": "npl"}
    assert web.post("/admin/claim-mappings", form).status_code == 302
    page = web.html("/admin/claim-mappings")
    assert "pf-npl" in page and "NPL" in page

    again = web.post("/admin/claim-mappings", form)
    assert again.status_code == 409 and "already mapped" in again.get_data(as_text=True)
    bad = web.post("/admin/claim-mappings", {**form, "claim_value": "x", "country": ""})
    assert bad.status_code == 422 and "Country users need" in bad.get_data(as_text=True)

    delete = re.search(r'href="(/admin/claim-mappings/\d+/delete)"', page).group(1)
    assert "Yes, delete" in web.html(delete)
    assert "pf-npl" in web.html("/admin/claim-mappings")  # nothing deleted by looking
    web.post(delete, {"confirm": "yes"})
    assert "No claim is mapped yet" in web.html("/admin/claim-mappings")
    assert web.get(delete).status_code == 404


def test_only_admins_edit_claim_mappings(login: Callable[[str], Web]) -> None:
    assert login("sam").get("/admin/claim-mappings").status_code == 403


def test_claim_mappings_are_filtered_and_paged(
    deployed: Engine, settings: Settings, clock: VirtualClock, users: object
) -> None:
    from engine import Actor

    for i in range(55):
        deployed.access.add_mapping(
            provider="corp",
            claim_value=f"group-{i:02d}",
            role="country" if i % 2 else "gcg",
            country="NPL" if i % 2 else "",
            providers=["corp"],
            actor=Actor("ada", ["admin"]),
        )
    web = _admin_web(deployed, settings, clock)
    first = web.html("/admin/claim-mappings")
    assert "Page 1 of 2" in first and "group-00" in first and "group-54" not in first
    second = web.html("/admin/claim-mappings?page=2")
    assert "group-54" in second and "group-00" not in second
    found = web.html("/admin/claim-mappings?q=GROUP-07")
    assert "group-07" in found and "group-08" not in found and "Page 1" not in found
    gcg = web.html("/admin/claim-mappings?role=gcg")
    assert "group-00" in gcg and "group-01" not in gcg
    assert "No mapping matches" in web.html("/admin/claim-mappings?q=nothing-like-this")
    assert web.html("/admin/claim-mappings?role=wizard&provider=nope&page=x")  # ignored
