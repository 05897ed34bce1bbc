"""Every file of the shared interop corpus meets the outcome a user would expect on upload.

The files are read from ../shared/interop (never copied). EXPECTED is the whole story at a glance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.parsing import ValidationFailed, parse_bundle

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "interop"
if not CORPUS.is_dir():
    pytest.skip(f"interop corpus not found at {CORPUS}", allow_module_level=True)

SPIFF_NS = {"spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core"}


@dataclass(frozen=True)
class Runs:
    """Parses; `process` starts and `do_engine_steps()` runs without error."""

    process: str
    dialect: str = "spiff"
    with_files: tuple[str, ...] = ()
    """Uploaded together with these corpus files."""
    data: dict[str, Any] = field(default_factory=dict)
    """Initial task data."""


@dataclass(frozen=True)
class ViewOnly:
    """Parses and is stored, but `process` cannot be started; the reason names `element`."""

    process: str
    code: str
    element: str
    fix: str | None = None
    warning: str | None = None
    """A warning code the bundle must carry."""


@dataclass(frozen=True)
class Refused:
    """parse_bundle raises ValidationFailed with `code` (naming `element`, when given)."""

    code: str
    element: str | None = None


Outcome = Runs | ViewOnly | Refused
TUTORIAL = "spiff-example-cli/tutorial/"
SUB = "example-process-models/sub-processes/"

EXPECTED: dict[str, Outcome] = {
    "bpmn-js/error-di-plane-no-bpmn-element.bpmn": ViewOnly(
        "Process_1", "non-executable", "Process_1", warning="dangling-di"
    ),
    "bpmn-js/kitchen-sink.bpmn": ViewOnly(
        "Process_0k3ryf8",
        "unsupported-element",
        "Gateway_0im7nvs",  # complexGateway
    ),
    "camunda/StartTimerEventTest.testCycleWithLimitStartTimerEvent.bpmn20.xml": ViewOnly(
        "startTimerEventExampleCycle", "timer-expression", "theStart", fix='"R2/PT5M"'
    ),
    "camunda/invoice/reviewInvoice.bpmn": Runs("ReviewInvoice", dialect="camunda"),
    "camunda/order-handling.bpmn": ViewOnly("Order_Process", "timer-cron", "StartEvent_1"),
    "example-process-models/my_vacation.bpmn": Runs("Process_9wllce2"),
    f"{SUB}food-ordering-process.bpmn": Runs(
        "Food_Ordering_Process", with_files=(f"{SUB}handle-payment.bpmn",)
    ),
    f"{SUB}handle-payment.bpmn": Runs("Handle_Payment"),
    "example-process-models/timer-events.bpmn": Runs("Process_timer_events_oh3akqq"),
    "miwg/A.1.0.bpmn": ViewOnly("WFP-6-", "non-executable", "WFP-6-"),
    "miwg/B.1.0.bpmn": ViewOnly("WFP-6-2", "non-executable", "WFP-6-2"),  # and its data store
    "miwg/C.1.0.bpmn": ViewOnly(
        "bpmn-miwg-test-case-c.1.0",
        "unsupported-element",
        "archiveInvoice",  # no operator
    ),
    "miwg/C.9.1.bpmn": ViewOnly(
        "requestDocument_en", "timer-expression", "BoundaryEvent_1", fix='"R6/P1D"'
    ),
    "sample-process-models/manual_task_with_timer.bpmn": Runs("Process_ppiuwh1"),
    "sample-process-models/testing-sec-test.bpmn": Refused("hostile-xml"),
    f"{TUTORIAL}lanes.bpmn": Runs(
        "order_product",
        with_files=(f"{TUTORIAL}product_prices.dmn", f"{TUTORIAL}shipping_costs.dmn"),
    ),
    f"{TUTORIAL}product_prices.dmn": Refused("no-process"),  # alone; used by lanes.bpmn
    f"{TUTORIAL}shipping_costs.dmn": Refused("no-process"),
    "spiffworkflow/boundary_timer_on_task.bpmn": Runs("test_timer"),
    "spiffworkflow/call_activity_nested/call_activity_level_3.bpmn": ViewOnly(
        "Level3", "recursive-call", "Activity_12zat0d"
    ),
    "spiffworkflow/event-gateway.bpmn": Runs("Process_0pvx19v"),
    "spiffworkflow/inclusive_gateway.bpmn": Runs("main"),
    "spiffworkflow/invalid/non-executable-process.bpmn": ViewOnly(
        "Process_14di7kj", "non-executable", "Process_14di7kj"
    ),
    "spiffworkflow/lanes.bpmn": Runs("lanes", dialect="camunda"),
    "spiffworkflow/spiff-ext/signal_event_payload.bpmn": Runs("event_test"),
    "spiffworkflow/standard_loop.bpmn": Runs("main", data={"done": True}),
    # Both print(); the sandbox sends print() to the log (engine.scripting).
    # R2/PT0.1S: a sub-minute cycle is refused (PATHFINDER_MIN_TIMER_PERIOD, issue 14).
    "spiffworkflow/timer-cycle.bpmn": Refused("timer-cycle", "CatchMessage"),
    "spiffworkflow/timer.bpmn": Runs("timer"),
    "spiffworkflow/transaction.bpmn": Runs("Main_Process", dialect="camunda"),
}

CORPUS_FILES = sorted(
    str(path.relative_to(CORPUS))
    for path in CORPUS.rglob("*")
    if path.is_file() and path.name not in {"README.md", "MANIFEST.tsv"}
)


def test_every_corpus_file_has_an_expected_outcome() -> None:
    assert set(CORPUS_FILES) == set(EXPECTED)


def read(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def stub_forms(files: dict[str, bytes]) -> dict[str, bytes]:
    """The SpiffArena examples reference form files that the corpus does not include."""
    forms = {}
    for data in files.values():
        root = etree.fromstring(data)
        for prop in root.xpath("//spiffworkflow:property", namespaces=SPIFF_NS):
            if prop.get("name") in ("formJsonSchemaFilename", "formUiSchemaFilename"):
                forms[prop.get("value")] = json.dumps({"type": "object"}).encode()
    return forms


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_file(name: str) -> None:
    expected = EXPECTED[name]
    files = {name: read(name)}
    if isinstance(expected, Runs):
        files |= {other: read(other) for other in expected.with_files}
    forms = stub_forms(files) if not isinstance(expected, Refused) else {}

    if isinstance(expected, Refused):
        with pytest.raises(ValidationFailed) as caught:
            parse_bundle(files, forms)
        [problem] = [p for p in caught.value.problems if p.code == expected.code]
        assert problem.file in (name, None)
        if expected.element:
            assert problem.element_id == expected.element and problem.line
        return

    bundle = parse_bundle(files, forms)
    info = bundle.processes[expected.process]
    if isinstance(expected, ViewOnly):
        reason = info.not_executable_reason
        assert not info.executable and reason is not None
        assert (reason.code, reason.element_id) == (expected.code, expected.element)
        assert reason.suggested_fix == expected.fix
        assert reason.line and reason.file == name
        if expected.warning:
            assert expected.warning in {w.code for w in bundle.warnings}
        with pytest.raises(ValidationFailed):
            bundle.spec_for(expected.process)
        return

    assert bundle.dialect == expected.dialect
    assert info.executable, info.problems
    workflow = BpmnWorkflow(*bundle.spec_for(expected.process), script_engine=PythonScriptEngine())
    workflow.get_tasks(state=TaskState.READY)[0].set_data(**expected.data)
    workflow.do_engine_steps()
    assert not workflow.get_tasks(state=TaskState.ERROR)
    assert workflow.is_completed() or workflow.get_tasks(state=TaskState.READY | TaskState.WAITING)


def test_all_miwg_b_processes_are_view_only_despite_the_data_store() -> None:
    bundle = parse_bundle({"B.1.0.bpmn": read("miwg/B.1.0.bpmn")})
    assert len(bundle.processes) == 4
    assert not any(info.executable for info in bundle.processes.values())


def test_camunda_literal_timers_name_every_timer_with_a_fix() -> None:
    bundle = parse_bundle({"C.9.1.bpmn": read("miwg/C.9.1.bpmn")})
    fixes = {
        p.element_id: p.suggested_fix
        for p in bundle.processes["requestDocument_en"].problems
        if p.code == "timer-expression"
    }
    assert fixes == {"BoundaryEvent_1": '"R6/P1D"', "BoundaryEvent_2": '"P7D"'}


def test_xxe_probe_never_reaches_spiffworkflow(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("SpiffWorkflow parsed hostile XML")

    monkeypatch.setattr(BpmnParser, "add_bpmn_xml", forbidden)
    name = "sample-process-models/testing-sec-test.bpmn"
    with pytest.raises(ValidationFailed) as caught:
        parse_bundle({name: read(name)})
    assert [p.code for p in caught.value.problems] == ["hostile-xml"]
    assert "root:" not in str(caught.value)  # nothing of /etc/passwd


def test_food_ordering_alone_names_the_missing_called_process() -> None:
    files = {"food.bpmn": read(f"{SUB}food-ordering-process.bpmn")}
    with pytest.raises(ValidationFailed) as caught:
        parse_bundle(files, stub_forms(files))
    [problem] = caught.value.problems
    assert (problem.code, problem.element_name) == ("missing-called-process", "Handle Payment")


RUNNABLE = sorted(name for name, expected in EXPECTED.items() if isinstance(expected, Runs))


@pytest.mark.parametrize("name", RUNNABLE)
def test_runnable_corpus_file_deploys_and_starts_in_the_engine(name: str, engine, actors) -> None:
    """Through Pathfinder's own engine: sandboxed scripts, the one clock, stored state."""
    expected = EXPECTED[name]
    assert isinstance(expected, Runs)
    files = {name: read(name)} | {other: read(other) for other in expected.with_files}
    results = engine.deploy(files, stub_forms(files), "olu")
    assert expected.process in {r.process_key for r in results if r.executable}
    instance = engine.start(expected.process, expected.data, actors["admin"])
    assert instance.status in ("running", "completed"), instance.error_message
    assert (
        instance.status == "completed"
        or engine.ready_tasks(instance.id)
        or _waiting(engine, instance.id)
    )


