"""Submissions: each completed task's answers kept as their own record, never overwritten, and the
pre-fill rules built on them (draft, sent back, blank)."""

from __future__ import annotations

import json
from typing import Any

from alembic import command
from sqlalchemy import select

from engine import Engine, Settings, VirtualClock
from engine.demo import seed
from engine.records import submissions
from engine.store.migrate import alembic_config
from engine.store.models import HumanTask, Instance, Submission
from tests.processes.driver import LANE_ACTORS, Pathfinder, deploy_pathfinder
from tests.web.test_demo import NOW


def _subs(engine: Engine, instance_id: int, element: str | None = None) -> list[Any]:
    with engine.session() as s:
        return submissions.listing(s, instance_id, element)


def _prefill(engine: Engine, instance_id: int, element: str) -> submissions.Prefill:
    with engine.session() as s:
        ht = s.execute(
            select(HumanTask).where(
                HumanTask.instance_id == instance_id,
                HumanTask.element_id == element,
                HumanTask.state == "ready",
            )
        ).scalar_one()
        instance = s.get(Instance, instance_id)
        assert instance is not None
        return submissions.prefill(s, instance, ht)


def test_a_later_task_never_changes_what_an_earlier_one_recorded(
    engine: Engine, clock: VirtualClock
) -> None:
    deploy_pathfinder(engine)
    pf = Pathfinder(engine, clock)
    pf.to_expression_of_interest()
    pf.do("submit_expression_of_interest", letter_date="2027-02-12")
    eoi = _subs(engine, pf.id or 0, "submit_expression_of_interest")
    assert [s.round for s in eoi] == [1]
    assert eoi[0].data["letter_date"] == "2027-02-12"
    assert eoi[0].submitted_by == "nima" and eoi[0].lane == "Country"
    pf.do("review_expression_of_interest")
    pf.do("submit_workshop_report")
    pf.do("review_workshop_report")
    pf.do("report_back_to_gcg")
    pf.do("consider_country_report")
    pf.wait_until("2027-09-15")
    pf.do("send_confirmation_letter", confirmation_letter_date="2027-09-15")
    after = _subs(engine, pf.id or 0, "submit_expression_of_interest")
    assert after[0].data["letter_date"] == "2027-02-12"
    letter = _subs(engine, pf.id or 0, "send_confirmation_letter")
    assert letter[0].data["confirmation_letter_date"] == "2027-09-15"
    everything = _subs(engine, pf.id or 0)
    assert [s.element_id for s in everything][:2] == [
        "register_approach",
        "invite_to_gcg_meeting",
    ]


def test_recurring_task_opens_blank_and_a_sent_back_one_with_its_own_answers(
    engine: Engine, clock: VirtualClock
) -> None:
    deploy_pathfinder(engine)
    pf = Pathfinder(engine, clock)
    pf.to_expression_of_interest()
    pf.do("submit_expression_of_interest", minister_name="Hon. First Try")
    assert _prefill(engine, pf.id or 0, "review_expression_of_interest").source == "blank"
    pf.do(
        "review_expression_of_interest",
        eoi_decision="sent_back",
        eoi_review_comments="Name the ministry.",
    )
    again = _prefill(engine, pf.id or 0, "submit_expression_of_interest")
    assert again.source == "sent_back"
    assert again.values["minister_name"] == "Hon. First Try"
    assert again.review is not None and again.review.data["eoi_review_comments"] == (
        "Name the ministry."
    )
    pf.do("submit_expression_of_interest")
    # the second review of the same submission opens blank, not with the first one's decision
    assert _prefill(engine, pf.id or 0, "review_expression_of_interest").values == {}
    rounds = [s.round for s in _subs(engine, pf.id or 0, "submit_expression_of_interest")]
    assert rounds == [1, 2]


def test_a_draft_wins_over_everything(engine: Engine, clock: VirtualClock) -> None:
    deploy_pathfinder(engine)
    pf = Pathfinder(engine, clock)
    pf.to_expression_of_interest()
    task = pf.task("submit_expression_of_interest")
    engine.tasks.save_draft(task.id, {"minister_name": "Draft"}, LANE_ACTORS[task.lane or ""])
    opened = _prefill(engine, pf.id or 0, "submit_expression_of_interest")
    assert (opened.source, opened.values) == ("draft", {"minister_name": "Draft"})


