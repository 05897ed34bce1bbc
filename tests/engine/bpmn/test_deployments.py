"""Deploying process models: versions, no-ops, validation before anything is stored."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine import Engine, ValidationFailed
from engine.store.models import AuditEvent, ProcessVersion
from tests.fixtures.bpmn_files import REVIEW, bpmn, flow, forms_json, user_task


def _versions(engine: Engine) -> list[tuple[str, int]]:
    with engine.session() as s:
        return [
            tuple(r) for r in s.execute(select(ProcessVersion.process_key, ProcessVersion.version))
        ]


def test_new_same_and_changed_content(engine: Engine, review_bundle) -> None:
    files, forms = review_bundle
    first = engine.deploy(files, forms, "olu")
    assert [(r.process_key, r.version, r.created) for r in first] == [("review", 1, True)]

    again = engine.deploy(files, forms, "olu")
    assert [(r.version, r.created) for r in again] == [(1, False)]

    changed = REVIEW.replace(b'name="Decide on request"', b'name="Decide on the request"')
    third = engine.deploy({"review.bpmn": changed}, forms, "olu")
    assert [(r.version, r.created) for r in third] == [(2, True)]
    assert _versions(engine) == [("review", 1), ("review", 2)]

    with engine.session() as s:
        deployed = (
            s.execute(select(AuditEvent).where(AuditEvent.kind == "model_deployed")).scalars().all()
        )
    assert [(e.actor, e.data["version"]) for e in deployed] == [("olu", 1), ("olu", 2)]


def test_running_instances_stay_on_their_version(engine: Engine, review_bundle, actors) -> None:
    files, forms = review_bundle
    engine.deploy(files, forms, "olu")
    old = engine.start("review", {"country": "NPL"}, actors["country"])
    engine.deploy(
        {"review.bpmn": REVIEW.replace(b"Fill in request", b"Fill in the request")}, forms, "olu"
    )
    new = engine.start("review", {"country": "KEN"}, actors["other_country"])

    assert engine.ready_tasks(old.id)[0].name == "Fill in request"
    assert engine.ready_tasks(new.id)[0].name == "Fill in the request"
    assert old.process_version_id != new.process_version_id


def test_invalid_bundle_stores_nothing(engine: Engine) -> None:
    good = bpmn("good", '<bpmn:startEvent id="s" /><bpmn:endEvent id="e" />' + flow("f", "s", "e"))
    broken = bpmn(
        "broken",
        '<bpmn:startEvent id="s" />'
        + '<bpmn:scriptTask id="calc" name="Calculate"><bpmn:script>x = (1 +</bpmn:script></bpmn:scriptTask>'
        + user_task("t", "Form task", "missing_form")
        + flow("f1", "s", "calc")
        + flow("f2", "calc", "t"),
    )
    with pytest.raises(ValidationFailed) as err:
        engine.deploy({"good.bpmn": good, "broken.bpmn": broken}, {}, "olu")
    codes = {(p.code, p.element_id) for p in err.value.problems}
    assert ("script-syntax", "calc") in codes
    assert ("missing-form", "t") in codes
    with engine.session() as s:
        assert s.execute(select(func.count()).select_from(ProcessVersion)).scalar() == 0
        assert s.execute(select(func.count()).select_from(AuditEvent)).scalar() == 0


def test_non_executable_is_stored_but_cannot_start(engine: Engine, actors) -> None:
    xml = bpmn(
        "viewonly", '<bpmn:startEvent id="s" /><bpmn:endEvent id="e" />' + flow("f", "s", "e")
    )
    xml = xml.replace(b'isExecutable="true"', b'isExecutable="false"')
    [result] = engine.deploy({"viewonly.bpmn": xml}, {}, "olu")
    assert result.created and not result.executable
    from engine import NotExecutable

    with pytest.raises(NotExecutable, match="cannot be started"):
        engine.start("viewonly", {}, actors["admin"])


def test_forms_are_snapshotted_per_version(engine: Engine, review_bundle) -> None:
    files, forms = review_bundle
    engine.deploy(files, forms, "olu")
    with engine.session() as s:
        pv = s.execute(select(ProcessVersion)).scalar_one()
    assert set(pv.forms) == set(forms_json())
