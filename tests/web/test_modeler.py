"""The Models area: who may use it, validation with element ids, deploys, download, diff pages,
migration pages and simulation endpoints."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from engine import Actor, Engine
from engine.store.models import Instance, ProcessVersion
from tests.conftest import ROOT
from tests.fixtures.bpmn_files import REVIEW, bpmn, flow, forms_json, user_task
from tests.web.conftest import Web
from web.pages import modeler as modeler_views

PATHFINDER = (ROOT / "processes" / "pathfinder.bpmn").read_text(encoding="utf-8")
OTHERS = ["secretariat", "chair", "gcg", "country", "auditor"]
OWNERS = ["admin", "process_owner"]


@pytest.fixture
def app(app: Flask) -> Flask:
    """The web app with the Models area registered (until create_app does it)."""
    if "modeler" not in app.blueprints:
        modeler_views.init_app(app)
    return app


def post_json(web: Web, url: str, body: dict[str, Any]) -> TestResponse:
    """A JSON post as the modeller's script sends it (CSRF token in the header)."""
    if web.token is None:
        web.get("/login")
    return web.client.post(url, json=body, headers={"X-CSRFToken": web.token or ""})


def validate(web: Web, xml: str, **extra: Any) -> dict[str, Any]:
    response = post_json(web, "/modeler/validate", {"xml": xml, **extra})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def problems_by_code(result: dict[str, Any]) -> dict[str, set[str | None]]:
    out: dict[str, set[str | None]] = {}
    for p in result["problems"]:
        out.setdefault(p["code"], set()).add(p["element_id"])
    return out


# -- access ----------------------------------------------------------------------------------

PAGES = [
    "/modeler/",
    "/modeler/new",
    "/modeler/pathfinder/edit",
    "/modeler/pathfinder/edit?version=1",
    "/modeler/upload",
    "/modeler/pathfinder/versions/1/files/pathfinder.bpmn",
    "/modeler/pathfinder/versions/1/bundle.zip",
    "/modeler/pathfinder/diff?from=1&to=1",
    "/modeler/pathfinder/diff.json?from=1&to=1",
    "/modeler/pathfinder/migrate",
]
POSTS = [
    "/modeler/validate",
    "/modeler/deploy",
    "/modeler/simulate",
    "/modeler/simulate/nope/advance",
    "/modeler/pathfinder/migrate",
    "/modeler/upload",
]


@pytest.mark.parametrize("url", PAGES)
def test_pages_are_for_process_owners_and_admins(login: Callable[[str], Web], url: str) -> None:
    for role in OWNERS:
        assert login(role).get(url).status_code == 200, (role, url)
    for role in OTHERS:
        assert login(role).get(url).status_code == 403, (role, url)


@pytest.mark.parametrize("url", POSTS)
def test_endpoints_refuse_other_roles(login: Callable[[str], Web], url: str) -> None:
    for role in OTHERS:
        web = login(role)
        assert post_json(web, url, {"xml": PATHFINDER}).status_code == 403, (role, url)
        assert web.post(url, {"to": "1"}).status_code == 403, (role, url)


@pytest.mark.parametrize("url", PAGES + POSTS)
def test_anonymous_visitors_are_sent_to_sign_in(web: Web, url: str) -> None:
    response = web.client.get(url) if url in PAGES else web.post(url, {})
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_models_page_lists_versions_with_deployer_and_instances(
    login: Callable[[str], Web], make_case: Callable[..., Instance]
) -> None:
    make_case("NPL", stop_at="register_approach")
    page = login("process_owner").html("/modeler/")
    assert 'id="model-pathfinder"' in page
    assert '<tr data-version="1">' in page
    assert "system" in page  # deployed_by of the bundled deploy
    assert '<td class="num">1</td>' in page  # a plain right-aligned number, not a nav badge


def test_a_superseded_version_does_not_say_it_can_start_cases(
    login: Callable[[str], Web], deployed: Engine
) -> None:
    changed = PATHFINDER.replace('name="Register the approach"', 'name="Register it"')
    deployed.deploy({"pathfinder.bpmn": changed.encode()}, forms_for(deployed), "olu")
    page = login("process_owner").html("/modeler/")
    old = page.split('<tr data-version="1">')[1].split("</tr>")[0]
    new = page.split('<tr data-version="2">')[1].split("</tr>")[0]
    assert "superseded by version 2" in old and ">yes<" not in old
    assert "<td>yes</td>" in new


