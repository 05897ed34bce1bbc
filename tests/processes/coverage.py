"""BPMN path and element coverage of processes/pathfinder.bpmn, as a pytest plugin.

Scenario tests report which flow nodes and sequence flows their instance reached (taken from the
engine's audit trail). At the end of the session the report (reached / total, percentage and the
ids not taken) is printed, for sequence flows (path coverage, with the gateway outcomes
separately) and for flow nodes, and written to ``test-output/bpmn-coverage.txt``.

With pytest-xdist each worker writes its part to ``test-output/bpmn-coverage-<worker>.json`` and
the controller merges the parts before reporting.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
BPMN = ROOT / "processes" / "pathfinder.bpmn"
OUTPUT = ROOT / "test-output"
REPORT = OUTPUT / "bpmn-coverage.txt"
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
FLOW_NODE_TAGS = (
    "task",
    "userTask",
    "scriptTask",
    "serviceTask",
    "manualTask",
    "sendTask",
    "receiveTask",
    "businessRuleTask",
    "callActivity",
    "subProcess",
    "startEvent",
    "endEvent",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
    "exclusiveGateway",
    "parallelGateway",
    "inclusiveGateway",
    "eventBasedGateway",
)
REACHING_EVENTS = {
    "element_completed",
    "task_ready",
    "task_completed",
    "timer_scheduled",
    "timer_fired",
}

_reached: dict[str, set[str]] = {}
"""Test node id -> element ids it reached (this process only)."""


def model_elements(path: Path = BPMN) -> tuple[set[str], dict[tuple[str, str], str]]:
    """Flow node ids, and sequence flow ids by (source, target), of a BPMN file."""
    root = etree.parse(str(path)).getroot()  # our own file, not an upload
    nodes = set()
    for tag in FLOW_NODE_TAGS:
        nodes.update(e.get("id") for e in root.iterfind(f".//bpmn:{tag}", NS))
    flows = {
        (f.get("sourceRef"), f.get("targetRef")): f.get("id")
        for f in root.iterfind(".//bpmn:sequenceFlow", NS)
    }
    return nodes, flows


def containers(path: Path = BPMN) -> dict[str, str]:
    """Flow node id -> id of the subprocess that contains it."""
    root = etree.parse(str(path)).getroot()
    out = {}
    for sub in root.iterfind(".//bpmn:subProcess", NS):
        for child in sub:
            if child.get("id") and etree.QName(child).localname in FLOW_NODE_TAGS:
                out[child.get("id")] = sub.get("id")
    return out


def with_containers(reached: set[str]) -> set[str]:
    """A subprocess counts as reached when something inside it was, and so does its incoming flow.

    The engine records a subprocess only when it completes; ours ends by withdrawal (cancelled).
    """
    _, flows = model_elements()
    parents = containers()
    out = set(reached)
    out.update(parents[e] for e in reached if e in parents)
    out.update(
        f
        for (src, tgt), f in flows.items()
        if tgt in out and src in out and tgt in parents.values()
    )
    return out


def reached_from_history(events: Iterable[Any]) -> set[str]:
    """Reached flow nodes, and the sequence flows taken (an element reached from its source)."""
    _, flows = model_elements()
    reached: set[str] = set()
    for event in events:
        if not event.element_id or event.kind not in REACHING_EVENTS:
            continue
        reached.add(event.element_id)
        source = (event.data or {}).get("from")
        flow = flows.get((source, event.element_id))
        if flow:
            reached.add(flow)
    return with_containers(reached)


def record(test_id: str, elements: set[str]) -> None:
    _reached.setdefault(test_id, set()).update(elements)


def _pct(hit: int, total: int) -> str:
    return f"{hit}/{total} = {100.0 * hit / total if total else 100.0:.1f} %"


def gateway_outcomes(path: Path = BPMN) -> set[str]:
    """Ids of the sequence flows that leave a gateway with more than one way out."""
    root = etree.parse(str(path)).getroot()
    out: set[str] = set()
    for tag in ("exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway"):
        for gateway in root.iterfind(f".//bpmn:{tag}", NS):
            leaving = [o.text for o in gateway.iterfind("bpmn:outgoing", NS)]
            if len(leaving) > 1:
                out.update(t for t in leaving if t)
    return out


def report(reached: set[str]) -> str:
    """Path coverage: every sequence flow taken (gateway outcomes included), and elements."""
    nodes, flows = model_elements()
    flow_ids = set(flows.values())
    outcomes = gateway_outcomes()
    every = nodes | flow_ids
    hit = reached & every
    missing = sorted(every - hit)
    lines = [
        f"BPMN coverage of {BPMN.relative_to(ROOT)}",
        f"  flows (path coverage):  {_pct(len(hit & flow_ids), len(flow_ids))}",
        f"    gateway outcomes:     {_pct(len(hit & outcomes), len(outcomes))}",
        f"  elements (flow nodes):  {_pct(len(hit & nodes), len(nodes))}",
    ]
    lines.append("  not taken: " + (", ".join(missing) if missing else "none"))
    return "\n".join(lines) + "\n"


def _worker_id(config: Any) -> str | None:
    workerinput = getattr(config, "workerinput", None)
    return workerinput["workerid"] if workerinput else None


def pytest_configure(config: Any) -> None:
    if _worker_id(config) is None:  # the controller (or a plain run) starts from a clean slate
        for part in OUTPUT.glob("bpmn-coverage-*.json"):
            part.unlink()


def pytest_sessionfinish(session: Any) -> None:
    worker = _worker_id(session.config)
    if worker is not None and _reached:
        OUTPUT.mkdir(exist_ok=True)
        part = OUTPUT / f"bpmn-coverage-{worker}.json"
        part.write_text(json.dumps({k: sorted(v) for k, v in _reached.items()}))


def pytest_terminal_summary(terminalreporter: Any, config: Any) -> None:
    if _worker_id(config) is not None:
        return
    per_test = {k: set(v) for k, v in _reached.items()}
    for part in sorted(OUTPUT.glob("bpmn-coverage-*.json")):
        for test_id, ids in json.loads(part.read_text()).items():
            per_test.setdefault(test_id, set()).update(ids)
    if not per_test:
        return  # no scenario ran (e.g. -k selected other tests): no report
    reached = set().union(*per_test.values())
    text = report(reached)
    OUTPUT.mkdir(exist_ok=True)
    REPORT.write_text(text)
    terminalreporter.section("BPMN coverage")
    terminalreporter.write(text)
