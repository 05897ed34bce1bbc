"""A process whose start event is a message start event starts from the web and the API like any
other: the start data is delivered as its message, and the case runs on."""

from __future__ import annotations

from engine import Engine

MESSAGE_START = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs" targetNamespace="http://example.org/bpmn">
  <bpmn:message id="request_message" name="request_received" />
  <bpmn:process id="requests" name="Requests" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_secretariat" name="Secretariat">
        <bpmn:flowNodeRef>received</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>note</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>handle</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>done</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="received" name="Request received">
      <bpmn:outgoing>f1</bpmn:outgoing>
      <bpmn:messageEventDefinition id="received_def" messageRef="request_message" />
    </bpmn:startEvent>
    <bpmn:scriptTask id="note" name="Note the request">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>noted = country_name + " asked"</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:userTask id="handle" name="Handle the request">
      <bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="done">
      <bpmn:incoming>f3</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="received" targetRef="note" />
    <bpmn:sequenceFlow id="f2" sourceRef="note" targetRef="handle" />
    <bpmn:sequenceFlow id="f3" sourceRef="handle" targetRef="done" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_message_start_process_starts_with_the_start_data_as_its_message(
    engine: Engine, actors
) -> None:
    engine.deploy({"requests.bpmn": MESSAGE_START.encode()}, actor="olu")
    inst = engine.start(
        "requests", {"country": "NPL", "country_name": "Nepal"}, actors["secretariat"]
    )
    assert inst.status == "running"
    assert engine.instance(inst.id).data["noted"] == "Nepal asked"  # the script ran after it
    [task] = engine.ready_tasks(inst.id)
    assert (task.element_id, task.lane) == ("handle", "Secretariat")
    [received] = [e for e in engine.history(inst.id) if e.kind == "message_received"]
    assert received.element_id == "received"
    assert received.data["message"] == "request_received"
    assert received.data["payload"] == {"country": "NPL", "country_name": "Nepal"}
    # Nothing is left waiting for the start message.
    names = {r.name for r in engine.instances.message_rules(inst.id, actors["secretariat"])}
    assert "request_received" not in names
    done = engine.complete(task.id, {}, actors["secretariat"])
    assert done.status == "completed"


def test_a_plain_start_records_no_message(engine: Engine, actors, review_bundle) -> None:
    engine.deploy(*review_bundle, actor="olu")
    inst = engine.start("review", {"country": "NPL"}, actors["country"])
    assert [e for e in engine.history(inst.id) if e.kind == "message_received"] == []
    assert [t.element_id for t in engine.ready_tasks(inst.id)] == ["fill"]
