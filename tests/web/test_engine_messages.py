"""Engine refusals (a task done already, claimed by someone else) read in the reader's language:
the engine raises a message id with parameters, the pages translate it by the user's language
and the API by `Accept-Language`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from engine import Engine
from engine.store.models import Instance
from tests.web.conftest import Web, task_of
from tests.web.test_tasks import EOI, GOOD

pytest_plugins = ["tests.web.api_conftest"]


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        (
            "fr",
            "« Soumettre la manifestation d&#39;intérêt » n&#39;est plus ouverte (état : terminé, par",
        ),
        ("es", "ya no está abierta (estado: terminado, por"),
    ],
)
def test_a_task_done_already_says_so_in_the_readers_language_on_the_page(
    deployed: Engine,
    make_case: Callable[..., Instance],
    login: Callable[[str], Web],
    lang: str,
    expected: str,
) -> None:
    case = make_case("NPL", EOI)
    task_id = task_of(deployed, case, EOI)
    web = login("country")
    web.post("/language", {"language": lang, "next": "/inbox"})
    assert web.post(f"/tasks/{task_id}", GOOD).status_code == 302
    again = web.post(f"/tasks/{task_id}", GOOD)  # e.g. a second tab, or the back button
    page = again.get_data(as_text=True)
    assert again.status_code == 409
    assert expected in page, page[page.find("<main") :][:2000]
    assert "is no longer open" not in page


def test_api_refusals_follow_accept_language(
    api_client: FlaskClient,
    auth: Callable[[str], dict[str, str]],
    problem: Callable[[Any, int], dict[str, Any]],
    start_review: Callable[..., dict[str, Any]],
    engine: Engine,
    api_users: Any,
) -> None:
    from engine.store.db import transaction
    from engine.store.models import User

    with transaction(engine.sessions) as session:
        session.get_one(User, api_users["other_country"]).country = "NPL"
    [task] = start_review("NPL")["open_tasks"]
    url = f"/api/v1/tasks/{task['id']}/claim"
    api_client.post(url, json={}, headers=auth("country"))
    holder = api_client.get("/api/v1/tasks/" + task["id"], headers=auth("country")).json[
        "claimed_by"
    ]

    def refused(lang: str) -> dict[str, Any]:
        headers = auth("other_country") | {"Accept-Language": lang}
        return problem(api_client.post(url, json={}, headers=headers), 409)

    english, french, spanish = refused("en"), refused("fr"), refused("es")
    assert english["detail"] == f"'Fill in request' is already claimed by {holder}."
    assert english["title"] == "Changed by someone else"
    assert french["detail"] == f"« Fill in request » est déjà pris en charge par {holder}."
    assert french["title"] == "Modifié par quelqu'un d'autre"
    assert spanish["detail"] == f"«Fill in request» ya está asignada a {holder}."
    # the machine-readable parts stay the same in every language
    assert english["type"] == french["type"] == spanish["type"]
    assert english["task_id"] == spanish["task_id"] == task["id"]
