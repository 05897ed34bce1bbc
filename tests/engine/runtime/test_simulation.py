"""Simulation: sample form data from JSON Schemas, and a diagram run on a virtual clock in a
throwaway database that leaves the real one alone."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine import Engine, InvalidData, NotFound, ValidationFailed
from engine.bpmn.form_samples import sample_data
from engine.bpmn.forms import field_errors
from engine.runtime.simulation import start_simulation
from engine.store.models import Instance
from tests.conftest import ROOT
from tests.fixtures.bpmn_files import REVIEW, YEARLY, forms_json

TODAY = date(2027, 3, 15)
START = datetime(2027, 1, 31, 9, 0, tzinfo=UTC)


def test_sample_fills_required_fields_enums_formats_and_arrays_of_objects() -> None:
    schema = {
        "type": "object",
        "required": ["when", "who", "site", "kind", "actions", "count"],
        "properties": {
            "when": {"type": "string", "format": "date"},
            "who": {"type": "string", "format": "email"},
            "site": {"type": "string", "format": "uri"},
            "kind": {"type": "string", "enum": ["first", "second"]},
            "count": {"type": "integer", "minimum": 3},
            "optional": {"type": "string"},
            "actions": {
                "type": "array",
                "minItems": 2,
                "items": {
                    "type": "object",
                    "required": ["title", "budget"],
                    "properties": {
                        "title": {"type": "string", "minLength": 20, "maxLength": 30},
                        "budget": {"type": "number", "exclusiveMinimum": 0},
                    },
                },
            },
        },
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": "first"}}},
                "then": {"required": ["reason"], "properties": {"reason": {"type": "string"}}},
            }
        ],
    }
    data = sample_data(schema, TODAY)
    assert field_errors(schema, data) == {}
    assert data["when"] == "2027-03-15" and data["kind"] == "first" and data["count"] == 3
    assert "@" in data["who"] and data["site"].startswith("https://")
    assert len(data["actions"]) == 2 and len(data["actions"][0]["title"]) >= 20
    assert "reason" in data and "optional" not in data


@pytest.mark.parametrize(
    "form", sorted((ROOT / "forms").glob("*.schema.json")), ids=lambda p: p.name
)
def test_sample_is_valid_for_every_product_form(form: Path) -> None:
    schema = json.loads(form.read_text(encoding="utf-8"))
    assert field_errors(schema, sample_data(schema, TODAY)) == {}


def _count(engine: Engine) -> int:
    with engine.session() as s:
        return int(s.execute(select(func.count(Instance.id))).scalar_one())


def test_years_pass_in_a_moment_and_the_real_database_is_untouched(engine: Engine) -> None:
    sim = start_simulation({"yearly.bpmn": YEARLY}, {}, owner="olu", start=START)
    try:
        state = sim.snapshot()
        assert state["tasks"] == [] and [t["element_id"] for t in state["timers"]] == ["wait_year"]
        assert state["timers"][0]["due_at"].startswith("2028-01-31")
        sim.advance(months=11, days=30)
        assert sim.snapshot()["tasks"] == []
        sim.advance(days=1)
        state = sim.snapshot()
        assert state["now"].startswith("2028-01-31")
        assert [t["element_id"] for t in state["tasks"]] == ["anniversary"]
        sim.complete(state["tasks"][0]["id"])
        assert sim.snapshot()["status"] == "completed"
        assert any("skipped 11 months, 30 days" in a for a in sim.actions)
    finally:
        sim.close()
    assert _count(engine) == 0
    assert not sim.directory.exists()


def test_tasks_complete_with_generated_data_or_given_data() -> None:
    sim = start_simulation({"review.bpmn": REVIEW}, forms_json(), owner="olu", start=START)
    try:
        [fill] = sim.ready_tasks()
        assert sim.sample_for(fill) == {"title": "Sample title", "amount": 1}
        sim.complete(fill.id)
        [decide] = sim.ready_tasks()
        with pytest.raises(InvalidData):
            sim.complete(decide.id, {"approved": "maybe"})
        sim.complete(decide.id, {"approved": False})  # refused: back to the country
        assert [t.element_id for t in sim.ready_tasks()] == ["fill"]
        assert sim.snapshot()["data"]["title"] == "Sample title"
        with pytest.raises(NotFound):
            sim.complete(decide.id)
    finally:
        sim.close()


def test_a_diagram_that_cannot_run_is_refused_with_problems() -> None:
    broken = YEARLY.replace(b'"P1Y"', b"P1Y")
    with pytest.raises(ValidationFailed) as refused:
        start_simulation({"yearly.bpmn": broken}, {}, owner="olu")
    assert [(p.code, p.element_id) for p in refused.value.problems] == [
        ("timer-expression", "wait_year")
    ]


def test_time_only_moves_forward() -> None:
    sim = start_simulation({"yearly.bpmn": YEARLY}, {}, owner="olu", start=START)
    try:
        with pytest.raises(Exception, match="forward"):
            sim.advance(days=-1)
    finally:
        sim.close()
