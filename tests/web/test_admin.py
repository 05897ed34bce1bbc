"""Administration: users (add, edit, deactivate, reset password) and lane roles."""

from __future__ import annotations

from collections.abc import Callable

from engine import Engine
from engine.people import tokens
from engine.store.models import Instance, ProcessModel, User
from tests.web.conftest import Web, task_of, user_row


def test_admin_adds_a_country_user_who_can_then_sign_in(
    deployed: Engine, login: Callable[[str], Web]
) -> None:
    web = login("admin")
    assert "gus" in web.html("/admin/users")
    bad = web.post("/admin/users/new", {"username": "x y", "password": "short", "roles": "country"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "letters, digits" in text and "Country users need" in text
    assert "At least 8 characters" in text  # every error at once, not one round at a time
    ok = web.post(
        "/admin/users/new",
        [
            ("username", "ana"),
            ("password", "long-enough-1"),
            ("roles", "country"),
            ("country", "per"),
            ("display_name", "Ana Peru"),
        ],
    )
    assert ok.status_code == 302
    assert user_row(deployed, "ana").country == "PER"
    taken = web.post(
        "/admin/users/new", [("username", "ana"), ("password", "long-enough-1"), ("roles", "gcg")]
    )
    assert "already exists" in taken.get_data(as_text=True)
    web.post("/language", {"language": "fr", "next": "/admin/users"})
    again = web.post(
        "/admin/users/new", [("username", "ana"), ("password", "long-enough-1"), ("roles", "gcg")]
    )
    assert "Un utilisateur nommé « ana » existe déjà." in again.get_data(as_text=True)
    web.post("/language", {"language": "en", "next": "/admin/users"})
    web.logout()
    assert web.login("ana", "long-enough-1").status_code == 302


def test_admin_edits_roles_and_cannot_drop_their_own_admin_role(
    deployed: Engine, login: Callable[[str], Web]
) -> None:
    web = login("admin")
    gus = user_row(deployed, "gus")
    response = web.post(
        f"/admin/users/{gus.id}",
        [("roles", "gcg"), ("roles", "chair"), ("email", "gus@example.org")],
    )
    assert response.status_code == 302
    assert set(user_row(deployed, "gus").roles) == {"gcg", "chair"}
    me = user_row(deployed, "ada")
    response = web.post(f"/admin/users/{me.id}", [("roles", "gcg")])
    assert response.status_code == 422 and "own admin role" in response.get_data(as_text=True)


def test_deactivation_and_password_reset_ask_for_confirmation(
    deployed: Engine, login: Callable[[str], Web]
) -> None:
    web = login("admin")
    gus = user_row(deployed, "gus")
    assert "They will be signed out" in web.html(f"/admin/users/{gus.id}/deactivate")
    web.post(f"/admin/users/{gus.id}/deactivate")
    assert user_row(deployed, "gus").active  # no confirmation, no change
    web.post(f"/admin/users/{gus.id}/deactivate", {"confirm": "yes"})
    assert not user_row(deployed, "gus").active
    web.post(f"/admin/users/{gus.id}/activate", {"confirm": "yes"})
    assert user_row(deployed, "gus").active
    mismatch = web.post(
        f"/admin/users/{gus.id}/password", {"password": "new-password-1", "password_again": "other"}
    )
    assert mismatch.status_code == 422
    web.post(
        f"/admin/users/{gus.id}/password",
        {"password": "new-password-1", "password_again": "new-password-1"},
    )
    web.logout()
    assert web.login("gus", "new-password-1").status_code == 302
    ada = user_row(deployed, "ada")
    web = login("admin")
    web.post(f"/admin/users/{ada.id}/deactivate", {"confirm": "yes"})
    assert user_row(deployed, "ada").active  # not yourself


def test_lane_roles_can_be_changed_and_take_effect_in_the_inbox(
    deployed: Engine, make_case: Callable[..., Instance], login: Callable[[str], Web]
) -> None:
    case = make_case("NPL", "review_expression_of_interest")
    task = task_of(deployed, case, "review_expression_of_interest")
    web = login("process_owner")
    page = web.html("/admin/processes")
    assert "Secretariat" in page and "(from the lane name)" in page
    form = web.html("/admin/processes/pathfinder/lanes")
    assert 'for="lane-0"' in form
    with deployed.session() as s:
        lanes = s.query(ProcessModel).one().versions[-1].lanes
    chosen = {
        f"lane-{i}": (
            "gcg"
            if lane == "Secretariat"
            else "country"
            if lane == "Country"
            else "chair"
            if "Chair" in lane
            else "gcg"
        )
        for i, lane in enumerate(lanes)
    }
    assert web.post("/admin/processes/pathfinder/lanes", chosen).status_code == 302
    assert "(set here)" in web.html("/admin/processes")
    assert "(set here)" in web.html("/admin/processes?q=PATHF")
    assert "No process model matches" in web.html("/admin/processes?q=nothing-like-this")
    assert "Check the expression of interest" in login("gcg").html("/inbox")
    assert login("secretariat").get(f"/tasks/{task}").status_code == 403
    bad = login("admin").post("/admin/processes/pathfinder/lanes", {"lane-0": "wizard"})
    assert bad.status_code == 422


def test_users_and_tokens_lists_are_filtered_and_paged(
    deployed: Engine, login: Callable[[str], Web]
) -> None:
    with deployed.session() as s:
        for i in range(55):
            s.add(
                User(
                    username=f"bulk{i:02d}",
                    password_hash="x",
                    roles=["gcg"],
                    created_at=deployed.now(),
                )
            )
        s.commit()
        gus = s.query(User).filter_by(username="gus").one()
        for i in range(3):
            row, _ = tokens.create_token(s, gus, f"tok{i}", now=deployed.now())
        row.revoked_at = deployed.now()
        s.commit()
    web = login("admin")
    first = web.html("/admin/users")
    assert "Page 1 of 2" in first and 'rel="next"' in first
    found = web.html("/admin/users?q=BULK07")
    assert "bulk07" in found and "bulk08" not in found and "Page 1" not in found
    admins = web.html("/admin/users?role=admin")
    assert "ada" in admins and "bulk00" not in admins and "gus" not in admins
    assert "No user matches" in web.html("/admin/users?q=nobody-like-this")
    assert 'value="gcg" selected' in web.html("/admin/users?role=gcg")
    assert web.html("/admin/users?role=nonsense&page=x")  # ignored, not a 500
    listing = web.html("/admin/tokens?user=gus")
    assert listing.count('data-label="User">gus<') == 3
    revoked = web.html("/admin/tokens?state=revoked")
    assert revoked.count('data-label="User">gus<') == 1 and "tok2" in revoked
    assert "No token matches" in web.html("/admin/tokens?user=ada")
