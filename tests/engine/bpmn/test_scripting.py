"""The script sandbox: refusals, ordinary models, helpers on the engine clock, time limits."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.restricted import validate_expression, validate_script
from engine.bpmn.scripting import ScriptRefused, ScriptTimeout, make_script_engine
from engine.clock import VirtualClock, use_clock

START = datetime(2027, 3, 15, 9, 0, tzinfo=UTC)

DEFINITIONS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    id="defs" targetNamespace="http://example.org/test">
  <bpmn:process id="proc" isExecutable="true">
{body}
  </bpmn:process>
</bpmn:definitions>"""


def script_task(task_id: str, script: str) -> str:
    return (
        f'<bpmn:scriptTask id="{task_id}" name="{task_id}" scriptFormat="python">'
        f"<bpmn:script>{escape(script)}</bpmn:script></bpmn:scriptTask>"
    )


def flow(flow_id: str, source: str, target: str, condition: str | None = None) -> str:
    if condition is None:
        return f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}"/>'
    return (
        f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}">'
        f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(condition)}'
        "</bpmn:conditionExpression></bpmn:sequenceFlow>"
    )


def workflow(body: str, clock: VirtualClock, time_limit: float = 2.0) -> BpmnWorkflow:
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(DEFINITIONS.format(body=body).encode(), "test.bpmn")
    return BpmnWorkflow(
        parser.get_spec("proc"), script_engine=make_script_engine(clock, time_limit=time_limit)
    )


def script_workflow(
    script: str, clock: VirtualClock | None = None, time_limit: float = 2.0, **data: Any
) -> BpmnWorkflow:
    """start -> one script task -> end, run as far as it goes."""
    body = "\n".join(
        [
            '<bpmn:startEvent id="start"/>',
            script_task("script", script),
            '<bpmn:endEvent id="end"/>',
            flow("f1", "start", "script"),
            flow("f2", "script", "end"),
        ]
    )
    wf = workflow(body, clock or VirtualClock(START), time_limit)
    wf.get_tasks(state=TaskState.READY)[0].set_data(**data)
    wf.do_engine_steps()
    return wf


def run_script(script: str, clock: VirtualClock | None = None, **data: Any) -> dict[str, Any]:
    """Run a one-script workflow to the end and return its data."""
    wf = script_workflow(script, clock, **data)
    assert wf.is_completed()
    return dict(wf.data)


def run_condition(condition: str, **data: Any) -> str:
    """start -> gateway -(condition)-> yes / (default) -> no; returns the end event reached."""
    body = "\n".join(
        [
            '<bpmn:startEvent id="start"/>',
            '<bpmn:exclusiveGateway id="gw" default="to_no"/>',
            '<bpmn:endEvent id="yes"/>',
            '<bpmn:endEvent id="no"/>',
            flow("f1", "start", "gw"),
            flow("to_yes", "gw", "yes", condition),
            flow("to_no", "gw", "no"),
        ]
    )
    wf = workflow(body, VirtualClock(START))
    wf.get_tasks(state=TaskState.READY)[0].set_data(**data)
    wf.do_engine_steps()
    (end,) = [
        t for t in wf.get_tasks(state=TaskState.COMPLETED) if t.task_spec.name in ("yes", "no")
    ]
    return str(end.task_spec.name)


@pytest.fixture
def env() -> Any:
    return make_script_engine(VirtualClock(START), time_limit=0.5).environment


# --- refusals ---------------------------------------------------------------------------------

REFUSED_EXPRESSIONS = [
    ("__import__('os').system('true')", "__import__"),
    ("().__class__.__base__.__subclasses__()", "__class__"),
    ("[].__class__.__mro__", "__class__"),
    ("open('/etc/passwd').read()", "open()"),
    ("globals()", "globals()"),
    ("eval('1 + 1')", "eval()"),
    ("exec('x = 1')", "exec()"),
    ("compile('1', 'x', 'eval')", "compile()"),
    ("getattr(1, '__class__')", "getattr()"),
    ("sys.modules", "'sys'"),
    ("gc.get_objects()", "'gc'"),
    ("os.system('true')", "'os'"),
    ("'{0.__class__}'.format(1)", "str.format()"),
    ("sum(range(10**12))", "range()"),
    ("'x' * 10**9", "sequence"),
    ("10**10**10", "bits"),
]

