"""Fixtures for driving processes/pathfinder.bpmn through the engine.

The BPMN coverage hooks live in `coverage.py`, registered as a plugin by the root conftest so the
xdist controller (which collects nothing) prints the report too.
"""

from __future__ import annotations

import pytest

from engine import Engine, VirtualClock
from tests.processes.driver import Pathfinder, deploy_pathfinder
from tests.processes.samples import SHORTFALL_UNJUSTIFIED


@pytest.fixture
def deployed(engine: Engine) -> Engine:
    """The engine with processes/pathfinder.bpmn and its forms deployed."""
    deploy_pathfinder(engine)
    return engine


@pytest.fixture
def pathfinder(deployed: Engine, clock: VirtualClock, request: pytest.FixtureRequest) -> Pathfinder:
    """A driver for one Nepal instance; its reached elements count towards BPMN coverage."""
    driver = Pathfinder(deployed, clock)
    yield driver
    driver.record_coverage(request.node.nodeid)


@pytest.fixture
def invited(pathfinder: Pathfinder) -> Pathfinder:
    """Nepal's approach registered and the country invited to the GCG meeting of 15 February
    2027: the case waits for the meeting date."""
    pathfinder.start()
    pathfinder.do("register_approach")
    pathfinder.do("invite_to_gcg_meeting", gcg_meeting_date="2027-02-15")
    return pathfinder


@pytest.fixture
def hold_asked(pathfinder: Pathfinder) -> Pathfinder:
    """Awarded on 15 September 2027, then two unjustified reviews in a row: *Decide on a hold*
    is open for the GCG Chair."""
    pathfinder.to_award()
    pathfinder.annual_review(1, **SHORTFALL_UNJUSTIFIED)
    pathfinder.annual_review(2, **SHORTFALL_UNJUSTIFIED)
    return pathfinder


@pytest.fixture
def on_hold(hold_asked: Pathfinder) -> Pathfinder:
    """`hold_asked` with the hold confirmed (letter of 20 September 2029): status `on_hold`."""
    hold_asked.do("decide_on_hold")
    return hold_asked
