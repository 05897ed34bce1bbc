"""Form definitions (JSON Schema + UI schema) and server-side validation of submitted data.

The web form renderer and the API validate with the same function, so a value refused in one
is refused in the other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from engine.bpmn.form_messages import (
    ATTACHMENT_FORMAT,
    Translate,
    _english,
    _message,
    _path,
    value_title,
)
from engine.errors import InvalidData
from engine.records.filetypes import KINDS

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
FORMATS = FormatChecker()
"""The standard formats plus `attachment` (an uploaded file's id)."""


def _is_attachment_id(value: object) -> bool:
    return not isinstance(value, str) or bool(_UUID.match(value))


FORMATS.checks(ATTACHMENT_FORMAT)(_is_attachment_id)


@dataclass(frozen=True)
class FileRule:
    """What a file field takes: `x-accept` kinds, `x-max-mb`, one file or several."""

    accept: tuple[str, ...]
    max_bytes: int
    multiple: bool

    @property
    def max_mb(self) -> float:
        """The size limit in megabytes."""
        return self.max_bytes / (1024 * 1024)


def file_rule(schema: Mapping[str, Any], default_max_mb: float) -> FileRule | None:
    """The upload rule of a file field's schema, or None for any other field."""
    multiple = schema.get("type") == "array"
    item = schema.get("items") if multiple else schema
    if not isinstance(item, Mapping) or item.get("format") != ATTACHMENT_FORMAT:
        return None
    accept = tuple(k for k in item.get("x-accept") or KINDS if k in KINDS)
    limit = min(float(item.get("x-max-mb") or default_max_mb), default_max_mb)
    return FileRule(accept=accept, max_bytes=int(limit * 1024 * 1024), multiple=multiple)


def file_fields(
    schema: Mapping[str, Any], default_max_mb: float, prefix: str = ""
) -> dict[str, FileRule]:
    """Dotted path -> rule of every file field (top level and inside nested objects);
    `x-max-mb` can lower the installation's limit, never raise it."""
    out: dict[str, FileRule] = {}
    for key, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, Mapping):
            continue
        rule = file_rule(sub, default_max_mb)
        if rule is not None:
            out[prefix + key] = rule
        elif sub.get("type") == "object":
            out.update(file_fields(sub, default_max_mb, f"{prefix}{key}."))
    return out


@dataclass(frozen=True)
class FormDefinition:
    """A task's form: its JSON Schema and its (optional) UI schema."""

    schema: dict[str, Any]
    ui_schema: dict[str, Any]
    file: str | None = None


def load_form(
    forms: Mapping[str, str], schema_file: str | None, ui_file: str | None
) -> FormDefinition | None:
    """The form a task references from a version's form snapshot, or None if it has none."""
    if not schema_file or schema_file not in forms:
        return None
    schema = json.loads(forms[schema_file])
    ui = json.loads(forms[ui_file]) if ui_file and ui_file in forms else {}
    return FormDefinition(schema=schema, ui_schema=ui, file=schema_file)


# ------------------------------------------------------------------------------ date rules

NOT_IN_FUTURE = "x-not-in-future"
"""`true` on a date field: the date cannot be after today."""
NOT_BEFORE = "x-not-before"
"""Name of a sibling date field this one cannot be before (an end on or after its start)."""
AFTER = "x-after"
"""Name of a sibling date field this one must be strictly after."""


def _as_date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _day(value: date) -> str:
    return value.strftime("%d %b %Y")


