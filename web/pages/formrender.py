"""Server-side rendering of a task's JSON Schema form, and parsing the posted form back.

The schema (+ RJSF-style UI schema: `ui:order`, `ui:widget`, `ui:help`, `ui:placeholder`) becomes
a tree of `Field`s that `templates/_form.html` turns into labelled inputs. Input names are dotted
paths (`workplan.0.budget_usd`), the same paths `engine.forms.field_errors` reports, so an error
lands next to its input. Parsing returns typed JSON; a value that does not parse (`"12x"` for an
integer) is kept as typed so the validator names the problem and the user sees their input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from engine import FILE_KINDS, file_rule, human_size
from web.i18n import kind_label

FORMAT_INPUT = {"date": "date", "email": "email", "uri": "url", "date-time": "datetime-local"}
TRUE_VALUES = {"true", "on", "1", "yes"}
ACRONYMS = {"ilo", "gcg", "un", "sdg", "vnr", "ngo", "iom", "unicef", "usd"}
EXTRA_PREFIX = "_extra."
"""Hidden inputs `_extra.<path>` carry how many blank rows a repeatable group shows."""


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


def _types(schema: Mapping[str, Any]) -> list[str]:
    t = schema.get("type", "string")
    return [x for x in (t if isinstance(t, list) else [t]) if x != "null"] or ["string"]


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


# ------------------------------------------------------------------------------- parsing


_MISSING = object()


def _number(raw: str, integer: bool) -> Any:
    text = raw.strip().replace(",", "") if re.fullmatch(r"[\d,]+(\.\d+)?", raw.strip()) else raw
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return raw  # kept as typed; the validator reports it
    if not math.isfinite(number):
        return raw  # NaN and Infinity are not numbers a form accepts; the validator reports it
    if integer:
        return int(number) if number.is_integer() else raw
    return number


class _Parser:
    def __init__(self, form: MultiDict[str, str]) -> None:
        self.form = form

    def obj(self, schema: Mapping[str, Any], ui: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        required = set(schema.get("required") or [])
        for key, sub in (schema.get("properties") or {}).items():
            value = self.value(sub, ui.get(key) or {}, prefix + key, key in required)
            if value is not _MISSING:
                out[key] = value
        return out

    def _filled(self, prefix: str) -> bool:
        return any(v.strip() for k, vs in self.form.lists() if k.startswith(prefix) for v in vs)

    def value(
        self, schema: Mapping[str, Any], ui: Mapping[str, Any], name: str, required: bool
    ) -> Any:
        kind = _types(schema)[0]
        if kind == "array":
            items = schema.get("items") or {}
            if _types(items)[0] == "object":
                pattern = re.compile(re.escape(name) + r"\.(\d+)\.")
                indexes = sorted({int(m.group(1)) for k in self.form if (m := pattern.match(k))})
                return [
                    self.obj(items, ui.get("items") or {}, f"{name}.{i}.")
                    for i in indexes
                    if self._filled(f"{name}.{i}.")
                ]
            item_kind = _types(items)[0]
            chosen = [v for v in self.form.getlist(name) if v.strip()]
            if item_kind in ("integer", "number"):
                return [_number(v, item_kind == "integer") for v in chosen]
            return chosen
        if kind == "object":
            return self.obj(schema, ui, name + ".")
        raw = self.form.get(name)
        if kind == "boolean":
            if raw is None or raw == "":
                widget = ui.get("ui:widget")
                is_checkbox = widget == "checkbox" or (widget != "radio" and not required)
                return False if is_checkbox else _MISSING
            return raw.strip().lower() in TRUE_VALUES
        if raw is None or not raw.strip():
            return _MISSING
        if kind in ("integer", "number"):
            return _number(raw, kind == "integer")
        return raw.replace("\r\n", "\n").strip()


def parse(
    schema: Mapping[str, Any], ui: Mapping[str, Any] | None, form: MultiDict[str, str]
) -> dict[str, Any]:
    """Typed JSON from a posted form (blank inputs and blank rows are left out)."""
    return _Parser(form).obj(schema, ui or {}, "")


def parse_extra(form: MultiDict[str, str]) -> dict[str, int]:
    """How many blank rows each repeatable group showed (`_extra.<path>` hidden inputs)."""
    out = {}
    for key, value in form.items():
        if key.startswith(EXTRA_PREFIX) and value.isdigit():
            out[key[len(EXTRA_PREFIX) :]] = min(int(value), 20)
    return out


def blank_rows(form: MultiDict[str, str], values: Mapping[str, Any]) -> dict[str, int]:
    """How many of the rows each repeatable group posted were left blank, so the page shown again
    keeps those and no more: a blank row the person filled in is not followed by a new one."""
    out = {}
    for path in parse_extra(form):
        pattern = re.compile(re.escape(path) + r"\.(\d+)\.")
        posted = {m.group(1) for key in form if (m := pattern.match(key))}
        kept: Any = values
        for part in path.split("."):
            if isinstance(kept, Mapping):
                kept = kept.get(part)
            elif isinstance(kept, list) and part.isdigit() and int(part) < len(kept):
                kept = kept[int(part)]
            else:
                kept = None
        out[path] = max(0, len(posted) - (len(kept) if isinstance(kept, list) else 0))
    return out


def without_row(form: MultiDict[str, str], row: str) -> MultiDict[str, str]:
    """The posted form minus one repeatable row (`workplan.1`), for the "remove" button."""
    prefix = row.rstrip(".") + "."
    return MultiDict([(k, v) for k, vs in form.lists() if not k.startswith(prefix) for v in vs])


def choice_titles(schema: Mapping[str, Any], ui: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Value -> title of a choice field (or of an array of choices' items); empty otherwise."""
    ui = ui or {}
    if _types(schema)[0] == "array":
        return dict(_choices(schema.get("items") or {}, ui) or [])
    return dict(_choices(schema, ui) or [])
