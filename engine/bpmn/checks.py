"""Static checks of one process on the hardened tree, before SpiffWorkflow sees it.

Executability, unsupported elements, flows, timers, scripts, conditions, gateways, references and
ids SpiffWorkflow reserves: everything that can be said about a model from its XML alone.
`engine.bpmn.parsing` runs them for every process of a bundle.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from lxml import etree
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine.bpmn.calls import _problem_at
from engine.bpmn.restricted import validate_expression, validate_script
from engine.bpmn.timer_checks import (
    ModelLimits,
    _timer_problem,
    _too_long,
)
from engine.bpmn.xmlsafe import (
    BPMN_NS,
    CAMUNDA_NS,
    Problem,
    _xpath,
    form_refs,
)

FLOW_NODES = frozenset(
    [
        "task",
        "userTask",
        "manualTask",
        "scriptTask",
        "serviceTask",
        "sendTask",
        "receiveTask",
        "businessRuleTask",
        "callActivity",
        "subProcess",
        "transaction",
        "adHocSubProcess",
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "exclusiveGateway",
        "inclusiveGateway",
        "parallelGateway",
        "eventBasedGateway",
        "complexGateway",
        "callChoreography",
        "choreographyTask",
        "subChoreography",
    ]
)
IGNORED_EVENTS = ("linkEventDefinition", "compensateEventDefinition")
_LINE = re.compile(r"line (\d+)", re.I)


def _at(
    element: etree._Element, file: str, message: str, code: str, fix: str | None = None
) -> Problem:
    return Problem(
        message,
        element_id=element.get("id"),
        element_name=element.get("name"),
        file=file,
        line=element.sourceline,
        code=code,
        suggested_fix=fix,
    )


def _text(element: etree._Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _label(element: etree._Element) -> str:
    kind = etree.QName(element).localname
    return f"{kind} '{element.get('name') or element.get('id')}'"


def _is_python(language: str | None) -> bool:
    return not language or "python" in language.lower()


def _juel(text: str) -> bool:
    return text.startswith(("${", "#{"))


@dataclass
class CheckContext:
    """What the per-process checks need to know about the rest of the bundle."""

    dialect: str
    process_ids: set[str]
    decision_ids: set[str]
    forms: Mapping[str, bytes]
    complete: bool
    """Every file loaded; otherwise a missing reference may live in a broken file."""
    limits: ModelLimits = field(default_factory=ModelLimits)
    """Timer and script limits from the settings."""


def _supported(tag: str, dialect: str) -> bool:
    parser = CamundaParser if dialect == "camunda" else SpiffBpmnParser
    return tag in parser.OVERRIDE_PARSER_CLASSES or tag in parser.PARSER_CLASSES


def _flow_nodes(process: etree._Element) -> list[etree._Element]:
    return [
        el
        for el in process.iter(etree.Element)
        if etree.QName(el).namespace == BPMN_NS and etree.QName(el).localname in FLOW_NODES
    ]


def _structure(process: etree._Element, file: str, ctx: CheckContext) -> list[Problem]:
    problems = []
    if not _xpath(process, "./bpmn:startEvent"):
        problems.append(
            _at(process, file, "The process has no start event. Add one.", "no-start-event")
        )
    for sub in _xpath(process, ".//bpmn:subProcess | .//bpmn:transaction"):
        if len(_xpath(sub, "./bpmn:startEvent")) != 1:
            problems.append(
                _at(
                    sub, file, f"The {_label(sub)} needs exactly one start event.", "no-start-event"
                )
            )
    for node in _flow_nodes(process):
        kind = etree.QName(node).localname
        if not _supported(node.tag, ctx.dialect):
            message = f"A {kind} cannot be executed by this engine; it can only be viewed."
            problems.append(_at(node, file, message, "unsupported-element"))
        elif (
            kind == "serviceTask"
            and ctx.dialect == "spiff"
            and not _xpath(node, "./bpmn:extensionElements/spiffworkflow:serviceTaskOperator")
        ):
            message = "The service task has no SpiffWorkflow service operator, so it cannot run."
            problems.append(_at(node, file, message, "unsupported-element"))
        for definition in IGNORED_EVENTS:
            if _xpath(node, f"./bpmn:{definition}"):
                message = f"A {definition.removesuffix('EventDefinition')} event is not supported."
                problems.append(_at(node, file, message, "unsupported-element"))
    for ref in _xpath(process, ".//bpmn:dataStoreReference"):
        message = (
            f"It uses the data store '{ref.get('dataStoreRef') or ref.get('name')}', which has no "
            "implementation here; remove it or model the data as task data."
        )
        problems.append(_at(ref, file, message, "data-store"))
    return problems


def _timers(process: etree._Element, file: str, ctx: CheckContext) -> list[Problem]:
    problems = []
    for definition in _xpath(process, ".//bpmn:timerEventDefinition"):
        event = definition.getparent()
        specs = _xpath(definition, "./bpmn:timeDate | ./bpmn:timeDuration | ./bpmn:timeCycle")
        kind = etree.QName(specs[0]).localname if specs else "timeDuration"
        found = _timer_problem(kind, _text(specs[0]) if specs else "", ctx.limits)
        if found:
            code, message, fix = found
            problems.append(_at(event, file, message, code, fix))
    return problems


def _script_problem(
    owner: etree._Element, file: str, holder: etree._Element, what: str, limits: ModelLimits
) -> Problem | None:
    text = holder.text or ""
    if len(text) > limits.max_script_chars:
        return _at(owner, file, _too_long(what, len(text), limits), "script-syntax")
    error = validate_script(text) if text.strip() else None
    if error is None:
        return None
    match = _LINE.search(error)
    line = holder.sourceline + int(match.group(1)) - 1 if match and holder.sourceline else None
    message = f"The {what} cannot run here ({error}). Fix the script."
    return replace(_at(owner, file, message, "script-syntax"), line=line or owner.sourceline)


def _scripts(process: etree._Element, file: str, ctx: CheckContext) -> list[Problem]:
    problems = []
    for task in _xpath(process, ".//bpmn:scriptTask"):
        if not _is_python(task.get("scriptFormat")):
            message = f"The script is {task.get('scriptFormat')}; only Python scripts can run."
            problems.append(_at(task, file, message, "unsupported-expression"))
            continue
        scripts = _xpath(task, "./bpmn:script")
        if not scripts or not _text(scripts[0]):
            problems.append(_at(task, file, "The script task has no script.", "script-syntax"))
        elif found := _script_problem(task, file, scripts[0], "script", ctx.limits):
            problems.append(found)
    for holder in _xpath(process, ".//spiffworkflow:preScript | .//spiffworkflow:postScript"):
        owner = holder.getparent().getparent()
        what = "pre-script" if etree.QName(holder).localname == "preScript" else "post-script"
        if found := _script_problem(owner, file, holder, what, ctx.limits):
            problems.append(found)
    return problems


_CONDITIONS = " | ".join(
    (
        ".//bpmn:sequenceFlow/bpmn:conditionExpression",
        ".//bpmn:conditionalEventDefinition/bpmn:condition",
        ".//bpmn:loopCondition",
        ".//bpmn:completionCondition",
        ".//bpmn:loopCardinality",
    )
)


def _conditions(process: etree._Element, file: str, ctx: CheckContext) -> list[Problem]:
    problems = []
    for holder in _xpath(process, _CONDITIONS):
        owner = holder.getparent()  # the flow, or the loop/event definition inside a node
        if etree.QName(owner).localname not in {"sequenceFlow", *FLOW_NODES}:
            owner = owner.getparent()
        text = _text(holder)
        if not text:
            if etree.QName(holder).localname == "condition":
                problems.append(_at(owner, file, "The condition is empty.", "condition-syntax"))
            continue  # an empty flow condition is a missing one: see _gateways
        if _juel(text) or not _is_python(holder.get("language")):
            message = (
                f"The condition {text} is not Python (JUEL or another language); "
                "rewrite it as a Python expression over the task data."
            )
            problems.append(_at(owner, file, message, "unsupported-expression"))
        elif len(text) > ctx.limits.max_script_chars:
            message = _too_long("condition", len(text), ctx.limits)
            problems.append(_at(owner, file, message, "condition-syntax"))
        elif error := validate_expression(text):
            message = f"The condition {text} cannot be evaluated here ({error}). Fix it."
            problems.append(_at(owner, file, message, "condition-syntax"))
    return problems


def _gateways(process: etree._Element, file: str, ctx: CheckContext) -> list[Problem]:
    problems = []
    outgoing: dict[str, list[etree._Element]] = {}
    for flow in _xpath(process, ".//bpmn:sequenceFlow"):
        outgoing.setdefault(flow.get("sourceRef", ""), []).append(flow)
    for gateway in _xpath(process, ".//bpmn:exclusiveGateway | .//bpmn:inclusiveGateway"):
        flows = outgoing.get(gateway.get("id", ""), [])
        if len(flows) < 2:
            continue
        for flow in flows:
            condition = _xpath(flow, "./bpmn:conditionExpression")
            if flow.get("id") != gateway.get("default") and not _text(
                condition[0] if condition else None
            ):
                message = (
                    f"This flow leaves {_label(gateway)} without a condition and is not its "
                    "default flow. Add a condition, or make it the default flow."
                )
                problems.append(_at(flow, file, message, "gateway-condition"))
    return problems


def _references(process: etree._Element, file: str, ctx: CheckContext) -> list[Problem]:
    problems = []
    for call in _xpath(process, ".//bpmn:callActivity"):
        called = call.get("calledElement")
        if not called or (ctx.complete and called not in ctx.process_ids):
            message = (
                f"It calls the process '{called}', which is not in this upload. Upload the file "
                "that defines it together with this one."
                if called
                else "The call activity does not say which process it calls (calledElement)."
            )
            problems.append(_at(call, file, message, "missing-called-process"))
    for task in _xpath(process, ".//bpmn:businessRuleTask"):
        refs = _xpath(task, "./bpmn:extensionElements/spiffworkflow:calledDecisionId")
        decision = _text(refs[0]) if refs else task.get(f"{{{CAMUNDA_NS}}}decisionRef", "")
        if ctx.complete and decision not in ctx.decision_ids:
            message = (
                f"It uses the decision '{decision}', which no DMN file in this upload defines."
                if decision
                else "The business rule task does not name a decision table."
            )
            problems.append(_at(task, file, message, "missing-decision"))
    for task, form in form_refs(process):
        if form not in ctx.forms:
            message = f"Its form file '{form}' is missing. Upload it together with the diagram."
            problems.append(_at(task, file, message, "missing-form"))
    return problems


_CHECKS: tuple[Callable[[etree._Element, str, CheckContext], list[Problem]], ...] = (
    _structure,
    _timers,
    _scripts,
    _conditions,
    _gateways,
    _references,
)


def check_process(process: etree._Element, file: str, ctx: CheckContext) -> list[Problem]:
    """Every problem of one process element: executability, flows, tasks, scripts."""
    executable = process.get("isExecutable", "true")
    if executable != "true":
        message = (
            f'The process is marked not executable (isExecutable="{executable}"): it can be '
            "viewed but not started. Set isExecutable to true in the modeller to run it."
        )
        return [_at(process, file, message, "non-executable")]
    problems: list[Problem] = []
    for check in _CHECKS:
        problems += check(process, file, ctx)
    return problems


RESERVED_IDS = frozenset({"Start", "End", "Root"})
"""Task spec names SpiffWorkflow 3.2 gives its own tasks in every process (BpmnProcessSpec)."""
RESERVED_SUFFIXES = (".EndJoin", ".BoundaryEventSplit", ".BoundaryEventJoin")
"""Suffixes of the names SpiffWorkflow gives a process's end join and a task's boundary events."""
_FLOW_NODE_TAGS = ("Task", "task", "Event", "Gateway", "subProcess", "callActivity", "transaction")


def _reserved_id_problems(process: etree._Element, file: str) -> list[Problem]:
    """Elements whose id clashes with a task SpiffWorkflow adds by itself: such a model parses,
    then every start fails (`Start` would replace the library's own start task)."""
    problems = []
    for element in process.iter(f"{{{BPMN_NS}}}*"):
        element_id = element.get("id")
        tag = etree.QName(element).localname
        if not element_id or not tag.endswith(_FLOW_NODE_TAGS):
            continue
        if element_id in RESERVED_IDS or element_id.endswith(RESERVED_SUFFIXES):
            message = (
                f"The id '{element_id}' is reserved by the workflow engine. "
                "Give this element another id (for example StartEvent_1)."
            )
            problems.append(_problem_at(element, file, message, "reserved-id"))
    return problems
