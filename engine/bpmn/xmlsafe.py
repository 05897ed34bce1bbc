"""Safe intake of uploaded XML: bytes in, a trusted lxml tree or a list of problems out.

Everything here runs before SpiffWorkflow sees a byte. A document type declaration is refused
outright (it is the only place entities can be declared, so refusing it rules out XXE and
entity expansion bombs), and lxml is configured so that it could not fetch anything even if one
slipped through. `Problem` and `ValidationFailed` live here because this is where the first
problems are found; `engine.parsing` re-exports them.

The second half holds the static checks of one process on the hardened tree (timers, scripts,
conditions, gateways, references, unsupported elements): everything that can be said about a
model without SpiffWorkflow. It is over the usual length because both halves read raw XML and
the ownership split allowed two modules; `bpmn_checks.py` would be its natural home.
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS as DMN_SCHEMAS
from SpiffWorkflow.spiff.parser.process import VALIDATOR as SPIFF_VALIDATOR
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine.bpmn.scripting import validate_expression, validate_script
from engine.errors import EngineError

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
NSMAP = {
    "bpmn": BPMN_NS,
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "spiffworkflow": SPIFF_NS,
}
# Namespaces whose XSD errors mean the model itself is wrong (not a vendor's extension).
OWN_NAMESPACES = {*NSMAP.values(), "http://www.omg.org/spec/DD/20100524/DI"}

_PROLOG_NOISE = re.compile(rb"<!--.*?-->|<\?.*?\?>|\s+", re.S)
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.I)
_QUOTED_NAMESPACE = re.compile(r"'\{([^}]*)\}")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an uploaded model, said so that a modeller can fix it."""

    message: str
    """Plain language: what is wrong and what to do."""
    element_id: str | None = None
    """The BPMN element's id, when the problem is about one element."""
    element_name: str | None = None
    """The element's name as shown in the diagram, looked up from the XML."""
    file: str | None = None
    """The uploaded file name."""
    line: int | None = None
    """1-based line in `file`, where known."""
    severity: str = "error"
    """"error" (refuses the bundle, or the process cannot be started) or "warning"."""
    code: str = ""
    """Stable short kind, e.g. `xml-syntax`, `timer-expression`; see `engine.parsing`."""
    suggested_fix: str | None = None
    """Replacement text for the element's expression when the fix is mechanical."""

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line) if p is not None)
        what = f"{self.element_name or ''} ({self.element_id})" if self.element_id else ""
        return " ".join(p for p in (where, what.strip(), self.message) if p)


class ValidationFailed(EngineError):
    """The bundle was refused; `problems` lists everything found, not just the first."""

    http_status = 422
    title = "Model refused"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        errors = [p for p in self.problems if p.severity == "error"] or self.problems
        summary = "; ".join(str(p) for p in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"{len(errors)} problem(s): {summary}{more}", problems=self.problems)


def _hostile(filename: str, line: int | None = None) -> Problem:
    return Problem(
        "The file declares a DOCTYPE (DTD or entities). Uploaded models may not, because that "
        "is how XML files are made to read other files. Remove the <!DOCTYPE ...> declaration.",
        file=filename,
        line=line,
        code="hostile-xml",
    )


def _has_declaration_in_prolog(data: bytes) -> bool:
    # UTF-16/32 text becomes ASCII-searchable once the zero bytes are dropped.
    text = data.replace(b"\x00", b"").lstrip(b"\xef\xbb\xbf\xfe\xff")  # and byte order marks
    position = 0
    while True:
        noise = _PROLOG_NOISE.match(text, position)
        if noise is None or noise.end() == position:
            break
        position = noise.end()
    return _DECLARATION.match(text, position) is not None


def _parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers keep state and are not thread-safe.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def safe_xml(data: bytes, filename: str) -> etree._Element:
    """Parse uploaded XML with every external reference disabled.

    Raises:
        ValidationFailed: `hostile-xml` for any DOCTYPE/entity declaration (refused before lxml
            reads the bytes), `xml-syntax` with the line for malformed XML.
    """
    if _has_declaration_in_prolog(data):
        raise ValidationFailed([_hostile(filename)])
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as error:
        raise ValidationFailed(
            [
                Problem(
                    f"The file is not well-formed XML: {error.msg}. Open it in the modeller and "
                    "save it again, or fix the XML by hand.",
                    file=filename,
                    line=error.lineno or None,
                    code="xml-syntax",
                )
            ]
        ) from None
    except (ValueError, etree.LxmlError) as error:
        raise ValidationFailed(
            [Problem(f"The file cannot be read as XML: {error}.", file=filename, code="xml-syntax")]
        ) from None
    docinfo = root.getroottree().docinfo
    if (
        docinfo.doctype
        or docinfo.internalDTD is not None
        or any(isinstance(node, etree._Entity) for node in root.iter())
    ):
        raise ValidationFailed([_hostile(filename, 1)])
    return root


