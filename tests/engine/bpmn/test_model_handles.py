"""`engine.models`: the process models their owners and the admins read and change, as frozen
read types; lane roles only by model owners."""

from __future__ import annotations

import pytest

from engine import Actor, Engine, Forbidden, NotFound
from tests.fixtures.bpmn_files import bpmn, flow, user_task

OWNER = Actor("olu", ["process_owner"])


def _lanes_model(key: str, name: str) -> bytes:
    body = (
        '<bpmn:startEvent id="start" />'
        + user_task("draft", "Draft")
        + user_task("check", "Check")
        + '<bpmn:endEvent id="end" />'
        + flow("f1", "start", "draft")
        + flow("f2", "draft", "check")
        + flow("f3", "check", "end")
    )
    lanes = {"Secretariat": ["start", "draft"], "Country focal point": ["check", "end"]}
    return bpmn(key, body, lanes=lanes, name=name)


def test_lanes_page_filters_and_lane_roles_need_a_model_owner(engine: Engine) -> None:
    engine.deploy({"alpha.bpmn": _lanes_model("alpha", "Annual review")})
    engine.deploy({"beta.bpmn": _lanes_model("beta", "Budget")})
    page = engine.models.lanes_page()
    assert [m.key for m in page.items] == ["alpha", "beta"]
    assert [m.key for m in engine.models.lanes_page(q="BUDG").items] == ["beta"]
    assert engine.models.lanes_page(q="nothing").items == []
    alpha = engine.models.lanes("alpha")
    assert {(r.lane, r.explicit) for r in alpha.lanes} == {
        ("Secretariat", False),
        ("Country focal point", False),
    }
    with pytest.raises(Forbidden):
        engine.models.set_lane_roles(
            "alpha", {"Secretariat": "chair"}, actor=Actor("sam", ["secretariat"])
        )
    engine.models.set_lane_roles(
        "alpha", {"Secretariat": "chair", "Country focal point": "country"}, actor=OWNER
    )
    rows = {r.lane: (r.role, r.explicit) for r in engine.models.lanes("alpha").lanes}
    assert rows["Secretariat"] == ("chair", True)
    with pytest.raises(NotFound):
        engine.models.lanes("missing")


def test_versions_overview_and_diff(engine: Engine) -> None:
    engine.deploy({"alpha.bpmn": _lanes_model("alpha", "Annual review")})
    engine.deploy({"alpha.bpmn": _lanes_model("alpha", "Annual review, second edition")})
    latest = engine.models.version("alpha")
    assert (latest.version, latest.name) == (2, "Annual review, second edition")
    assert engine.models.version("alpha", 1).name == "Annual review"
    with pytest.raises(NotFound):
        engine.models.version("alpha", 3)
    [row] = engine.models.overview()
    assert [v.version for v in row.versions] == [2, 1]
    old, new, diff = engine.models.diff("alpha", 1, None)
    assert (old.version, new.version) == (1, 2)
    assert not diff.empty
    assert engine.models.element_names("alpha", 1)["draft"] == "Draft"


def test_checking_a_bundle_reports_problems_without_storing(engine: Engine) -> None:
    broken = b"<not-bpmn/>"
    problems = engine.models.check({"x.bpmn": broken}, {})
    assert problems and problems[0].severity == "error"
    assert engine.models.overview() == []
    assert engine.models.names_in(broken) == {}
    assert engine.models.referenced_forms({"x.bpmn": broken}) == set()