REFUSED_STATEMENTS = [
    ("import os", "import os"),
    ("import gc\ngc.collect()", "import gc"),
    ("from sys import modules", "from sys import"),
    ("class Escape:\n    pass", "class Escape"),
    ("reader = open\nreader('/etc/passwd')", "open()"),
    ("g = globals\nx = g()", "globals()"),
]


@pytest.mark.parametrize(("source", "named"), REFUSED_EXPRESSIONS)
def test_refused_in_direct_evaluate(env: Any, source: str, named: str) -> None:
    with pytest.raises(ScriptRefused) as err:
        env.evaluate(source, {})
    assert named in str(err.value)


@pytest.mark.parametrize(("source", "named"), REFUSED_EXPRESSIONS + REFUSED_STATEMENTS)
def test_refused_in_a_script_task_keeps_the_message(source: str, named: str) -> None:
    script = source if "\n" in source or source.startswith(("import", "from")) else f"x = {source}"
    with pytest.raises(WorkflowTaskException) as err:
        run_script(script)
    assert "ScriptRefused" in str(err.value)
    assert named in str(err.value)


@pytest.mark.parametrize(("source", "named"), REFUSED_EXPRESSIONS[:5])
def test_refused_in_a_gateway_condition_keeps_the_message(source: str, named: str) -> None:
    with pytest.raises(WorkflowTaskException) as err:
        run_condition(source)
    assert "ScriptRefused" in str(err.value)
    assert named in str(err.value)


def test_a_refused_call_does_not_run(tmp_path: Path) -> None:
    target = tmp_path / "written.txt"
    with pytest.raises(WorkflowTaskException):
        run_script(f"w = open\nw({str(target)!r}, 'w').write('x')")
    assert not target.exists()


def test_missing_attribute_is_an_error_not_none(env: Any) -> None:
    with pytest.raises(AttributeError, match="nope"):
        env.evaluate("data.nope", {"data": {}})


def test_task_data_hiding_a_helper_is_refused_with_its_name() -> None:
    with pytest.raises(WorkflowTaskException, match="'now'"):
        run_script("x = 1", now="yesterday")


# --- ordinary models --------------------------------------------------------------------------


def test_ordinary_script_runs_and_leaves_only_json_data() -> None:
    script = "\n".join(
        [
            "total = price * quantity",
            "total += shipping",
            "order['status'] = 'priced'",
            "order['lines'] += 1",
            "doubled = [q * 2 for q in quantities if q > 1]",
            "by_name = {k: len(k) for k in ('ab', 'abc')}",
            "label = f\"{order['id']}: {total:.2f} ({order.get('note', 'none')})\"",
            "first, *rest = sorted(quantities, reverse=True)",
            "def half(x):",
            "    return x / 2",
            "halved = round(half(total), 1)",
            "twice = lambda x: x * 2",
            "big = any(q > 2 for q in quantities) and isinstance(total, float)",
            "count = 0",
            "while count < 3:",
            "    count += 1",
        ]
    )
    data = run_script(
        script,
        price=12.5,
        quantity=4,
        shipping=5,
        quantities=[1, 2, 3],
        order={"id": "A-1", "lines": 1},
    )
    assert data["total"] == 55.0
    assert data["order"] == {"id": "A-1", "lines": 2, "status": "priced"}
    assert data["doubled"] == [4, 6]
    assert data["by_name"] == {"ab": 2, "abc": 3}
    assert data["label"] == "A-1: 55.00 (none)"
    assert (data["first"], data["rest"]) == (3, [2, 1])
    assert data["halved"] == 27.5
    assert data["big"] is True
    assert data["count"] == 3
    assert "half" not in data and "twice" not in data and "now" not in data
    assert not [k for k in data if k.startswith("_")]
    json.dumps(data)  # nothing unserialisable was left behind


def test_workflow_after_a_sandboxed_script_survives_serialization() -> None:
    wf = script_workflow("def f():\n    return 1\nresult = f()\nsquare = lambda x: x * x")
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    restored = serializer.deserialize_json(serializer.serialize_json(wf))
    assert restored.data == {"result": 1}


