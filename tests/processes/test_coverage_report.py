"""The coverage report `make test` prints: path coverage (flows, gateway outcomes) and elements."""

from __future__ import annotations

from tests.processes import coverage


def test_report_gives_flows_gateway_outcomes_and_elements_separately() -> None:
    nodes, flows = coverage.model_elements()
    outcomes = coverage.gateway_outcomes()
    assert {"flow_hold_confirmed", "flow_hold_not_confirmed", "flow_fork_support"} <= outcomes
    assert "flow_merge_report_prepare" not in outcomes  # leaves a merge: one way out
    everything = nodes | set(flows.values())
    text = coverage.report(everything - {"flow_hold_not_confirmed"})
    assert f"flows (path coverage):  {len(flows) - 1}/{len(flows)} = " in text
    assert f"gateway outcomes:     {len(outcomes) - 1}/{len(outcomes)} = " in text
    assert f"elements (flow nodes):  {len(nodes)}/{len(nodes)} = 100.0 %" in text
    assert "not taken: flow_hold_not_confirmed" in text
    assert "not taken: none" in coverage.report(everything)
