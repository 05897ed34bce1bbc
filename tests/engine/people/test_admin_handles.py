"""`engine.users` and `engine.access`: the admin lists page and filter in the engine, and the
engine refuses what only an admin may do, whoever calls it (pages, API, CLI)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import Actor, Engine, Forbidden, InvalidData, NotFound

ADMIN = Actor("ada", ["admin"])


def _people(engine: Engine) -> None:
    engine.people.create("ada", "correct horse", ["admin"], email="ada@example.org")
    engine.people.create("nima", "correct horse", ["country"], country="NPL")
    engine.people.create("kofi", "correct horse", ["country"], country="KEN")
    engine.people.create("sam", "correct horse", ["secretariat"], display_name="Sam Rivera")


def test_the_users_list_filters_by_text_role_and_state(engine: Engine) -> None:
    _people(engine)
    engine.users.set_active(engine.people.by_username("kofi").id, False, actor=ADMIN)  # type: ignore[union-attr]

    def names(**filters: str) -> list[str]:
        return [p.username for p in engine.users.page(**filters).items]

    assert names() == ["ada", "nima", "sam", "kofi"]  # active first, then by name
    assert names(q="RIVERA") == ["sam"]
    assert names(q="npl") == ["nima"]
    assert names(role="country") == ["nima", "kofi"]
    assert names(role="country", state="active") == ["nima"]
    assert names(state="inactive") == ["kofi"]
    assert engine.users.page(number=2).items == []
    assert engine.users.page().total == 4


def test_only_admins_change_accounts_and_never_lock_themselves_out(engine: Engine) -> None:
    _people(engine)
    ada = engine.people.by_username("ada")
    sam = engine.people.by_username("sam")
    assert ada is not None and sam is not None
    secretariat = Actor("sam", ["secretariat"])
    with pytest.raises(Forbidden):
        engine.users.set_active(ada.id, False, actor=secretariat)
    with pytest.raises(Forbidden):
        engine.users.reset_password(ada.id, "a new secret", actor=secretariat)
    with pytest.raises(Forbidden):
        engine.users.create("eve", "correct horse", ["admin"], actor=secretariat)
    with pytest.raises(Forbidden):
        engine.users.set_active(ada.id, False, actor=ADMIN)  # oneself
    with pytest.raises(InvalidData) as refused:
        engine.users.update(
            ada.id, actor=ADMIN, roles=["secretariat"], country=None, email=None, display_name=None
        )
    assert "roles" in refused.value.errors
    assert engine.users.get(ada.id).roles == ("admin",)
    changed = engine.users.update(
        sam.id, actor=ADMIN, roles=["chair"], country=None, email="s@example.org", display_name=None
    )
    assert (changed.roles, changed.email) == (("chair",), "s@example.org")
    with pytest.raises(NotFound):
        engine.users.get(9999)


def test_every_users_tokens_page_by_state_on_the_wall_clock(engine: Engine) -> None:
    _people(engine)
    nima = engine.people.by_username("nima")
    sam = engine.people.by_username("sam")
    assert nima is not None and sam is not None
    engine.tokens.create(nima.id, "laptop", 30)
    revoked, _ = engine.tokens.create(sam.id, "old script", 30)
    engine.users.revoke_token(revoked.id, actor=ADMIN)
    with pytest.raises(Forbidden):
        engine.users.revoke_token(revoked.id, actor=Actor("nima", ["country"], "NPL"))

    def rows(**filters: str) -> list[tuple[str, str, str]]:
        return [(t.username, t.name, t.state) for t in engine.users.tokens_page(**filters).items]

    assert rows() == [("sam", "old script", "revoked"), ("nima", "laptop", "active")]
    assert rows(state="active") == [("nima", "laptop", "active")]
    assert rows(user="SA") == [("sam", "old script", "revoked")]
    assert engine.users.token(revoked.id).state == "revoked"
    with pytest.raises(NotFound):
        engine.users.token(9999)


def test_an_expired_token_lists_as_expired(engine: Engine) -> None:
    _people(engine)
    nima = engine.people.by_username("nima")
    assert nima is not None
    view, _ = engine.tokens.create(nima.id, "short", 1)
    later = engine.wall_clock.now() + timedelta(days=2)

    class Later:
        def now(self):  # type: ignore[no-untyped-def]
            return later

    engine.wall_clock = Later()  # type: ignore[assignment]
    assert engine.users.token(view.id).state == "expired"
    assert [t.name for t in engine.users.tokens_page(state="expired").items] == ["short"]
    assert engine.users.tokens_page(state="active").items == []


def test_claim_mappings_page_filter_and_need_an_admin(engine: Engine) -> None:
    for value, role, country in (
        ("pathfinder-secretariat", "secretariat", None),
        ("focal-npl", "country", "NPL"),
        ("focal-ken", "country", "KEN"),
    ):
        engine.access.add_mapping(
            provider="corp",
            claim_value=value,
            role=role,
            country=country or "",
            providers=["corp"],
            actor=ADMIN,
        )
    with pytest.raises(Forbidden):
        engine.access.add_mapping(
            provider="corp",
            claim_value="x",
            role="admin",
            country="",
            providers=["corp"],
            actor=Actor("olu", ["process_owner"]),
        )

    def values(**filters: str) -> list[str]:
        return [m.claim_value for m in engine.access.mappings_page(**filters).items]

    assert values() == ["focal-ken", "focal-npl", "pathfinder-secretariat"]
    assert values(role="country") == ["focal-ken", "focal-npl"]
    assert values(q="npl") == ["focal-npl"]
    assert values(provider="other") == []
    first = engine.access.mappings_page().items[0]
    assert engine.access.mapping(first.id).country == "KEN"
    engine.access.delete_mapping(first.id, actor=ADMIN)
    with pytest.raises(NotFound):
        engine.access.mapping(first.id)