@pytest.mark.parametrize(
    ("condition", "data", "expected"),
    [
        ("amount > 100", {"amount": 150}, "yes"),
        ("amount > 100", {"amount": 50}, "no"),
        (
            "order.get('country') in ('SN', 'CI') and len(items) >= 2",
            {"order": {"country": "SN"}, "items": [1, 2]},
            "yes",
        ),
        (
            "order.get('country') in ('SN', 'CI') and len(items) >= 2",
            {"order": {}, "items": [1, 2]},
            "no",
        ),
        ("days_between(submitted, today()) > 30", {"submitted": "2027-01-01"}, "yes"),
        ("days_between(submitted, today()) > 30", {"submitted": "2027-03-01"}, "no"),
    ],
)
def test_exclusive_gateway_conditions_choose_the_path(
    condition: str, data: dict[str, Any], expected: str
) -> None:
    assert run_condition(condition, **data) == expected


# --- helpers on the engine clock --------------------------------------------------------------


def test_helpers_read_the_virtual_clock() -> None:
    clock = VirtualClock(START)
    script = "\n".join(
        [
            "stamp = now()",
            "day = today()",
            "renewal = add_duration(day, 'P1Y')",
            "reminder = add_duration(stamp, 'PT90M')",
            "end_of_feb = add_duration('2028-01-31', 'P1M')",
            "waited = days_between('2027-03-01', day)",
            "waited_back = days_between(stamp, '2027-03-14T10:00:00+00:00')",
        ]
    )
    data = run_script(script, clock)
    assert data["stamp"] == "2027-03-15T09:00:00+00:00"
    assert data["day"] == "2027-03-15"
    assert data["renewal"] == "2028-03-15"
    assert data["reminder"] == "2027-03-15T10:30:00+00:00"
    assert data["end_of_feb"] == "2028-02-29"
    assert data["waited"] == 14
    assert data["waited_back"] == 0

    clock.advance(years=1, days=1)
    later = run_script("stamp = now()\nday = today()", clock)
    assert (later["stamp"], later["day"]) == ("2028-03-16T09:00:00+00:00", "2028-03-16")


def test_helper_errors_name_the_bad_text(env: Any) -> None:
    with pytest.raises(ValueError, match="'P1X'"):
        env.evaluate("add_duration('2027-01-01', 'P1X')", {})
    with pytest.raises(ValueError, match="'soon'"):
        env.evaluate("days_between('soon', today())", {})


def test_timer_expression_runs_in_the_sandbox_on_the_engine_clock() -> None:
    clock = VirtualClock(START)
    body = "\n".join(
        [
            '<bpmn:startEvent id="start"/>',
            '<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition>'
            '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">'
            "add_duration(signed, &quot;P1Y&quot;)</bpmn:timeDate>"
            "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>",
            '<bpmn:endEvent id="end"/>',
            flow("f1", "start", "wait"),
            flow("f2", "wait", "end"),
        ]
    )
    with use_clock(clock):
        wf = workflow(body, clock)
        wf.get_tasks(state=TaskState.READY)[0].set_data(signed="2027-03-15T09:00:00+00:00")
        wf.do_engine_steps()
        clock.set(datetime(2028, 3, 15, 8, 59, tzinfo=UTC))
        wf.refresh_timers()
        wf.do_engine_steps()
        assert not wf.is_completed()
        clock.advance(timedelta(minutes=2))
        wf.refresh_timers()
        wf.do_engine_steps()
        assert wf.is_completed()


# --- errors and time limits -------------------------------------------------------------------


def test_script_errors_keep_message_and_line_number() -> None:
    with pytest.raises(WorkflowTaskException) as err:
        run_script("a = 1\nb = 2\nc = a / 0")
    assert "ZeroDivisionError" in str(err.value)
    assert err.value.line_number == 3
    assert err.value.error_line == "c = a / 0"


