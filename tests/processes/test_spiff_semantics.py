"""What pathfinder.bpmn relies on in SpiffWorkflow 3.2 itself, proven on the raw library.

- The withdrawal is an interrupting event subprocess with a message start event: delivering the
  message `withdrawal` cancels everything else, including the parallel loops after the award.
- `pathfinder_status` and `consecutive_unjustified_reviews` are BPMN data objects: one value per
  instance, shared by the parallel branches (the review loop and the on-hold path), which
  otherwise would each see their own copy of task data.

These run the workflow directly (parse, run, catch), with the engine's sandboxed script engine and
clock, and serialize/restore it at every step.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from RestrictedPython import compile_restricted_exec
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState

from engine import VirtualClock
from engine.bpmn.scripting import make_script_engine
from engine.clock import use_clock
from tests.processes import coverage
from tests.processes.driver import BPMN
from tests.processes.samples import SHORTFALL_UNJUSTIFIED, sample

SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))


class Raw:
    """The diagram on the bare library: complete tasks by element id, move a clock."""

    def __init__(self, clock: VirtualClock) -> None:
        parser = SpiffBpmnParser(validator=VALIDATOR)
        parser.add_bpmn_file(str(BPMN))
        self.clock = clock
        self.script_engine = make_script_engine(clock)
        self.wf = BpmnWorkflow(
            parser.get_spec("pathfinder"),
            parser.get_subprocess_specs("pathfinder"),
            script_engine=self.script_engine,
        )
        self.wf.get_tasks(state=TaskState.READY)[0].set_data(country="NPL", country_name="Nepal")
        self.step(lambda: None)
        # *Approach received* is a message start event: the case begins when the approach arrives.
        approach = BpmnEvent(MessageEventDefinition("country_approach"), {"country": "NPL"})
        self.step(lambda: self.wf.catch(approach))

    def step(self, action: Any) -> None:
        with use_clock(self.clock):
            action()
            self.wf.refresh_timers()
            self.wf.do_engine_steps()
        self.round_trip()

    def round_trip(self) -> None:
        """Save and restore: the restored workflow serializes to the same state."""
        state = SERIALIZER.serialize_json(self.wf)
        restored = SERIALIZER.deserialize_json(state)
        assert SERIALIZER.serialize_json(restored) == state
        restored.script_engine = self.script_engine
        self.wf = restored

    def offered(self) -> dict[str, str]:
        return {
            t.task_spec.bpmn_id: t.task_spec.lane
            for t in self.wf.get_tasks(state=TaskState.READY, manual=True)
        }

    def do(self, element_id: str, **overrides: Any) -> None:
        (task,) = [
            t
            for t in self.wf.get_tasks(state=TaskState.READY, manual=True)
            if t.task_spec.bpmn_id == element_id
        ]

        def run() -> None:
            task.set_data(**sample(element_id, **overrides))
            task.run()

        self.step(run)

    def wait_until(self, day: str) -> None:
        self.clock.set(datetime.fromisoformat(day).replace(hour=9, tzinfo=UTC))
        self.step(lambda: None)

    def deliver(self, name: str, payload: dict[str, Any]) -> None:
        self.step(lambda: self.wf.catch(BpmnEvent(MessageEventDefinition(name), payload)))

    def shared(self) -> dict[str, Any]:
        """The hold rule's data objects of the running procedure subprocess (the workplan in
        force, the third data object, is left out here)."""
        for sub in self.wf.subprocesses.values():
            if sub.spec.name == "pathfinder_procedure" and not sub.is_completed():
                return {k: v for k, v in sub.data_objects.items() if k != "workplan_in_force"}
        return {}

    def waiting_timers(self) -> list[str]:
        return [
            t.task_spec.bpmn_id
            for t in self.wf.get_tasks(state=TaskState.WAITING)
            if "timer" in str(type(t.task_spec.event_definition)).lower()
        ]

    def reached(self) -> set[str]:
        """Finished flow nodes and the flows between them, from the task tree."""
        _, flows = coverage.model_elements()
        reached = set()
        for task in self.wf.get_tasks(state=TaskState.COMPLETED):
            element = getattr(task.task_spec, "bpmn_id", None)
            if element is None:
                continue
            reached.add(element)
            parent = task.parent
            while parent is not None and getattr(parent.task_spec, "bpmn_id", None) is None:
                parent = parent.parent
            if parent is not None and (parent.task_spec.bpmn_id, element) in flows:
                reached.add(flows[(parent.task_spec.bpmn_id, element)])
        return coverage.with_containers(reached)

    def to_award(self) -> None:
        self.do("register_approach")
        self.do("invite_to_gcg_meeting", gcg_meeting_date="2027-02-15")
        self.wait_until("2027-02-15")
        for element in (
            "record_observer_participation",
            "submit_expression_of_interest",
            "review_expression_of_interest",
            "submit_workshop_report",
            "review_workshop_report",
            "report_back_to_gcg",
            "consider_country_report",
        ):
            self.do(element)
        self.wait_until("2027-09-15")
        self.do("send_confirmation_letter", confirmation_letter_date="2027-09-15")

    def review(self, year: int, **decision: Any) -> None:
        self.wait_until(f"{2027 + year}-09-15")
        self.do("submit_annual_progress_report")
        self.do("prepare_annual_review")
        self.do("decide_annual_review", **decision)


@pytest.fixture
def raw(clock: VirtualClock, request: pytest.FixtureRequest) -> Iterator[Raw]:
    r = Raw(clock)
    yield r
    coverage.record(request.node.nodeid, r.reached())


def test_withdrawal_message_cancels_both_parallel_loops_and_the_on_hold_path(raw: Raw) -> None:
    raw.to_award()
    raw.review(1, **SHORTFALL_UNJUSTIFIED)
    raw.review(2, **SHORTFALL_UNJUSTIFIED)
    raw.do("decide_on_hold")
    assert raw.offered() == {
        "record_support_to_alliance": "Country",
        "document_progress": "Country",
    }
    assert raw.waiting_timers() == ["review_anniversary_reached"]

    raw.deliver("withdrawal", {"reason": "Change of government priorities"})

    assert raw.offered() == {}
    assert raw.waiting_timers() == []
    assert raw.wf.is_completed()
    assert raw.shared() == {}  # the procedure and its shared data were cancelled
    (record,) = [
        t
        for t in raw.wf.get_tasks(state=TaskState.COMPLETED)
        if t.task_spec.bpmn_id == "record_withdrawal"
    ]
    assert record.data["stage"] == "withdrawn"
    assert record.data["pathfinder_status"] == "withdrawn"
    assert record.data["withdrawal_reason"] == "Change of government priorities"


def test_withdrawal_before_the_award_cancels_the_reminder_timer(raw: Raw) -> None:
    raw.do("register_approach")
    raw.do("invite_to_gcg_meeting", gcg_meeting_date="2027-02-15")
    raw.wait_until("2027-02-15")
    raw.do("record_observer_participation")
    assert raw.waiting_timers() == ["eoi_reminder_due"]
    raw.deliver("withdrawal", {"reason": "Elections"})
    assert raw.offered() == {}
    assert raw.waiting_timers() == []
    assert raw.wf.is_completed()


def test_reinstatement_on_the_on_hold_path_is_seen_by_the_review_loop(raw: Raw) -> None:
    """The data objects carry status and count across the parallel branches."""
    raw.to_award()
    raw.review(1, **SHORTFALL_UNJUSTIFIED)
    raw.review(2, **SHORTFALL_UNJUSTIFIED)
    raw.do("decide_on_hold")
    assert raw.shared() == {"pathfinder_status": "on_hold", "consecutive_unjustified_reviews": 2}
    raw.do("document_progress")
    raw.do("assess_documented_progress")
    assert raw.shared() == {"pathfinder_status": "pathfinder", "consecutive_unjustified_reviews": 0}
    # The review loop's own task data still says "on_hold"/2 from before the reinstatement; it
    # must read the shared values: one more unjustified review counts 1, not 3, and no hold.
    raw.review(3, **SHORTFALL_UNJUSTIFIED)
    assert raw.shared() == {"pathfinder_status": "pathfinder", "consecutive_unjustified_reviews": 1}
    assert "document_progress" not in raw.offered()
    # The second in a row after reinstatement puts it on hold again, through the same gateways.
    raw.review(4, **SHORTFALL_UNJUSTIFIED)
    raw.do("decide_on_hold")
    assert raw.shared() == {"pathfinder_status": "on_hold", "consecutive_unjustified_reviews": 2}
    assert raw.offered()["document_progress"] == "Country"


def test_timer_expressions_and_scripts_compile_in_the_sandbox() -> None:
    """Every condition, timer and script of the diagram passes the sandbox's compile step."""
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_file(str(BPMN))
    specs = [parser.get_spec("pathfinder"), *parser.get_subprocess_specs("pathfinder").values()]
    checked = 0
    for spec in specs:
        for task_spec in spec.task_specs.values():
            for text in _expressions(task_spec):
                result = compile_restricted_exec(text, filename=task_spec.name)
                assert result.errors == (), (task_spec.name, text, result.errors)
                checked += 1
    assert checked > 20


def _expressions(task_spec: Any) -> Iterator[str]:
    script = getattr(task_spec, "script", None)
    if script:
        yield script
    definition = getattr(task_spec, "event_definition", None)
    expression = getattr(definition, "expression", None)
    if isinstance(expression, str):
        yield expression
    for condition, _target in getattr(task_spec, "cond_task_specs", []) or []:
        if condition is not None:
            yield condition.args[0]
