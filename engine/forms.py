"""Form definitions (JSON Schema + UI schema) and server-side validation of submitted data.

The web form renderer and the API validate with the same function, so a value refused in one
is refused in the other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from engine.errors import InvalidData
from engine.filetypes import KINDS

ATTACHMENT_FORMAT = "attachment"
"""`{"type": "string", "format": "attachment"}`: a file field; its value is an attachment id."""
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
        return self.max_bytes / (1024 * 1024)


def file_rule(schema: Mapping[str, Any], default_max_mb: float) -> FileRule | None:
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


def _path(error: ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        # jsonschema reports a missing field on its parent; point at the field itself.
        missing = error.message.split("'")[1] if "'" in error.message else ""
        parts.append(missing)
    return ".".join(parts) or "_form"


def _message(error: ValidationError) -> str:
    title = error.schema.get("title") if isinstance(error.schema, dict) else None
    v = error.validator
    if v == "required":
        return "This field is required."
    if v == "format" and error.validator_value == ATTACHMENT_FORMAT:
        return "Upload the file again: this is not an uploaded file's id."
    if v == "format":
        return f"Enter a valid {error.validator_value}."
    if v == "enum":
        return "Choose one of the listed options."
    if v in {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}:
        return f"Must be {v.replace('exclusive', '').lower()} {error.validator_value}."
    if v == "maxLength":
        return f"At most {error.validator_value} characters."
    if v == "minLength":
        return (
            "This field is required."
            if error.validator_value == 1
            else (f"At least {error.validator_value} characters.")
        )
    if v == "minItems":
        return f"Add at least {error.validator_value}."
    if v == "type":
        return f"Expected {error.validator_value}" + (f" for {title}." if title else ".")
    return str(error.message)


def clean_data(schema: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """Keep only the fields the form defines (a form cannot overwrite other instance data)."""
    props = schema.get("properties")
    if not isinstance(props, dict) or schema.get("additionalProperties") is True:
        return dict(data)
    return {k: v for k, v in data.items() if k in props}


def field_errors(schema: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, str]:
    """Every problem in `data` keyed by dotted field path (`actions.0.budget`)."""
    validator = Draft202012Validator(schema, format_checker=FORMATS)
    errors: dict[str, str] = {}
    for error in sorted(validator.iter_errors(dict(data)), key=lambda e: list(e.absolute_path)):
        errors.setdefault(_path(error), _message(error))
    return errors


def validate(form: FormDefinition | None, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate submitted data; return what the task may store, or raise `InvalidData`."""
    if form is None:
        return dict(data)
    errors = field_errors(form.schema, data)
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
