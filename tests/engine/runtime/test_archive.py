"""Pruning finished history (engine/archive.py): a long loop behaves exactly as without it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine import Actor, Engine
from engine.bpmn.serialization import dump_state, load_state, serializer
from engine.runtime.archive import prune_state


def _cycle(parallel: bool) -> bytes:
    """A yearly cycle inside an embedded subprocess that a withdrawal message interrupts. Each year
    a report and a review (in a row, or in parallel), a script that counts the year and appends
    the review note to a growing list, and a gateway that decides whether to go round again."""
    if parallel:
        body = (
            '<bpmn:parallelGateway id="fork" /><bpmn:parallelGateway id="join" />'
            + _f("s1", "sp_start", "fork")
            + _f("s2", "fork", "report")
            + _f("s3", "fork", "review")
            + _f("s4", "report", "join")
            + _f("s5", "review", "join")
            + _f("s6", "join", "count")
            + _f("f_loop", "again", "fork")
        )
    else:
        body = (
            _f("s1", "sp_start", "report")
            + _f("s2", "report", "review")
            + _f("s3", "review", "count")
            + _f("f_loop", "again", "report")
        )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs_cycle"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
  targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:message id="withdrawal" name="withdrawal" />
  <bpmn:process id="cycle" name="Cycle" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:subProcess id="years" name="Years">
      <bpmn:startEvent id="sp_start" />
      <bpmn:userTask id="report" name="Report" />
      <bpmn:userTask id="review" name="Review" />
      <bpmn:scriptTask id="count" name="Count"><bpmn:script>year = year + 1
log = log + [note]</bpmn:script></bpmn:scriptTask>
      <bpmn:exclusiveGateway id="again" default="f_loop" />
      <bpmn:endEvent id="sp_end" />
      {body}
      <bpmn:sequenceFlow id="s7" sourceRef="count" targetRef="again" />
      <bpmn:sequenceFlow id="f_done" sourceRef="again" targetRef="sp_end">
        <bpmn:conditionExpression>done == True</bpmn:conditionExpression>
      </bpmn:sequenceFlow>
    </bpmn:subProcess>
    <bpmn:boundaryEvent id="withdrawn" attachedToRef="years" cancelActivity="true">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="messagePayload" value="reason" />
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:messageEventDefinition messageRef="withdrawal" />
    </bpmn:boundaryEvent>
    <bpmn:userTask id="close" name="Close file" />
    <bpmn:endEvent id="end" />
    <bpmn:endEvent id="end_withdrawn" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="years" />
    <bpmn:sequenceFlow id="f2" sourceRef="years" targetRef="close" />
    <bpmn:sequenceFlow id="f3" sourceRef="close" targetRef="end" />
    <bpmn:sequenceFlow id="f4" sourceRef="withdrawn" targetRef="end_withdrawn" />
  </bpmn:process>
</bpmn:definitions>
""".encode()


def _f(fid: str, src: str, dst: str) -> str:
    return f'<bpmn:sequenceFlow id="{fid}" sourceRef="{src}" targetRef="{dst}" />'


ADMIN = Actor("ada", ["admin"])
START_DATA = {"year": 0, "log": [], "done": False}


@pytest.fixture
def cycle(engine: Engine) -> Engine:
    engine.deploy({"cycle.bpmn": _cycle(parallel=False)}, {}, actor="olu")
    return engine


@pytest.fixture
def parallel_cycle(engine: Engine) -> Engine:
    engine.deploy({"cycle.bpmn": _cycle(parallel=True)}, {}, actor="olu")
    return engine


def _specs(engine: Engine) -> Any:
    with engine.session() as s:
        from engine.runtime.execution import version_of

        pv = version_of(s, "cycle", None)
        return engine.runtime.specs.get(pv.id, pv.dialect, pv.spec_json)


def _new_workflow(engine: Engine) -> BpmnWorkflow:
    spec, subs = _specs(engine)
    wf = BpmnWorkflow(spec, subs, script_engine=engine.runtime.script_engine)
    wf.task_tree.data.update(START_DATA)
    for task in wf.get_tasks(state=TaskState.READY):
        task.data.update(START_DATA)
    wf.do_engine_steps()
    return wf


def _round_trip(engine: Engine, wf: BpmnWorkflow, prune_above: int | None) -> BpmnWorkflow:
    restored = load_state("spiff", dump_state("spiff", wf, prune_above=prune_above), _specs(engine))
    restored.script_engine = engine.runtime.script_engine
    return restored


def _ready(wf: BpmnWorkflow) -> list[tuple[str, dict[str, Any]]]:
    return sorted(
        (t.task_spec.bpmn_id, t.data) for t in wf.get_tasks(state=TaskState.READY, manual=True)
    )


