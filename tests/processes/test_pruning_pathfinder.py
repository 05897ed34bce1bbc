"""Pruning (engine/archive.py) on the real pathfinder model: decades of parallel loops.

After the award, `gw_fork_pathfinder` starts branches that loop for ever (support records, annual
reviews, and while on hold the documented progress), so the deepest task above every open task is
that fork. Each branch is pruned within itself; these tests run the same 30 years with pruning on
and off and compare what every role sees at every step, then check the stored state stays small.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest

from engine import Engine, Settings, VirtualClock
from tests.conftest import START
from tests.processes.driver import Pathfinder
from tests.processes.samples import SHORTFALL_JUSTIFIED, SHORTFALL_UNJUSTIFIED

YEARS = 30
HOLDS = {5, 17}
"""Years after whose review the country is on hold (two unjustified reviews in a row), then
documents progress, is sent back once (the first time) and reinstated."""


def _decision(year: int) -> dict[str, Any]:
    if year in HOLDS or year + 1 in HOLDS:
        return SHORTFALL_UNJUSTIFIED
    if year % 3 == 0:
        return SHORTFALL_JUSTIFIED
    return {}


def _snapshot(p: Pathfinder) -> dict[str, Any]:
    row = p.instance()
    return {
        "ready": sorted((t.element_id, t.lane) for t in p.ready()),
        "data": row.data,
        "variables": p.variables(),
        "status": row.status,
        "stage": row.stage,
        "events": [e.kind for e in p.engine.history(p.id)],
    }


def _scenario(p: Pathfinder, each_step: Callable[[str], None]) -> None:
    """The award, then `YEARS` years of reviews and support records, with holds."""
    p.to_award(letter_date="2027-09-15")
    each_step("award")
    for year in range(1, YEARS + 1):
        p.wait_until(p.variables()["next_review_at"])
        each_step(f"year {year}: anniversary")
        for element, data in (
            ("submit_annual_progress_report", {}),
            ("prepare_annual_review", {}),
            ("decide_annual_review", _decision(year)),
        ):
            p.do(element, **data)
            each_step(f"year {year}: {element}")
        p.do("record_support_to_alliance")
        each_step(f"year {year}: record_support_to_alliance")
        if year in HOLDS:
            p.do("decide_on_hold")
            each_step(f"year {year}: decide_on_hold")
            assert p.status() == "on_hold"
            if year == min(HOLDS):
                p.do("document_progress")
                p.do(
                    "assess_documented_progress",
                    progress_decision="sent_back",
                    progress_assessment_comments="Please add the inspection figures.",
                )
                each_step(f"year {year}: sent back")
            p.wait(40)
            p.do("document_progress")
            each_step(f"year {year}: document_progress")
            p.do("assess_documented_progress")
            each_step(f"year {year}: reinstated")
        assert p.status() == "pathfinder"


def _subprocess_sizes(state: dict[str, Any]) -> list[int]:
    return [len(sub["tasks"]) for sub in state.get("subprocesses", {}).values()]


# Both run 30 years of the procedure (the first twice): about 40 s and 15 s on a quiet machine,
# three times that on a busy one. `slow` runs them once, in the SQLite pass of `make test`.
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_thirty_years_behave_the_same_with_and_without_pruning(
    deployed: Engine, clock: VirtualClock, settings: Settings
) -> None:
    pruned = Pathfinder(deployed, clock)
    seen: list[tuple[str, dict[str, Any]]] = []
    _scenario(pruned, lambda step: seen.append((step, _snapshot(pruned))))
    pruned_state = json.loads(pruned.instance().state)
    # One active instance per country: end this one (the boundary withdrawal still works).
    assert pruned.withdraw().status == "completed"

    # The same again, on a second engine with its own clock, storing whole trees.
    other_clock = VirtualClock(START)
    whole = Pathfinder(Engine.from_settings(settings, other_clock), other_clock)
    steps = iter(seen)

    def compare(step: str) -> None:
        expected_step, expected = next(steps)
        assert step == expected_step
        assert _snapshot(whole) == expected, step

    with mock.patch("engine.bpmn.serialization.prune_state", lambda *a, **k: 0):
        _scenario(whole, compare)
    assert next(steps, None) is None
    whole_state = json.loads(whole.instance().state)

    # Pruning really happened, in the subprocess that holds the loops.
    assert max(_subprocess_sizes(pruned_state)) < 150  # 120 before the hold decision task, 135
    # before the workplan revision gateway and the reinstatement signal (issue 16, second part)
    assert max(_subprocess_sizes(whole_state)) > 3 * max(_subprocess_sizes(pruned_state))
    assert {"document_progress", "gw_fork_on_hold", "reinstate_pathfinder_status"} <= {
        e.element_id for e in pruned.engine.history(pruned.id) if e.element_id
    }


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_stored_state_stays_bounded_over_thirty_years(pathfinder: Pathfinder) -> None:
    sizes: list[tuple[int, int]] = []

    def measure(step: str) -> None:
        state = pathfinder.instance().state
        sizes.append((len(state), max(_subprocess_sizes(json.loads(state)), default=0)))

    _scenario(pathfinder, measure)
    chars, tasks = sizes[-1]
    # Unpruned: ~400 subprocess tasks and ~165 KB after 30 years, and growing every year.
    assert tasks < 150 and chars < 76_000, sizes[-1]  # the hold decision, the workplan gateway
    # Not growing with the years: after the second hold (year 17) nothing accumulates. The runs
    # of the subprocess's end join left by each finished hold stay (see `_may_drop`).
    middle, last = sizes[len(sizes) // 3 : -len(sizes) // 3], sizes[-len(sizes) // 3 :]
    assert max(s[0] for s in last) <= 1.02 * max(s[0] for s in middle)  # longer values only
    assert max(s[1] for s in last) <= max(s[1] for s in middle)
