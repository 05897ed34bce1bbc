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


def _errors(task: str, data: dict[str, object]) -> list[str]:
    schema = json.loads((FORMS / f"{task}.schema.json").read_text())
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    return [e.message for e in validator.iter_errors(data)]


def test_the_knowledge_platform_contribution_is_a_link_or_a_reason() -> None:
    report = {k: v for k, v in VALID["submit_annual_progress_report"].items()}
    assert _errors("submit_annual_progress_report", report) == []
    shared_without_link = {**report, "knowledge_platform_link": None}
    del shared_without_link["knowledge_platform_link"]
    assert any(
        "knowledge_platform_link" in e
        for e in _errors("submit_annual_progress_report", shared_without_link)
    )
    not_shared = {**shared_without_link, "knowledge_platform_contribution": "not_shared"}
    assert any(
        "knowledge_platform_reason" in e
        for e in _errors("submit_annual_progress_report", not_shared)
    )
    blank = {**not_shared, "knowledge_platform_reason": ""}
    assert _errors("submit_annual_progress_report", blank) != []
    reason = {**not_shared, "knowledge_platform_reason": "Survey results not yet published."}
    assert _errors("submit_annual_progress_report", reason) == []
    assert _errors(
        "submit_annual_progress_report", {**report, "knowledge_platform_contribution": True}
    )


def test_the_annual_report_gives_the_vnr_link_and_year_and_the_workplan_indicators() -> None:
    report = VALID["submit_annual_progress_report"]
    assert (report["vnr_link"], report["vnr_year"]) == ("https://hlpf.un.org/countries/nepal", 2028)
    assert _errors("submit_annual_progress_report", {**report, "vnr_link": "not a link"})
    assert _errors("submit_annual_progress_report", {**report, "vnr_year": 1990})
    # Each value is for one of the workplan's own indicators; the SDG indicator is optional.
    row = report["indicator_values"][0]
    no_workplan_indicator = {k: v for k, v in row.items() if k != "workplan_indicator"}
    assert _errors(
        "submit_annual_progress_report", {**report, "indicator_values": [no_workplan_indicator]}
    )
    own_only = {k: v for k, v in row.items() if k != "indicator"}
    assert (
        _errors("submit_annual_progress_report", {**report, "indicator_values": [own_only]}) == []
    )


def test_workplan_values_are_numbers() -> None:
    report = VALID["submit_workshop_report"]
    action = report["workplan"][0]
    for field in ("baseline_value", "target_value", "benchmark_value"):
        bad = {**report, "workplan": [{**action, field: "12 %"}]}
        assert _errors("submit_workshop_report", bad), field


def test_the_expression_of_interest_records_the_new_action_commitments() -> None:
    """The note's commitments (action plan, Call to Action and Buenos Aires Declaration, support
    to another country, ratification) are each a choice; at least one is required."""
    eoi = VALID["submit_expression_of_interest"]
    schema = json.loads((FORMS / "submit_expression_of_interest.schema.json").read_text())
    choices = schema["properties"]["commitments"]["items"]["enum"]
    assert choices == [
        "national_action_plan",
        "call_to_action",
        "buenos_aires_declaration",
        "support_another_country",
        "ratification_of_standards",
    ]
    for choice in choices:
        assert _errors("submit_expression_of_interest", {**eoi, "commitments": [choice]}) == []
    assert _errors("submit_expression_of_interest", {**eoi, "commitments": []})
    assert _errors("submit_expression_of_interest", {**eoi, "commitments": ["go_faster"]})
    assert "commitments" in schema["x-outputs"]  # a case variable, shown on the case page


