"""Validate an uploaded bundle of BPMN/DMN files and forms, then hand SpiffWorkflow a safe parse.

`parse_bundle` reports every problem at once. Two outcomes besides success:

- **Refused** (`ValidationFailed`): the files are hostile, broken, or contain mistakes a modeller
  must fix before the model can be stored (script syntax, missing form, missing called process...).
- **Stored for viewing only**: a process SpiffWorkflow cannot run here (`isExecutable="false"`,
  data stores, unsupported elements, Camunda timer literals, cron, JUEL, recursion) parses, with
  `ProcessInfo.executable=False` and a reason naming the element. Mistakes inside such a process
  are downgraded to warnings: it will never run, and the diagram should still be shown.

The hardened XML intake lives in `engine.bpmn.xmlsafe`, the static checks of each process in
`engine.bpmn.checks`, the checks of forms and translations in `engine.bpmn.form_checks`, and the
call graph (what makes a process view-only, recursion, callers of processes that cannot run) in
`engine.bpmn.calls`; this module runs them in order and runs SpiffWorkflow's own parser on the
hardened trees.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine import i18n
from engine.bpmn.calls import (
    _blocking,
    _callee_first,
    _calls,
    _mark_recursion,
    _problem_at,
    _propagate,
    _view_only,
)
from engine.bpmn.checks import CheckContext, _reserved_id_problems, check_process
from engine.bpmn.form_checks import (
    _data_object_shadows,
    _form_problems,
    _output_collisions,
    _schema_names,
    _translation_target,
)
from engine.bpmn.timer_checks import ModelLimits
from engine.bpmn.xmlsafe import (
    BPMN_NS,
    CAMUNDA_NS,
    NSMAP,
    SPIFF_NS,
    Problem,
    ValidationFailed,
    element_label,
    form_refs,
    is_dmn,
    safe_xml,
    size_problems,
    xsd_problems,
)

__all__ = [
    "Bundle",
    "ProcessInfo",
    "ModelLimits",
    "Problem",
    "ValidationFailed",
    "parse_bundle",
    "safe_xml",
]

log = logging.getLogger(__name__)


@dataclass
class ProcessInfo:
    """What the rest of Pathfinder needs to know about one top-level process."""

    process_id: str
    name: str | None
    file: str
    executable: bool
    not_executable_reason: Problem | None
    """Why it cannot be started (names the element), or None."""
    lanes: list[str]
    """Lane names in document order."""
    form_files: set[str]
    """Form files its user tasks reference."""
    problems: list[Problem] = field(default_factory=list)
    """Everything found in this process that did not refuse the bundle."""


@dataclass
class Bundle:
    """A validated set of BPMN/DMN files and forms, ready to be stored."""

    dialect: str
    """"spiff" or "camunda": which SpiffWorkflow parser reads the files."""
    files: dict[str, bytes]
    forms: dict[str, bytes]
    """The referenced form files."""
    processes: dict[str, ProcessInfo]
    """Top-level processes by id."""
    warnings: list[Problem]
    """Problems that did not refuse the bundle (including why processes are view-only)."""

    def parser(self) -> BpmnParser:
        """A fresh SpiffWorkflow parser with every file added (from hardened trees)."""
        parser = _make_parser(self.dialect)
        trees = {name: safe_xml(data, name) for name, data in self.files.items()}
        for name, root in sorted(trees.items(), key=lambda item: not is_dmn(item[1])):
            if is_dmn(root):
                parser.add_dmn_xml(root, filename=name)
            else:
                parser.add_bpmn_xml(root, filename=name)
        return parser

    def spec_for(self, process_id: str) -> tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec]]:
        """The spec and subprocess specs of an executable process.

        Raises:
            ValidationFailed: unknown or view-only process (with the reason).
        """
        info = self.processes.get(process_id)
        if info is None:
            raise ValidationFailed(
                [Problem(f"There is no process '{process_id}' in this model.", code="no-process")]
            )
        if not info.executable:
            raise ValidationFailed([p for p in info.problems if p.severity == "error"])
        parser = self.parser()
        try:
            return parser.get_spec(process_id), parser.get_subprocess_specs(process_id)
        except Exception as error:  # SpiffWorkflow raises many kinds; all mean "cannot load".
            raise ValidationFailed([_from_spiff(error, process_id, info.file, {})]) from None


class _SpiffParser(SpiffBpmnParser):  # type: ignore[misc]
    def _add_data_stores(self, bpmn: Any) -> None:
        # No data store has an implementation here; processes that use one are marked
        # view-only by the checks, instead of SpiffWorkflow refusing the whole file.
        return None


class _CamundaParser(CamundaParser):  # type: ignore[misc]
    def _add_data_stores(self, bpmn: Any) -> None:
        return None

    def _find_dependencies(self, process: Any) -> None:
        # A businessRuleTask without camunda:decisionRef raises KeyError; the checks report it.
        with contextlib.suppress(KeyError):
            super()._find_dependencies(process)


def _make_parser(dialect: str) -> BpmnParser:
    return _CamundaParser() if dialect == "camunda" else _SpiffParser()


_SPIFF_CODES = (
    ("no support implemented", "unsupported-element"),
    ("Service Task must have an operator", "unsupported-element"),
    ("Time Specification", "timer-expression"),
    ("No DMN Diagram", "missing-decision"),
    ("was not found", "missing-called-process"),
    ("Duplicate process ID", "duplicate-id"),
)


def _from_spiff(
    error: Exception, process_id: str | None, file: str | None, trees: Mapping[str, Any]
) -> Problem:
    """Turn whatever SpiffWorkflow raised into a Problem that names the element."""
    element_id, line = None, None
    if isinstance(error, ValidationException):
        element_id = error.id or None
        file = error.file_name or file
        line = error.line_number if isinstance(error.line_number, int) else None
        text = str(error.args[0]) if error.args else str(error)
    else:
        text = f"{type(error).__name__}: {error}"
    root = trees.get(file) if file else None
    name, found_line = element_label(root, element_id) if root is not None else (None, None)
    code = next((c for marker, c in _SPIFF_CODES if marker in text), "parse-error")
    return Problem(
        f"SpiffWorkflow cannot load this: {text.rstrip('.')}.",
        element_id=element_id or process_id,
        element_name=name,
        file=file,
        line=line or found_line,
        code=code,
    )


def _dialect(roots: Iterable[etree._Element]) -> str:
    """camunda when some file uses the Camunda namespace and none uses SpiffWorkflow's."""
    declared: set[str] = set()
    for root in roots:
        for element in root.iter(etree.Element):
            declared.update(element.nsmap.values())
    return "camunda" if CAMUNDA_NS in declared and SPIFF_NS not in declared else "spiff"


