"""Tasks over the API: who sees which, forms, claim/unclaim, drafts, completion and its refusals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient

pytest_plugins = ["tests.web.api_conftest"]

Auth = Callable[[str], dict[str, str]]
Problem = Callable[[Any, int], dict[str, Any]]
Start = Callable[..., dict[str, Any]]
REQUEST = {"title": "Workshop", "amount": 3, "contact": "fp@example.org"}


def _task_of(instance: dict[str, Any]) -> str:
    [task] = instance["open_tasks"]
    return str(task["id"])


def test_country_lane_tasks_with_their_form(
    api_client: FlaskClient, auth: Auth, start_review: Start
) -> None:
    start_review("NPL")
    start_review("KEN")
    page = api_client.get("/api/v1/tasks", headers=auth("country")).json
    assert (page["total"], page["page"], page["pages"]) == (1, 1, 1)
    [task] = page["items"]
    assert task["name"] == "fill" and task["country"] == "NPL" and task["lane"] == "Country"
    assert task["due_at"].startswith("2027-01-14")  # P10D from the test clock's start
    assert task["claimed_by"] is None and task["state"] == "ready"
    assert task["form"]["schema"]["required"] == ["title", "amount"]
    assert task["form"]["ui_schema"] == {}
    assert isinstance(task["instance_version"], int)

    # The Secretariat has no Country-lane tasks; admins act in every lane.
    assert api_client.get("/api/v1/tasks", headers=auth("secretariat")).json["total"] == 0
    assert api_client.get("/api/v1/tasks", headers=auth("admin")).json["total"] == 2
    assert api_client.get("/api/v1/tasks?country=KEN", headers=auth("admin")).json["total"] == 1
    assert api_client.get("/api/v1/tasks?overdue=true", headers=auth("admin")).json["total"] == 0
    assert (
        api_client.get("/api/v1/tasks?due_within_days=10", headers=auth("admin")).json["total"] == 2
    )
    assert (
        api_client.get("/api/v1/tasks?lane=Secretariat", headers=auth("admin")).json["total"] == 0
    )


def test_get_task_and_its_visibility(
    api_client: FlaskClient, auth: Auth, problem: Problem, start_review: Start
) -> None:
    task_id = _task_of(start_review("KEN"))
    assert (
        api_client.get(f"/api/v1/tasks/{task_id}", headers=auth("other_country")).json["id"]
        == task_id
    )
    assert api_client.get(f"/api/v1/tasks/{task_id}", headers=auth("auditor")).status_code == 200
    problem(api_client.get(f"/api/v1/tasks/{task_id}", headers=auth("country")), 404)
    problem(
        api_client.get("/api/v1/tasks/00000000-0000-4000-8000-000000000000", headers=auth("admin")),
        404,
    )
    problem(api_client.get("/api/v1/tasks/not-a-uuid", headers=auth("admin")), 404)


def test_claim_and_unclaim(
    api_client: FlaskClient, auth: Auth, problem: Problem, start_review: Start
) -> None:
    task_id = _task_of(start_review("NPL"))
    url = f"/api/v1/tasks/{task_id}"
    claimed = api_client.post(f"{url}/claim", json={}, headers=auth("country"))
    assert claimed.status_code == 200 and claimed.json["claimed_by"] == "nima"
    mine = api_client.get("/api/v1/tasks?claimed_by=me", headers=auth("country")).json
    assert [t["id"] for t in mine["items"]] == [task_id]

    problem(
        api_client.post(f"{url}/claim", json={}, headers=auth("secretariat")), 403
    )  # not their lane
    problem(
        api_client.post(f"{url}/claim", json={"assignee": "kofi"}, headers=auth("country")), 403
    )
    problem(api_client.post(f"{url}/claim", json={}, headers=auth("other_country")), 404)

    released = api_client.post(f"{url}/unclaim", headers=auth("country"))
    assert released.status_code == 200 and released.json["claimed_by"] is None
    assigned = api_client.post(f"{url}/claim", json={"assignee": "nima"}, headers=auth("admin"))
    assert assigned.json["claimed_by"] == "nima"
    problem(api_client.post(f"{url}/unclaim", headers=auth("chair")), 403)


def test_claimed_by_someone_else_is_409(
    api_client: FlaskClient,
    auth: Auth,
    problem: Problem,
    start_review: Start,
    engine: Any,
    api_users: Any,
) -> None:
    from engine.store.db import transaction
    from engine.store.models import User

    with transaction(engine.sessions) as session:
        session.get_one(User, api_users["other_country"]).country = "NPL"
    task_id = _task_of(start_review("NPL"))
    api_client.post(f"/api/v1/tasks/{task_id}/claim", json={}, headers=auth("country"))
    problem(
        api_client.post(f"/api/v1/tasks/{task_id}/claim", json={}, headers=auth("other_country")),
        409,
    )
    problem(
        api_client.post(
            f"/api/v1/tasks/{task_id}/complete",
            json={"data": REQUEST},
            headers=auth("other_country"),
        ),
        409,
    )


def test_draft_keeps_unvalidated_input(
    api_client: FlaskClient, auth: Auth, start_review: Start
) -> None:
    task_id = _task_of(start_review("NPL"))
    saved = api_client.put(
        f"/api/v1/tasks/{task_id}/draft",
        json={"data": {"amount": "three"}},
        headers=auth("country"),
    )
    assert saved.status_code == 200 and saved.json["draft"] == {"amount": "three"}


def test_complete_moves_the_instance_on(
    api_client: FlaskClient, auth: Auth, problem: Problem, start_review: Start
) -> None:
    instance = start_review("NPL")
    task_id = _task_of(instance)
    version = api_client.get(f"/api/v1/tasks/{task_id}", headers=auth("country")).json[
        "instance_version"
    ]
    done = api_client.post(
        f"/api/v1/tasks/{task_id}/complete",
        json={"data": REQUEST, "expected_version": version},
        headers=auth("country"),
    )
    assert done.status_code == 200, done.json
    assert done.json["data"]["title"] == "Workshop"
    [decide] = done.json["open_tasks"]
    assert decide["name"] == "decide" and decide["lane"] == "Secretariat"

    # Done already: 409 for everyone, including the Secretariat on the next task's lane check.
    body = problem(
        api_client.post(
            f"/api/v1/tasks/{task_id}/complete", json={"data": REQUEST}, headers=auth("country")
        ),
        409,
    )
    assert "no longer open" in body["detail"]
    problem(
        api_client.post(
            f"/api/v1/tasks/{decide['id']}/complete",
            json={"data": {"approved": True}},
            headers=auth("country"),
        ),
        403,
    )
    final = api_client.post(
        f"/api/v1/tasks/{decide['id']}/complete",
        json={"data": {"approved": True}},
        headers=auth("secretariat"),
    )
    assert final.json["status"] == "completed" and final.json["data"]["status"] == "approved"


def test_field_errors_are_keyed_by_path(
    api_client: FlaskClient, auth: Auth, problem: Problem, start_review: Start
) -> None:
    task_id = _task_of(start_review("NPL"))
    body = problem(
        api_client.post(
            f"/api/v1/tasks/{task_id}/complete",
            json={"data": {"amount": 0, "contact": "not-an-email"}},
            headers=auth("country"),
        ),
        422,
    )
    assert body["errors"] == {
        "title": "This field is required.",
        "amount": "Amount must be at least 1.",
        "contact": "Enter a valid email address.",
    }
    body = problem(
        api_client.post(
            f"/api/v1/tasks/{task_id}/complete", json={"data": []}, headers=auth("country")
        ),
        422,
    )
    assert "data" in body["errors"]


def test_field_errors_follow_accept_language(
    api_client: FlaskClient, auth: Auth, problem: Problem, start_review: Start
) -> None:
    task_id = _task_of(start_review("NPL"))

    def errors(lang: str) -> dict[str, str]:
        body = problem(
            api_client.post(
                f"/api/v1/tasks/{task_id}/complete",
                json={"data": {"amount": 0, "contact": "not-an-email"}},
                headers=auth("country") | {"Accept-Language": lang},
            ),
            422,
        )
        return dict(body["errors"])

    spanish = errors("es")
    assert spanish["amount"] == "Amount debe ser al menos 1."  # the form has no Spanish titles
    assert spanish["title"] == "Este campo es obligatorio."
    assert set(spanish) == set(errors("en")) == {"title", "amount", "contact"}
    assert errors("fr")["amount"].startswith("Amount doit")


def test_stale_expected_version_is_409(
    api_client: FlaskClient, auth: Auth, problem: Problem, start_review: Start
) -> None:
    task_id = _task_of(start_review("NPL"))
    version = api_client.get(f"/api/v1/tasks/{task_id}", headers=auth("country")).json[
        "instance_version"
    ]
    api_client.post(
        f"/api/v1/tasks/{task_id}/claim", json={}, headers=auth("country")
    )  # changes the instance
    body = problem(
        api_client.post(
            f"/api/v1/tasks/{task_id}/complete",
            json={"data": REQUEST, "expected_version": version},
            headers=auth("country"),
        ),
        409,
    )
    assert "changed" in body["detail"]


def test_suspended_instance_refuses_completion(
    api_client: FlaskClient, auth: Auth, problem: Problem, start_review: Start
) -> None:
    instance = start_review("NPL")
    api_client.post(f"/api/v1/instances/{instance['id']}/suspend", json={}, headers=auth("admin"))
    problem(
        api_client.post(
            f"/api/v1/tasks/{_task_of(instance)}/complete",
            json={"data": REQUEST},
            headers=auth("country"),
        ),
        409,
    )


def test_task_list_query_validation(api_client: FlaskClient, auth: Auth, problem: Problem) -> None:
    body = problem(
        api_client.get("/api/v1/tasks?sort=random&per_page=0", headers=auth("admin")), 422
    )
    assert {"sort", "per_page"} <= body["errors"].keys()


def test_completing_another_countrys_or_a_missing_task_answers_404(
    api_client: FlaskClient, auth: Auth, problem: Problem, start_review: Start
) -> None:
    task_id = _task_of(start_review("KEN"))
    body = {"data": {"title": "Workshop", "amount": 3, "contact": "fp@example.org"}}
    url = f"/api/v1/tasks/{task_id}/complete"
    refused = problem(api_client.post(url, json=body, headers=auth("country")), 404)
    assert refused["detail"] == f"Task {task_id} does not exist."
    missing = "/api/v1/tasks/00000000-0000-4000-8000-000000000000/complete"
    problem(api_client.post(missing, json=body, headers=auth("admin")), 404)
    # The Kenyan task is still open: the refusal changed nothing.
    assert api_client.get(f"/api/v1/tasks/{task_id}", headers=auth("admin")).json["state"] == (
        "ready"
    )