def _step(wf: BpmnWorkflow, element: str, data: dict[str, Any]) -> None:
    [task] = [
        t
        for t in wf.get_tasks(state=TaskState.READY, manual=True)
        if t.task_spec.bpmn_id == element
    ]
    task.set_data(**data)
    task.run()
    wf.do_engine_steps()


def _compare_step_by_step(cycle: Engine, years: int) -> tuple[BpmnWorkflow, BpmnWorkflow]:
    """Run the loop twice, one stored whole and one pruned (at 8 tasks) at every step."""
    whole, pruned = _new_workflow(cycle), _new_workflow(cycle)
    for year in range(1, years + 1):
        last = year == years
        for element, data in (
            ("report", {"done": last, "score": year}),
            ("review", {"note": f"year {year}"}),
        ):
            _step(whole, element, data)
            _step(pruned, element, data)
            whole = _round_trip(cycle, whole, None)
            pruned = _round_trip(cycle, pruned, 8)
            assert _ready(pruned) == _ready(whole)
            assert pruned.data == whole.data
    return whole, pruned


def test_pruned_loop_matches_the_unpruned_one_step_by_step(cycle: Engine) -> None:
    years = 30
    whole, pruned = _compare_step_by_step(cycle, years)
    assert len(whole.get_tasks()) > 5 * len(pruned.get_tasks())  # the history really went
    _step(whole, "close", {})
    _step(pruned, "close", {})
    assert whole.is_completed() and pruned.is_completed()
    assert pruned.data == whole.data
    assert pruned.data["year"] == years and len(pruned.data["log"]) == years


def test_parallel_join_in_a_loop_keeps_its_tree_whole(parallel_cycle: Engine) -> None:
    # SpiffWorkflow merges the data of every earlier run of a parallel join into the next one,
    # so such trees are not pruned: the data stays what the unpruned workflow computes.
    whole, pruned = _compare_step_by_step(parallel_cycle, 12)
    assert len(pruned.get_tasks()) == len(whole.get_tasks())


def test_pruning_is_idempotent_and_leaves_small_trees_alone(cycle: Engine) -> None:
    wf = _new_workflow(cycle)
    assert json.loads(dump_state("spiff", wf)) == json.loads(
        dump_state("spiff", wf, prune_above=None)
    )
    for year in range(12):
        _step(wf, "report", {"done": False})
        _step(wf, "review", {"note": str(year)})
    once = dump_state("spiff", wf, prune_above=8)
    again = dump_state("spiff", load_state("spiff", once, _specs(cycle)), prune_above=8)
    assert json.loads(once) == json.loads(again)
    dct = serializer("spiff").to_dict(wf)
    assert prune_state(dct, above=8) > 0
    assert prune_state(dct, above=8) == 0


def test_long_running_instance_through_the_engine(cycle: Engine) -> None:
    inst = cycle.start("cycle", START_DATA, ADMIN)
    sizes = []
    for year in range(1, 41):
        for element, data in (("report", {"done": False}), ("review", {"note": f"y{year}"})):
            [task] = cycle.ready_tasks(inst.id)
            assert task.element_id == element
            cycle.complete(task.id, data, ADMIN)
        sizes.append(len(cycle.instance(inst.id).state))
        # What the inbox shows and what the stored tree holds agree after every pruning save.
        with cycle.session() as s:
            from engine.runtime.execution import load

            wf = load(s, cycle.runtime, inst.id).wf
            ready = {str(t.id) for t in wf.get_tasks(state=TaskState.READY, manual=True)}
            assert ready == {t.id for t in cycle.ready_tasks(inst.id)}
            assert wf.get_tasks(state=TaskState.READY, manual=True)[0].data["year"] == year
    assert max(sizes[20:]) < 2 * max(sizes[:10])  # bounded, not growing with the years
    row = cycle.instance(inst.id)
    assert row.data["year"] == 40 and len(row.data["log"]) == 40

    # The interrupting boundary event on the subprocess still works after all that pruning.
    cycle.instances.send_message(inst.id, "withdrawal", {"reason": "asked"}, ADMIN)
    done = cycle.instance(inst.id)
    assert done.status == "completed"
    assert cycle.ready_tasks(inst.id) == []
    assert "withdrawn" in cycle.reached_elements(inst.id)


def test_loop_finishes_normally_after_pruning(cycle: Engine) -> None:
    inst = cycle.start("cycle", START_DATA, ADMIN)
    for year in range(1, 36):
        last = year == 35
        for data in ({"done": last}, {"note": str(year)}):
            [task] = cycle.ready_tasks(inst.id)
            cycle.complete(task.id, data, ADMIN)
    [close] = cycle.ready_tasks(inst.id)
    assert close.element_id == "close"
    done = cycle.complete(close.id, {}, ADMIN)
    assert done.status == "completed" and done.data["year"] == 35
