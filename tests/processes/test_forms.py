"""Every form of pathfinder.bpmn: referenced both ways, valid JSON Schema, realistic samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from lxml import etree

from tests.processes.samples import INVALID, VALID

ROOT = Path(__file__).resolve().parents[2]
FORMS = ROOT / "forms"
BPMN = ROOT / "processes" / "pathfinder.bpmn"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"
WIDGETS = {"textarea", "radio", "checkboxes", "select"}


def _referenced() -> set[str]:
    root = etree.parse(str(BPMN)).getroot()
    return {
        p.get("value")
        for p in root.iter(f"{SPIFF}property")
        if p.get("name") in ("formJsonSchemaFilename", "formUiSchemaFilename")
    }


def _schema_files() -> list[str]:
    return sorted(p.name.removesuffix(".schema.json") for p in FORMS.glob("*.schema.json"))


def test_every_referenced_form_exists_and_every_form_is_referenced() -> None:
    on_disk = {p.name for p in FORMS.glob("*.json")}
    assert _referenced() == on_disk


def test_every_form_has_a_valid_and_an_invalid_sample() -> None:
    assert set(VALID) == set(INVALID) == set(_schema_files())


@pytest.mark.parametrize("task", _schema_files())
def test_schema_follows_the_conventions(task: str) -> None:
    schema = json.loads((FORMS / f"{task}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object" and schema["title"] and schema["required"]
    for name, prop in schema["properties"].items():
        assert prop.get("title") and prop.get("description"), f"{task}.{name}"
    ui = json.loads((FORMS / f"{task}.uischema.json").read_text())
    assert set(ui["ui:order"]) == set(schema["properties"])
    for name, hints in ui.items():
        if isinstance(hints, dict) and "ui:widget" in hints:
            assert hints["ui:widget"] in WIDGETS, f"{task}.{name}"


@pytest.mark.parametrize("task", _schema_files())
def test_sample_data_passes_and_broken_data_fails(task: str) -> None:
    schema = json.loads((FORMS / f"{task}.schema.json").read_text())
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    assert list(validator.iter_errors(VALID[task])) == []
    assert list(validator.iter_errors(INVALID[task])) != [], f"{task}: the broken sample validates"
