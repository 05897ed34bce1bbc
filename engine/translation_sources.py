"""Stale translations: which French and Spanish texts were made from an English text that has
changed since.

Each overlay keeps, under "_source", a short digest of the English text each of its
translations was made from (`{"properties.letter_date.title": "3f2a9c01d4"}`). When the English
changes, the digest no longer matches and `pathfinder i18n check --stale` lists the
translation; `pathfinder i18n stamp` records the current English once the translation is
reviewed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from engine.i18n import english_instructions, english_names, has_translation, stage_titles

SOURCE_KEY = "_source"


def digest(text: str) -> str:
    """A short, stable fingerprint of an English text."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:10]


def english_form_texts(
    schema: Mapping[str, Any], ui: Mapping[str, Any], path: str = ""
) -> dict[str, str]:
    """Every translatable English text of a form by its overlay path (the paths `missing`
    reports), e.g. `properties.addressee.choices.ilo_director_general` -> `ILO Director-General`."""
    out: dict[str, str] = {}
    for key in ("title", "description"):
        if schema.get(key):
            out[f"{path}{key}"] = str(schema[key])
    if ui.get("ui:help"):
        out[f"{path}help"] = str(ui["ui:help"])
    if ui.get("ui:placeholder"):
        out[f"{path}placeholder"] = str(ui["ui:placeholder"])
    node: Mapping[str, Any] = schema
    node_ui: Mapping[str, Any] = ui
    items = schema.get("items")
    has_own = schema.get("enum") or schema.get("oneOf")
    if isinstance(items, Mapping) and not has_own:
        node = items
        item_ui = ui.get("items")
        node_ui = item_ui if isinstance(item_ui, Mapping) else {}
        if isinstance(items.get("properties"), Mapping):
            out.update(_english_props(items, node_ui, f"{path}items."))
    for value, title in _choice_pairs(node, node_ui, ui):
        out[f"{path}choices.{value}"] = title
    out.update(_english_props(schema, ui, path))
    return out


def _choice_pairs(
    node: Mapping[str, Any], node_ui: Mapping[str, Any], ui: Mapping[str, Any]
) -> Iterator[tuple[str, str]]:
    if isinstance(node.get("enum"), list):
        names = list(ui.get("ui:enumNames") or node_ui.get("ui:enumNames") or [])
        names = names or list(node.get("enumNames") or [])
        for i, v in enumerate(node["enum"]):
            if isinstance(v, str):
                yield v, str(names[i]) if i < len(names) and names[i] else v
    for option in node.get("oneOf") or []:
        if isinstance(option, Mapping) and isinstance(option.get("const"), str):
            yield option["const"], str(option.get("title") or option["const"])


def _english_props(schema: Mapping[str, Any], ui: Mapping[str, Any], path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, Mapping):
            sub_ui = ui.get(name) if isinstance(ui.get(name), Mapping) else {}
            out.update(english_form_texts(sub, sub_ui or {}, f"{path}properties.{name}."))
    return out


def english_process_texts(files: Mapping[str, str], process_id: str) -> dict[str, str]:
    """The English texts a process overlay translates, by overlay path (`name`,
    `elements.<id>`, `instructions.<id>`, `stages.<code>`)."""
    out: dict[str, str] = {}
    for text in files.values():
        found = re.search(
            r'<(?:bpmn2?:)?process\s[^>]*\bid="' + re.escape(process_id) + r'"[^>]*>', text
        )
        if found and (name := re.search(r'\bname="([^"]+)"', found.group(0))):
            out["name"] = name.group(1)
    out.update({f"elements.{k}": v for k, v in english_names(files).items()})
    out.update({f"instructions.{k}": v for k, v in english_instructions(files).items()})
    out.update({f"stages.{k}": v for k, v in stage_titles(files).items()})
    return out


def stale(english: Mapping[str, str], overlay: Mapping[str, Any]) -> list[str]:
    """Paths the overlay translates whose English changed since (or was never recorded)."""
    recorded = overlay.get(SOURCE_KEY)
    recorded = recorded if isinstance(recorded, Mapping) else {}
    return [
        path
        for path, text in english.items()
        if has_translation(overlay, path) and recorded.get(path) != digest(text)
    ]


def stamped(english: Mapping[str, str], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """The overlay with `_source` recording the current English of each translated text."""
    out = {k: v for k, v in overlay.items() if k != SOURCE_KEY}
    sources = {p: digest(t) for p, t in sorted(english.items()) if has_translation(overlay, p)}
    if sources:
        out[SOURCE_KEY] = sources
    return out
