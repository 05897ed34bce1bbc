"""Fixtures for driving processes/pathfinder.bpmn through the engine.

The BPMN coverage hooks live in `coverage.py`, registered as a plugin by the root conftest so the
xdist controller (which collects nothing) prints the report too.
"""

from __future__ import annotations

import pytest

from engine import Engine, VirtualClock
from tests.processes.driver import Pathfinder, deploy_pathfinder


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
