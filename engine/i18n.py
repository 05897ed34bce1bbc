"""Translations that travel with a process model: form texts and diagram element names.

A model's forms are deployed with per-language overlay files (see forms/README.md):

- `forms/i18n/<lang>/<form>.json` (stored as `i18n/<lang>/<form>.json`): the form's title and
  description, each field's title, description, placeholder, choice titles and validation
  messages, in that language;
- `processes/i18n/<lang>/<process id>.json` (stored as `i18n/<lang>/process.<process id>.json`):
  `{"name": ..., "elements": {element id: name}, "lanes": {lane: name}}`.

They are stored in the process version beside the forms, so each version shows the names and
texts it was deployed with. Anything an overlay leaves out stays English (`missing` lists it).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from lxml import etree

from engine.bpmn.xmlsafe import ValidationFailed, safe_xml

LANGUAGES = ("en", "fr", "es")
"""The product's languages; English is the source language of models and forms."""
TRANSLATED = ("fr", "es")
PREFIX = "i18n/"
_NAME = re.compile(r"^i18n/([a-z]{2})/([A-Za-z0-9_.-]+)\.json$")


def form_key(lang: str, form_file: str) -> str:
    """Where a form's overlay is stored: `i18n/fr/submit_expression_of_interest.json`."""
    stem = form_file.split("/")[-1]
    for suffix in (".uischema.json", ".schema.json", ".json"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return f"{PREFIX}{lang}/{stem}.json"


def process_key(lang: str, process_id: str) -> str:
    """Where a process's element names in `lang` are stored: `i18n/fr/process.pathfinder.json`."""
    return f"{PREFIX}{lang}/process.{process_id}.json"


def parse_name(name: str) -> tuple[str, str] | None:
    """(`fr`, `submit_expression_of_interest`) for a stored overlay name, else None."""
    found = _NAME.match(name)
    return (found.group(1), found.group(2)) if found else None


def translation_files(processes: Path, forms: Path) -> dict[str, bytes]:
    """The overlays under `processes/i18n/<lang>/` and `forms/i18n/<lang>/`, by stored name."""
    found: dict[str, bytes] = {}
    for lang in TRANSLATED:
        for p in sorted((forms / "i18n" / lang).glob("*.json")):
            found[f"{PREFIX}{lang}/{p.name}"] = p.read_bytes()
        for p in sorted((processes / "i18n" / lang).glob("*.json")):
            found[process_key(lang, p.stem)] = p.read_bytes()
    return found


def load(stored: Mapping[str, str], key: str) -> dict[str, Any]:
    """An overlay from a version's stored forms (empty when absent or not a JSON object)."""
    text = stored.get(key)
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def element_names(stored: Mapping[str, str], process_id: str, lang: str) -> dict[str, str]:
    """Element id (and lane name) -> its name in `lang`, for one process of a version."""
    if lang not in TRANSLATED:
        return {}
    data = load(stored, process_key(lang, process_id))
    names = {str(k): str(v) for k, v in (data.get("elements") or {}).items() if v}
    return names


def instructions(stored: Mapping[str, str], process_id: str, lang: str) -> dict[str, str]:
    """Element id -> the task's instructions in `lang`."""
    if lang not in TRANSLATED:
        return {}
    data = load(stored, process_key(lang, process_id))
    return {str(k): str(v) for k, v in (data.get("instructions") or {}).items() if v}


def _bpmn_roots(files: Mapping[str, str]) -> Iterator[etree._Element]:
    """The parsed root of each BPMN file of a version (the engine's safe parser; a file that
    does not parse is skipped: deploying reports it)."""
    for name, text in files.items():
        if name.endswith(".bpmn"):
            try:
                yield safe_xml(text.encode(), name)
            except ValidationFailed:
                continue


def english_instructions(files: Mapping[str, str]) -> dict[str, str]:
    """User task id -> its instructions (spiffworkflow:instructionsForEndUser), in English."""
    found: dict[str, str] = {}
    for root in _bpmn_roots(files):
        for el in root.iter("{*}userTask"):
            for ins in el.iter("{*}instructionsForEndUser"):
                if el.get("id") and (ins.text or "").strip():
                    found.setdefault(str(el.get("id")), str(ins.text).strip())
    return found


def lane_names(stored: Mapping[str, str], process_id: str, lang: str) -> dict[str, str]:
    """Lane name -> its name in `lang`."""
    if lang not in TRANSLATED:
        return {}
    data = load(stored, process_key(lang, process_id))
    return {str(k): str(v) for k, v in (data.get("lanes") or {}).items() if v}


def english_names(files: Mapping[str, str]) -> dict[str, str]:
    """Element id -> English name, from a version's BPMN files."""
    names: dict[str, str] = {}
    for root in _bpmn_roots(files):
        for el in root.iter():
            eid, label = el.get("id"), el.get("name")
            if eid and label:
                names[str(eid)] = " ".join(str(label).split())
    return names


def names(
    stored: Mapping[str, str], files: Mapping[str, str], process_id: str, lang: str
) -> tuple[dict[str, str], dict[str, str]]:
    """(element id -> name, English name -> name) in `lang` for one process of a version; the
    second also maps lane names. Empty for English or a version without translations."""
    by_id = element_names(stored, process_id, lang)
    by_id.update(
        {f"{k}#instructions": v for k, v in instructions(stored, process_id, lang).items()}
    )
    lanes = lane_names(stored, process_id, lang)
    if not by_id and not lanes:
        return {}, {}
    english = english_names(files)
    by_name = {english[eid]: name for eid, name in by_id.items() if eid in english}
    stages = load(stored, process_key(lang, process_id)).get("stages") or {}
    for code, title in stage_titles(files).items():
        if isinstance(stages.get(code), str):
            by_name.setdefault(title, stages[code])
    return by_id, {**by_name, **lanes}


_STAGE = re.compile(r'name="stage:([A-Za-z0-9_]+)"\s+value="([^"|]+)')


def stage_titles(files: Mapping[str, str]) -> dict[str, str]:
    """Stage code -> English title, from the `stage:<code>` properties of a version's BPMN."""
    found: dict[str, str] = {}
    for name, text in files.items():
        if name.endswith(".bpmn"):
            for code, title in _STAGE.findall(text):
                found.setdefault(code, title.strip())
    return found


# -- forms --------------------------------------------------------------------------------------


def _overlay_field(schema: dict[str, Any], ui: dict[str, Any], over: Mapping[str, Any]) -> None:
    """Apply one field's overlay (title, description, choices, messages) in place."""
    for key in ("title", "description"):
        if isinstance(over.get(key), str):
            schema[key] = over[key]
    if isinstance(over.get("help"), str):
        ui["ui:help"] = over["help"]
    if isinstance(over.get("placeholder"), str):
        ui["ui:placeholder"] = over["placeholder"]
    if isinstance(over.get("messages"), Mapping):
        schema["x-messages"] = {str(k): str(v) for k, v in over["messages"].items()}
    choices = over.get("choices")
    if isinstance(choices, Mapping):
        _overlay_choices(schema, ui, choices)
    items = schema.get("items")
    if isinstance(items, dict):
        item_over = over.get("items")
        if isinstance(choices, Mapping):
            _overlay_choices(items, ui.setdefault("items", {}), choices)
        if isinstance(item_over, Mapping):
            _overlay_object(items, ui.setdefault("items", {}), item_over)
    if isinstance(over.get("properties"), Mapping):
        _overlay_object(schema, ui, over)


def _overlay_choices(
    schema: dict[str, Any], ui: dict[str, Any], choices: Mapping[str, Any]
) -> None:
    one_of = schema.get("oneOf")
    if isinstance(one_of, list):
        for option in one_of:
            if isinstance(option, dict) and str(option.get("const")) in choices:
                option["title"] = str(choices[str(option["const"])])
    if isinstance(schema.get("enum"), list):
        from engine.bpmn.form_messages import value_title

        names = list(ui.get("ui:enumNames") or schema.get("enumNames") or [])
        values = schema["enum"]
        titles = [
            str(choices.get(str(v)) or (names[i] if i < len(names) else value_title(v)))
            for i, v in enumerate(values)
        ]
        ui["ui:enumNames"] = titles
        schema["enumNames"] = titles


def _overlay_object(schema: dict[str, Any], ui: dict[str, Any], over: Mapping[str, Any]) -> None:
    for key in ("title", "description"):
        if isinstance(over.get(key), str):
            schema[key] = over[key]
    props = schema.get("properties")
    fields = over.get("properties")
    if not isinstance(props, dict) or not isinstance(fields, Mapping):
        return
    for name, field_over in fields.items():
        sub = props.get(name)
        if isinstance(sub, dict) and isinstance(field_over, Mapping):
            sub_ui = ui.setdefault(name, {})
            if isinstance(sub_ui, dict):
                _overlay_field(sub, sub_ui, field_over)
    # `then` branches of conditional rules carry titles and consts of the same fields
    for rule in schema.get("allOf") or []:
        then = rule.get("then") if isinstance(rule, dict) else None
        if isinstance(then, dict) and isinstance(then.get("properties"), dict):
            for name, sub in then["properties"].items():
                field_over = fields.get(name)
                if isinstance(sub, dict) and isinstance(field_over, Mapping):
                    msgs = field_over.get("messages")
                    if isinstance(msgs, Mapping):
                        sub["x-messages"] = {str(k): str(v) for k, v in msgs.items()}


def translate_form(
    schema: Mapping[str, Any], ui: Mapping[str, Any], overlay: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Copies of a form's schema and UI schema with the overlay's texts in place."""
    out_schema, out_ui = copy.deepcopy(dict(schema)), copy.deepcopy(dict(ui))
    if overlay:
        _overlay_object(out_schema, out_ui, overlay)
    return out_schema, out_ui


# -- what is missing ------------------------------------------------------------------------------


def _texts(schema: Mapping[str, Any], ui: Mapping[str, Any], path: str) -> Iterator[str]:
    """Every translatable text of a form, by its path in the overlay format."""
    for key in ("title", "description"):
        if schema.get(key):
            yield f"{path}{key}"
    if ui.get("ui:help"):
        yield f"{path}help"
    if ui.get("ui:placeholder"):
        yield f"{path}placeholder"
    values = schema.get("enum") or [
        o.get("const") for o in schema.get("oneOf") or [] if isinstance(o, Mapping)
    ]
    items = schema.get("items")
    if isinstance(items, Mapping) and not values:
        values = items.get("enum") or []
        if isinstance(items.get("properties"), Mapping):
            item_ui = ui.get("items") if isinstance(ui.get("items"), Mapping) else {}
            yield from _props(items, item_ui or {}, f"{path}items.")
    for v in values:
        if isinstance(v, str):
            yield f"{path}choices.{v}"
    yield from _props(schema, ui, path)


def _props(schema: Mapping[str, Any], ui: Mapping[str, Any], path: str) -> Iterator[str]:
    for name, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, Mapping):
            sub_ui = ui.get(name) if isinstance(ui.get(name), Mapping) else {}
            yield from _texts(sub, sub_ui or {}, f"{path}properties.{name}.")


def _has(overlay: Mapping[str, Any], path: str) -> bool:
    node: Any = overlay
    parts = path.split(".")
    i = 0
    while i < len(parts):
        if not isinstance(node, Mapping):
            return False
        part = parts[i]
        if part == "choices" and i + 1 < len(parts):
            choices = node.get("choices")
            return isinstance(choices, Mapping) and bool(choices.get(".".join(parts[i + 1 :])))
        node = node.get(part)
        i += 1
    return isinstance(node, str) and bool(node.strip())


def has_translation(overlay: Mapping[str, Any], path: str) -> bool:
    """Whether an overlay holds a (non-empty) translation at a form text's path."""
    return _has(overlay, path)


def missing_form_texts(
    schema: Mapping[str, Any], ui: Mapping[str, Any], overlay: Mapping[str, Any]
) -> list[str]:
    """The texts of a form that the overlay does not translate (paths such as
    `properties.head_of_state.title`)."""
    return [
        p
        for p in _texts(schema, ui, "")
        if not _has(overlay, p) or _untranslated_choice(schema, overlay, p)
    ]


def _untranslated_choice(schema: Mapping[str, Any], overlay: Mapping[str, Any], path: str) -> bool:
    """True when a choice's "translation" is its raw value although English gives it a title
    (an overlay written before the form named its choices, e.g. "C029" for the Forced Labour
    Convention)."""
    head, sep, value = path.partition("choices.")
    if not sep:
        return False
    node: Any = schema
    over: Any = overlay
    for part in [p for p in head.split(".") if p]:
        node = node.get(part) if isinstance(node, Mapping) else None
        over = over.get(part) if isinstance(over, Mapping) else None
    if not isinstance(node, Mapping) or not isinstance(over, Mapping):
        return False
    if node.get("enum") is None and isinstance(node.get("items"), Mapping):
        node = node["items"]
    values, names = node.get("enum") or [], node.get("enumNames") or []
    english = dict(zip(values, names, strict=False)).get(value)
    translated = (over.get("choices") or {}).get(value)
    return bool(english) and english != value and translated == value
