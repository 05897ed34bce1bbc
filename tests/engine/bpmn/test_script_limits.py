"""Scripts that used to break deploys or saves (issue 14, finding 10): refused with a problem or
an instance error naming the element, never a MemoryError or a failed save."""

from __future__ import annotations

import dataclasses

import pytest

from engine import Actor, Engine, ValidationFailed
from tests.fixtures.bpmn_files import bpmn, flow, user_task


def scripted(script: str) -> bytes:
    return bpmn(
        "scripted",
        '<bpmn:startEvent id="start" />'
        + f'<bpmn:scriptTask id="calc" name="Calculate"><bpmn:script>{script}</bpmn:script>'
        + "</bpmn:scriptTask>"
        + user_task("check", "Check")
        + '<bpmn:endEvent id="end" />'
        + flow("f1", "start", "calc")
        + flow("f2", "calc", "check")
        + flow("f3", "check", "end"),
    )


@pytest.mark.parametrize(
    "script",
    ["-" * 100_000 + "1", "x = " + "-" * 5_000 + "1", "x = " + "(" * 3_000 + "1" + ")" * 3_000],
)
def test_pathological_scripts_are_refused_at_deploy_naming_the_task(
    engine: Engine, script: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        engine.deploy({"scripted.bpmn": scripted(script)}, {}, "olu")
    [problem] = [p for p in refused.value.problems if p.element_id == "calc"]
    assert problem.element_name == "Calculate"
    assert any(
        words in problem.message
        for words in ("nested too deeply", "characters long", "too many nested parentheses")
    )


def test_a_script_over_the_size_limit_is_refused_and_the_limit_is_a_setting(
    engine: Engine,
) -> None:
    script = "x = 1\n" * 4_000  # 24,000 characters of ordinary code
    with pytest.raises(ValidationFailed) as refused:
        engine.deploy({"scripted.bpmn": scripted(script)}, {}, "olu")
    assert any("PATHFINDER_MAX_SCRIPT_CHARS" in p.message for p in refused.value.problems)
    roomy = Engine(
        engine.sessions,
        engine.clock,
        settings=dataclasses.replace(engine.settings, max_script_chars=50_000),
    )
    [result] = roomy.deploy({"scripted.bpmn": scripted(script)}, {}, "olu")
    assert result.executable


@pytest.mark.parametrize(
    ("script", "named"),
    [
        ("x = 10 ** 5000", "more than 4,300 digits"),
        ("x = float('nan')", "NaN or Infinity"),
        ("x = [1, float('inf')]", "NaN or Infinity"),
    ],
)
def test_unstorable_task_data_puts_the_instance_in_error_naming_the_script(
    engine: Engine, actors: dict[str, Actor], script: str, named: str
) -> None:
    engine.deploy({"scripted.bpmn": scripted(script)}, {}, "olu")
    inst = engine.start("scripted", {"kept": "yes"}, actors["admin"])
    row = engine.instance(inst.id)
    assert row.status == "error"
    assert row.error_element_id == "calc"
    assert named in (row.error_message or "") and "'x'" in (row.error_message or "")
    assert row.data.get("kept") == "yes" and "x" not in row.data
    # The saved state loads again: the instance can be inspected and retried.
    assert [e.kind for e in engine.history(inst.id)][-1] == "instance_error"
