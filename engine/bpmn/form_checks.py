"""Checks of the form and translation files of an upload, against the diagrams that use them.

JSON and JSON Schema validity, files no user task uses, translation overlays that name no known
language, form or process, and the data clashes between forms and diagrams (a data object shadowed
by a form field, two forms writing the same output).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from lxml import etree

from engine import i18n
from engine.bpmn import forms as form_defs
from engine.bpmn.xmlsafe import (
    NSMAP,
    Problem,
)


def _form_problems(
    forms: Mapping[str, bytes], schemas: set[str], referenced: set[str]
) -> list[Problem]:
    problems = []
    for name, data in forms.items():
        if name.startswith(i18n.PREFIX):
            problems += _translation_problems(name, data, referenced)
            continue
        if name not in referenced:
            message = "No user task uses this form file; it is ignored."
            problems.append(Problem(message, file=name, severity="warning", code="unused-form"))
            continue
        try:
            document = json.loads(data)
        except ValueError as error:
            line = getattr(error, "lineno", None)
            message = f"The form is not valid JSON: {error}."
            problems.append(Problem(message, file=name, line=line, code="form-invalid"))
            continue
        if name in schemas:
            try:
                Draft202012Validator.check_schema(document)
            except SchemaError as error:
                where = "/".join(str(p) for p in error.path) or "top level"
                message = f"The form is not a valid JSON Schema at {where}: {error.message}."
                problems.append(Problem(message, file=name, code="form-invalid"))
        elif not isinstance(document, dict):
            message = "A UI schema must be a JSON object."
            problems.append(Problem(message, file=name, code="form-invalid"))
    return problems


def _translation_problems(name: str, data: bytes, referenced: set[str]) -> list[Problem]:
    """A translation overlay must be a JSON object named for a known language and a form or
    process of the upload (see engine.i18n); anything else is ignored with a warning."""
    if _translation_target(name, referenced) is None:
        message = (
            "This translation names no language Pathfinder speaks, or no form or process of "
            "this upload; it is ignored."
        )
        return [Problem(message, file=name, severity="warning", code="unused-translation")]
    try:
        document = json.loads(data)
    except ValueError as error:
        message = f"The translation is not valid JSON: {error}."
        return [Problem(message, file=name, code="form-invalid")]
    if not isinstance(document, dict):
        return [Problem("A translation must be a JSON object.", file=name, code="form-invalid")]
    return []


def _translation_target(name: str, referenced: set[str]) -> str | None:
    parsed = i18n.parse_name(name)
    if parsed is None or parsed[0] not in i18n.TRANSLATED:
        return None
    lang, stem = parsed
    if stem.startswith("process."):
        return stem
    forms = {i18n.form_key(lang, f) for f in referenced}
    return stem if name in forms else None


def _schema_names(elements: Mapping[str, tuple[etree._Element, str]]) -> set[str]:
    names: set[str] = set()
    for process, _ in elements.values():
        path = ".//spiffworkflow:property[@name='formJsonSchemaFilename']/@value"
        names.update(str(v) for v in process.xpath(path, namespaces=NSMAP))
    return names


def _data_object_shadows(
    forms: Mapping[str, bytes], elements: Mapping[str, tuple[etree._Element, str]]
) -> list[Problem]:
    """Refuse a form that writes a case variable named like a BPMN data object of its process.

    Scripts and gateway conditions read data objects (`pathfinder_status`) next to task data;
    a form field of the same name would look like the real value to a reader of the case, so
    the deployment is refused instead (the engine also lets data objects win in conditions)."""
    problems = []
    for process, source, task, form, schema in _user_task_forms(forms, elements):
        objects = {str(i) for i in process.xpath(".//bpmn:dataObject/@id", namespaces=NSMAP)}
        for variable in sorted(set(form_defs.written_variables(schema)) & objects):
            message = (
                f"The form {form} writes the case variable '{variable}', which is a data "
                "object of the process: it would hide the real value from gateway conditions "
                "and scripts. Rename the field, or map it to another name in x-outputs."
            )
            problems.append(
                Problem(message, task.get("id"), task.get("name"), source, code="form-shadows")
            )
    return problems


def _user_task_forms(
    forms: Mapping[str, bytes], elements: Mapping[str, tuple[etree._Element, str]]
) -> Iterator[tuple[etree._Element, str, etree._Element, str, dict[str, Any]]]:
    """Each user task with a form of the bundle: (process, source file, task, form file, schema).
    Forms that are not a JSON object are left out (`_form_problems` reports them)."""
    path = ".//spiffworkflow:property[@name='formJsonSchemaFilename']/@value"
    for process, source in elements.values():
        for task in process.xpath(".//bpmn:userTask", namespaces=NSMAP):
            names = task.xpath(path, namespaces=NSMAP)
            if not names or str(names[0]) not in forms:
                continue
            try:
                schema = json.loads(forms[str(names[0])])
            except ValueError:
                continue
            if isinstance(schema, dict):
                yield process, source, task, str(names[0]), schema


def _output_collisions(
    forms: Mapping[str, bytes], elements: Mapping[str, tuple[etree._Element, str]]
) -> list[Problem]:
    """Warn when two user tasks write the same case variable and not both declare it as an
    output (`x-outputs`): the later one would silently overwrite what the earlier one meant."""
    writers: dict[str, list[tuple[str, str | None, bool, str]]] = {}
    for _process, source, task, _form, schema in _user_task_forms(forms, elements):
        declared = form_defs.declared_outputs(schema) is not None
        for variable in form_defs.written_variables(schema):
            writers.setdefault(variable, []).append(
                (task.get("id"), task.get("name"), declared, source)
            )
    problems = []
    for variable, found in sorted(writers.items()):
        if len(found) < 2 or all(f[2] for f in found):
            continue
        tasks = ", ".join(f"'{name or tid}'" for tid, name, *_ in found)
        message = (
            f"The case variable '{variable}' is written by several tasks ({tasks}) and not every "
            "one declares it in its form's x-outputs, so a later task silently replaces what an "
            "earlier one recorded. Rename the field, or declare it in x-outputs of each form "
            "that should write it."
        )
        tid, name, _, file = found[-1]
        problems.append(
            Problem(message, tid, name, file, severity="warning", code="output-collision")
        )
    return problems
