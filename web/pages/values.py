"""Case values as people read them: a variable's changes in the timeline are shown with the
titles its form gives (choice titles, field labels, dates and numbers in the reader's format),
stage codes by their stage names and status codes by their translated labels; never raw codes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import g
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from engine import FormDefinition
from web.i18n import STATUS_LABELS, current, translated_form
from web.pages.formrender import _types, option_label
from web.pages.submissionview import text_of

VARIABLE_LABELS = {
    "pathfinder_status": _l("Pathfinder status"),
    "status": _l("Status"),
    "stage": _l("Stage"),
}
"""Variables that the diagram's scripts set (no form names them)."""

Field = tuple[Mapping[str, Any], Mapping[str, Any]]


def _fields(forms: Mapping[str, str], version_id: int) -> dict[str, Field]:
    """Variable -> (schema, UI schema) of the form field that writes it, in the reader's
    language (the first form naming it wins; cached per request and version)."""
    key = (version_id, current())
    cache = g.setdefault("case_fields", {})
    if key in cache:
        return cache[key]  # type: ignore[no-any-return]
    found: dict[str, Field] = {}
    for name in sorted(forms):
        if not name.endswith(".schema.json"):
            continue
        ui_name = name[: -len(".schema.json")] + ".uischema.json"
        try:
            schema, ui = json.loads(forms[name]), json.loads(forms.get(ui_name) or "{}")
        except ValueError:
            continue
        if not isinstance(schema, dict) or not isinstance(ui, dict):
            continue
        form = FormDefinition(schema=schema, ui_schema=ui, file=name)
        form = translated_form(dict(forms), form)
        for prop, sub in (form.schema.get("properties") or {}).items():
            if isinstance(sub, Mapping):
                sub_ui = form.ui_schema.get(prop)
                found.setdefault(prop, (sub, sub_ui if isinstance(sub_ui, Mapping) else {}))
    cache[key] = found
    return found


def variable_label(variable: str, forms: Mapping[str, str], version_id: int) -> str:
    """A case variable's name: its form field's title, else a known label, else its words."""
    field = _fields(forms, version_id).get(variable)
    if field and (field[1].get("ui:title") or field[0].get("title")):
        return str(field[1].get("ui:title") or field[0].get("title"))
    known = VARIABLE_LABELS.get(variable)
    return str(known) if known is not None else option_label(variable)


def _render(schema: Mapping[str, Any], ui: Mapping[str, Any], value: Any) -> Markup:
    """A value by its field's schema: objects and lists of objects as labelled nested lists."""
    kind = _types(schema)[0]
    if kind == "object" and isinstance(value, Mapping):
        return _object(schema, ui, value)
    items = schema.get("items") if isinstance(schema.get("items"), Mapping) else {}
    if kind == "array" and isinstance(value, list) and _types(items or {})[0] == "object":
        item_ui = ui.get("items") if isinstance(ui.get("items"), Mapping) else {}
        rows = Markup("").join(
            Markup("<li>{}</li>").format(_render(items or {}, item_ui or {}, v)) for v in value
        )
        return Markup("<ol class='nested'>{}</ol>").format(rows) if value else escape("—")
    return escape(text_of(schema, ui, value))


def _object(schema: Mapping[str, Any], ui: Mapping[str, Any], value: Mapping[str, Any]) -> Markup:
    props = schema.get("properties") or {}
    rows = Markup("")
    for key, v in value.items():
        sub = props.get(key) if isinstance(props.get(key), Mapping) else {}
        sub_ui = ui.get(key) if isinstance(ui.get(key), Mapping) else {}
        label = (sub_ui or {}).get("ui:title") or (sub or {}).get("title") or option_label(key)
        rows += Markup("<dt>{}</dt><dd>{}</dd>").format(label, _render(sub or {}, sub_ui or {}, v))
    return Markup("<dl class='nested'>{}</dl>").format(rows)


def case_value(value: Any, variable: str, forms: Mapping[str, str], version_id: int) -> Markup:
    """`{{ value|case_value(variable, version.forms, version.id) }}`: one value of a case
    variable as a reader sees it (stage names, choice titles, status labels, field labels)."""
    from web.pages import pretty, stage_name

    if variable == "stage":
        return escape(stage_name(value) if value else "—")
    field = _fields(forms, version_id).get(variable)
    if field is not None:
        return _render(field[0], field[1], value)
    if isinstance(value, str) and value in STATUS_LABELS:
        return escape(str(STATUS_LABELS[value]))
    return pretty(value)