def test_support_outside_the_country_has_the_notes_four_options_and_the_level() -> None:
    support = VALID["record_support_to_alliance"]
    schema = json.loads((FORMS / "record_support_to_alliance.schema.json").read_text())
    assert schema["properties"]["support_form"]["enum"] == [
        "political_support",
        "scaling_up_approaches",
        "knowledge_platform_contribution",
        "action_group_participation",
    ]
    political = {
        "support_date": "2028-02-01",
        "support_form": "political_support",
        "support_description": "Chaired the regional conference on forced labour.",
    }
    assert any("support_level" in e for e in _errors("record_support_to_alliance", political))
    for level in ("subregional", "regional", "global"):
        for role in ("sponsoring", "convening", "chairing"):
            data = {**political, "support_level": level, "initiative_role": role}
            assert _errors("record_support_to_alliance", data) == []
    # Scaling up and action groups say whether the support was financial, technical or both.
    scaling = {**political, "support_form": "scaling_up_approaches"}
    assert any("support_type" in e for e in _errors("record_support_to_alliance", scaling))
    both = {**scaling, "support_type": ["financial", "technical"]}
    assert _errors("record_support_to_alliance", both) == []
    assert _errors("record_support_to_alliance", {**scaling, "support_type": []})
    no_type = {k: v for k, v in support.items() if k != "support_type"}
    assert _errors("record_support_to_alliance", no_type)
    kp = {**political, "support_form": "knowledge_platform_contribution"}
    assert _errors("record_support_to_alliance", kp) == []


def _untitled_choices(schema: object, ui: object, path: str = "") -> list[str]:
    """`path: value` for each choice (enum value or oneOf/anyOf const) the form gives no title."""
    if not isinstance(schema, dict):
        return []
    ui = ui if isinstance(ui, dict) else {}
    out: list[str] = []
    if isinstance(schema.get("enum"), list):
        names = ui.get("ui:enumNames") or schema.get("enumNames") or []
        out += [
            f"{path}: {v}"
            for i, v in enumerate(schema["enum"])
            if i >= len(names) or not str(names[i]).strip()
        ]
    for option in (schema.get("oneOf") or []) + (schema.get("anyOf") or []):
        if isinstance(option, dict) and "const" in option and not option.get("title"):
            out.append(f"{path}: {option['const']}")
    out += _untitled_choices(schema.get("items"), ui.get("items"), f"{path}[]")
    for name, sub in (schema.get("properties") or {}).items():
        out += _untitled_choices(sub, ui.get(name), f"{path}.{name}")
    for rule in schema.get("allOf") or []:
        for branch in ("then", "else"):
            if isinstance(rule, dict):
                out += _untitled_choices(rule.get(branch), ui, path)
    return out


@pytest.mark.parametrize("task", _schema_files())
def test_every_choice_has_a_title(task: str) -> None:
    """A choice shown to a person reads as words the form chose ("Head of the Secretariat"),
    never as a title generated from its value ("Head of secretariat")."""
    schema = json.loads((FORMS / f"{task}.schema.json").read_text())
    ui_path = FORMS / f"{task}.uischema.json"
    ui = json.loads(ui_path.read_text()) if ui_path.exists() else {}
    assert _untitled_choices(schema, ui) == []


def test_an_untitled_choice_is_caught() -> None:
    schema = {
        "properties": {"a": {"type": "array", "items": {"enum": ["x", "y"], "enumNames": ["X"]}}}
    }
    assert _untitled_choices(schema, {}) == [".a[]: y"]


def test_the_annual_report_offers_the_workplan_indicators_read_only() -> None:
    """The rows come from the workplan in force: indicator, baseline and target read-only, the
    country enters the value reached (required) and a comment."""
    schema = json.loads((FORMS / "submit_annual_progress_report.schema.json").read_text())
    rows = schema["properties"]["indicator_values"]
    assert rows["x-rows-from"]["variable"] == "workplan_in_force.actions"
    assert {
        "workplan_indicator": "indicator",
        "baseline": "baseline_value",
        "target": "target_value",
    }.items() <= rows["x-rows-from"]["fields"].items()
    props = rows["items"]["properties"]
    assert {k for k, v in props.items() if v.get("readOnly")} == {
        "workplan_indicator",
        "baseline",
        "target",
    }
    assert "value" in rows["items"]["required"] and "comment" in props
    workshop = json.loads((FORMS / "submit_workshop_report.schema.json").read_text())
    action = workshop["properties"]["workplan"]["items"]["properties"]
    assert set(rows["x-rows-from"]["fields"].values()) <= set(action)  # keys the workplan has
