"""`pathfinder i18n check`: what is not translated yet, per language.

Three sources of text are checked against their French and Spanish translations:

- the product: every message the sources hold today (extracted afresh with `babel.cfg`, so a
  string added since the last `make extract-messages` counts too) must have a translation in
  `web/translations/<lang>/LC_MESSAGES/messages.po` that is not fuzzy;
- the forms: every title, description, help, placeholder and choice title of `forms/*.json`
  must be in `forms/i18n/<lang>/<form>.json`;
- the diagrams: every named element and declared stage of `processes/*.bpmn` must be in
  `processes/i18n/<lang>/<process id>.json`;
- the templates: a `title`, `aria-label`, `alt` or `placeholder` attribute with literal text
  (outside `{{ ... }}`) is untranslatable, and counts as missing in every language.

`--stale` also lists form and element translations whose English source changed since they
were translated (each overlay records the English it was made from under `_source`;
`pathfinder i18n stamp` updates it after review). Stale translations are reported, never fatal.

Missing translations never break a page (English shows instead); this report is how they are
found, and `make test` fails while it lists any.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from engine import i18n

KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "N_": None}
SOURCES = ("web", "engine")
"""The top-level folders `babel.cfg` extracts from (the walk skips everything else)."""


@dataclass
class Report:
    """Missing translations of one language, by source."""

    lang: str
    product: list[str] = field(default_factory=list)
    forms: list[str] = field(default_factory=list)
    elements: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.product) + len(self.forms) + len(self.elements)


def source_messages(root: Path) -> set[str]:
    """Every msgid (the singular of plurals) the product's sources hold now."""
    with (root / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    found: set[str] = set()

    def wanted(path: str) -> bool:
        parts = Path(path).resolve().relative_to(root.resolve()).parts
        return bool(parts) and parts[0] in SOURCES and not parts[-1].startswith((".", "_"))

    for _file, _line, message, _comments, _context in extract_from_dir(
        str(root), method_map, options_map, keywords=KEYWORDS, directory_filter=wanted
    ):
        text = message[0] if isinstance(message, tuple) else message
        if text:
            found.add(text)
    return found


def _catalog(root: Path, lang: str) -> dict[str, bool]:
    """msgid -> translated (and not fuzzy) in the language's catalog."""
    path = root / "web" / "translations" / lang / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as f:
        catalog = read_po(f, locale=lang)
    out: dict[str, bool] = {}
    for m in catalog:
        if not m.id:
            continue
        key = m.id[0] if isinstance(m.id, (list, tuple)) else m.id
        strings = m.string if isinstance(m.string, (list, tuple)) else [m.string]
        out[str(key)] = bool(strings) and all(strings) and not m.fuzzy
    return out


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def missing_forms(root: Path, lang: str) -> list[str]:
    """`<form>: <path>` for each form text without a translation in `lang`."""
    out: list[str] = []
    for schema_path in sorted((root / "forms").glob("*.schema.json")):
        stem = schema_path.name[: -len(".schema.json")]
        schema = _json(schema_path)
        ui = _json(root / "forms" / f"{stem}.uischema.json")
        overlay = _json(root / "forms" / "i18n" / lang / f"{stem}.json")
        out += [f"{stem}: {p}" for p in i18n.missing_form_texts(schema, ui, overlay)]
    return out


def missing_elements(root: Path, lang: str) -> list[str]:
    """`<process>: <element id> (<English name>)` for each name without a translation."""
    out: list[str] = []
    for bpmn in sorted((root / "processes").glob("*.bpmn")):
        text = bpmn.read_text(encoding="utf-8")
        files = {bpmn.name: text}
        for process_id in re.findall(r'<(?:bpmn2?:)?process\s[^>]*\bid="([^"]+)"', text):
            data = _json(root / "processes" / "i18n" / lang / f"{process_id}.json")
            have = data.get("elements") or {}
            for eid, name in i18n.english_names(files).items():
                if name.startswith("__") or (isinstance(have, dict) and have.get(eid)):
                    continue
                out.append(f"{process_id}: {eid} ({name})")
            have_ins = data.get("instructions") or {}
            for eid in i18n.english_instructions(files):
                if not (isinstance(have_ins, dict) and have_ins.get(eid)):
                    out.append(f"{process_id}: instructions of {eid}")
            stages = data.get("stages") or {}
            for code, title in i18n.stage_titles(files).items():
                if not (isinstance(stages, dict) and stages.get(code)):
                    out.append(f"{process_id}: stage {code} ({title})")
    return out


def check(root: Path, languages: tuple[str, ...] = i18n.TRANSLATED) -> list[Report]:
    """What each language misses, in the product, the forms and the diagram element names."""
    messages = source_messages(root)
    attributes = [f"{a} (not translated: use _())" for a in untranslated_attributes(root)]
    reports = []
    for lang in languages:
        catalog = _catalog(root, lang)
        report = Report(lang)
        report.product = sorted(m for m in messages if not catalog.get(m)) + attributes
        report.forms = missing_forms(root, lang)
        report.elements = missing_elements(root, lang)
        reports.append(report)
    return reports


# -- stale translations -------------------------------------------------------------------------
#
# Stale translations: which French and Spanish texts were made from an English text that has
# changed since.
#
# Each overlay keeps, under "_source", a short digest of the English text each of its
# translations was made from (`{"properties.letter_date.title": "3f2a9c01d4"}`). When the English
# changes, the digest no longer matches and `pathfinder i18n check --stale` lists the
# translation; `pathfinder i18n stamp` records the current English once the translation is
# reviewed.

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
    out.update({f"elements.{k}": v for k, v in i18n.english_names(files).items()})
    out.update({f"instructions.{k}": v for k, v in i18n.english_instructions(files).items()})
    out.update({f"stages.{k}": v for k, v in i18n.stage_titles(files).items()})
    return out


def stale_paths(english: Mapping[str, str], overlay: Mapping[str, Any]) -> list[str]:
    """Paths the overlay translates whose English changed since (or was never recorded)."""
    recorded = overlay.get(SOURCE_KEY)
    recorded = recorded if isinstance(recorded, Mapping) else {}
    return [
        path
        for path, text in english.items()
        if i18n.has_translation(overlay, path) and recorded.get(path) != digest(text)
    ]


def stamped(english: Mapping[str, str], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """The overlay with `_source` recording the current English of each translated text."""
    out = {k: v for k, v in overlay.items() if k != SOURCE_KEY}
    sources = {p: digest(t) for p, t in sorted(english.items()) if i18n.has_translation(overlay, p)}
    if sources:
        out[SOURCE_KEY] = sources
    return out


def _overlays(root: Path, lang: str) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """(`<form or process>`, overlay file, English texts by overlay path) of every overlay."""
    for schema_path in sorted((root / "forms").glob("*.schema.json")):
        stem = schema_path.name[: -len(".schema.json")]
        ui = _json(root / "forms" / f"{stem}.uischema.json")
        english = english_form_texts(_json(schema_path), ui)
        yield stem, root / "forms" / "i18n" / lang / f"{stem}.json", english
    for bpmn in sorted((root / "processes").glob("*.bpmn")):
        text = bpmn.read_text(encoding="utf-8")
        for process_id in re.findall(r'<(?:bpmn2?:)?process\s[^>]*\bid="([^"]+)"', text):
            english = english_process_texts({bpmn.name: text}, process_id)
            yield process_id, root / "processes" / "i18n" / lang / f"{process_id}.json", english


def stale(root: Path, lang: str) -> list[str]:
    """`<form or process>: <path> (<English now>)` for each translation in `lang` made from an
    English text that has changed since (`pathfinder i18n stamp` records it once reviewed)."""
    out: list[str] = []
    for name, path, english in _overlays(root, lang):
        overlay = _json(path)
        out += [f"{name}: {p} ({english[p]})" for p in stale_paths(english, overlay)]
    return out


def stamp(root: Path, lang: str) -> list[Path]:
    """Record the current English source of every translation in `lang` (after reviewing what
    `stale` lists); returns the overlay files that changed."""
    changed: list[Path] = []
    for _name, path, english in _overlays(root, lang):
        if not path.exists():
            continue
        overlay = _json(path)
        updated = stamped(english, overlay)
        if updated != overlay:
            path.write_text(json.dumps(updated, indent=2, ensure_ascii=False) + "\n", "utf-8")
            changed.append(path)
    return changed


def report_stale(root: Path, languages: tuple[str, ...], quiet: bool) -> None:
    """Print what `stale` finds per language (a report: stale translations never fail)."""
    for lang in languages:
        found = stale(root, lang)
        click.echo(f"{lang}: {len(found)} stale (English changed since translated)")
        if not quiet:
            for item in found:
                click.echo(f"  stale: {item}")


# -- literal English in template attributes -------------------------------------------------------

ATTRIBUTES = ("title", "aria-label", "aria-description", "alt", "placeholder")
"""Attributes people read (or hear, with a screen reader) that `pybabel extract` cannot see
unless their text goes through `_()`."""
_ATTRIBUTE = re.compile(
    r"\s(" + "|".join(ATTRIBUTES) + r')\s*=\s*"((?:\{\{.*?\}\}|\{%.*?%\}|[^"])*)"', re.S
)
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)


def untranslated_attributes(root: Path) -> list[str]:
    """`<template>:<line>: <attribute>="<text>"` for each attribute of the page and mail
    templates whose text has words outside `{{ ... }}` (literal English no catalog holds)."""
    out: list[str] = []
    for folder in ("web/templates", "engine/mail/templates"):
        for path in sorted((root / folder).glob("**/*.html")):
            text = path.read_text(encoding="utf-8")
            for found in _ATTRIBUTE.finditer(text):
                literal = _JINJA.sub(" ", found.group(2))
                if re.search(r"[^\W\d_]{2,}", literal):
                    line = text.count("\n", 0, found.start()) + 1
                    where = path.relative_to(root)
                    out.append(f'{where}:{line}: {found.group(1)}="{" ".join(literal.split())}"')
    return out
