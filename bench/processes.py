"""The small BPMN models the benchmarks run (built from readable fragments, like the tests do)."""

from __future__ import annotations

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
  id="defs_{pid}" targetNamespace="http://bpmn.io/schema/bpmn">
"""


def _bpmn(pid: str, body: str, lanes: dict[str, list[str]] | None = None) -> bytes:
    lane_xml = collab = ""
    if lanes:
        refs = "".join(
            f'<bpmn:lane id="lane_{i}" name="{lane}">'
            + "".join(f"<bpmn:flowNodeRef>{ref}</bpmn:flowNodeRef>" for ref in nodes)
            + "</bpmn:lane>"
            for i, (lane, nodes) in enumerate(lanes.items())
        )
        lane_xml = f'<bpmn:laneSet id="ls_{pid}">{refs}</bpmn:laneSet>'
        collab = (
            f'<bpmn:collaboration id="collab_{pid}"><bpmn:participant id="pool_{pid}" '
            f'processRef="{pid}" /></bpmn:collaboration>'
        )
    return (
        HEADER.format(pid=pid)
        + collab
        + f'<bpmn:process id="{pid}" name="{pid}" isExecutable="true">{lane_xml}{body}'
        + "</bpmn:process></bpmn:definitions>"
    ).encode()


def _flow(fid: str, src: str, dst: str, condition: str | None = None) -> str:
    if condition is None:
        return f'<bpmn:sequenceFlow id="{fid}" sourceRef="{src}" targetRef="{dst}" />'
    return (
        f'<bpmn:sequenceFlow id="{fid}" sourceRef="{src}" targetRef="{dst}">'
        f"<bpmn:conditionExpression>{condition}</bpmn:conditionExpression></bpmn:sequenceFlow>"
    )


def _user(tid: str, name: str) -> str:
    return f'<bpmn:userTask id="{tid}" name="{name}" />'


def _chain(ids: list[str]) -> str:
    return "".join(_flow(f"f_{a}_{b}", a, b) for a, b in zip(ids, ids[1:], strict=False))


FIVE_TASKS = [f"t{i}" for i in range(1, 6)]
FIVE = _bpmn(
    "five",
    '<bpmn:startEvent id="start" />'
    + "".join(_user(t, f"Step {t[1:]}") for t in FIVE_TASKS)
    + '<bpmn:endEvent id="end" />'
    + _chain(["start", *FIVE_TASKS, "end"]),
)
"""Five user tasks in a row (B1, B2, B7)."""

REVIEW_CYCLE = _bpmn(
    "cycle",
    '<bpmn:startEvent id="start" />'
    + _user("prepare", "Prepare annual report")
    + _user("review", "Review annual report")
    + '<bpmn:scriptTask id="count" name="Count cycle"><bpmn:script>'
    + "cycle = cycle + 1</bpmn:script></bpmn:scriptTask>"
    + '<bpmn:exclusiveGateway id="again" name="Another year?" default="f_loop" />'
    + '<bpmn:endEvent id="end" />'
    + _chain(["start", "prepare", "review", "count", "again"])
    + _flow("f_done", "again", "end", "done == True")
    + _flow("f_loop", "again", "prepare"),
    lanes={"Country": ["start", "prepare"], "Secretariat": ["review", "count", "again", "end"]},
)
"""A yearly review cycle (B3): two user tasks, a script and a gateway per iteration."""

TIMED = _bpmn(
    "timed",
    '<bpmn:startEvent id="start" />'
    + '<bpmn:intermediateCatchEvent id="wait" name="Wait until due">'
    + "<bpmn:timerEventDefinition><bpmn:timeDate>due</bpmn:timeDate></bpmn:timerEventDefinition>"
    + "</bpmn:intermediateCatchEvent>"
    + '<bpmn:scriptTask id="effect" name="Record firing"><bpmn:script>'
    + "fired = True</bpmn:script></bpmn:scriptTask>"
    + '<bpmn:endEvent id="end" />'
    + _chain(["start", "wait", "effect", "end"]),
)
"""Wait until the date in `due`, then record the firing and end (B4, B6, B7)."""

INBOX = _bpmn(
    "inbox",
    '<bpmn:startEvent id="start" />'
    + _user("country_step", "Country step")
    + _user("secretariat_step", "Secretariat step")
    + '<bpmn:endEvent id="end" />'
    + _chain(["start", "country_step", "secretariat_step", "end"]),
    lanes={"Country": ["start", "country_step"], "Secretariat": ["secretariat_step", "end"]},
)
"""Two lanes; B5 fills the task table for it directly."""

TWO_FIELDS = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "title": "Two fields",
    "required": ["title", "amount"],
    "properties": {
        "title": {"type": "string", "title": "Title", "minLength": 1, "maxLength": 80},
        "amount": {"type": "integer", "title": "Amount", "minimum": 0},
    },
}
"""The 2-field form of every step of FLOW."""


def _form_task(tid: str, name: str) -> str:
    return (
        f'<bpmn:userTask id="{tid}" name="{name}"><bpmn:extensionElements>'
        '<spiffworkflow:properties><spiffworkflow:property name="formJsonSchemaFilename" '
        'value="two.schema.json" /></spiffworkflow:properties></bpmn:extensionElements>'
        "</bpmn:userTask>"
    )


FLOW = _bpmn(
    "flow",
    '<bpmn:startEvent id="start" />'
    + "".join(_form_task(t, f"Step {t[1:]}") for t in FIVE_TASKS)
    + '<bpmn:endEvent id="end" />'
    + _chain(["start", *FIVE_TASKS, "end"]),
)
"""Five user tasks in a row, each a 2-field form (B10: issue 18's flow)."""