def size_problems(
    files: dict[str, bytes], forms: dict[str, bytes], max_bytes: int
) -> list[Problem]:
    """`too-large` for any single file over `max_bytes`, or for the bundle as a whole."""
    problems = [
        Problem(
            f"The file is {len(data):,} bytes; the limit is {max_bytes:,} bytes.",
            file=name,
            code="too-large",
        )
        for name, data in {**files, **forms}.items()
        if len(data) > max_bytes
    ]
    total = sum(len(d) for d in files.values()) + sum(len(d) for d in forms.values())
    if not problems and total > max_bytes:
        problems.append(
            Problem(
                f"The upload is {total:,} bytes in all; the limit is {max_bytes:,} bytes. "
                "Deploy fewer files at once.",
                code="too-large",
            )
        )
    return problems


def is_dmn(root: etree._Element) -> bool:
    """True for a DMN document (any DMN version), judged by its root, not its file name."""
    return "/DMN/" in (etree.QName(root).namespace or "")


@cache
def _dmn_validator(namespace: str) -> BpmnValidator | None:
    path = DMN_SCHEMAS.get(namespace)
    return BpmnValidator(path) if path else None


def xsd_problems(root: etree._Element, filename: str) -> list[Problem]:
    """Validate against the BPMN (with SpiffWorkflow extensions) or DMN schema.

    Errors that only concern a vendor's extension namespace (Camunda, Signavio, Zeebe...) are
    warnings: SpiffWorkflow ignores those extensions, and the file comes from another tool.
    """
    namespace = etree.QName(root).namespace or ""
    validator = SPIFF_VALIDATOR if namespace == BPMN_NS else _dmn_validator(namespace)
    if validator is None:
        return []
    checked = copy.deepcopy(root)
    # SpiffWorkflow's validator renames a bpmn-js quirk in place; do that on a copy.
    validator.preprocess(checked)
    schema: etree.XMLSchema = validator.validator
    if schema.validate(checked):
        return []
    problems = []
    for entry in schema.error_log:
        mentioned = set(_QUOTED_NAMESPACE.findall(entry.message))
        vendor_only = bool(mentioned) and not mentioned & OWN_NAMESPACES
        problems.append(
            Problem(
                f"Does not match the {'DMN' if namespace != BPMN_NS else 'BPMN'} schema: "
                f"{entry.message}" + (" (a vendor extension, ignored)" if vendor_only else ""),
                file=filename,
                line=entry.line or None,
                severity="warning" if vendor_only else "error",
                code="xsd",
            )
        )
    return problems


def element_label(root: etree._Element, element_id: str | None) -> tuple[str | None, int | None]:
    """The name and source line of the element with this id in the document, if any."""
    if not element_id:
        return None, None
    found = root.xpath("//*[@id=$id]", id=element_id)
    if not found:
        return None, None
    element = found[0]
    return element.get("name"), element.sourceline


# Static checks of one process, on the hardened tree, before SpiffWorkflow sees it.

FORM_PROPERTIES = ("formJsonSchemaFilename", "formUiSchemaFilename")
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
_CRON_FIELD = r"(?:[\d*?/,\-LW#]+|[A-Z]{3}(?:-[A-Z]{3})?)"
_CRON = re.compile(rf"{_CRON_FIELD}(?:\s+{_CRON_FIELD}){{4,6}}")
_ISO_LITERAL = re.compile(r"R\d*/\S+|[+-]?P[\dYMWDTHS.,]+|\d{4}-?\d{2}-?\d{2}(?:T[\d:.,+\-Z]+)?")
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


def _xpath(element: etree._Element, path: str) -> list[etree._Element]:
    return list(element.xpath(path, namespaces=NSMAP))