def test_editor_page_carries_the_form_files_and_the_diagram_url(
    login: Callable[[str], Web],
) -> None:
    page = login("process_owner").html("/modeler/pathfinder/edit")
    assert "build/modeler.js" in page
    assert "register_approach.schema.json" in page
    assert "/modeler/pathfinder/versions/1/files/pathfinder.bpmn" in page
    assert 'name="csrf-token"' in page


# -- validation --------------------------------------------------------------------------------

TIMER = (
    '<bpmn:intermediateCatchEvent id="wait" name="Wait"><bpmn:timerEventDefinition>'
    "<bpmn:timeDuration>{}</bpmn:timeDuration></bpmn:timerEventDefinition>"
    "</bpmn:intermediateCatchEvent>"
)


def small(body: str, *, executable: bool = True) -> str:
    xml = bpmn("small", body).decode()
    return xml if executable else xml.replace('isExecutable="true"', 'isExecutable="false"')


CASES = {
    "timer-expression": (
        '<bpmn:startEvent id="start" />'
        + TIMER.format("P5D")
        + '<bpmn:endEvent id="end" />'
        + flow("f1", "start", "wait")
        + flow("f2", "wait", "end"),
        "wait",
    ),
    "script-syntax": (
        '<bpmn:startEvent id="start" /><bpmn:scriptTask id="calc" name="Calc">'
        '<bpmn:script>x = = 1</bpmn:script></bpmn:scriptTask><bpmn:endEvent id="end" />'
        + flow("f1", "start", "calc")
        + flow("f2", "calc", "end"),
        "calc",
    ),
    "missing-form": (
        '<bpmn:startEvent id="start" />'
        + user_task("fill", "Fill", "nowhere")
        + '<bpmn:endEvent id="end" />'
        + flow("f1", "start", "fill")
        + flow("f2", "fill", "end"),
        "fill",
    ),
    "missing-called-process": (
        '<bpmn:startEvent id="start" /><bpmn:callActivity id="call" name="Call" '
        'calledElement="elsewhere" /><bpmn:endEvent id="end" />'
        + flow("f1", "start", "call")
        + flow("f2", "call", "end"),
        "call",
    ),
    "gateway-condition": (
        '<bpmn:startEvent id="start" /><bpmn:exclusiveGateway id="gw" name="Which?" />'
        '<bpmn:endEvent id="a" name="A" /><bpmn:endEvent id="b" name="B" />'
        + flow("f1", "start", "gw")
        + flow("fa", "gw", "a", "x == 1")
        + flow("fb", "gw", "b"),
        "fb",
    ),
    "condition-syntax": (
        '<bpmn:startEvent id="start" /><bpmn:exclusiveGateway id="gw" name="Which?" default="fb" />'
        '<bpmn:endEvent id="a" name="A" /><bpmn:endEvent id="b" name="B" />'
        + flow("f1", "start", "gw")
        + flow("fa", "gw", "a", "x ==")
        + flow("fb", "gw", "b"),
        "fa",
    ),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_validation_reports_each_kind_of_error_with_its_element(
    login: Callable[[str], Web], code: str
) -> None:
    body, element = CASES[code]
    result = validate(login("process_owner"), small(body))
    found = problems_by_code(result)
    assert element in found.get(code, set()), result["problems"]
    assert result["errors"] >= 1


def test_view_only_reasons_count_as_errors_in_the_modeller(login: Callable[[str], Web]) -> None:
    body = '<bpmn:startEvent id="start" /><bpmn:endEvent id="end" />' + flow("f1", "start", "end")
    result = validate(login("process_owner"), small(body, executable=False))
    errors = [p for p in result["problems"] if p["severity"] == "error" and p["source"] == "engine"]
    assert [(p["code"], p["element_id"]) for p in errors] == [("non-executable", "small")]


def test_broken_xml_is_reported_with_a_line(login: Callable[[str], Web]) -> None:
    result = validate(login("process_owner"), small("<bpmn:startEvent id='s'>"))
    assert result["errors"] >= 1
    assert any(p["line"] for p in result["problems"])


def test_bpmnlint_findings_carry_element_ids(login: Callable[[str], Web]) -> None:
    if not (ROOT / "node_modules" / ".bin" / "bpmnlint").exists():
        pytest.skip("bpmnlint not installed (npm ci)")
    body = (
        '<bpmn:startEvent id="start" name="Start" /><bpmn:task id="lonely" name="Lonely" />'
        '<bpmn:endEvent id="end" name="End" />' + flow("f1", "start", "end")
    )
    result = validate(login("process_owner"), small(body))
    lint = [p for p in result["problems"] if p["source"] == "bpmnlint"]
    assert ("bpmnlint/no-disconnected", "lonely") in {(p["code"], p["element_id"]) for p in lint}


def test_the_bundled_pathfinder_diagram_validates_clean(login: Callable[[str], Web]) -> None:
    result = validate(login("process_owner"), PATHFINDER, process_key="pathfinder")
    assert result["errors"] == 0, [p for p in result["problems"] if p["severity"] == "error"]


# -- deploy ------------------------------------------------------------------------------------


def _versions(engine: Engine, key: str) -> list[int]:
    with engine.session() as s:
        return list(
            s.execute(
                select(ProcessVersion.version)
                .where(ProcessVersion.process_key == key)
                .order_by(ProcessVersion.version)
            ).scalars()
        )


def test_deploy_is_refused_while_errors_remain(
    login: Callable[[str], Web], deployed: Engine
) -> None:
    unquoted = PATHFINDER.replace('"P60D"</bpmn:timeDuration>', "P60D</bpmn:timeDuration>")
    assert unquoted != PATHFINDER
    web = login("process_owner")
    response = post_json(
        web,
        "/modeler/deploy",
        {"xml": unquoted, "process_key": "pathfinder", "accept_warnings": True},
    )
    assert response.status_code == 422
    body = response.get_json()
    assert body["deployed"] is False
    assert any(p["code"] == "timer-expression" and p["element_id"] for p in body["problems"])
    assert _versions(deployed, "pathfinder") == [1]


def test_warnings_must_be_accepted(login: Callable[[str], Web], deployed: Engine) -> None:
    ghost = (
        '<bpmndi:BPMNShape id="ghost_di" bpmnElement="ghost">'
        '<dc:Bounds x="0" y="0" width="10" height="10" /></bpmndi:BPMNShape>'
    )
    xml = PATHFINDER.replace("</bpmndi:BPMNPlane>", ghost + "</bpmndi:BPMNPlane>", 1)
    web = login("process_owner")
    body = {"xml": xml, "process_key": "pathfinder"}
    first = post_json(web, "/modeler/deploy", body)
    result = first.get_json()
    assert first.status_code == 409, result
    assert result["errors"] == 0 and result["warnings"] >= 1
    assert any(p["code"] == "dangling-di" for p in result["problems"])
    assert _versions(deployed, "pathfinder") == [1]
    second = post_json(web, "/modeler/deploy", {**body, "accept_warnings": True})
    assert second.status_code == 200, second.get_json()
    assert _versions(deployed, "pathfinder") == [1, 2]


def test_deploy_of_a_changed_diagram_makes_a_new_version_and_keeps_instances(
    login: Callable[[str], Web], deployed: Engine, make_case: Callable[..., Instance]
) -> None:
    case = make_case("NPL", stop_at="register_approach")
    changed = PATHFINDER.replace('name="Register the approach"', 'name="Register the approach now"')
    assert changed != PATHFINDER
    web = login("process_owner")
    response = post_json(
        web,
        "/modeler/deploy",
        {"xml": changed, "process_key": "pathfinder", "version": 1, "accept_warnings": True},
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["deployed"] is True
    assert [(v["version"], v["created"], v["executable"]) for v in body["versions"]] == [
        (2, True, True)
    ]
    assert _versions(deployed, "pathfinder") == [1, 2]
    with deployed.session() as s:
        row = s.get(Instance, case.id)
        assert row is not None and row.process_version.version == 1
        pv = s.execute(select(ProcessVersion).where(ProcessVersion.version == 2)).scalar_one()
        assert pv.deployed_by == "olu"
        assert "register_approach.schema.json" in pv.forms  # forms came along
    # the new version starts
    new = deployed.start(
        "pathfinder", {"country": "KEN", "country_name": "Kenya"}, Actor("ada", ["admin"])
    )
    assert deployed.instance(new.id).process_version_id == pv.id


def test_redeploying_the_same_content_is_a_no_op(login: Callable[[str], Web]) -> None:
    response = post_json(
        login("admin"),
        "/modeler/deploy",
        {"xml": PATHFINDER, "process_key": "pathfinder", "accept_warnings": True},
    )
    body = response.get_json()
    assert response.status_code == 200, body
    assert [(v["version"], v["created"]) for v in body["versions"]] == [(1, False)]


# -- download ----------------------------------------------------------------------------------


def test_download_of_a_version_file_and_form(login: Callable[[str], Web]) -> None:
    web = login("process_owner")
    bpmn_file = web.get("/modeler/pathfinder/versions/1/files/pathfinder.bpmn?download=1")
    assert bpmn_file.status_code == 200
    assert "attachment" in bpmn_file.headers["Content-Disposition"]
    assert bpmn_file.get_data(as_text=True) == PATHFINDER
    form = web.get("/modeler/pathfinder/versions/1/files/register_approach.schema.json")
    # Shown inline only as plain text (web.served), still the form's JSON.
    assert form.status_code == 200 and form.mimetype == "text/plain"
    assert json.loads(form.get_data(as_text=True))["type"] == "object"
    assert web.get("/modeler/pathfinder/versions/1/files/nope.json").status_code == 404
    archive = web.get("/modeler/pathfinder/versions/1/bundle.zip")
    assert archive.status_code == 200 and archive.mimetype == "application/zip"


# -- diff and migration pages ------------------------------------------------------------------


def test_diff_page_lists_the_changed_elements(
    login: Callable[[str], Web], deployed: Engine
) -> None:
    changed = PATHFINDER.replace('name="Register the approach"', 'name="Register it"')
    deployed.deploy({"pathfinder.bpmn": changed.encode()}, forms_for(deployed), "olu")
    web = login("process_owner")
    assert 'href="/modeler/pathfinder/diff?from=1&amp;to=2"' in web.html("/modeler/")
    page = web.html("/modeler/pathfinder/diff?from=1&to=2")
    assert 'data-kind="changed"' in page and 'data-kind="added"' not in page
    assert page.count('<li data-element-id="') == 1
    assert "name: &#39;Register the approach&#39; → &#39;Register it&#39;" in page
    data = web.get("/modeler/pathfinder/diff.json?from=1&to=2").get_json()
    assert [c["element_id"] for c in data["changed"]] == ["register_approach"]


def forms_for(engine: Engine) -> dict[str, bytes]:
    with engine.session() as s:
        pv = s.execute(select(ProcessVersion).where(ProcessVersion.version == 1)).scalar_one()
        return {k: v.encode() for k, v in pv.forms.items()}


def test_migration_page_dry_run_then_move(
    login: Callable[[str], Web], deployed: Engine, make_case: Callable[..., Instance]
) -> None:
    case = make_case("NPL", stop_at="register_approach")
    changed = PATHFINDER.replace('name="Register the approach"', 'name="Register it"')
    deployed.deploy({"pathfinder.bpmn": changed.encode()}, forms_for(deployed), "olu")
    web = login("process_owner")
    page = web.html("/modeler/pathfinder/migrate")
    assert f'<tr data-instance="{case.id}" data-can-move="yes">' in page
    # Where it is, by element name, with the id on hover.
    assert (
        '<span title="register_approach" data-element-id="register_approach">Register the approach</span>'
        in page
    )
    response = web.post("/modeler/pathfinder/migrate", [("to", "2"), ("instance", str(case.id))])
    assert response.status_code == 302
    with deployed.session() as s:
        row = s.get(Instance, case.id)
        assert row is not None and row.process_version.version == 2
    assert [t.name for t in deployed.ready_tasks(case.id)] == ["Register it"]
    kinds = [e.kind for e in deployed.history(case.id)]
    assert kinds[-1] == "instance_migrated"


# -- simulation --------------------------------------------------------------------------------


def test_simulation_runs_the_edited_diagram_without_touching_real_instances(
    login: Callable[[str], Web], deployed: Engine
) -> None:
    web = login("process_owner")
    with deployed.session() as s:
        before = s.execute(select(func.count(Instance.id))).scalar_one()
    started = post_json(
        web,
        "/modeler/simulate",
        {
            "xml": PATHFINDER,
            "process_key": "pathfinder",
            "data": '{"country": "NPL"}',
            "start": "2027-01-04",
        },
    )
    assert started.status_code == 200, started.get_json()
    state = started.get_json()
    assert state["now"].startswith("2027-01-04")
    assert [t["element_id"] for t in state["tasks"]] == ["register_approach"]
    assert state["tasks"][0]["sample"]  # generated from the form
    token = state["token"]
    done = post_json(
        web, f"/modeler/simulate/{token}/complete", {"task_id": state["tasks"][0]["id"]}
    )
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["tasks"][0]["element_id"] == "invite_to_gcg_meeting"
    later = post_json(
        web, f"/modeler/simulate/{token}/advance", {"years": 1, "months": 2, "days": 3}
    )
    assert later.get_json()["now"].startswith("2028-03-07")
    bad = post_json(web, f"/modeler/simulate/{token}/complete", {"task_id": "nope"})
    assert bad.status_code == 404
    # someone else cannot drive it
    other = login("admin")
    assert post_json(other, f"/modeler/simulate/{token}/advance", {"days": 1}).status_code == 404
    with deployed.session() as s:
        assert s.execute(select(func.count(Instance.id))).scalar_one() == before


def test_simulation_of_a_broken_diagram_reports_problems(login: Callable[[str], Web]) -> None:
    body, _ = CASES["timer-expression"]
    response = post_json(login("process_owner"), "/modeler/simulate", {"xml": small(body)})
    assert response.status_code == 422
    assert response.get_json()["problems"]


def test_review_fixture_roundtrip(login: Callable[[str], Web]) -> None:
    """A diagram with forms uploaded in the modeller validates with those forms."""
    forms = {k: v.decode() for k, v in forms_json().items()}
    result = validate(login("process_owner"), REVIEW.decode(), forms=forms, file_name="review.bpmn")
    assert not any(p["code"] == "missing-form" for p in result["problems"])


def test_pathological_scripts_and_timers_are_problems_not_server_errors(
    login: Callable[[str], Web],
) -> None:
    """Issue 14: 100,000 minus signs answered 500 (MemoryError); an R/PT0S cycle deployed."""
    body = (
        '<bpmn:startEvent id="start" />'
        + '<bpmn:scriptTask id="calc" name="Calculate"><bpmn:script>'
        + "-" * 100_000
        + "1</bpmn:script></bpmn:scriptTask>"
        + '<bpmn:intermediateCatchEvent id="tick" name="Tick"><bpmn:timerEventDefinition>'
        + '<bpmn:timeCycle>"R/PT0S"</bpmn:timeCycle></bpmn:timerEventDefinition>'
        + "</bpmn:intermediateCatchEvent>"
        + '<bpmn:endEvent id="end" />'
        + flow("f1", "start", "calc")
        + flow("f2", "calc", "tick")
        + flow("f3", "tick", "end")
    )
    result = validate(login("process_owner"), small(body))
    found = problems_by_code(result)
    assert "calc" in found.get("script-syntax", set()), result["problems"]
    assert "tick" in found.get("timer-cycle", set()), result["problems"]


def _two_forms(first_outputs: Any = None) -> dict[str, str]:
    def form(title: str, outputs: Any) -> str:
        schema: dict[str, Any] = {
            "type": "object",
            "title": title,
            "properties": {"notes": {"type": "string", "title": "Notes"}},
        }
        if outputs is not None:
            schema["x-outputs"] = outputs
        return json.dumps(schema)

    return {
        "first.schema.json": form("First", first_outputs),
        "second.schema.json": form("Second", None),
    }


COLLIDING = bpmn(
    "colliding",
    '<bpmn:startEvent id="start" />'
    + user_task("first", "Write the first notes", form="first")
    + user_task("second", "Write the second notes", form="second")
    + '<bpmn:endEvent id="end" />'
    + flow("f1", "start", "first")
    + flow("f2", "first", "second")
    + flow("f3", "second", "end"),
).decode()


def test_validate_and_deploy_warn_when_two_tasks_write_one_variable_undeclared(
    login: Callable[[str], Web], deployed: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the fixture has no diagram layout or labels: leave bpmnlint's findings about that out
    monkeypatch.setattr(modeler_views.checks, "bpmnlint_problems", lambda xml, name: [])
    web = login("process_owner")
    result = validate(web, COLLIDING, forms=_two_forms(), file_name="colliding.bpmn")
    [warning] = [p for p in result["problems"] if p["code"] == "output-collision"]
    assert warning["severity"] == "warning" and warning["element_id"] == "second"
    assert "'notes'" in warning["message"] and "'Write the first notes'" in warning["message"]
    assert "x-outputs" in warning["message"]
    body = {"xml": COLLIDING, "forms": _two_forms(), "file_name": "colliding.bpmn"}
    refused = post_json(web, "/modeler/deploy", body)
    assert refused.status_code == 409, [
        p for p in refused.get_json()["problems"] if p["severity"] == "error"
    ]
    assert any(p["code"] == "output-collision" for p in refused.get_json()["problems"])
    # the first form writes its notes under another name: nothing collides any more
    renamed = validate(
        web, COLLIDING, forms=_two_forms({"notes": "first_notes"}), file_name="colliding.bpmn"
    )
    assert not [p for p in renamed["problems"] if p["code"] == "output-collision"]


def test_the_modeller_page_carries_each_forms_outputs(login: Callable[[str], Web]) -> None:
    page = login("process_owner").html("/modeler/pathfinder/edit")
    config = json.loads(html.unescape(page.split('data-config="')[1].split('"')[0]))
    letter = config["form_outputs"]["send_confirmation_letter.schema.json"]
    assert letter["outputs"] == ["confirmation_letter_date", "letter_reference"]
    assert letter["fields"]["confirmation_letter_date"] == "Date of the letter"
    assert modeler_views.form_outputs("not json") is None
