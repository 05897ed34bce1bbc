"""Web-side findings of the outside attack (issue 14): stored files cannot run in our origin,
every response carries security headers, out-of-range integers and hostile JSON answer 4xx
(never 500), and another country's case looks exactly like a missing one."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from engine import Engine, Settings
from engine.store.models import Instance
from tests.web.conftest import Web, task_of
from web import create_app

pytest_plugins = ["tests.web.api_conftest"]

HUGE = "99999999999999999999"


@pytest.fixture
def case(make_case: Callable[..., Instance]) -> Instance:
    return make_case("NPL", "submit_expression_of_interest")


def _assert_inert(response, route: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, route
    assert response.headers["X-Content-Type-Options"] == "nosniff", route
    csp = response.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp, route
    inline_text = response.mimetype == "text/plain"
    download = response.headers.get("Content-Disposition", "").startswith("attachment")
    assert inline_text or download, (route, response.mimetype)


def test_every_route_serving_a_stored_file_makes_it_inert(
    login: Callable[[str], Web], case: Instance
) -> None:
    web = login("admin")
    routes = [
        f"/instances/{case.id}/diagram.bpmn",
        f"/audit/versions/{case.process_version_id}/diagram.bpmn",
        "/modeler/pathfinder/versions/1/files/pathfinder.bpmn",
        "/modeler/pathfinder/versions/1/files/pathfinder.bpmn?download=1",
        "/modeler/pathfinder/versions/1/files/register_approach.schema.json",
        "/modeler/pathfinder/versions/1/bundle.zip",
        f"/audit/instances/{case.id}/export.csv",
        f"/audit/instances/{case.id}/export.json",
        "/audit/export.csv",
    ]
    for route in routes:
        _assert_inert(web.get(route), route)


def test_pages_and_api_answers_carry_security_headers(login: Callable[[str], Web]) -> None:
    web = login("admin")
    for route in ["/inbox", "/login", "/modeler/", "/api/v1/openapi.json", "/static/app.css"]:
        response = web.get(route)
        csp = response.headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("style-src")[0]
        assert "frame-ancestors 'none'" in csp, route
        assert response.headers["X-Content-Type-Options"] == "nosniff", route
        assert response.headers["Referrer-Policy"] == "same-origin", route


def test_templates_hold_no_inline_script() -> None:
    from tests.conftest import ROOT

    for path in (ROOT / "web" / "templates").rglob("*.html"):
        text = path.read_text()
        assert "<script>" not in text and "<script " not in text.replace("<script src=", ""), path
        assert " onclick=" not in text and " onsubmit=" not in text and " onchange=" not in text


def test_session_cookie_is_secure_by_default(
    deployed: Engine,
    settings: Settings,
    clock,
    users,
    web: Web,  # type: ignore[no-untyped-def]
) -> None:
    response = web.login("ada")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie
    assert Settings.from_env({}).secure_cookies
    assert not Settings.from_env({"PATHFINDER_SECURE_COOKIES": "0"}).secure_cookies
    local = create_app(
        Settings.from_env(
            {"PATHFINDER_SECURE_COOKIES": "0", "DATABASE_URL": settings.database_url}
        ),
        clock=clock,
        engine=deployed,
    )
    assert local.config["SESSION_COOKIE_SECURE"] is False


def test_out_of_range_integers_in_routes_and_queries_answer_4xx(
    login: Callable[[str], Web], case: Instance
) -> None:
    web = login("admin")
    not_found = [
        f"/instances/{HUGE}",
        f"/instances/{HUGE}/diagram.bpmn",
        f"/audit/instances/{HUGE}",
        f"/audit/instances/{HUGE}/export.csv",
        f"/audit/versions/{HUGE}/diagram.bpmn",
        f"/admin/users/{HUGE}",
        f"/admin/users/{HUGE}/password",
        f"/modeler/pathfinder/versions/{HUGE}/files/pathfinder.bpmn",
    ]
    for route in not_found:
        assert web.get(route).status_code == 404, route
    fine = [
        f"/instances?page={HUGE}",
        f"/inbox?page={HUGE}",
        f"/inbox?due={HUGE}",
        f"/audit?page={HUGE}&instance={HUGE}",
        "/audit?until=9999-12-31",
        f"/modeler/pathfinder/diff?from={HUGE}",
        f"/modeler/pathfinder/diff.json?from={HUGE}",
        f"/modeler/pathfinder/edit?version={HUGE}",
    ]
    for route in fine:
        status = web.get(route).status_code
        assert status in (200, 404, 422), (route, status)


def _post_json(web: Web, url: str, body: str):  # type: ignore[no-untyped-def]
    if web.token is None:
        web.get("/inbox")
    return web.client.post(
        url, data=body, content_type="application/json", headers={"X-CSRFToken": web.token or ""}
    )


def test_modeler_validate_refuses_a_version_that_is_not_a_number(
    login: Callable[[str], Web],
) -> None:
    web = login("process_owner")
    for version in ("abc", HUGE, -5):
        body = json.dumps({"xml": "<x/>", "process_key": "pathfinder", "version": version})
        assert _post_json(web, "/modeler/validate", body).status_code == 400, version


@pytest.mark.parametrize(
    "body",
    [
        '{"xml": ' + "9" * 5000 + "}",
        "[" * 100_000 + "]" * 100_000,
        '{"xml": NaN}',
        '{"xml": Infinity}',
        '{"xml": 1e999}',
    ],
    ids=["5000-digits", "deep", "nan", "infinity", "overflow"],
)
def test_hostile_json_is_a_400_on_pages_and_api(
    login: Callable[[str], Web], body: str, case: Instance
) -> None:
    web = login("process_owner")
    assert _post_json(web, "/modeler/validate", body).status_code == 400
    api = web.client.post(
        "/api/v1/instances", data=body, content_type="application/json"
    )  # no token: still refused before anything reads it
    assert api.status_code == 400


def test_nan_never_reaches_the_api_answers(
    api_client,
    auth,
    review_model,  # type: ignore[no-untyped-def]
) -> None:
    body = '{"process_key": "review", "data": {"country": "NPL", "amount": NaN}}'
    response = api_client.post(
        "/api/v1/instances", data=body, content_type="application/json", headers=auth("admin")
    )
    assert response.status_code == 400
    assert "NaN" not in response.get_data(as_text=True).replace("no NaN", "")


def test_another_countrys_case_is_a_404_like_a_missing_one(
    login: Callable[[str], Web], make_case: Callable[..., Instance], deployed: Engine
) -> None:
    kenya = make_case("KEN", "review_expression_of_interest")
    task = task_of(deployed, kenya, "review_expression_of_interest")
    web = login("nima")  # Nepal's focal point
    missing = web.get("/instances/987654")
    for route in [
        f"/instances/{kenya.id}",
        f"/instances/{kenya.id}/diagram.bpmn",
        f"/audit/instances/{kenya.id}",
        f"/tasks/{task}",
    ]:
        response = web.get(route)
        assert response.status_code == 404, route
    other = web.get(f"/instances/{kenya.id}").get_data(as_text=True)
    assert f"Instance {kenya.id} does not exist." in other
    assert "Instance 987654 does not exist." in missing.get_data(as_text=True)


def test_tasks_are_assigned_only_to_colleagues_who_may_act_on_them(
    login: Callable[[str], Web], make_case: Callable[..., Instance], deployed: Engine
) -> None:
    kenya = make_case("KEN", "review_expression_of_interest")
    task = task_of(deployed, kenya, "review_expression_of_interest")
    web = login("sam")
    for assignee in ("nosuchuser", "kofi", "nima"):  # unknown; Kenyan focal point; Nepal's
        response = web.post(f"/tasks/{task}/claim", {"assignee": assignee}, follow_redirects=True)
        assert "cannot be assigned" in response.get_data(as_text=True), assignee
        assert next(t for t in deployed.ready_tasks(kenya.id) if t.id == task).claimed_by is None
    web.post(f"/tasks/{task}/claim", {"assignee": "sue"})
    assert next(t for t in deployed.ready_tasks(kenya.id) if t.id == task).claimed_by == "sue"


def test_drafts_hold_only_this_tasks_files_and_a_bounded_size(
    login: Callable[[str], Web],
    make_case: Callable[..., Instance],
    deployed: Engine,
    users,  # type: ignore[no-untyped-def]
) -> None:
    import io

    from engine import InvalidData
    from engine.store.models import Attachment
    from tests.fixtures import documents as docs

    kenya = make_case("KEN", "submit_expression_of_interest")
    kenya_task = task_of(deployed, kenya, "submit_expression_of_interest")
    kofi = login("kofi")
    kofi.post(
        f"/tasks/{kenya_task}",
        [("action", "save_draft"), ("letter_file", (io.BytesIO(docs.PDF), "Kenya letter.pdf"))],
        content_type="multipart/form-data",
    )
    with deployed.session() as s:
        [kenyan_file] = [a.id for a in s.query(Attachment).filter_by(task_id=kenya_task)]
    nepal = make_case("NPL", "submit_expression_of_interest")
    nepal_task = task_of(deployed, nepal, "submit_expression_of_interest")
    with pytest.raises(InvalidData) as refused:
        deployed.tasks.save_draft(nepal_task, {"letter_file": kenyan_file}, users["nima"])
    assert "letter_file" in refused.value.errors
    with pytest.raises(InvalidData):
        deployed.tasks.save_draft(nepal_task, {"minister_name": "x" * 300 * 1024}, users["nima"])
    page = login("nima").get(f"/tasks/{nepal_task}").get_data(as_text=True)
    assert "Kenya letter.pdf" not in page