def _load(files: Mapping[str, bytes]) -> tuple[dict[str, etree._Element], list[Problem]]:
    trees, problems = {}, []
    for name, data in files.items():
        try:
            root = safe_xml(data, name)
        except ValidationFailed as refused:
            problems += refused.problems
            continue
        qname = etree.QName(root)
        if qname.localname != "definitions" or not (qname.namespace == BPMN_NS or is_dmn(root)):
            message = "This is not a BPMN or DMN file (its root is not <definitions>)."
            problems.append(Problem(message, file=name, line=root.sourceline, code="not-bpmn"))
            continue
        problems += xsd_problems(root, name)
        problems += _dangling_di(root, name)
        trees[name] = root
    return trees, problems


def _dangling_di(root: etree._Element, file: str) -> list[Problem]:
    ids = set(root.xpath("//@id"))
    problems = []
    for shape in root.xpath("//bpmndi:*[@bpmnElement]", namespaces=NSMAP):
        ref = shape.get("bpmnElement")
        if ref not in ids:
            message = (
                f"The diagram refers to '{ref}', which is not in the model, so that part cannot "
                "be drawn. Open and save the diagram in the modeller to clean it up."
            )
            problems.append(
                Problem(
                    message, shape.get("id"), ref, file, shape.sourceline, "warning", "dangling-di"
                )
            )
    return problems


def _spiff_problems(
    dialect: str,
    trees: Mapping[str, etree._Element],
    candidates: list[str],
    files: Mapping[str, str],
    found: dict[str, list[Problem]],
) -> list[Problem]:
    """Let SpiffWorkflow load every file and build every candidate process's specs."""
    parser = _make_parser(dialect)
    file_problems = []
    for name, root in sorted(trees.items(), key=lambda item: not is_dmn(item[1])):
        try:
            if is_dmn(root):
                parser.add_dmn_xml(root, filename=name)
            else:
                parser.add_bpmn_xml(root, filename=name)
        except Exception as error:  # SpiffWorkflow raises many kinds; all mean "cannot load".
            file_problems.append(_from_spiff(error, None, name, trees))
    if file_problems:
        return file_problems
    for pid in candidates:
        if _view_only(found[pid]) or any(_blocking(p) for p in found[pid]):
            continue
        try:
            parser.get_subprocess_specs(pid)
        except Exception as error:
            found[pid].append(_from_spiff(error, pid, files[pid], trees))
    return []


