"""parse_bundle: every kind of problem a modeller can meet, with element, file and line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.bpmn import xmlsafe
from engine.bpmn.parsing import Bundle, Problem, ValidationFailed, parse_bundle, safe_xml

FIXTURES = Path(__file__).parents[2] / "fixtures" / "bpmn"
LEAVE = "leave_request.bpmn"
LEAVE_FORMS = {"ask-schema.json": b'{"type": "object"}', "ask-uischema.json": b"{}"}

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"


def definitions(
    *processes: str, extra: str = "", ns: str = f'xmlns:spiffworkflow="{SPIFF}"'
) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<bpmn:definitions xmlns:bpmn="{BPMN}" {ns} id="Defs" '
        'targetNamespace="http://example.org">\n'
        + "\n".join(processes)
        + extra
        + "\n</bpmn:definitions>\n"
    ).encode()


def process(*nodes: str, pid: str = "p", executable: str = "true", start: bool = True) -> str:
    """A process running start -> nodes in order -> end (extra sequence flows as given)."""
    chained = [node for node in nodes if not node.startswith("<bpmn:sequenceFlow")]
    ids = [re.search(r'id="([^"]+)"', node).group(1) for node in chained]  # type: ignore[union-attr]
    chain = (["start"] if start else []) + ids + ["end"]
    flows = [
        f'<bpmn:sequenceFlow id="flow_{a}_{b}" sourceRef="{a}" targetRef="{b}" />'
        for a, b in zip(chain, chain[1:], strict=False)
    ]
    parts = (['<bpmn:startEvent id="start" name="Start" />'] if start else []) + list(nodes)
    parts += ['<bpmn:endEvent id="end" name="End" />', *flows]
    body = "\n".join(parts)
    head = f'<bpmn:process id="{pid}" name="Process {pid}" isExecutable="{executable}">'
    return f"{head}\n{body}\n</bpmn:process>"


def line_of(data: bytes, needle: str) -> int:
    return data.decode()[: data.decode().index(needle)].count("\n") + 1


def refused(
    files: dict[str, bytes], forms: dict[str, bytes] | None = None, **kw: int
) -> list[Problem]:
    with pytest.raises(ValidationFailed) as caught:
        parse_bundle(files, forms, **kw)
    return caught.value.problems


def only(problems: list[Problem], code: str) -> Problem:
    found = [p for p in problems if p.code == code]
    assert len(found) == 1, problems
    return found[0]


def test_a_valid_model_parses_and_runs() -> None:
    data = (FIXTURES / LEAVE).read_bytes()
    bundle = parse_bundle({LEAVE: data}, {**LEAVE_FORMS, "unused.json": b"{}"})
    info = bundle.processes["leave_request"]
    assert (bundle.dialect, info.executable, info.name) == ("spiff", True, "Leave request")
    assert info.lanes == ["Staff", "Manager"]
    assert info.form_files == set(LEAVE_FORMS)
    assert bundle.forms == LEAVE_FORMS  # only the referenced forms are kept
    assert [w.code for w in bundle.warnings] == ["unused-form"]
    workflow = BpmnWorkflow(*bundle.spec_for("leave_request"), script_engine=PythonScriptEngine())
    workflow.do_engine_steps()
    [ask] = workflow.get_tasks(state=TaskState.READY, manual=True)
    assert ask.task_spec.lane == "Staff"
    ask.set_data(days=12)
    ask.run()
    workflow.do_engine_steps()
    ready = workflow.get_tasks(state=TaskState.READY, manual=True)
    assert [t.task_spec.bpmn_id for t in ready] == ["long"]


def test_parser_is_fresh_and_gets_every_file() -> None:
    bundle = parse_bundle({LEAVE: (FIXTURES / LEAVE).read_bytes()}, LEAVE_FORMS)
    first, second = bundle.parser(), bundle.parser()
    assert first is not second
    assert "leave_request" in first.get_process_ids()


def test_all_problems_are_reported_at_once() -> None:
    broken = process(
        '<bpmn:scriptTask id="calc" name="Calculate">'
        "<bpmn:script>x = (</bpmn:script></bpmn:scriptTask>",
        '<bpmn:userTask id="fill" name="Fill in"><bpmn:extensionElements><spiffworkflow:properties>'
        '<spiffworkflow:property name="formJsonSchemaFilename" value="fill.json" />'
        "</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>",
    )
    gateway = process(
        '<bpmn:exclusiveGateway id="gw" name="Which way?" default="flow_gw_end" />',
        '<bpmn:sequenceFlow id="naked" sourceRef="gw" targetRef="end" />',
        pid="q",
    )
    files = {"a.bpmn": definitions(broken), "b.bpmn": definitions(gateway), "c.bpmn": b"<a"}
    problems = refused(files)
    codes = [p.code for p in problems]
    assert sorted(codes) == ["gateway-condition", "missing-form", "script-syntax", "xml-syntax"]
    assert {p.file for p in problems} == set(files)


def test_malformed_xml_gives_the_line() -> None:
    problem = only(refused({"bad.bpmn": b"<a>\n<b>\n</a>"}), "xml-syntax")
    assert (problem.file, problem.line) == ("bad.bpmn", 3)
    assert "not well-formed" in problem.message


@pytest.mark.parametrize("data", [b"", b"\x00\xff garbage", b"just text", "é".encode("utf-16")[:3]])
def test_garbage_is_refused_with_a_problem_not_a_crash(data: bytes) -> None:
    assert refused({"x.bpmn": data})[0].code == "xml-syntax"


def test_xml_that_is_not_bpmn_is_refused() -> None:
    assert only(refused({"x.bpmn": b"<svg/>"}), "not-bpmn").file == "x.bpmn"


def test_xsd_errors_carry_the_line() -> None:
    data = definitions(process('<bpmn:task id="1bad" name="Bad id" />'))
    problem = [p for p in refused({"x.bpmn": data}) if p.code == "xsd"][0]
    assert problem.line == line_of(data, 'id="1bad"')
    assert problem.severity == "error"


def test_xsd_errors_only_on_vendor_extensions_are_warnings() -> None:
    vendor = '<vendor:layout xmlns:vendor="http://vendor.example/x" />'
    data = definitions(
        process('<bpmn:task id="t" name="T" />').replace(
            "<bpmn:startEvent", vendor + "<bpmn:startEvent", 1
        )
    )
    bundle = parse_bundle({"x.bpmn": data})
    problem = only(bundle.warnings, "xsd")
    assert problem.severity == "warning" and "vendor" in problem.message


def test_iso_8859_1_encoding_declaration_works() -> None:
    data = definitions(process('<bpmn:task id="t" name="Café" />')).replace(b"UTF-8", b"ISO-8859-1")
    data = data.decode().encode("iso-8859-1")
    bundle = parse_bundle({"latin.bpmn": data})
    assert bundle.processes["p"].executable
    assert bundle.parser().get_spec("p").task_specs["t"].bpmn_name == "Café"


def test_unsupported_element_makes_the_process_view_only() -> None:
    data = definitions(process('<bpmn:complexGateway id="cg" name="Complex" />'))
    bundle = parse_bundle({"x.bpmn": data})
    reason = bundle.processes["p"].not_executable_reason
    assert reason is not None and not bundle.processes["p"].executable
    assert (reason.code, reason.element_id, reason.element_name) == (
        "unsupported-element",
        "cg",
        "Complex",
    )
    assert reason.line == line_of(data, 'id="cg"')
    with pytest.raises(ValidationFailed) as caught:
        bundle.spec_for("p")
    assert caught.value.problems[0].element_id == "cg"


def test_missing_called_process() -> None:
    data = definitions(
        process('<bpmn:callActivity id="call" name="Pay" calledElement="payment" />')
    )
    problem = only(refused({"x.bpmn": data}), "missing-called-process")
    assert (problem.element_id, problem.element_name, problem.file) == ("call", "Pay", "x.bpmn")
    assert "payment" in problem.message


def test_called_process_in_another_file_is_found() -> None:
    caller = definitions(
        process('<bpmn:callActivity id="call" name="Pay" calledElement="payment" />')
    )
    callee = definitions(process(pid="payment"))
    bundle = parse_bundle({"caller.bpmn": caller, "callee.bpmn": callee})
    spec, subprocesses = bundle.spec_for("p")
    assert set(subprocesses) == {"payment"}


def test_exclusive_gateway_flow_without_condition_or_default() -> None:
    gateway = process(
        '<bpmn:exclusiveGateway id="gw" name="Which way?" default="flow_gw_other" />',
        '<bpmn:task id="other" name="Other" />',
        '<bpmn:sequenceFlow id="naked" name="no condition" sourceRef="gw" targetRef="end" />',
    )
    problem = only(refused({"x.bpmn": definitions(gateway)}), "gateway-condition")
    assert (problem.element_id, problem.element_name) == ("naked", "no condition")
    assert "Which way?" in problem.message


def test_no_start_event() -> None:
    problem = only(refused({"x.bpmn": definitions(process(start=False))}), "no-start-event")
    assert (problem.element_id, problem.element_name) == ("p", "Process p")


def timer(text: str, kind: str = "timeDuration") -> bytes:
    event = (
        '<bpmn:intermediateCatchEvent id="wait" name="Wait"><bpmn:timerEventDefinition>'
        f"<bpmn:{kind}>{text}</bpmn:{kind}></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    )
    return definitions(process(event))


@pytest.mark.parametrize(
    ("text", "kind", "fix"),
    [
        ("P7D", "timeDuration", '"P7D"'),
        ("R2/PT5M", "timeCycle", '"R2/PT5M"'),
        ("2030-01-01T10:00:00", "timeDate", '"2030-01-01T10:00:00"'),
    ],
)
def test_unquoted_iso_timer_is_refused_for_execution_with_a_fix(
    text: str, kind: str, fix: str
) -> None:
    bundle = parse_bundle({"x.bpmn": timer(text, kind)})
    reason = bundle.processes["p"].not_executable_reason
    assert reason is not None
    assert (reason.code, reason.element_id, reason.suggested_fix) == (
        "timer-expression",
        "wait",
        fix,
    )
    assert "quote" in reason.message


@pytest.mark.parametrize(
    ("text", "kind"),
    [('"P1X"', "timeDuration"), ('"R2/nonsense"', "timeCycle"), ('"tomorrow"', "timeDate")],
)
def test_quoted_timer_must_be_valid_iso(text: str, kind: str) -> None:
    reason = parse_bundle({"x.bpmn": timer(text, kind)}).processes["p"].not_executable_reason
    assert reason is not None and reason.code == "timer-expression" and reason.suggested_fix is None


@pytest.mark.parametrize("text", ['"PT5M"', '"R/P1D"', 'add_duration(now(), "P1D")', "deadline"])
def test_valid_and_computed_timers_are_accepted(text: str) -> None:
    kind = "timeCycle" if "R/" in text else "timeDuration"
    assert parse_bundle({"x.bpmn": timer(text, kind)}).processes["p"].executable


def test_cron_timer_is_not_supported() -> None:
    reason = (
        parse_bundle({"x.bpmn": timer("0/5 0/1 * 1/1 * ?", "timeCycle")})
        .processes["p"]
        .not_executable_reason
    )
    assert reason is not None and reason.code == "timer-cron" and "cron" in reason.message.lower()


def test_empty_timer_definition() -> None:
    empty = (
        '<bpmn:intermediateCatchEvent id="wait" name="Wait">'
        "<bpmn:timerEventDefinition /></bpmn:intermediateCatchEvent>"
    )
    reason = (
        parse_bundle({"x.bpmn": definitions(process(empty))}).processes["p"].not_executable_reason
    )
    assert reason is not None and (reason.code, reason.element_id) == ("timer-empty", "wait")


def test_script_syntax_error_names_the_task_and_the_line_in_the_file() -> None:
    script = (
        '<bpmn:scriptTask id="calc" name="Calculate">'
        "<bpmn:script>a = 1\nb = (\n</bpmn:script></bpmn:scriptTask>"
    )
    data = definitions(process(script))
    problem = only(refused({"x.bpmn": data}), "script-syntax")
    assert (problem.element_id, problem.element_name) == ("calc", "Calculate")
    assert problem.line == line_of(data, "b = (")
    assert "Line 2" in problem.message


def test_pre_and_post_scripts_are_checked() -> None:
    task = (
        '<bpmn:userTask id="ask" name="Ask"><bpmn:extensionElements>'
        "<spiffworkflow:preScript>ok = True</spiffworkflow:preScript>"
        "<spiffworkflow:postScript>if :</spiffworkflow:postScript>"
        "</bpmn:extensionElements></bpmn:userTask>"
    )
    problem = only(refused({"x.bpmn": definitions(process(task))}), "script-syntax")
    assert (problem.element_id, problem.element_name) == ("ask", "Ask")
    assert "post-script" in problem.message


def test_condition_syntax_error() -> None:
    gateway = process(
        '<bpmn:exclusiveGateway id="gw" name="Enough?" default="flow_gw_end" />',
        '<bpmn:sequenceFlow id="odd" name="weird" sourceRef="gw" targetRef="end">'
        "<bpmn:conditionExpression>amount &gt;&gt;&gt; 3</bpmn:conditionExpression>"
        "</bpmn:sequenceFlow>",
    )
    data = definitions(gateway)
    problem = only(refused({"x.bpmn": data}), "condition-syntax")
    assert (problem.element_id, problem.element_name, problem.line) == (
        "odd",
        "weird",
        line_of(data, 'id="odd"'),
    )


def test_juel_condition_is_view_only() -> None:
    gateway = process(
        '<bpmn:exclusiveGateway id="gw" name="Approved?" default="flow_gw_end" />',
        '<bpmn:sequenceFlow id="yes" sourceRef="gw" targetRef="end">'
        "<bpmn:conditionExpression>${approved}</bpmn:conditionExpression></bpmn:sequenceFlow>",
    )
    reason = parse_bundle({"x.bpmn": definitions(gateway)}).processes["p"].not_executable_reason
    assert reason is not None and (reason.code, reason.element_id) == (
        "unsupported-expression",
        "yes",
    )


def user_task_with_form(form: str) -> bytes:
    return definitions(
        process(
            '<bpmn:userTask id="ask" name="Ask"><bpmn:extensionElements><spiffworkflow:properties>'
            f'<spiffworkflow:property name="formJsonSchemaFilename" value="{form}" />'
            "</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>"
        )
    )


def test_missing_form() -> None:
    problem = only(refused({"x.bpmn": user_task_with_form("ask.json")}), "missing-form")
    assert (problem.element_id, problem.element_name) == ("ask", "Ask")
    assert "ask.json" in problem.message


@pytest.mark.parametrize(
    ("form", "line"),
    [(b'{"type": "object",\n "properties": }', 2), (json.dumps({"type": 12}).encode(), None)],
)
def test_invalid_form(form: bytes, line: int | None) -> None:
    problem = only(
        refused({"x.bpmn": user_task_with_form("ask.json")}, {"ask.json": form}), "form-invalid"
    )
    assert (problem.file, problem.line) == ("ask.json", line)


def test_non_executable_process_is_stored_for_viewing() -> None:
    bundle = parse_bundle({"x.bpmn": definitions(process(executable="false"))})
    info = bundle.processes["p"]
    assert not info.executable and info.not_executable_reason is not None
    assert (info.not_executable_reason.code, info.not_executable_reason.element_id) == (
        "non-executable",
        "p",
    )


def test_data_store_without_implementation_is_view_only() -> None:
    store = '<bpmn:dataStore id="store" name="Archive" />'
    ref = '<bpmn:dataStoreReference id="store_ref" name="Archive ref" dataStoreRef="store" />'
    data = definitions(
        process().replace("<bpmn:startEvent", ref + "<bpmn:startEvent", 1), extra=store
    )
    reason = parse_bundle({"x.bpmn": data}).processes["p"].not_executable_reason
    assert reason is not None and (reason.code, reason.element_id) == ("data-store", "store_ref")


def test_no_process_at_all() -> None:
    problems = refused({"x.bpmn": definitions()})
    assert [(p.code, p.severity) for p in problems] == [
        ("no-process", "warning"),  # about the file
        ("no-process", "error"),  # about the upload
    ]


DMN = "leave_allowance.dmn"


def test_dmn_files_are_added_and_used_by_business_rule_tasks() -> None:
    rule = (
        '<bpmn:businessRuleTask id="rule" name="Allowance"><bpmn:extensionElements>'
        "<spiffworkflow:calledDecisionId>leave_allowance</spiffworkflow:calledDecisionId>"
        "</bpmn:extensionElements></bpmn:businessRuleTask>"
    )
    files = {"x.bpmn": definitions(process(rule)), DMN: (FIXTURES / DMN).read_bytes()}
    workflow = BpmnWorkflow(*parse_bundle(files).spec_for("p"), script_engine=PythonScriptEngine())
    workflow.get_tasks(state=TaskState.READY)[0].set_data(grade="senior")
    workflow.do_engine_steps()
    assert workflow.is_completed() and workflow.data["allowance"] == 30
    problem = only(refused({"x.bpmn": files["x.bpmn"]}), "missing-decision")
    assert (problem.element_id, problem.element_name) == ("rule", "Allowance")


def test_dmn_alone_is_not_a_deployable_bundle() -> None:
    problems = refused({DMN: (FIXTURES / DMN).read_bytes()})
    assert [(p.code, p.severity) for p in problems] == [("no-process", "error")]


def test_duplicate_process_ids_across_files() -> None:
    problem = only(
        refused({"a.bpmn": definitions(process()), "b.bpmn": definitions(process())}),
        "duplicate-id",
    )
    assert problem.element_id == "p" and "a.bpmn" in problem.message


def test_recursive_call_is_reported_and_callers_are_view_only() -> None:
    a = process('<bpmn:callActivity id="call_b" name="Call B" calledElement="b" />', pid="a")
    b = process('<bpmn:callActivity id="call_a" name="Call A" calledElement="a" />', pid="b")
    top = process('<bpmn:callActivity id="call_a2" name="Start A" calledElement="a" />', pid="top")
    files = {"a.bpmn": definitions(a), "b.bpmn": definitions(b), "top.bpmn": definitions(top)}
    bundle = parse_bundle(files)
    reasons = {pid: info.not_executable_reason for pid, info in bundle.processes.items()}
    assert {pid: (r.code, r.element_id) for pid, r in reasons.items() if r} == {
        "a": ("recursive-call", "call_b"),
        "b": ("recursive-call", "call_a"),
        "top": ("called-process-not-executable", "call_a2"),
    }


def test_dangling_diagram_reference_is_a_warning() -> None:
    di = (
        '<bpmndi:BPMNDiagram xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" id="dia">'
        '<bpmndi:BPMNPlane id="plane" bpmnElement="gone" /></bpmndi:BPMNDiagram>'
    )
    bundle = parse_bundle({"x.bpmn": definitions(process(), extra=di)})
    problem = only(bundle.warnings, "dangling-di")
    assert (problem.severity, problem.element_id) == ("warning", "plane")
    assert "gone" in problem.message


def test_spiffworkflow_errors_get_element_name_and_line_from_the_xml() -> None:
    loop = '<bpmn:task id="again" name="Again"><bpmn:standardLoopCharacteristics /></bpmn:task>'
    data = definitions(process(loop))
    problem = only(refused({"x.bpmn": data}), "parse-error")
    assert (problem.element_id, problem.element_name, problem.file) == ("again", "Again", "x.bpmn")
    assert problem.line == line_of(data, 'id="again"')
    assert "loopMaximum or loopCondition" in problem.message


def test_camunda_dialect_and_its_keyerror_become_problems() -> None:
    rule = '<bpmn:businessRuleTask id="rule" name="Decide" />'
    data = definitions(process(rule), ns=f'xmlns:camunda="{CAMUNDA}"')
    problem = only(refused({"x.bpmn": data}), "missing-decision")
    assert problem.element_id == "rule"
    assert (
        parse_bundle({"x.bpmn": definitions(process(), ns=f'xmlns:camunda="{CAMUNDA}"')}).dialect
        == "camunda"
    )


def xxe(target: Path) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY leak SYSTEM "file://{target}">]>\n'
        f'<bpmn:definitions xmlns:bpmn="{BPMN}" id="D"><bpmn:process id="p">'
        "<bpmn:documentation>&leak;</bpmn:documentation></bpmn:process>"
        "</bpmn:definitions>"
    ).encode()


def test_xxe_is_refused_before_any_parser_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("MARKER-7f3a")

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("a parser was called on hostile XML")

    monkeypatch.setattr(BpmnParser, "add_bpmn_xml", forbidden)
    monkeypatch.setattr(xmlsafe.etree, "fromstring", forbidden)
    for data in (xxe(secret), xxe(secret).decode().encode("utf-16")):
        with pytest.raises(ValidationFailed) as caught:
            parse_bundle({"evil.bpmn": data})
        assert [p.code for p in caught.value.problems] == ["hostile-xml"]
        assert "MARKER" not in repr(caught.value.problems) + str(caught.value)


def test_doctype_hidden_behind_a_comment_is_still_refused() -> None:
    data = b'<?xml version="1.0"?><!-- hi --><!DOCTYPE d [<!ENTITY x "y">]><d>&x;</d>'
    with pytest.raises(ValidationFailed) as caught:
        safe_xml(data, "x.bpmn")
    assert caught.value.problems[0].code == "hostile-xml"


def test_safe_xml_never_resolves_entities_even_if_the_prescan_is_bypassed(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("MARKER-7f3a")
    # What lxml would do with the document on its own, with our settings: nothing is read.
    root = etree.fromstring(xxe(secret), xmlsafe._parser())
    assert "MARKER" not in etree.tostring(root).decode()


def test_files_over_the_limit_are_refused_before_parsing() -> None:
    data = (FIXTURES / LEAVE).read_bytes()
    problem = only(refused({"big.bpmn": data}, max_bytes=100), "too-large")
    assert problem.file == "big.bpmn"
    total = refused({"a.bpmn": data, "b.bpmn": data}, LEAVE_FORMS, max_bytes=len(data) + 10)
    assert [p.code for p in total] == ["too-large"] and total[0].file is None


def test_validation_failed_summarises() -> None:
    error = ValidationFailed(
        [Problem("Broken.", element_id="t", element_name="Task", file="x.bpmn", line=3)]
    )
    assert "x.bpmn:3" in str(error) and "Task (t)" in str(error) and error.http_status == 422


def test_bundle_is_a_plain_dataclass() -> None:
    bundle = parse_bundle({LEAVE: (FIXTURES / LEAVE).read_bytes()}, LEAVE_FORMS)
    assert isinstance(bundle, Bundle) and bundle.files[LEAVE].startswith(b"<?xml")
