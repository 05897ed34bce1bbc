"""Server-side form rendering and parsing: JSON Schema + UI schema <-> HTML inputs <-> typed JSON."""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from engine.bpmn.forms import FormDefinition, validate
from web.pages.formrender import build, labels, option_label, parse, parse_extra, without_row

SCHEMA = {
    "type": "object",
    "required": ["name", "count", "agree", "topics"],
    "properties": {
        "name": {"type": "string", "title": "Name", "maxLength": 20},
        "when": {"type": "string", "format": "date"},
        "mail": {"type": "string", "format": "email"},
        "site": {"type": "string", "format": "uri"},
        "count": {"type": "integer", "minimum": 1},
        "share": {"type": "number"},
        "agree": {"type": "boolean"},
        "optional_flag": {"type": "boolean"},
        "kind": {"type": "string", "enum": ["a_b", "c"]},
        "mode": {"type": "string", "enum": ["x", "y"]},
        "topics": {
            "type": "array",
            "items": {"type": "string", "enum": ["t1", "t2"]},
            "minItems": 1,
        },
        "notes": {"type": "string", "maxLength": 4000},
        "rows": {
            "type": "array",
            "items": {
                "type": "object",
                "title": "Action",
                "required": ["what"],
                "properties": {
                    "what": {"type": "string"},
                    "cost": {"type": "number"},
                    "done": {"type": "boolean"},
                },
            },
        },
    },
}
UI = {
    "ui:order": ["name", "*", "notes"],
    "mode": {"ui:widget": "radio"},
    "name": {"ui:help": "Full name", "ui:placeholder": "Jane"},
}


def by_name(fields):
    return {f.name: f for f in fields}


def test_widgets_follow_types_formats_and_ui_schema() -> None:
    fields = build(SCHEMA, UI, {})
    assert [f.name for f in fields][0] == "name" and fields[-1].name == "notes"
    f = by_name(fields)
    assert f["name"].help == "Full name" and f["name"].placeholder == "Jane" and f["name"].required
    assert (f["when"].input_type, f["mail"].input_type, f["site"].input_type) == (
        "date",
        "email",
        "url",
    )
    assert f["count"].widget == "number" and f["count"].step == "1"
    assert f["agree"].widget == "yesno"  # required boolean: an explicit yes/no
    assert f["optional_flag"].widget == "checkbox"
    assert f["kind"].widget == "select" and f["kind"].options[0].label == "A b"
    assert f["mode"].widget == "radio"
    assert f["topics"].widget == "checkboxes"
    assert f["notes"].widget == "textarea"
    rows = f["rows"]
    assert rows.widget == "rows" and len(rows.rows) == 1 and rows.rows[0][0].name == "rows.0.what"


def test_parse_gives_typed_json_and_keeps_bad_values_as_typed() -> None:
    form = MultiDict(
        [
            ("name", " Ada "),
            ("count", "1,200"),
            ("share", "0.5"),
            ("agree", "false"),
            ("topics", "t1"),
            ("topics", "t2"),
            ("kind", ""),
            ("rows.0.what", "Inspect"),
            ("rows.0.cost", "12.5"),
            ("rows.0.done", "true"),
            ("rows.1.what", ""),
            ("rows.1.cost", ""),
            ("rows.2.what", "Train"),
            ("rows.2.cost", "lots"),
        ]
    )
    data = parse(SCHEMA, UI, form)
    assert data == {
        "name": "Ada",
        "count": 1200,
        "share": 0.5,
        "agree": False,
        "optional_flag": False,
        "topics": ["t1", "t2"],
        "rows": [
            {"what": "Inspect", "cost": 12.5, "done": True},
            {"what": "Train", "cost": "lots", "done": False},
        ],
    }
    errors = {}
    try:
        validate(FormDefinition(SCHEMA, UI), data)
    except Exception as err:  # InvalidData
        errors = err.errors
    assert set(errors) == {"rows.1.cost"}
    again = by_name(build(SCHEMA, UI, data, errors))
    assert again["rows"].rows[1][1].value == "lots" and again["rows"].rows[1][1].error
    assert again["agree"].options[1].selected  # "No" stays chosen


def test_missing_required_values_are_left_out_so_the_validator_names_them() -> None:
    data = parse(SCHEMA, UI, MultiDict([("count", "3")]))
    assert "name" not in data and "agree" not in data and data["topics"] == []


def test_rows_add_remove_and_labels() -> None:
    form = MultiDict([("rows.0.what", "A"), ("rows.1.what", "B"), ("_extra.rows", "2")])
    assert parse_extra(form) == {"rows": 2}
    data = parse(SCHEMA, UI, without_row(form, "rows.0"))
    assert data["rows"] == [{"what": "B", "done": False}]
    fields = build(SCHEMA, UI, data, extra={"rows": 2})
    assert len(by_name(fields)["rows"].rows) == 3
    assert labels(fields)["rows.0.what"] == "Rows › Action 1 › What"


def test_option_labels() -> None:
    assert option_label("ilo_director_general") == "ILO director general"
    assert option_label("C029") == "C029" and option_label("8.7.1") == "8.7.1"
