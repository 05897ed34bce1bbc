"""The element-level diff of two versions lists exactly the elements that changed."""

from __future__ import annotations

from engine.bpmn.model_diff import diff_files
from tests.conftest import ROOT
from tests.fixtures.bpmn_files import REVIEW, YEARLY

V1 = {"review.bpmn": REVIEW.decode()}


def _ids(diff) -> tuple[set[str], set[str], set[str]]:
    ids = diff.ids()
    return set(ids["added"]), set(ids["removed"]), set(ids["changed"])


def test_identical_versions_have_no_changes() -> None:
    assert diff_files(V1, V1).empty


def test_name_condition_and_form_changes_are_listed_exactly() -> None:
    text = (
        REVIEW.decode()
        .replace('name="Decide on request"', 'name="Decide on the request"')
        .replace("approved == True", "approved is True")
        .replace('value="request.schema.json"', 'value="request_v2.schema.json"')
    )
    diff = diff_files(V1, {"review.bpmn": text})
    assert _ids(diff) == (set(), set(), {"decide", "f_yes", "fill"})
    changes = {c.element_id: c.changes for c in diff.changed}
    assert changes["decide"] == ["name: 'Decide on request' → 'Decide on the request'"]
    assert changes["f_yes"] == ["condition: 'approved == True' → 'approved is True'"]
    assert any("extension properties" in c for c in changes["fill"])


def test_an_inserted_task_changes_its_neighbours_and_lane() -> None:
    text = (
        REVIEW.decode()
        .replace(
            '<bpmn:sequenceFlow id="f3" sourceRef="decide" targetRef="approved_gw" />',
            '<bpmn:userTask id="check" name="Double-check" />'
            '<bpmn:sequenceFlow id="f3a" sourceRef="decide" targetRef="check" />'
            '<bpmn:sequenceFlow id="f3b" sourceRef="check" targetRef="approved_gw" />',
        )
        .replace(
            "<bpmn:flowNodeRef>decide</bpmn:flowNodeRef>",
            "<bpmn:flowNodeRef>decide</bpmn:flowNodeRef><bpmn:flowNodeRef>check</bpmn:flowNodeRef>",
        )
    )
    diff = diff_files(V1, {"review.bpmn": text})
    assert _ids(diff) == ({"check", "f3a", "f3b"}, {"f3"}, {"decide", "approved_gw", "lane_1"})
    changes = {c.element_id: c.changes for c in diff.changed}
    assert changes["decide"] == ["outgoing flows: +f3a, −f3"]
    assert changes["approved_gw"] == ["incoming flows: +f3b, −f3"]
    assert [c.type for c in diff.added if c.element_id == "check"] == ["userTask"]


def test_timer_and_type_changes() -> None:
    text = (
        YEARLY.decode()
        .replace('"P1Y"', '"P2Y"')
        .replace('bpmn:userTask id="anniversary"', 'bpmn:manualTask id="anniversary"')
        .replace("</bpmn:userTask>", "</bpmn:manualTask>")
    )
    diff = diff_files({"y.bpmn": YEARLY.decode()}, {"y.bpmn": text})
    assert _ids(diff) == (set(), set(), {"wait_year", "anniversary"})
    changes = {c.element_id: c.changes for c in diff.changed}
    assert changes["wait_year"] == ["timer: 'timeDuration \"P1Y\"' → 'timeDuration \"P2Y\"'"]
    assert changes["anniversary"][0] == "type: 'userTask' → 'manualTask'"


def test_moving_shapes_is_not_a_change() -> None:
    original = (ROOT / "processes" / "pathfinder.bpmn").read_text(encoding="utf-8")
    moved = original.replace('<dc:Bounds x="', '<dc:Bounds x="1', 5)
    assert moved != original
    assert diff_files({"p.bpmn": original}, {"p.bpmn": moved}).empty


def test_attribute_changes_on_the_process() -> None:
    text = REVIEW.decode().replace('isExecutable="true"', 'isExecutable="false"')
    diff = diff_files(V1, {"review.bpmn": text})
    assert _ids(diff) == (set(), set(), {"review"})
    assert diff.changed[0].changes == ["attribute isExecutable: 'true' → 'false'"]


def test_default_attribute_values_written_or_left_out_are_the_same() -> None:
    original = (ROOT / "processes" / "pathfinder.bpmn").read_text(encoding="utf-8")
    assert 'cancelActivity="true"' in original
    saved = original.replace(' cancelActivity="true"', "")
    assert diff_files({"p.bpmn": original}, {"p.bpmn": saved}).empty
