"""A call activity that calls its own process without end is stopped with a clear error.

Deployment already refuses such a model (`recursive-call`); this proves the run-time guard behind
it, for a spec that got past validation, stops the instance instead of hanging.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine import Engine, Settings
from engine.bpmn.serialization import dump_spec
from engine.store.db import transaction
from engine.store.models import ProcessModel, ProcessVersion

RECURSIVE = (
    Path(__file__).resolve().parents[4]
    / "shared/interop/spiffworkflow/call_activity_nested/call_activity_level_3.bpmn"
)

pytestmark = pytest.mark.skipif(
    not RECURSIVE.exists(), reason="interop corpus (../shared/interop) absent"
)


def test_runaway_recursion_stops_with_an_error(settings: Settings, clock, actors) -> None:
    engine = Engine.from_settings(Settings(**{**settings.__dict__, "max_call_depth": 8}), clock)
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(RECURSIVE))
    spec = parser.get_spec("Level3")
    subs = parser.get_subprocess_specs("Level3")
    now = datetime(2027, 1, 4, tzinfo=UTC)
    with transaction(engine.sessions) as s:
        s.add(
            ProcessModel(key="Level3", name="Level3", lane_roles={}, start_roles=[], created_at=now)
        )
        s.add(
            ProcessVersion(
                process_key="Level3",
                version=1,
                name="Level3",
                content_hash="x" * 64,
                dialect="spiff",
                main_file="l3.bpmn",
                files={},
                forms={},
                executable=True,
                not_executable_reason=None,
                spec_json=dump_spec("spiff", spec, subs),
                lanes=[],
                warnings=[],
                deployed_by="test",
                deployed_at=now,
            )
        )
    instance = engine.start("Level3", {}, actors["admin"])
    assert instance.status == "error"
    assert "nested more than 8 deep" in (instance.error_message or "")
    assert instance.error_element_id == "Activity_12zat0d"
