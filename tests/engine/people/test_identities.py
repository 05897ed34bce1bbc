"""People from an OpenID provider: found by issuer + subject, roles from the claim mappings, a
deactivated account refused, every step on the system audit chain."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from engine import Conflict, Engine, InvalidData
from engine.people.accounts import authenticate, create_user, set_active
from engine.people.identities import add_mapping, delete_mapping, sign_in_external
from engine.store.db import transaction
from engine.store.models import AuditEvent, User

ISSUER = "https://login.example.org"


def _map(engine: Engine, value: str, role: str, country: str | None = None) -> int:
    with transaction(engine.sessions) as s:
        return add_mapping(
            s,
            provider="corp",
            claim_value=value,
            role=role,
            country=country,
            providers=["corp"],
            actor="ada",
            now=engine.now(),
        ).id


def _sign_in(engine: Engine, sub: str = "s-1", **claims: Any) -> tuple[str, list[str], str | None]:
    return _result(engine, sub, **claims)[:3]


def _result(engine: Engine, sub: str = "s-1", **claims: Any) -> tuple[Any, ...]:
    with transaction(engine.sessions) as s:
        result = sign_in_external(
            s,
            provider="corp",
            issuer=ISSUER,
            claims={"sub": sub, **claims},
            roles_claim="groups",
            username_claim="preferred_username",
            now=engine.now(),
        )
        user = result.user
        return user.username, list(user.roles), user.country, result.refusal


def _kinds(engine: Engine) -> list[str]:
    with engine.session() as s:
        return list(s.execute(select(AuditEvent.kind).order_by(AuditEvent.id)).scalars())


def test_first_sign_in_without_a_mapping_creates_a_user_with_no_roles(engine: Engine) -> None:
    assert _sign_in(engine, preferred_username="mia", groups=["nobody-mapped-this"]) == (
        "mia",
        [],
        None,
    )
    assert _kinds(engine)[-2:] == ["user_created", "user_signed_in"]
    with engine.session() as s:
        user = s.execute(select(User).where(User.username == "mia")).scalar_one()
        assert authenticate(s, "mia", "") is None  # no password can sign this user in
        assert authenticate(s, "mia", user.password_hash) is None


def test_mapped_groups_set_roles_and_country_at_every_sign_in(engine: Engine) -> None:
    _map(engine, "npl-focal", "country", "NPL")
    _map(engine, "gcg", "gcg")
    assert _sign_in(engine, groups=["npl-focal", "gcg", "other"])[1:] == (["gcg", "country"], "NPL")
    assert "user_roles_mapped" in _kinds(engine)

    # Left the GCG group at the provider: the role goes at the next sign-in.
    assert _sign_in(engine, groups=["npl-focal"])[1:] == (["country"], "NPL")
    # In no mapped group any more: roles stay as an admin left them.
    assert _sign_in(engine, groups=[])[1:] == (["country"], "NPL")


def test_the_same_subject_is_one_user_and_names_never_collide(engine: Engine) -> None:
    with transaction(engine.sessions) as s:
        create_user(s, "sam", "a-password-1", ["secretariat"], now=engine.now())
    first = _sign_in(engine, "sub-a", preferred_username="sam")[0]
    again = _sign_in(engine, "sub-a", preferred_username="renamed")[0]
    other = _sign_in(engine, "sub-b", preferred_username="sam")[0]
    assert first == again == "sam-2" and other == "sam-3"


def test_a_deactivated_user_is_refused_and_the_refusal_audited(engine: Engine) -> None:
    _sign_in(engine, preferred_username="gone")
    with transaction(engine.sessions) as s:
        user_id = s.execute(select(User.id).where(User.username == "gone")).scalar_one()
        set_active(s, user_id, False, actor="ada", now=engine.now())
    assert "deactivated" in _result(engine, preferred_username="gone")[3]
    with engine.session() as s:
        event = s.execute(
            select(AuditEvent).where(AuditEvent.kind == "sign_in_refused")
        ).scalar_one()
        assert event.data["reason"] == "account deactivated"


def test_mappings_are_checked_unique_and_audited(engine: Engine) -> None:
    with pytest.raises(InvalidData) as err, transaction(engine.sessions) as s:
        add_mapping(
            s,
            provider="elsewhere",
            claim_value=" ",
            role="king",
            country="Nepal",
            providers=["corp"],
            actor="ada",
            now=engine.now(),
        )
    assert set(err.value.errors) == {"provider", "claim_value", "role", "country"}
    mapping_id = _map(engine, "npl", "country", "npl")
    with pytest.raises(Conflict):
        _map(engine, "npl", "gcg")
    with transaction(engine.sessions) as s:
        delete_mapping(s, mapping_id, actor="ada", now=engine.now())
    assert _kinds(engine)[-2:] == ["claim_mapping_added", "claim_mapping_deleted"]


def test_providers_are_read_from_the_environment_and_bad_ones_stop_the_start() -> None:
    from engine import Settings

    env = {
        "PATHFINDER_OIDC_PROVIDERS": "Entra, keycloak",
        "PATHFINDER_OIDC_ENTRA_ISSUER": "https://login.microsoftonline.com/t-1/v2.0/",
        "PATHFINDER_OIDC_ENTRA_CLIENT_ID": "app-1",
        "PATHFINDER_OIDC_ENTRA_SCOPES": "email profile",
        "PATHFINDER_OIDC_KEYCLOAK_ISSUER": "https://sso.example/realms/gov",
        "PATHFINDER_OIDC_KEYCLOAK_CLIENT_ID": "pathfinder",
        "PATHFINDER_OIDC_KEYCLOAK_LABEL": "Ministry account",
        "PATHFINDER_PASSWORD_LOGIN": "0",
    }
    settings = Settings.from_env(env)
    entra, keycloak = settings.oidc_providers
    assert (entra.name, entra.issuer, entra.scopes) == (
        "entra",
        "https://login.microsoftonline.com/t-1/v2.0",
        ("openid", "email", "profile"),
    )
    assert (keycloak.button_label, entra.button_label) == ("Ministry account", "entra")
    assert settings.password_login is False
    assert Settings.from_env({}).oidc_providers == () and Settings.from_env({}).password_login
    with pytest.raises(ValueError, match="PATHFINDER_OIDC_KEYCLOAK_CLIENT_ID"):
        Settings.from_env({**env, "PATHFINDER_OIDC_KEYCLOAK_CLIENT_ID": ""})
