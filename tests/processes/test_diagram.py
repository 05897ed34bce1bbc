"""The diagram of processes/pathfinder.bpmn: conventions the product relies on, complete DI, clean layout."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from tests.processes.coverage import FLOW_NODE_TAGS

ROOT = Path(__file__).resolve().parents[2]
BPMN = ROOT / "processes" / "pathfinder.bpmn"
NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
LANES = ["Country", "Secretariat", "GCG Chair", "GCG"]
CONTAINER = "pathfinder_procedure"
"""The embedded subprocess that holds the whole procedure (spans every lane, belongs to none)."""

NO_DEADLINE = {"record_support_to_alliance"}
"""Tasks that are a standing offer, not a step someone can stall: no due date, no reminders."""

Box = tuple[float, float, float, float]


@pytest.fixture(scope="module")
def root() -> etree._Element:
    return etree.parse(str(BPMN)).getroot()


def _bounds(root: etree._Element) -> dict[str, Box]:
    out = {}
    for shape in root.iterfind(".//bpmndi:BPMNShape", NS):
        b = shape.find("dc:Bounds", NS)
        out[shape.get("bpmnElement")] = tuple(
            float(b.get(k)) for k in ("x", "y", "width", "height")
        )
    return out


def _waypoints(root: etree._Element) -> dict[str, list[tuple[float, float]]]:
    return {
        e.get("bpmnElement"): [
            (float(w.get("x")), float(w.get("y"))) for w in e.iterfind("di:waypoint", NS)
        ]
        for e in root.iterfind(".//bpmndi:BPMNEdge", NS)
    }


def _flow_nodes(root: etree._Element) -> dict[str, etree._Element]:
    return {n.get("id"): n for tag in FLOW_NODE_TAGS for n in root.iterfind(f".//bpmn:{tag}", NS)}


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _segment_crosses(p: tuple[float, float], q: tuple[float, float], box: Box) -> bool:
    """True if the segment pq passes through the inside of box (shrunk by 1 px)."""
    x, y, w, h = box[0] + 1, box[1] + 1, box[2] - 2, box[3] - 2
    t0, t1 = 0.0, 1.0
    dx, dy = q[0] - p[0], q[1] - p[1]
    for pp, qq in ((-dx, p[0] - x), (dx, x + w - p[0]), (-dy, p[1] - y), (dy, y + h - p[1])):
        if pp == 0:
            if qq < 0:
                return False
        elif pp < 0:
            t0 = max(t0, qq / pp)
        else:
            t1 = min(t1, qq / pp)
    return t0 < t1


def test_parses_with_spiff_parser_and_names_the_process() -> None:
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_file(str(BPMN))
    spec = parser.get_spec("pathfinder")
    assert spec.description == "Alliance 8.7 pathfinder country procedure"
    lanes = {
        ts.lane
        for sp in [spec, *parser.get_subprocess_specs("pathfinder").values()]
        for ts in sp.task_specs.values()
        if type(ts).__name__ == "UserTask"
    }
    assert lanes == set(LANES)


def test_every_user_task_follows_the_conventions(root: etree._Element) -> None:
    tasks = root.findall(".//bpmn:userTask", NS)
    assert len(tasks) >= 15
    for task in tasks:
        tid = task.get("id")
        assert tid.islower() and " " not in tid, tid
        assert task.get("name") and task.get("name")[0].isupper(), tid
        props = {
            p.get("name"): p.get("value") for p in task.iterfind(".//spiffworkflow:property", NS)
        }
        assert props["formJsonSchemaFilename"] == f"{tid}.schema.json"
        assert props["formUiSchemaFilename"] == f"{tid}.uischema.json"
        if tid in NO_DEADLINE:
            assert "dueIn" not in props, tid
        else:
            assert props["dueIn"].startswith("P"), tid
        instructions = task.find(".//spiffworkflow:instructionsForEndUser", NS)
        assert instructions is not None and len(instructions.text) > 40, tid


def test_timer_expressions_are_quoted_literals_or_variables(root: etree._Element) -> None:
    for expr in root.iterfind(".//bpmn:timerEventDefinition/*", NS):
        text = expr.text.strip()
        assert text.startswith('"') or text.isidentifier(), text
    cycles = root.findall(".//bpmn:timeCycle", NS)
    assert cycles == []  # anniversaries are computed, calendar-exact


def test_every_flow_node_and_sequence_flow_has_di(root: etree._Element) -> None:
    bounds, edges = _bounds(root), _waypoints(root)
    for node_id in _flow_nodes(root):
        assert node_id in bounds, f"{node_id} has no BPMNShape"
    for flow in root.iterfind(".//bpmn:sequenceFlow", NS):
        assert len(edges.get(flow.get("id"), [])) >= 2, f"{flow.get('id')} has no waypoints"
    for lane in root.iterfind(".//bpmn:lane", NS):
        assert lane.get("id") in bounds
    assert "pathfinder_participant" in bounds


def test_lanes_in_the_required_order_top_to_bottom(root: etree._Element) -> None:
    bounds = _bounds(root)
    lanes = sorted(root.iterfind(".//bpmn:lane", NS), key=lambda lane: bounds[lane.get("id")][1])
    assert [lane.get("name") for lane in lanes] == LANES


def test_no_two_shapes_overlap(root: etree._Element) -> None:
    bounds = _bounds(root)
    nodes = _flow_nodes(root)
    skip = {CONTAINER} | {
        n for n, el in nodes.items() if etree.QName(el).localname == "boundaryEvent"
    }
    shapes = [(k, b) for k, b in bounds.items() if (k in nodes or "ref_" in k) and k not in skip]
    for i, (a, ba) in enumerate(shapes):
        for b, bb in shapes[i + 1 :]:
            assert not _overlap(ba, bb), f"{a} overlaps {b}"


def test_every_shape_lies_inside_its_lane(root: etree._Element) -> None:
    bounds = _bounds(root)
    for lane in root.iterfind(".//bpmn:lane", NS):
        lx, ly, lw, lh = bounds[lane.get("id")]
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            x, y, w, h = bounds[ref.text]
            if ref.text == "withdrawal_received":  # a boundary event sits on its host's edge
                y, h = y + h / 2, 0
            assert lx <= x and x + w <= lx + lw and ly <= y and y + h <= ly + lh, (
                ref.text,
                lane.get("name"),
            )


def test_the_procedure_container_stays_out_of_the_lanes(root: etree._Element) -> None:
    """SpiffWorkflow gives a subprocess's tasks the subprocess's lane: the container must have none."""
    refs = {r.text for r in root.iterfind(".//bpmn:flowNodeRef", NS)}
    assert CONTAINER not in refs
    inner = {
        n.get("id")
        for n in root.find(f".//bpmn:subProcess[@id='{CONTAINER}']", NS)
        if etree.QName(n).localname in FLOW_NODE_TAGS
    }
    assert inner <= refs


def test_no_sequence_flow_crosses_a_shape_it_does_not_connect(root: etree._Element) -> None:
    bounds = _bounds(root)
    nodes = _flow_nodes(root)
    hosts = {
        n.get("id"): n.get("attachedToRef") for n in root.iterfind(".//bpmn:boundaryEvent", NS)
    }
    edges = _waypoints(root)
    for flow in root.iterfind(".//bpmn:sequenceFlow", NS):
        ends = {flow.get("sourceRef"), flow.get("targetRef"), CONTAINER}
        ends |= {hosts[e] for e in list(ends) if e in hosts}
        pts = edges[flow.get("id")]
        for shape_id, box in bounds.items():
            if shape_id in ends or not (shape_id in nodes or shape_id.startswith("ref_")):
                continue
            for p, q in zip(pts, pts[1:], strict=False):
                assert not _segment_crosses(p, q, box), f"{flow.get('id')} crosses {shape_id}"


def test_hold_rule_gateways_are_readable(root: etree._Element) -> None:
    names = {g.get("name") for g in root.iterfind(".//bpmn:exclusiveGateway", NS)}
    assert {
        "Substantial progress?",
        "Reasonable justification?",
        "Second unjustified review in a row?",
        "GCG confirms the hold?",
    } <= names
    conditions = {
        f.get("id"): f.findtext("bpmn:conditionExpression", namespaces=NS)
        for f in root.iterfind(".//bpmn:sequenceFlow", NS)
    }
    assert conditions["flow_second_yes"] == "consecutive_unjustified_reviews >= 2"
    assert conditions["flow_justification_yes"] == "reasonable_justification == True"
    assert conditions["flow_hold_confirmed"] == "hold_confirmed == True"
    gateways = {g.get("id"): g for g in root.iterfind(".//bpmn:exclusiveGateway", NS)}
    assert gateways["gw_reasonable_justification"].get("default") == "flow_justification_no"
    assert gateways["gw_hold_confirmed"].get("default") == "flow_hold_not_confirmed"


def test_every_decision_gateway_has_a_default_flow(root: etree._Element) -> None:
    """A value no condition expects (a missing field, a new enum value) takes the cautious
    default instead of stopping the case with "no outgoing flow matched"."""
    decisions = [
        g
        for g in root.iterfind(".//bpmn:exclusiveGateway", NS)
        if len(g.findall("bpmn:outgoing", NS)) > 1
    ]
    assert len(decisions) == 12
    flows = {f.get("id"): f for f in root.iterfind(".//bpmn:sequenceFlow", NS)}
    for gateway in decisions:
        default = gateway.get("default")
        assert default in flows and flows[default].get("sourceRef") == gateway.get("id"), gateway
        assert flows[default].find("bpmn:conditionExpression", NS) is None, default
        assert gateway.get("name", "").endswith("?"), gateway.get("id")
        for out in gateway.iterfind("bpmn:outgoing", NS):
            assert flows[out.text].get("name"), f"{out.text} has no answer label"
            if out.text != default:
                assert flows[out.text].find("bpmn:conditionExpression", NS) is not None


def test_the_60_day_reminder_is_the_secretariats(root: etree._Element) -> None:
    lanes = {
        ref.text: lane.get("id")
        for lane in root.iterfind(".//bpmn:lane", NS)
        for ref in lane.iterfind("bpmn:flowNodeRef", NS)
    }
    assert lanes["eoi_reminder_due"] == "lane_country"  # on the country's task
    assert lanes["record_eoi_reminder"] == lanes["eoi_reminder_recorded"] == "lane_secretariat"


def test_the_gcgs_recorded_decisions_are_in_the_secretariat_lane(root: etree._Element) -> None:
    """The Secretariat records the observer participation and the annual review on the GCG's
    behalf; the approach that starts the case is a message."""
    lanes = {
        ref.text: lane.get("name")
        for lane in root.iterfind(".//bpmn:lane", NS)
        for ref in lane.iterfind("bpmn:flowNodeRef", NS)
    }
    for task in ("record_observer_participation", "decide_annual_review"):
        assert lanes[task] == "Secretariat", task
        text = root.find(f".//bpmn:userTask[@id='{task}']", NS).findtext(
            ".//spiffworkflow:instructionsForEndUser", namespaces=NS
        )
        assert text.startswith("On the GCG's behalf"), task
    start = root.find(".//bpmn:startEvent[@id='approach_received']", NS)
    definition = start.find("bpmn:messageEventDefinition", NS)
    message = root.find(f".//bpmn:message[@id='{definition.get('messageRef')}']", NS)
    assert message.get("name") == "country_approach"
