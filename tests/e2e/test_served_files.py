"""Stored files never run in the app's origin, and pages run under a strict CSP.

A process owner deploys a BPMN whose `bpmn:documentation` holds an XHTML `<script>`. An admin then
opens every route that serves that file: the script must not run (before the fix Chromium ran it
as the admin, on the app's origin). The main pages (inbox, task, instance, modeler, audit replay)
are opened too: they work without any Content-Security-Policy violation.
"""

from __future__ import annotations

from typing import Any

from engine.store.models import Instance
from tests.e2e.conftest import E2E, LiveServer, sign_in

pytestmark = E2E

PAYLOAD = (
    '<bpmn:documentation><html:script xmlns:html="http://www.w3.org/1999/xhtml">'
    "window.pwned = true; document.documentElement.setAttribute('data-pwned', '1');"
    "</html:script></bpmn:documentation>"
)
PROBE = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  id="defs_xss_probe" targetNamespace="http://bpmn.io/schema/bpmn">
<bpmn:process id="xss_probe" name="XSS probe" isExecutable="true">
  <bpmn:startEvent id="start">{PAYLOAD}<bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="end" />
  <bpmn:endEvent id="end"><bpmn:incoming>f1</bpmn:incoming></bpmn:endEvent>
</bpmn:process>
</bpmn:definitions>
"""


def _probe_instance(live_server: LiveServer) -> Instance:
    engine = live_server.engine
    engine.deploy({"xss_probe.bpmn": PROBE.encode()}, actor="olu")
    return engine.start(
        "xss_probe", {"country": "KEN", "country_name": "Kenya"}, live_server.actors["ada"]
    )


def test_a_script_inside_a_deployed_bpmn_never_runs(page: Any, live_server: LiveServer) -> None:
    instance = _probe_instance(live_server)
    sign_in(page, "ada")
    routes = [
        f"/instances/{instance.id}/diagram.bpmn",
        "/modeler/xss_probe/versions/1/files/xss_probe.bpmn",
        f"/audit/versions/{instance.process_version_id}/diagram.bpmn",
    ]
    for route in routes:
        response = page.goto(route)
        assert response is not None and response.status == 200, route
        assert "html:script" in page.content() or "html:script" in response.text(), route
        ran = page.evaluate(
            "() => window.pwned === true || document.documentElement.hasAttribute('data-pwned')"
        )
        assert not ran, f"the stored file's script ran on {route}"


def test_pages_work_without_csp_violations(page: Any, live_server: LiveServer) -> None:
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    case = live_server.make_case("PER", name="Peru")
    sign_in(page, "ada")
    page.goto("/inbox")
    page.goto(f"/instances/{case.id}")
    page.wait_for_selector("#diagram .djs-container")
    page.goto(f"/audit/instances/{case.id}")
    page.wait_for_selector("#replay-diagram[data-ready='1']")
    page.goto("/modeler/pathfinder/edit")
    page.wait_for_selector(".djs-container")
    sign_in(page, "sam")
    task = next(t for t in live_server.engine.ready_tasks(case.id))
    page.goto(f"/tasks/{task.id}")
    page.wait_for_selector("form")
    assert violations == []
    assert page.js_errors == []
