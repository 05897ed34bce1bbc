"""Validation messages a person understands, and the date rules the Pathfinder forms use."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from engine.bpmn.forms import field_errors

FORMS = Path(__file__).resolve().parents[3] / "forms"


def _schema(name: str) -> dict[str, Any]:
    return json.loads((FORMS / f"{name}.schema.json").read_text())


def test_messages_name_the_field_and_the_allowed_values_by_title() -> None:
    eoi = _schema("submit_expression_of_interest")
    errors = field_errors(eoi, {"signed_by_minister": False, "addressee": "somebody"})
    assert errors["addressee"] == (
        "Choose “Head of the Secretariat” or “ILO Director-General” for Addressed to."
    )
    assert "was expected" not in " ".join(errors.values())
    workshop = _schema("submit_workshop_report")
    errors = field_errors(workshop, {"workplan": [{"budget_usd": "lots"}]})
    assert errors["workplan.0.budget_usd"] == "Enter a number for Budget (USD)."


def test_a_const_rule_says_which_value_it_needs() -> None:
    eoi = _schema("submit_expression_of_interest")
    errors = field_errors(eoi, {"signed_by_minister": True, "addressee": "head_of_secretariat"})
    message = errors["addressee"]
    assert "ILO Director-General" in message and "was expected" not in message
    assert "'" not in message


def test_letter_dates_cannot_be_in_the_future() -> None:
    letter = _schema("send_confirmation_letter")
    today = date(2027, 9, 15)
    errors = field_errors(letter, {"confirmation_letter_date": "2031-01-01"}, today)
    assert errors["confirmation_letter_date"] == (
        "Date of the letter cannot be in the future (today is 15 Sep 2027)."
    )
    ok = field_errors(letter, {"confirmation_letter_date": "2027-09-15"}, today)
    assert "confirmation_letter_date" not in ok


def test_workshop_end_not_before_start_and_actions_end_after_they_start() -> None:
    workshop = _schema("submit_workshop_report")
    data = {
        "workshop_start": "2027-06-11",
        "workshop_end": "2027-06-10",
        "workplan": [{"start": "2027-07-01", "end": "2027-07-01"}],
    }
    errors = field_errors(workshop, data)
    assert errors["workshop_end"] == "Workshop end cannot be before Workshop start (11 Jun 2027)."
    assert errors["workplan.0.end"] == "End must be after Start (01 Jul 2027)."
    same_day = {**data, "workshop_end": "2027-06-11"}
    assert "workshop_end" not in field_errors(workshop, same_day)