def _process_info(
    pid: str, element: etree._Element, file: str, problems: list[Problem]
) -> ProcessInfo:
    reason = _view_only(problems)
    if reason is not None:  # it will never run here: its other mistakes are only warnings
        problems = [replace(p, severity="warning") if _blocking(p) else p for p in problems]
    lanes = [lane.get("name") for lane in element.xpath(".//bpmn:lane", namespaces=NSMAP)]
    return ProcessInfo(
        process_id=pid,
        name=element.get("name"),
        file=file,
        executable=reason is None,
        not_executable_reason=reason,
        lanes=list(dict.fromkeys(name for name in lanes if name)),
        form_files={form for _, form in form_refs(element)},
        problems=problems,
    )


def parse_bundle(
    files: Mapping[str, bytes],
    forms: Mapping[str, bytes] | None = None,
    *,
    max_bytes: int = 5 * 1024 * 1024,
    limits: ModelLimits | None = None,
) -> Bundle:
    """Validate everything before anything is stored.

    `max_bytes` limits each file and the whole upload (files and forms together); `limits`
    bounds timer periods and script sizes (the defaults of the settings when None).

    Raises:
        ValidationFailed: with every problem found (errors and warnings), when any file is
            hostile, too large or broken, when a process has a mistake to fix before storing, or
            when there is no process at all.
    """
    files, forms = dict(files), dict(forms or {})
    too_large = size_problems(files, forms, max_bytes)
    if too_large:
        raise ValidationFailed(too_large)  # nothing oversized is parsed at all
    trees, problems = _load(files)
    bpmn = {name: root for name, root in trees.items() if not is_dmn(root)}
    elements: dict[str, tuple[etree._Element, str]] = {}
    for name, root in bpmn.items():
        found = root.xpath("//bpmn:process[@id]", namespaces=NSMAP)
        if not found:
            message = "The file contains no process."
            problems.append(Problem(message, file=name, severity="warning", code="no-process"))
        for process in found:
            pid = process.get("id")
            if pid in elements:
                message = f"The process id '{pid}' is also used in {elements[pid][1]}."
                problems.append(_problem_at(process, name, message, "duplicate-id"))
            elements.setdefault(pid, (process, name))
    referenced = {form for p, _ in elements.values() for _, form in form_refs(p)}
    context = CheckContext(
        dialect=_dialect(bpmn.values()),
        process_ids=set(elements),
        decision_ids=_decision_ids(trees),
        forms=forms,
        complete=len(trees) == len(files),
        limits=limits or ModelLimits(),
    )
    found = {
        pid: check_process(el, file, context) + _reserved_id_problems(el, file)
        for pid, (el, file) in elements.items()
    }
    calls = {pid: _calls(el) for pid, (el, _) in elements.items()}
    owners = {pid: file for pid, (_, file) in elements.items()}
    _mark_recursion(calls, found, owners)
    _propagate(calls, found, owners)
    if not any(_blocking(p) for p in problems):
        problems += _spiff_problems(context.dialect, trees, _callee_first(calls), owners, found)
        _propagate(calls, found, owners)
    infos = {pid: _process_info(pid, el, file, found[pid]) for pid, (el, file) in elements.items()}
    problems += _form_problems(forms, _schema_names(elements), referenced)
    problems += _output_collisions(forms, elements)
    problems += _data_object_shadows(forms, elements)
    for info in infos.values():
        problems += info.problems
    if not infos and not any(_blocking(p) for p in problems):
        message = "The upload contains no BPMN process. Upload at least one .bpmn file."
        problems.append(Problem(message, code="no-process"))
    if not infos or any(_blocking(p) for p in problems):
        raise ValidationFailed(problems)
    return Bundle(
        dialect=context.dialect,
        files=files,
        forms={
            name: data
            for name, data in forms.items()
            if name in referenced
            or (name.startswith(i18n.PREFIX) and _translation_target(name, referenced))
        },
        processes=infos,
        warnings=problems,
    )


def _decision_ids(trees: Mapping[str, etree._Element]) -> set[str]:
    ids: set[str] = set()
    for root in trees.values():
        if is_dmn(root):  # SpiffWorkflow knows a DMN file by its first decision
            first = root.xpath("./*[local-name()='decision'][1]/@id")
            ids.update(str(i) for i in first)
    return ids