def date_rule_errors(
    schema: Mapping[str, Any],
    data: Any,
    today: date | None,
    prefix: str = "",
    t: Translate = _english,
    day_text: Callable[[date], str] | None = None,
) -> dict[str, str]:
    """Cross-field and calendar rules (`x-not-in-future`, `x-not-before`, `x-after`) by path."""
    if not isinstance(data, Mapping):
        return {}
    props = schema.get("properties") or {}
    errors: dict[str, str] = {}
    for key, sub in props.items():
        if not isinstance(sub, Mapping):
            continue
        value, path = data.get(key), prefix + key
        if isinstance(value, Mapping):
            errors.update(date_rule_errors(sub, value, today, path + ".", t, day_text))
        if isinstance(value, list) and isinstance(sub.get("items"), Mapping):
            for i, item in enumerate(value):
                errors.update(
                    date_rule_errors(sub["items"], item, today, f"{path}.{i}.", t, day_text)
                )
        day = _as_date(value)
        if day is None:
            continue
        title = str(sub.get("title") or value_title(key))
        show = day_text or _day
        if sub.get(NOT_IN_FUTURE) and today is not None and day > today:
            message = t("%(title)s cannot be in the future (today is %(today)s).")
            errors[path] = message % {"title": title, "today": show(today)}
        for keyword in (NOT_BEFORE, AFTER):
            other = sub.get(keyword)
            other_day = _as_date(data.get(other)) if isinstance(other, str) else None
            if other_day is None:
                continue
            other_title = str((props.get(other) or {}).get("title") or value_title(other))
            shown = {"title": title, "other": other_title, "day": show(other_day)}
            if keyword == NOT_BEFORE and day < other_day:
                errors[path] = t("%(title)s cannot be before %(other)s (%(day)s).") % shown
            if keyword == AFTER and day <= other_day:
                errors[path] = t("%(title)s must be after %(other)s (%(day)s).") % shown
    return errors


def clean_data(schema: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """Keep only the fields the form defines (a form cannot overwrite other instance data)."""
    props = schema.get("properties")
    if not isinstance(props, dict) or schema.get("additionalProperties") is True:
        return dict(data)
    return {k: v for k, v in data.items() if k in props}


def field_errors(
    schema: Mapping[str, Any],
    data: Mapping[str, Any],
    today: date | None = None,
    t: Translate = _english,
    day_text: Callable[[date], str] | None = None,
) -> dict[str, str]:
    """Every problem in `data` keyed by dotted field path (`actions.0.budget`); with `today`,
    dates marked `x-not-in-future` are checked against it. `t` translates the messages and
    `day_text` writes a date in the reader's language (English by default)."""
    validator = Draft202012Validator(schema, format_checker=FORMATS)
    errors: dict[str, str] = {}
    for error in sorted(validator.iter_errors(dict(data)), key=lambda e: list(e.absolute_path)):
        errors.setdefault(_path(error), _message(error, schema, t))
    for path, message in date_rule_errors(schema, data, today, "", t, day_text).items():
        errors.setdefault(path, message)
    return errors


def validate(
    form: FormDefinition | None, data: Mapping[str, Any], today: date | None = None
) -> dict[str, Any]:
    """Validate submitted data; return what the task may store, or raise `InvalidData`."""
    if form is None:
        return dict(data)
    errors = field_errors(form.schema, data, today)
    if errors:
        raise InvalidData(f"{len(errors)} field(s) need attention.", errors)
    return clean_data(form.schema, data)


OUTPUTS = "x-outputs"
"""Form keyword: which fields become case variables, `{"field": "variable"}` (renamed) or
`["field", ...]` (same name). Without it every field does (the behaviour before outputs)."""


def declared_outputs(schema: Mapping[str, Any]) -> dict[str, str] | None:
    """Field -> case variable a form declares, or None when it declares nothing."""
    value = schema.get(OUTPUTS)
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list):
        return {str(k): str(k) for k in value}
    return None


def written_variables(schema: Mapping[str, Any]) -> dict[str, str]:
    """Case variable -> field for everything a form writes (declared outputs, else every field)."""
    declared = declared_outputs(schema)
    if declared is None:
        return {k: k for k in schema.get("properties") or {}}
    return {var: f for f, var in declared.items()}


def outputs(form: FormDefinition | None, data: Mapping[str, Any]) -> dict[str, Any]:
    """What a validated submission contributes to the case variables that gateways, scripts and
    later steps read: only the declared outputs (renamed), or everything if none are declared."""
    declared = declared_outputs(form.schema) if form is not None else None
    if declared is None:
        return dict(data)
    return {var: data[f] for f, var in declared.items() if f in data}