def test_non_string_exception_arguments_do_not_break_error_reporting() -> None:
    # SpiffWorkflow's own handler does `name + ":" + err.args[0]`, a TypeError for KeyError(1).
    with pytest.raises(WorkflowTaskException, match="KeyError: 1"):
        run_script("d = {}\nx = d[1]")


def test_compile_time_refusal_reports_its_line() -> None:
    with pytest.raises(WorkflowTaskException) as err:
        run_script("a = 1\nb = 2\nimport os")
    assert err.value.line_number == 3
    assert err.value.error_line == "import os"


def _in_worker_thread(target: Any) -> tuple[BaseException | None, float]:
    outcome: list[BaseException | None] = [None]

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # reported to the test thread
            outcome[0] = exc

    began = time.monotonic()
    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive()
    return outcome[0], time.monotonic() - began


@pytest.mark.parametrize(
    "script",
    [
        "while True: pass",
        "x = 0\nwhile True:\n    x += 1",
        "try:\n    while True: pass\nexcept:\n    pass",
        "n = [a for a in range(10**6) for b in range(10**6)]",
        "def f(n):\n    return f(n - 1) + f(n - 1) if n else 1\nx = f(64)",
    ],
)
def test_time_limit_stops_runaway_scripts_in_a_worker_thread(script: str) -> None:
    env = make_script_engine(VirtualClock(START), time_limit=0.5).environment
    error, elapsed = _in_worker_thread(lambda: env.execute(script, {}))
    assert isinstance(error, ScriptTimeout)
    assert "0.5 s" in str(error)
    assert elapsed < 5  # stopped, not merely slow: unstopped, these run for hours


def test_time_limit_through_a_workflow_keeps_the_message() -> None:
    error, elapsed = _in_worker_thread(
        lambda: script_workflow("while True:\n    pass", time_limit=0.5)
    )
    assert isinstance(error, WorkflowTaskException)
    assert "ScriptTimeout" in str(error) and "0.5 s" in str(error)
    assert elapsed < 5  # stopped, not merely slow: unstopped, these run for hours


def test_time_limit_in_a_gateway_condition() -> None:
    env = make_script_engine(VirtualClock(START), time_limit=0.3).environment
    error, elapsed = _in_worker_thread(
        lambda: env.evaluate("any(a + b < 0 for a in range(10**6) for b in range(10**6))", {})
    )
    assert isinstance(error, ScriptTimeout)
    assert elapsed < 5  # stopped, not merely slow: unstopped, this runs for hours


# --- validation -------------------------------------------------------------------------------


def test_validate_accepts_ordinary_code() -> None:
    assert validate_script("x = 1\nif x:\n    y = [i for i in range(3)]") is None
    assert validate_expression('amount > 100 and f"{amount}" != ""') is None
    assert validate_expression('"P1Y"') is None


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("x = 1\ny = (\n", 2, "never closed"),
        ("x = 1\n\nif x\n    pass", 3, "expected ':'"),
        ("a = 1\nimport os", 2, "import os"),
        ("a = 1\nb = a.__class__", 2, "__class__"),
    ],
)
def test_validate_script_reports_line_numbers(text: str, line: int, fragment: str) -> None:
    problem = validate_script(text)
    assert problem is not None
    assert problem.startswith(f"Line {line}:")
    assert fragment in problem


def test_validate_expression_reports_problems() -> None:
    assert validate_expression("amount >") == "Line 1: invalid syntax"
    problem = validate_expression("open('x')")
    assert problem is not None and "open()" in problem
    assert validate_expression("x = 1") is not None  # a statement is not an expression


# --- data objects cannot be shadowed -----------------------------------------------------------


def test_a_data_object_wins_over_task_data_of_the_same_name(env: Any) -> None:
    """SpiffWorkflow passes the data objects as external context; a form field named like one
    (say `pathfinder_status`) must not change which way a gateway goes."""
    expression = "pathfinder_status == 'on_hold'"
    assert env.evaluate(
        expression, {"pathfinder_status": "pathfinder"}, {"pathfinder_status": "on_hold"}
    )
    assert not env.evaluate(
        expression, {"pathfinder_status": "on_hold"}, {"pathfinder_status": "x"}
    )
    assert env.evaluate(expression, {"pathfinder_status": "on_hold"}, None)
