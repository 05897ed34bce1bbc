"""Server-side rendering of a task's JSON Schema form (parsing the posted form back is in
`web.pages.formparse`, re-exported here).

The schema (+ RJSF-style UI schema: `ui:order`, `ui:widget`, `ui:help`, `ui:placeholder`) becomes
a tree of `Field`s that `templates/_form.html` turns into labelled inputs. Input names are dotted
paths (`workplan.0.budget_usd`), the same paths `engine.forms.field_errors` reports, so an error
lands next to its input. Parsing returns typed JSON; a value that does not parse (`"12x"` for an
integer) is kept as typed so the validator names the problem and the user sees their input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine import FILE_KINDS, file_rule, human_size
from web.i18n import kind_label
from web.pages.formparse import (
    EXTRA_PREFIX,
    blank_rows,
    parse,
    parse_extra,
    without_row,
)
from web.pages.formparse import (
    _types as _types,
)

__all__ = [
    "EXTRA_PREFIX",
    "Field",
    "Option",
    "blank_rows",
    "build",
    "choice_titles",
    "labels",
    "option_label",
    "parse",
    "parse_extra",
    "without_row",
]

FORMAT_INPUT = {"date": "date", "email": "email", "uri": "url", "date-time": "datetime-local"}
ACRONYMS = {"ilo", "gcg", "un", "sdg", "vnr", "ngo", "iom", "unicef", "usd"}


@dataclass
class Option:
    value: str
    label: str
    selected: bool = False


@dataclass
class Field:
    """One input (or group of inputs) of a rendered form."""

    name: str
    label: str
    widget: str
    """text | textarea | number | select | radio | checkboxes | checkbox | yesno | rows | group |
    file"""
    input_type: str = "text"
    value: str = ""
    required: bool = False
    help: str | None = None
    placeholder: str | None = None
    error: str | None = None
    options: list[Option] = field(default_factory=list)
    step: str | None = None
    minimum: Any = None
    maximum: Any = None
    children: list[Field] = field(default_factory=list)
    """For `group`: the nested fields."""
    rows: list[list[Field]] = field(default_factory=list)
    """For `rows`: one list of fields per row (filled rows first, then blank ones)."""
    row_title: str = _l("Row")
    extra: int = 1
    files: list[Any] = field(default_factory=list)
    """For `file`: the files already uploaded (`AttachmentInfo`), kept as hidden ids."""
    multiple: bool = False
    accept: str = ""
    """For `file`: the `accept` attribute (`.pdf,.docx`)."""
    accept_label: str = ""
    max_label: str = ""
    readonly: bool = False
    """The value comes from the case (`readOnly`): shown, not editable; the server keeps it."""
    fixed: bool = False
    """For `rows`: the case gives the rows (`x-rows-from`), so none can be added or removed."""

    @property
    def id(self) -> str:
        return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.name)


def _ordered(schema: Mapping[str, Any], ui: Mapping[str, Any]) -> list[str]:
    props = list((schema.get("properties") or {}).keys())
    order = ui.get("ui:order") or []
    first = [k for k in order if k in props]
    rest = [k for k in props if k not in first]
    if "*" in order:
        star = order.index("*")
        before = [k for k in order[:star] if k in props]
        after = [k for k in order[star + 1 :] if k in props]
        return before + [k for k in props if k not in before and k not in after] + after
    return first + rest


def option_label(value: Any) -> str:
    """A readable label for a bare enum value: `head_of_secretariat` -> `Head of secretariat`."""
    text = str(value)
    if re.fullmatch(r"[a-z0-9_]+", text) and not re.fullmatch(r"[0-9_]+", text):
        words = text.replace("_", " ").capitalize().split(" ")
        return " ".join(w.upper() if w.lower() in ACRONYMS else w for w in words)
    return text


def labels(fields: list[Field]) -> dict[str, str]:
    """Dotted path -> a readable label (`Workplan › Action 1 › Budget`), for the error summary."""
    out: dict[str, str] = {}
    for f in fields:
        out[f.name] = f.label
        for child in labels(f.children).items():
            out[child[0]] = f"{f.label} › {child[1]}"
        for i, row in enumerate(f.rows):
            for path, label in labels(row).items():
                out[path] = f"{f.label} › {f.row_title} {i + 1} › {label}"
    return out


def _choices(schema: Mapping[str, Any], ui: Mapping[str, Any]) -> list[tuple[str, str]] | None:
    if "enum" in schema:
        names = ui.get("ui:enumNames") or schema.get("enumNames") or []
        return [
            (str(v), str(names[i]) if i < len(names) else option_label(v))
            for i, v in enumerate(schema["enum"])
        ]
    one_of = schema.get("oneOf") or schema.get("anyOf")
    if one_of and all(isinstance(o, dict) and "const" in o for o in one_of):
        return [(str(o["const"]), str(o.get("title") or option_label(o["const"]))) for o in one_of]
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Builder:
    def __init__(
        self,
        errors: Mapping[str, str],
        extra: Mapping[str, int],
        uploaded: Mapping[str, Any],
        max_mb: float,
    ) -> None:
        self.errors = errors
        self.extra = extra
        self.uploaded = uploaded
        self.max_mb = max_mb

    def _file(self, f: Field, schema: Mapping[str, Any], value: Any) -> Field | None:
        rule = file_rule(schema, self.max_mb)
        if rule is None:
            return None
        ids = value if isinstance(value, list) else [value] if value else []
        f.widget, f.multiple = "file", rule.multiple
        f.files = [self.uploaded[i] for i in ids if isinstance(i, str) and i in self.uploaded]
        f.accept = ",".join("." + e for k in rule.accept for e in FILE_KINDS[k].extensions)
        f.accept_label = ", ".join(
            f"{kind_label(FILE_KINDS[k].label)} (.{FILE_KINDS[k].extensions[0]})"
            for k in rule.accept
            if k in FILE_KINDS
        )
        f.max_label = human_size(rule.max_bytes)
        return f

    def fields(
        self, schema: Mapping[str, Any], ui: Mapping[str, Any], values: Any, prefix: str = ""
    ) -> list[Field]:
        values = values if isinstance(values, Mapping) else {}
        required = set(schema.get("required") or [])
        props = schema.get("properties") or {}
        return [
            self.field(
                props[key], ui.get(key) or {}, values.get(key), prefix + key, key in required
            )
            for key in _ordered(schema, ui)
            if (ui.get(key) or {}).get("ui:widget") != "hidden"
        ]

    def field(
        self,
        schema: Mapping[str, Any],
        ui: Mapping[str, Any],
        value: Any,
        name: str,
        required: bool,
    ) -> Field:
        kind = _types(schema)[0]
        f = Field(
            name=name,
            label=str(
                ui.get("ui:title") or schema.get("title") or option_label(name.split(".")[-1])
            ),
            widget="text",
            required=required,
            help=ui.get("ui:help") or schema.get("description"),
            placeholder=ui.get("ui:placeholder"),
            error=self.errors.get(name),
            readonly=bool(schema.get("readOnly")),
        )
        widget = ui.get("ui:widget")
        choices = _choices(schema, ui)
        if (file_field := self._file(f, schema, value)) is not None:
            return file_field
        if kind == "array":
            return self._array(f, schema, ui, value, widget)
        if kind == "object":
            f.widget = "group"
            f.children = self.fields(schema, ui, value, name + ".")
            return f
        if kind == "boolean":
            checkbox = widget == "checkbox" or (widget != "radio" and not required)
            f.widget = "checkbox" if checkbox else "yesno"
            f.value = _text(value)
            f.options = [
                Option("true", _("Yes"), value is True),
                Option("false", _("No"), value is False),
            ]
            return f
        f.value = _text(value)
        if choices is not None:
            f.widget = "radio" if widget == "radio" else "select"
            f.options = [Option(v, label, v == f.value) for v, label in choices]
            return f
        if kind in ("integer", "number"):
            f.widget, f.input_type = "number", "text"
            f.step = "1" if kind == "integer" else "any"
            f.minimum, f.maximum = schema.get("minimum"), schema.get("maximum")
            return f
        long_text = "format" not in schema and (schema.get("maxLength") or 0) > 1000
        if widget == "textarea" or (long_text and widget is None):
            f.widget = "textarea"
            return f
        f.input_type = FORMAT_INPUT.get(str(schema.get("format")), "text")
        if widget in ("email", "date", "url", "password"):
            f.input_type = widget
        return f

    def _array(
        self, f: Field, schema: Mapping[str, Any], ui: Mapping[str, Any], value: Any, widget: Any
    ) -> Field:
        items = schema.get("items") or {}
        current = value if isinstance(value, list) else []
        if _types(items)[0] == "object":
            f.widget = "rows"
            f.row_title = str(items.get("title") or _("Row"))
            f.fixed = "x-rows-from" in schema and bool(current)
            f.extra = 0 if f.fixed else max(0, self.extra.get(f.name, 1))
            item_ui = ui.get("items") or {}
            total = len(current) + f.extra
            f.rows = [
                self.fields(
                    items, item_ui, current[i] if i < len(current) else {}, f"{f.name}.{i}."
                )
                for i in range(total)
            ]
            return f
        choices = _choices(items, ui) or []
        chosen = {_text(v) for v in current}
        f.widget = "checkboxes"
        f.options = [Option(v, label, v in chosen) for v, label in choices]
        return f


def build(
    schema: Mapping[str, Any],
    ui: Mapping[str, Any] | None,
    values: Mapping[str, Any] | None,
    errors: Mapping[str, str] | None = None,
    extra: Mapping[str, int] | None = None,
    *,
    uploaded: Mapping[str, Any] | None = None,
    max_mb: float = 20.0,
) -> list[Field]:
    """The fields of a form, filled with `values` and annotated with `errors` (by dotted path);
    `uploaded` maps the attachment ids in `values` to what file fields show about them."""
    builder = _Builder(errors or {}, extra or {}, uploaded or {}, max_mb)
    return builder.fields(schema, ui or {}, values or {})


def choice_titles(schema: Mapping[str, Any], ui: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Value -> title of a choice field (or of an array of choices' items); empty otherwise."""
    ui = ui or {}
    if _types(schema)[0] == "array":
        return dict(_choices(schema.get("items") or {}, ui) or [])
    return dict(_choices(schema, ui) or [])
