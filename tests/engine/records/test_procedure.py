"""The procedure tracker: stages declared in the diagram, reached dates, who holds the step."""

from __future__ import annotations

import pytest

from engine import SYSTEM, Engine
from engine.records import procedure
from engine.store.models import Instance, ProcessVersion
from tests.conftest import ROOT


@pytest.fixture
def deployed(engine: Engine) -> Engine:
    engine.deploy_directory(ROOT / "processes", ROOT / "forms")
    return engine


def test_the_bundled_process_declares_its_stages_in_order(deployed: Engine) -> None:
    with deployed.session() as s:
        titles = procedure.stage_titles(s, "pathfinder")
    assert list(titles) == [
        "approach",
        "observer",
        "expression_of_interest",
        "workshop",
        "gcg_report",
        "pathfinder",
    ]
    assert titles["gcg_report"] == "Report to the GCG"


def test_a_new_case_is_at_the_approach_stage_with_the_secretariat(deployed: Engine) -> None:
    inst = deployed.start("pathfinder", {"country": "NPL", "country_name": "Nepal"}, SYSTEM)
    with deployed.session() as s:
        tracker = procedure.build(s, s.get(Instance, inst.id), SYSTEM, deployed.now())
    assert tracker is not None
    assert [st.state for st in tracker.stages] == ["current"] + ["ahead"] * 5
    assert tracker.stages[0].reached_at is not None
    assert [(step.name, step.lane) for step in tracker.steps] == [
        ("Register the approach", "Secretariat")
    ]
    assert tracker.history[-1].kind == "opened"


def test_a_process_without_stages_has_no_tracker() -> None:
    bare = ProcessVersion(
        id=-1,
        process_key="x",
        files={
            "x.bpmn": '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">'
            '<process id="x"/></definitions>'
        },
        main_file="x.bpmn",
    )
    assert procedure.declared_stages(bare) == ()
