"""`pathfinder i18n check --stale`: translations made from an English text that changed since;
and literal English in template attributes, which no catalog can translate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from cli.i18n_check import check, stale, stamp, untranslated_attributes
from cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def _tree(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "babel.cfg", tmp_path / "babel.cfg")
    shutil.copytree(ROOT / "forms", tmp_path / "forms")
    shutil.copytree(ROOT / "processes", tmp_path / "processes")
    shutil.copytree(ROOT / "web" / "translations", tmp_path / "web" / "translations")
    return tmp_path


def test_the_shipped_translations_are_current() -> None:
    assert stale(ROOT, "fr") == [] and stale(ROOT, "es") == []


def test_changing_the_english_makes_its_translations_stale_until_stamped(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    schema_path = root / "forms" / "decide_on_hold.schema.json"
    schema = json.loads(schema_path.read_text())
    schema["properties"]["hold_letter"]["title"] = "Letter to the responsible Minister"
    schema_path.write_text(json.dumps(schema))
    bpmn = root / "processes" / "pathfinder.bpmn"
    bpmn.write_text(bpmn.read_text().replace('value="Workshop | ', 'value="Planning workshop | '))

    for lang in ("fr", "es"):
        assert stale(root, lang) == [
            "decide_on_hold: properties.hold_letter.title (Letter to the responsible Minister)",
            "pathfinder: stages.workshop (Planning workshop)",
        ]
    # stale is a report: nothing is missing, so the check still passes
    runner = CliRunner()
    result = runner.invoke(main, ["i18n", "check", "--root", str(root), "--stale", "--lang", "fr"])
    assert result.exit_code == 0, result.output
    assert "fr: 2 stale" in result.output
    assert "stale: pathfinder: stages.workshop (Planning workshop)" in result.output

    # once a translator has reviewed them, `stamp` records the new English
    assert {p.name for p in stamp(root, "fr")} == {"decide_on_hold.json", "pathfinder.json"}
    assert stale(root, "fr") == [] and len(stale(root, "es")) == 2
    overlay = json.loads((root / "forms" / "i18n" / "fr" / "decide_on_hold.json").read_text())
    assert overlay["properties"]["hold_letter"]["title"]  # the translation itself is kept


def test_a_literal_english_attribute_in_a_template_counts_as_missing(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    pages = root / "web" / "templates"
    pages.mkdir(parents=True)
    (pages / "page.html").write_text(
        '<img src="x.png" alt="{{ _(\'A map\') }}">\n'
        '<button title="{{ n }}" aria-label="Show the diagram after event {{ n }}"></button>\n'
        '<input placeholder="{{ _("Search by \\"name\\"") }}">\n'
    )
    assert untranslated_attributes(root) == [
        'web/templates/page.html:2: aria-label="Show the diagram after event"'
    ]
    for report in check(root):
        assert any("page.html:2: aria-label" in item for item in report.product)
    assert untranslated_attributes(ROOT) == []
