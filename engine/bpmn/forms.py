"""Form definitions (JSON Schema + UI schema) and server-side validation of submitted data.

The web form renderer and the API validate with the same function, so a value refused in one
is refused in the other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from engine.errors import InvalidData
from engine.records.filetypes import KINDS

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


def _path(error: ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        # jsonschema reports a missing field on its parent; point at the field itself.
        missing = error.message.split("'")[1] if "'" in error.message else ""
        parts.append(missing)
    return ".".join(parts) or "_form"


_TYPE_WORDS = {
    "number": "a number",
    "integer": "a whole number",
    "string": "text",
    "boolean": "Yes or No",
    "array": "a list",
    "object": "a group of answers",
}
_ACRONYMS = {"ilo", "gcg", "un", "sdg", "vnr", "ngo", "iom", "unicef", "usd"}


def value_title(value: Any) -> str:
    """A readable title for a bare value: `ilo_director_general` -> `ILO director general`."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    text = str(value)
    if re.fullmatch(r"[a-z0-9_]+", text) and not re.fullmatch(r"[0-9_]+", text):
        words = text.replace("_", " ").capitalize().split(" ")
        return " ".join(w.upper() if w.lower() in _ACRONYMS else w for w in words)
    return text


def _choice_titles(schema: Mapping[str, Any]) -> dict[str, str]:
    """Value -> title of a choice field, from `oneOf` consts, `enumNames` or the values."""
    one_of = schema.get("oneOf") or schema.get("anyOf") or []
    if one_of and all(isinstance(o, Mapping) and "const" in o for o in one_of):
        return {str(o["const"]): str(o.get("title") or value_title(o["const"])) for o in one_of}
    names = schema.get("enumNames") or []
    return {
        str(v): str(names[i]) if i < len(names) else value_title(v)
        for i, v in enumerate(schema.get("enum") or [])
    }


def _field_schema(root: Mapping[str, Any], path: Sequence[Any]) -> Mapping[str, Any]:
    """The (sub)schema that defines the field at `path` (array indexes step into `items`)."""
    node: Any = root
    for part in path:
        if not isinstance(node, Mapping):
            return {}
        if isinstance(part, int):
            node = node.get("items") or {}
        else:
            node = (node.get("properties") or {}).get(part) or {}
    return node if isinstance(node, Mapping) else {}


Translate = Callable[[str], str]
"""A gettext function: English message template -> the template in the reader's language."""


def _english(text: str) -> str:
    return text


def N_(text: str) -> str:  # noqa: N802 - gettext's name for "mark for translation"
    """Mark a message template for the catalogs (`pybabel extract -k N_`); `t` translates it."""
    return text


def _quoted(titles: Sequence[str], t: Translate = _english) -> str:
    quoted = [t("“%(title)s”") % {"title": x} for x in titles]
    if len(quoted) <= 1:
        return "".join(quoted)
    return t("%(items)s or %(last)s") % {"items": ", ".join(quoted[:-1]), "last": quoted[-1]}


_FORMAT_MESSAGES = {
    "date": N_("Enter a valid date."),
    "email": N_("Enter a valid email address."),
    "uri": N_("Enter a valid web address (https://…)."),
}
_TYPE_MESSAGES = {
    "number": N_("Enter a number for %(title)s."),
    "integer": N_("Enter a whole number for %(title)s."),
    "string": N_("Enter text for %(title)s."),
    "boolean": N_("Enter Yes or No for %(title)s."),
    "array": N_("Enter a list for %(title)s."),
    "object": N_("Enter a group of answers for %(title)s."),
}
_LIMIT_MESSAGES = {
    "minimum": N_("%(title)s must be at least %(limit)s."),
    "exclusiveMinimum": N_("%(title)s must be more than %(limit)s."),
    "maximum": N_("%(title)s must be at most %(limit)s."),
    "exclusiveMaximum": N_("%(title)s must be less than %(limit)s."),
    "maxLength": N_("At most %(limit)s characters."),
    "minLength": N_("At least %(limit)s characters."),
    "minItems": N_("Add at least %(limit)s."),
}
MESSAGE_TEMPLATES: tuple[str, ...] = (
    N_("This field is required."),
    N_("Upload the file again: this is not an uploaded file's id."),
    N_("Enter a valid %(format)s."),
    N_("Choose %(choices)s for %(title)s."),
    N_("%(title)s must be “%(value)s” with the other answers given here."),
    N_("Enter a value for %(title)s."),
    N_("This field"),
    N_("Yes"),
    N_("No"),
    N_("“%(title)s”"),
    N_("%(items)s or %(last)s"),
    N_("%(title)s cannot be in the future (today is %(today)s)."),
    N_("%(title)s cannot be before %(other)s (%(day)s)."),
    N_("%(title)s must be after %(other)s (%(day)s)."),
    *_FORMAT_MESSAGES.values(),
    *_TYPE_MESSAGES.values(),
    *_LIMIT_MESSAGES.values(),
)
"""Every validation message template, in English (the web catalog translates them; a form's
`x-messages` on a field replaces them for that field, by JSON Schema keyword)."""


def _message(
    error: ValidationError, root: Mapping[str, Any] | None = None, t: Translate = _english
) -> str:
    """A plain sentence naming the field and, for choices, the allowed values by their titles."""
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        path.append(missing)
    field = _field_schema(root, path) if root is not None else {}
    title = str(field.get("title") or (value_title(path[-1]) if path else t("This field")))
    v = str(error.validator)
    own = field.get("x-messages")
    if isinstance(own, Mapping) and isinstance(own.get(v), str):
        return str(own[v])
    if v == "required" or (v == "minLength" and error.validator_value == 1):
        return t("This field is required.")
    if v == "format" and error.validator_value == ATTACHMENT_FORMAT:
        return t("Upload the file again: this is not an uploaded file's id.")
    if v == "format":
        known = _FORMAT_MESSAGES.get(str(error.validator_value))
        if known:
            return t(known)
        return t("Enter a valid %(format)s.") % {"format": error.validator_value}
    if v == "enum":
        titles = _choice_titles(field) or {str(x): value_title(x) for x in error.validator_value}
        return t("Choose %(choices)s for %(title)s.") % {
            "choices": _quoted(list(titles.values()), t),
            "title": title,
        }
    if v == "const":
        allowed = _choice_titles(field).get(str(error.validator_value))
        shown = allowed or value_title(error.validator_value)
        if isinstance(error.validator_value, bool):
            shown = t(shown)
        return t("%(title)s must be “%(value)s” with the other answers given here.") % {
            "title": title,
            "value": shown,
        }
    if v in _LIMIT_MESSAGES:
        return t(_LIMIT_MESSAGES[v]) % {"title": title, "limit": error.validator_value}
    if v == "type":
        wanted = error.validator_value
        key = wanted if isinstance(wanted, str) else str(wanted[0])
        template = _TYPE_MESSAGES.get(key, "Enter a value for %(title)s.")
        return t(template) % {"title": title}
    return str(error.message)


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