def _iso_error(kind: str, value: str) -> str | None:
    """None if `value` is a valid ISO 8601 date (timeDate), duration or cycle."""
    try:
        if kind == "timeDate":
            if value.upper().startswith("P"):
                raise ValueError("a duration is not a date")
            TimerEventDefinition.parse_time_or_duration(value)
        elif kind == "timeDuration":
            if not value.upper().startswith("P"):
                raise ValueError("a duration starts with P")
            TimerEventDefinition.parse_iso_duration(value)
        else:
            TimerEventDefinition.parse_iso_recurring_interval(value)
    except Exception:  # the library raises bare Exception, ValueError, AttributeError...
        what = {"timeDate": "date/time", "timeDuration": "duration"}.get(kind, "cycle")
        return f"'{value}' is not a valid ISO 8601 {what}"
    return None


@dataclass(frozen=True)
class ModelLimits:
    """Deploy-time limits on what a model may ask of the engine (settings of the same names)."""

    min_timer_period: float = 60.0
    """Seconds: a timer cycle repeating more often is refused (`PATHFINDER_MIN_TIMER_PERIOD`)."""
    max_script_chars: int = 20_000
    """Longest script, condition or expression accepted (`PATHFINDER_MAX_SCRIPT_CHARS`)."""


def _cycle_problem(value: str, limits: ModelLimits) -> str | None:
    """Why a literal ISO 8601 cycle could not run sanely: too frequent, or endless catch-up."""
    try:
        cycles, start, duration = TimerEventDefinition.parse_iso_recurring_interval(value)
    except Exception:  # noqa: BLE001 - reported by _iso_error
        return None
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else 0.0
    if seconds < limits.min_timer_period:
        return (
            f"The cycle '{value}' repeats every {seconds:g} s; the shortest period allowed is "
            f"{limits.min_timer_period:g} s (setting PATHFINDER_MIN_TIMER_PERIOD). "
            "Use a longer period."
        )
    if cycles < 0 and start < datetime.now(UTC) - duration:
        return (
            f"The cycle '{value}' starts in the past and repeats without end, so it would owe "
            "every occurrence since its start at once. Give it a start in the future, a number "
            "of repetitions (R5/...), or leave the start out."
        )
    return None


def _timer_problem(
    kind: str, text: str, limits: ModelLimits = ModelLimits()
) -> tuple[str, str, str | None] | None:
    """(code, message, suggested fix) for a timer's text, or None when it is fine."""
    if not text:
        return "timer-empty", "The timer has no date, duration or cycle. Set one.", None
    if len(text) > limits.max_script_chars:
        return "timer-expression", _too_long("timer expression", len(text), limits), None
    cron = 'Cron expressions are not supported; use an ISO 8601 cycle such as "R/P1D".'
    if _CRON.fullmatch(text):
        return "timer-cron", f"'{text}' is a cron expression. {cron}", None
    if _ISO_LITERAL.fullmatch(text):
        invalid = _iso_error(kind, text)
        if invalid:
            return "timer-expression", f"{invalid}.", None
        if kind == "timeCycle" and (unsafe := _cycle_problem(text, limits)):
            return "timer-cycle", unsafe, None
        return (
            "timer-expression",
            f"The timer text {text} is evaluated as a Python expression, so an ISO 8601 "
            f'literal must be quoted: write "{text}".',
            f'"{text}"',
        )
    error = validate_expression(text)
    if error:
        return "timer-expression", f"The timer is not a valid expression ({error}).", None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None  # computed from data at run time; cannot be checked here
    if not isinstance(value, str):
        return "timer-expression", f"The timer {text} must give a string.", None
    if _CRON.fullmatch(value.strip()):
        return "timer-cron", f"'{value}' is a cron expression. {cron}", None
    invalid = _iso_error(kind, value.strip())
    if invalid:
        return "timer-expression", f"{invalid}.", None
    if kind == "timeCycle" and (unsafe := _cycle_problem(value.strip(), limits)):
        return "timer-cycle", unsafe, None
    return None


def _too_long(what: str, size: int, limits: ModelLimits) -> str:
    return (
        f"The {what} is {size:,} characters long; the longest allowed is "
        f"{limits.max_script_chars:,} (setting PATHFINDER_MAX_SCRIPT_CHARS). Shorten it."
    )


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


def form_refs(process: etree._Element) -> list[tuple[etree._Element, str]]:
    """Each user task of a process with the form file it names."""
    refs = []
    for task in _xpath(process, ".//bpmn:userTask"):
        for prop in _xpath(task, "./bpmn:extensionElements/spiffworkflow:properties/*"):
            if prop.get("name") in FORM_PROPERTIES and prop.get("value"):
                refs.append((task, prop.get("value", "")))
    return refs


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
