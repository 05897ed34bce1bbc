"""Form definitions (JSON Schema + UI schema) and server-side validation of submitted data.

The web form renderer and the API validate with the same function, so a value refused in one
is refused in the other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from engine.errors import InvalidData


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
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
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
