"""The process owner's journey in a real browser: open the Pathfinder diagram in the modeller,
add a user task with a form reference and an unquoted timer, see the timer's validation marker,
fix it, deploy version 2, and start a case that runs on it.

Runs its own live server (the Models area registered, a database of its own), so the version it
deploys does not leak into the other e2e modules."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import select

from engine import Actor, Engine, Settings, VirtualClock
from engine.bpmn.form_samples import sample_data
from engine.people.accounts import create_user
from engine.store.db import transaction
from engine.store.migrate import upgrade
from engine.store.models import Instance
from tests.conftest import ROOT, SHARED
from tests.e2e.conftest import E2E, E2E_PASSWORD, shot, sign_in

pytestmark = E2E

NEW_TASK = "Check the approach"
FORM = "register_approach.schema.json"


class Server:
    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self.engine = engine


@pytest.fixture(scope="module")
def modeler_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from werkzeug.serving import make_server

    from web import create_app
    from web.pages import modeler as modeler_views

    folder = tmp_path_factory.mktemp("e2e-modeler")
    url = f"sqlite:///{folder / 'pathfinder.db'}"
    upgrade(url)
    settings = Settings(database_url=url, secret_key="e2e-modeler", var_dir=folder / "var")
    clock = VirtualClock(datetime(2027, 1, 4, 9, tzinfo=UTC))
    engine = Engine.from_settings(settings, clock)
    engine.deploy_directory(ROOT / "processes", ROOT / "forms")
    with transaction(engine.sessions) as s:
        create_user(s, "olu", E2E_PASSWORD, ["process_owner"], now=clock.now(), display_name="Olu")
    app = create_app(settings, clock=clock, engine=engine)
    if "modeler" not in app.blueprints:
        modeler_views.init_app(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{server.server_port}", engine)
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def owner_page(browser: Any, modeler_server: Server) -> Iterator[Any]:
    context = browser.new_context(
        base_url=modeler_server.url, viewport={"width": 1440, "height": 1000}
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    sign_in(page, "olu")
    yield page
    context.close()


ADD_SHAPES = """() => {
  const m = window.pathfinderModeler.modeler;
  const registry = m.get("elementRegistry");
  const modeling = m.get("modeling");
  const factory = m.get("elementFactory");
  const source = registry.get("register_approach");
  const flow = source.outgoing[0];
  const target = flow.target;
  modeling.removeConnection(flow);
  // as the context pad's "append" does: the new shapes join the lane they are dropped in
  const task = modeling.appendShape(source, { type: "bpmn:UserTask" }, { x: 700, y: 700 });
  modeling.updateLabel(task, "NEW_TASK");
  const timer = modeling.appendShape(
    task,
    factory.createShape({
      type: "bpmn:IntermediateCatchEvent",
      eventDefinitionType: "bpmn:TimerEventDefinition",
    }),
    { x: 880, y: 700 },
  );
  modeling.updateLabel(timer, "Wait three days");
  modeling.connect(timer, target);
  const lanes = (el) => registry
    .filter((l) => l.type === "bpmn:Lane" && l.businessObject.get("flowNodeRef").includes(el.businessObject))
    .map((l) => l.id);
  return { task: task.id, timer: timer.id, lanes: lanes(task) };
}""".replace("NEW_TASK", NEW_TASK)


def select_element(page: Any, element_id: str) -> None:
    page.evaluate(
        """(id) => { const m = window.pathfinderModeler.modeler;
           m.get("selection").select(m.get("elementRegistry").get(id)); }""",
        element_id,
    )


def open_group(page: Any, label: str) -> None:
    header = page.locator(".bio-properties-panel-group-header", has_text=label).first
    header.wait_for()
    if "open" not in (header.get_attribute("class") or ""):
        header.click()


def set_timer(page: Any, value: str) -> None:
    field = page.locator("#bio-properties-panel-timerEventDefinitionValue")
    field.fill(value)
    field.press("Tab")
    page.wait_for_timeout(500)  # the panel debounces input


def validate(page: Any) -> dict[str, Any]:
    before = page.get_attribute("#modeler", "data-validated")
    page.click("#btn-validate")
    page.wait_for_function(
        "(b) => document.getElementById('modeler').getAttribute('data-validated') !== b", arg=before
    )
    return page.evaluate("() => window.pathfinderModeler.root.dataset")


def test_owner_edits_validates_fixes_deploys_and_starts_version_two(
    owner_page: Any, modeler_server: Server
) -> None:
    page = owner_page
    page.goto("/modeler/")
    shot(page, "modeler-01-models")
    page.click("text=Edit latest version")
    page.wait_for_selector("#modeler[data-ready='1']")
    shot(page, "modeler-02-opened", full_page=False)
    # The canvas uses the window, and nothing of the diagram hides under the palette.
    canvas = page.locator("#canvas").bounding_box()
    assert canvas["width"] >= 850 and canvas["height"] >= 600, canvas
    palette = page.locator(".djs-palette").bounding_box()
    lanes = page.locator(".djs-shape[data-element-id^='lane_']").first.bounding_box()
    assert lanes["x"] >= palette["x"] + palette["width"], (lanes, palette)
    assert "version 1" in page.inner_text("h1")
    page.click("#btn-properties")
    assert page.locator("#properties").is_hidden()
    assert page.locator("#canvas").bounding_box()["width"] > canvas["width"]
    page.click("#btn-properties")
    # Ctrl+F finds an element and zooms to it at a readable size.
    page.click("#canvas")
    page.keyboard.press("Control+f")
    page.keyboard.type("Register the approach")
    page.keyboard.press("Enter")
    box = page.locator(".djs-shape[data-element-id='register_approach']").bounding_box()
    assert box["width"] >= 80, box  # a task drawn at 100 units, not a 12 px speck
    page.click(".djs-palette")  # leave the search

    ids = page.evaluate(ADD_SHAPES)
    assert ids["lanes"] == ["lane_secretariat"]  # drawn inside the procedure subprocess
    assert ids["lanes"] == ["lane_secretariat"]  # drawn inside the procedure subprocess

    # the form reference, chosen in the properties panel from the existing form files
    select_element(page, ids["task"])
    open_group(page, "Pathfinder task")
    page.select_option("#bio-properties-panel-pathfinder-form", FORM)
    page.fill("#bio-properties-panel-pathfinder-due-in", "P3D")
    page.locator("#bio-properties-panel-pathfinder-due-in").press("Tab")

    # the timer, typed unquoted as Camunda users would
    select_element(page, ids["timer"])
    open_group(page, "Timer")
    page.select_option("#bio-properties-panel-timerEventDefinitionType", "timeDuration")
    set_timer(page, "P3D")

    validate(page)
    timer_shape = page.locator(f".djs-element[data-element-id='{ids['timer']}']")
    assert "pf-problem-error" in (timer_shape.first.get_attribute("class") or "")
    badge = page.locator(f".pf-problem-badge[data-element-id='{ids['timer']}']")
    assert badge.count() == 1 and "quoted" in (badge.get_attribute("title") or "")
    item = page.locator(f"#problem-list li[data-element-id='{ids['timer']}']")
    assert "must be quoted" in item.inner_text()
    select_element(page, ids["task"])
    item.locator("button.problem-target").click()  # the list selects the element
    selected = page.evaluate(
        "() => window.pathfinderModeler.modeler.get('selection').get().map(e => e.id)"
    )
    assert selected == [ids["timer"]]
    page.evaluate("() => window.scrollTo(0, document.getElementById('modeler').offsetTop - 10)")
    page.evaluate("() => window.scrollTo(0, document.getElementById('modeler').offsetTop - 10)")
    shot(page, "modeler-03-timer-marker", full_page=False)

    # deploying is refused while the error remains
    page.check("#accept-warnings")
    page.click("#btn-deploy")
    page.wait_for_selector("#modeler-status.error")
    assert "Not deployed" in page.inner_text("#modeler-status")

    # fix it in the panel, validate again: no error left
    open_group(page, "Timer")
    set_timer(page, '"P3D"')
    state = validate(page)
    errors = page.locator("#problem-list li.error")
    assert errors.count() == 0, errors.all_inner_texts()
    assert "pf-problem-error" not in (timer_shape.first.get_attribute("class") or "")
    assert state.get("problems") is not None

    page.click("#btn-deploy")
    page.wait_for_selector("#modeler[data-deployed]")
    assert "Deployed pathfinder version 2" in page.inner_text("#modeler-status")
    assert "version 2" in page.inner_text("h1")  # the heading follows the deployed version
    shot(page, "modeler-04-deployed", full_page=False)
    assert page.js_errors == []

    with modeler_server.engine.session() as s:  # deploying started nothing
        assert s.execute(select(Instance).limit(1)).scalar() is None

    # start a case: it runs on version 2
    page.goto("/instances/new")
    page.fill("#country", "NPL")
    page.fill("#country_name", "Nepal")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/instances/\d+.*"))
    instance_id = int(re.search(r"/instances/(\d+)", page.url).group(1))
    engine = modeler_server.engine
    with engine.session() as s:
        row = s.get(Instance, instance_id)
        assert row is not None and row.process_version.version == 2
    [first] = engine.ready_tasks(instance_id)
    assert first.element_id == "register_approach"
    shot(page, "modeler-05-case-on-version-2")

    # the new version's task comes next, with its form and due date
    form = json.loads((ROOT / "forms" / "register_approach.schema.json").read_text())
    engine.complete(first.id, sample_data(form, date(2027, 1, 4)), Actor("ada", ["admin"]))
    [added] = engine.ready_tasks(instance_id)
    assert (added.name, added.form_file, added.lane) == (NEW_TASK, FORM, "Secretariat")
    assert added.due_at is not None

    # what changed, coloured on both diagrams
    page.goto("/modeler/pathfinder/diff?from=1&to=2")
    page.wait_for_selector("#diff-new[data-ready='1']")
    page.wait_for_selector("#diff-old[data-ready='1']")
    added_ids = page.locator("ul.diff-list.added > li").evaluate_all(
        "items => items.map(i => i.dataset.elementId)"
    )
    assert set(added_ids) >= {ids["task"], ids["timer"]}
    assert (
        page.locator(
            f"#diff-new .djs-element.pf-diff-added[data-element-id='{ids['task']}']"
        ).count()
        == 1
    )
    shot(page, "modeler-06-diff")


EXTENSION_NS = (
    "http://spiffworkflow.org/bpmn/schema/1.0/core",
    "http://camunda.org/schema/1.0/bpmn",
    "http://camunda.org/schema/zeebe/1.0",
)
ROUND_TRIP = [
    ROOT / "processes" / "pathfinder.bpmn",
    SHARED / "interop" / "spiffworkflow" / "lanes.bpmn",
    SHARED / "interop" / "camunda" / "invoice" / "reviewInvoice.bpmn",
    SHARED / "interop" / "miwg" / "C.9.1.bpmn",
]


def extensions(xml: bytes) -> list[tuple[str, ...]]:
    """Every element and attribute in the SpiffWorkflow, Camunda and Zeebe namespaces."""
    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    found = []
    for el in root.iter(etree.Element):
        owner = el.getparent()
        while owner is not None and not owner.get("id"):
            owner = owner.getparent()
        where = owner.get("id") if owner is not None else ""
        if etree.QName(el).namespace in EXTENSION_NS:
            attrs = sorted((etree.QName(k).localname, v) for k, v in el.attrib.items())
            found.append((where, etree.QName(el).localname, str(attrs), (el.text or "").strip()))
        for key, value in el.attrib.items():
            if etree.QName(key).namespace in EXTENSION_NS:
                found.append((el.get("id", ""), etree.QName(key).localname, value))
    return sorted(found)


@pytest.mark.parametrize("path", ROUND_TRIP, ids=lambda p: p.name)
def test_saving_through_the_modeller_keeps_extension_elements(owner_page: Any, path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} is absent")
    page = owner_page
    page.goto("/modeler/new")
    page.wait_for_selector("#modeler[data-ready='1']")
    original = path.read_bytes()
    saved = page.evaluate(
        """async (xml) => { const p = window.pathfinderModeler;
           await p.importXML(xml); return await p.xml(); }""",
        original.decode("utf-8" if b"UTF-8" in original[:60].upper() else "latin-1"),
    )
    before, after = extensions(original), extensions(saved.encode("utf-8"))
    assert before, "the file has extension elements or attributes to keep"
    assert after == before
    assert page.js_errors == []


def test_the_properties_panel_shows_the_case_variables_a_user_task_writes(
    owner_page: Any, modeler_server: Server
) -> None:
    page = owner_page
    page.goto("/modeler/pathfinder/edit")
    page.wait_for_selector("#modeler[data-ready='1']")
    select_element(page, "send_confirmation_letter")
    open_group(page, "Pathfinder task")
    outputs = page.locator(".pathfinder-outputs")
    outputs.wait_for()
    listed = outputs.locator("li code").all_inner_texts()
    assert listed == ["confirmation_letter_date", "letter_reference"], listed
    assert "Date of the letter" in outputs.inner_text()  # the field's title, as the form has it
    assert "x-outputs" in outputs.inner_text()
    outputs.scroll_into_view_if_needed()
    shot(page, "case-data-04-modeler-outputs", full_page=False)
    # choosing no form: the task writes nothing
    page.select_option("#bio-properties-panel-pathfinder-form", "")
    assert "writes no case variables" in page.locator(".pathfinder-outputs").inner_text()
    assert not page.js_errors, page.js_errors