def test_migration_rebuilds_the_submissions_of_a_make_run_database(
    engine: Engine, settings: Settings, database_url: str
) -> None:
    """Seed as `make run` does, forget the submissions by going back to before the table, then
    upgrade: the data step rebuilds, from the audit trail, exactly what completion recorded."""
    deploy_pathfinder(engine)
    assert list(seed(settings, now=NOW))
    with engine.session() as s:
        live = [_comparable(r) for r in s.execute(select(Submission).order_by(Submission.task_id))]
    assert len(live) > 50
    assert any(r["round"] >= 3 for r in live)  # annual tasks, several rounds
    config = alembic_config(database_url)
    command.downgrade(config, "0004")
    command.upgrade(config, "head")
    with engine.session() as s:
        rebuilt = [
            _comparable(r) for r in s.execute(select(Submission).order_by(Submission.task_id))
        ]
    assert rebuilt == live


def _comparable(row: Any) -> dict[str, Any]:
    sub = row[0]
    return {
        c: getattr(sub, c)
        for c in (
            "instance_id",
            "element_id",
            "element_name",
            "task_id",
            "round",
            "form_file",
            "ui_form_file",
            "lane",
            "submitted_by",
            "submitted_at",
            "data",
            "attachments",
        )
    }


def test_only_declared_outputs_become_case_variables(engine: Engine, clock: VirtualClock) -> None:
    deploy_pathfinder(engine)
    pf = Pathfinder(engine, clock)
    pf.to_expression_of_interest()
    pf.do("submit_expression_of_interest", minister_name="Hon. EOI Minister")
    pf.do("review_expression_of_interest")
    pf.do("submit_workshop_report")
    pf.do("review_workshop_report")
    pf.do("report_back_to_gcg")
    pf.do("consider_country_report")
    pf.wait_until("2027-09-15")
    pf.do(
        "send_confirmation_letter",
        confirmation_letter_date="2027-09-15",
        minister_name="Hon. Letter Signatory",
    )
    variables = pf.variables()
    assert variables["award_date"] == "2027-09-15"
    assert variables["minister_name"] == "Hon. EOI Minister"  # not replaced by the letter
    assert "approach_ministry" in variables  # register_approach's ministry, renamed
    letter = _subs(engine, pf.id or 0, "send_confirmation_letter")[0]
    assert letter.data["minister_name"] == "Hon. Letter Signatory"  # the letter keeps its own


def test_deploy_warns_when_two_tasks_write_one_variable_undeclared(engine: Engine) -> None:
    from pathlib import Path

    from engine.bpmn.parsing import parse_bundle

    root = Path(__file__).resolve().parents[3]
    forms = {p.name: p.read_bytes() for p in (root / "forms").glob("*.json")}
    bpmn = (root / "processes" / "pathfinder.bpmn").read_bytes()
    assert not [w for w in parse_bundle({"p.bpmn": bpmn}, forms).warnings if w.code]
    letter = json.loads(forms["send_confirmation_letter.schema.json"])
    del letter["x-outputs"]  # now it writes every field, some of which other tasks write too
    letter["properties"]["a_field_only_the_letter_has"] = {"type": "string"}
    forms["send_confirmation_letter.schema.json"] = json.dumps(letter).encode()
    warnings = [w for w in parse_bundle({"p.bpmn": bpmn}, forms).warnings]
    collisions = {w.message.split("'")[1] for w in warnings if w.code == "output-collision"}
    assert collisions and collisions <= set(letter["properties"])
    assert "a_field_only_the_letter_has" not in collisions
    assert all(w.severity == "warning" for w in warnings)


def test_deploy_refuses_a_form_that_would_shadow_a_data_object() -> None:
    from pathlib import Path

    import pytest

    from engine import ValidationFailed
    from engine.bpmn.parsing import parse_bundle

    root = Path(__file__).resolve().parents[3]
    forms = {p.name: p.read_bytes() for p in (root / "forms").glob("*.json")}
    bpmn = (root / "processes" / "pathfinder.bpmn").read_bytes()
    review = json.loads(forms["decide_annual_review.schema.json"])
    review["properties"]["pathfinder_status"] = {
        "type": "string",
        "title": "Status",
        "description": "What the reviewers think the status is.",
    }
    review["x-outputs"].append("pathfinder_status")
    forms["decide_annual_review.schema.json"] = json.dumps(review).encode()
    with pytest.raises(ValidationFailed) as err:
        parse_bundle({"p.bpmn": bpmn}, forms)
    (problem,) = [p for p in err.value.problems if p.code == "form-shadows"]
    assert problem.element_id == "decide_annual_review"
    assert "'pathfinder_status'" in problem.message
    # Mapped to another case variable, the same field is fine.
    review["x-outputs"] = {"pathfinder_status": "reviewers_view_of_status"}
    forms["decide_annual_review.schema.json"] = json.dumps(review).encode()
    assert parse_bundle({"p.bpmn": bpmn}, forms).processes
