"""Read-only rendering of a submission from its own form: labels, choice titles, dates in the
reader's format, arrays of objects as tables, documents as links with size and SHA-256.

`templates/_submission.html` turns the `Shown` tree into HTML; the task page (what is reviewed,
the sent-back banner), the case page and the printable report all use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask_babel import gettext as _

from engine import Actor, SubmissionInfo, Submissions, file_rule
from web.i18n import date_filter, datetime_filter, number_filter, translated_form
from web.pages.formrender import _ordered, _types, choice_titles, option_label


@dataclass
class Shown:
    """One field of a submission as a reader sees it."""

    name: str
    label: str
    text: str = ""
    """The value as text (empty for groups, tables and files)."""
    children: list[Shown] = field(default_factory=list)
    """For an object: its fields."""
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    """For an array of objects: a table (one row per item)."""
    files: list[Mapping[str, Any]] = field(default_factory=list)
    """For a file field: `{id, filename, size, sha256}` of each document."""
    long: bool = False
    """Long text (kept with its line breaks)."""

    @property
    def kind(self) -> str:
        if self.files:
            return "files"
        if self.columns:
            return "table"
        if self.children:
            return "group"
        return "text"


def _date(value: str, fmt: str | None) -> str:
    """An ISO date (or date and time) in the reader's language and format."""
    if fmt == "date-time" and len(value) > 10:
        return datetime_filter(value)
    try:
        return date_filter(date.fromisoformat(value[:10]))
    except ValueError:
        return value


def text_of(schema: Mapping[str, Any], ui: Mapping[str, Any], value: Any) -> str:
    """A scalar (or a list of choices) as a reader sees it."""
    if value is None or value == "" or value == []:
        return "—"
    titles = choice_titles(schema, ui)
    if isinstance(value, list):
        return ", ".join(titles.get(str(v), option_label(v)) for v in value)
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    if titles:
        return titles.get(str(value), option_label(value))
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (int, float)):
        return number_filter(value)
    if schema.get("format") in ("date", "date-time") and isinstance(value, str):
        return _date(value, schema.get("format"))
    return str(value)


def _label(schema: Mapping[str, Any], ui: Mapping[str, Any], key: str) -> str:
    return str(ui.get("ui:title") or schema.get("title") or option_label(key))


def _files(value: Any, attachments: Mapping[str, Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    ids = value if isinstance(value, list) else [value] if value else []
    return [attachments.get(str(i)) or {"id": i, "filename": str(i)} for i in ids]


def shown(
    schema: Mapping[str, Any],
    ui: Mapping[str, Any] | None,
    data: Mapping[str, Any],
    attachments: Mapping[str, Mapping[str, Any]] | None = None,
    prefix: str = "",
) -> list[Shown]:
    """The fields of `schema` that `data` holds, in the form's order (unanswered ones left out)."""
    ui = ui or {}
    files = attachments or {}
    props = schema.get("properties") or {}
    out: list[Shown] = []
    for key in _ordered(schema, ui):
        if key not in data:
            continue
        sub, sub_ui, value = props[key], ui.get(key) or {}, data[key]
        item = Shown(name=prefix + key, label=_label(sub, sub_ui, key))
        kind = _types(sub)[0]
        if file_rule(sub, 1e9) is not None:
            item.files = _files(value, files)
            if not item.files:
                item.text = "—"
        elif kind == "object" and isinstance(value, Mapping):
            item.children = shown(sub, sub_ui, value, files, f"{prefix}{key}.")
        elif kind == "array" and _types(sub.get("items") or {})[0] == "object":
            _table(item, sub.get("items") or {}, sub_ui.get("items") or {}, value)
        else:
            item.text = text_of(sub, sub_ui, value)
            item.long = isinstance(value, str) and ("\n" in value or len(value) > 120)
        out.append(item)
    return out


def _table(item: Shown, items: Mapping[str, Any], ui: Mapping[str, Any], value: Any) -> None:
    rows = [r for r in value if isinstance(r, Mapping)] if isinstance(value, list) else []
    props = items.get("properties") or {}
    keys = _ordered(items, ui)
    item.columns = [_label(props[k], ui.get(k) or {}, k) for k in keys]
    item.rows = [[text_of(props[k], ui.get(k) or {}, r.get(k)) for k in keys] for r in rows]
    if not item.rows:
        item.columns, item.text = [], "—"


@dataclass
class SubmissionView:
    """A submission with its fields ready for `_submission.html`."""

    sub: SubmissionInfo
    fields: list[Shown]
    changed: set[str] = field(default_factory=set)
    """Names of the fields that differ from `previous` (marked on the page)."""
    previous: SubmissionView | None = None
    """The same step's previous round, when the page compares with it."""
    comparison: list[Compared] = field(default_factory=list)
    """Field by field, this round next to `previous` (changed rows first in the form's order)."""


@dataclass(frozen=True)
class Compared:
    """One field of a comparison between two rounds of the same step."""

    name: str
    label: str
    now: str
    before: str
    changed: bool


def _flat(fields: list[Shown], trail: str = "") -> dict[str, tuple[str, str]]:
    """`name -> (label, text)` with groups flattened ("Group › Field"), tables and documents as
    text, so two rounds compare field by field."""
    out: dict[str, tuple[str, str]] = {}
    for f in fields:
        label = f"{trail}{f.label}"
        if f.kind == "group":
            out.update(_flat(f.children, f"{label} › "))
        elif f.kind == "table":
            lines = [f"{n}. " + " · ".join(row) for n, row in enumerate(f.rows, start=1)]
            out[f.name] = (label, "\n".join(lines))
        elif f.kind == "files":
            text = ", ".join(
                f"{d.get('filename')} ({str(d.get('sha256') or '')[:12]})" for d in f.files
            )
            out[f.name] = (label, text)
        else:
            out[f.name] = (label, f.text)
    return out


def compare(current: SubmissionView, previous: SubmissionView) -> SubmissionView:
    """`current` with the fields changed since `previous` marked and a field-by-field comparison
    (fields only one round has count as changed; an unanswered field reads "—")."""
    now, before = _flat(current.fields), _flat(previous.fields)
    names = list(now) + [n for n in before if n not in now]
    rows = []
    for name in names:
        label = (now.get(name) or before[name])[0]
        a, b = now.get(name, (label, "—"))[1], before.get(name, (label, "—"))[1]
        rows.append(Compared(name, label, a, b, a != b))
    current.previous = previous
    current.comparison = rows
    current.changed = {r.name.split(".")[0] for r in rows if r.changed}
    return current


def view_of(forms: Mapping[str, str], sub: SubmissionInfo, actor: Actor) -> SubmissionView:
    """`sub` rendered from its own form (one of `forms`, its version's form files), without
    the fields `actor` may not see."""
    form, data = Submissions.visible(forms, sub, actor)
    if form is None:
        return SubmissionView(
            sub, [Shown(k, option_label(k), text_of({}, {}, v)) for k, v in data.items()]
        )
    form = translated_form(forms, form)  # labels in the reader's language
    files = {str(a.get("id")): a for a in sub.attachments}
    return SubmissionView(sub, shown(form.schema, form.ui_schema, data, files))


def by_step(views: list[SubmissionView]) -> list[tuple[str, str, list[SubmissionView]]]:
    """`(element id, step name, rounds newest first)` in the order the steps were first done."""
    steps: dict[str, list[SubmissionView]] = {}
    for v in views:
        steps.setdefault(v.sub.element_id, []).append(v)
    return [(e, vs[-1].sub.element_name, list(reversed(vs))) for e, vs in steps.items()]