def _waiting(engine, instance_id: int) -> bool:
    from sqlalchemy import select

    from engine.store.models import TimerJob

    with engine.session() as s:
        return (
            s.execute(select(TimerJob.id).where(TimerJob.instance_id == instance_id)).first()
            is not None
        )


def test_event_gateway_timer_fires_through_the_worker(engine, clock, actors) -> None:
    """The event-based gateway races two messages against a one-second timer: the timer wins."""
    engine.deploy({"eg.bpmn": read("spiffworkflow/event-gateway.bpmn")}, {}, "olu")
    instance = engine.start("Process_0pvx19v", {}, actors["admin"])
    assert _waiting(engine, instance.id)
    clock.advance(seconds=2)
    assert engine.fire_due_timers() == 1
    assert engine.instance(instance.id).status == "completed"
    reached = engine.reached_elements(instance.id)
    assert "timer" in reached and "message_1_end" not in reached


def _renamed(name: str, tag: str, new_id: str) -> bytes:
    """A corpus file with the id of its first `tag` element replaced everywhere by `new_id`."""
    data = read(name)
    root = etree.fromstring(data)
    [old_id] = root.xpath(f"(//bpmn:{tag})[1]/@id", namespaces={"bpmn": BPMN})
    return data.replace(f'"{old_id}"'.encode(), f'"{new_id}"'.encode()).replace(
        f">{old_id}<".encode(), f">{new_id}<".encode()
    )


BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"


@pytest.mark.parametrize(
    ("tag", "reserved"),
    [("startEvent", "Start"), ("endEvent", "End"), ("userTask", "Process_9wllce2.EndJoin")],
)
def test_ids_spiffworkflow_reserves_are_refused_naming_the_element(
    tag: str, reserved: str, engine, actors
) -> None:
    """A start event with id `Start` used to deploy and then fail every start with a 500
    (`No output task connected`): the id replaced SpiffWorkflow's own start task."""
    name = "example-process-models/my_vacation.bpmn"
    files = {"vacation.bpmn": _renamed(name, tag, reserved)}
    with pytest.raises(ValidationFailed) as caught:
        engine.deploy(files, stub_forms(files), "olu")
    [problem] = [p for p in caught.value.problems if p.code == "reserved-id"]
    assert problem.element_id == reserved and problem.line
    assert f"'{reserved}' is reserved" in problem.message
    # The same model with the id it came with deploys and starts.
    original = {"vacation.bpmn": read(name)}
    engine.deploy(original, stub_forms(original), "olu")
    assert engine.start("Process_9wllce2", {}, actors["admin"]).status == "running"
