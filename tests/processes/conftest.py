"""Fixtures for driving processes/pathfinder.bpmn through the engine, and the BPMN coverage hooks.

The coverage hooks live in `coverage.py`; they are imported here because pytest only honours
`pytest_plugins` in the root conftest (which this team does not own).
"""

from __future__ import annotations

import pytest

from engine import Engine, VirtualClock
from tests.processes.coverage import (  # noqa: F401 - pytest hooks, registered by import
    pytest_configure,
    pytest_sessionfinish,
    pytest_terminal_summary,
)
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
