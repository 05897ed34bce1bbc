"""Parsing a posted task form back into typed JSON (the other half of `web.pages.formrender`).

Input names are dotted paths (`workplan.0.budget_usd`); a value that does not parse (`"12x"` for
an integer) is kept as typed so the validator names the problem and the user sees their input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from werkzeug.datastructures import MultiDict

TRUE_VALUES = {"true", "on", "1", "yes"}
EXTRA_PREFIX = "_extra."
"""Hidden inputs `_extra.<path>` carry how many blank rows a repeatable group shows."""


def _types(schema: Mapping[str, Any]) -> list[str]:
    t = schema.get("type", "string")
    return [x for x in (t if isinstance(t, list) else [t]) if x != "null"] or ["string"]


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
