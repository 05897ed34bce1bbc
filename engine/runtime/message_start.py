"""Starting a process whose start event is a message start event.

A model can say that its case begins when a message arrives (pathfinder.bpmn: *Approach
received*, message ``country_approach``). SpiffWorkflow leaves such a start event WAITING after
the first `do_engine_steps`; nothing runs until the message is caught. Starting an instance from
the web or the API is that message: `deliver` hands the start data to the waiting start event
as the message's payload, and the instance runs on. A process with a plain start event never
waits here, so `deliver` leaves it alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.clock import use_clock
from engine.runtime.context import Loaded, jsonable
from engine.runtime.steps import run_engine

__all__ = ["deliver", "waiting_start"]


def waiting_start(wf: BpmnWorkflow) -> Any | None:
    """The message start event of the top process still waiting for its message, if any.

    With several message start events (one case, several ways to begin), the first in the
    model's order is the one a plain start delivers to.
    """
    for task in wf.get_tasks(state=TaskState.WAITING):
        spec = task.task_spec
        if (
            task.workflow is wf
            and type(spec).__name__ == "StartEvent"
            and isinstance(getattr(spec, "event_definition", None), MessageEventDefinition)
        ):
            return task
    return None


def deliver(loaded: Loaded, payload: Mapping[str, Any], actor: str) -> bool:
    """Deliver the start message of a new instance that waits for one; False when none waits.

    The payload is the start data (already the instance's variables); the message event keeps it
    as its own record, and `message_received` in the history names the event and the sender.
    """
    task = waiting_start(loaded.wf)
    if task is None:
        return False
    spec = task.task_spec
    definition = spec.event_definition
    body = jsonable(dict(payload))
    loaded.recorder.record(
        "message_received",
        actor=actor,
        element_id=getattr(spec, "bpmn_id", None),
        element_name=getattr(spec, "bpmn_name", None),
        data={"message": definition.name, "payload": body, "starts_instance": True},
    )
    with use_clock(loaded.rt.clock):
        loaded.wf.send_event(BpmnEvent(type(definition)(definition.name), body))
    run_engine(loaded)
    return True
