"""The script sandbox's process pool: started ahead of the first script, replaced after a kill."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from engine.bpmn.sandbox import SandboxPool
from engine.bpmn.scripting import ScriptTimeout

NOW = datetime(2027, 3, 15, 9, 0, tzinfo=UTC)


@pytest.fixture
def pool() -> Iterator[SandboxPool]:
    pool = SandboxPool(processes=2, memory_mb=512)
    yield pool
    pool.close()


def test_warm_starts_every_worker_before_the_first_script(pool: SandboxPool) -> None:
    assert pool.warm() == 2
    workers = list(pool._idle.queue)
    assert len(workers) == 2 and all(w.ready and w.process.is_alive() for w in workers)
    # A warm pool answers a script with a very small time limit: start-up is not its time.
    assert pool.run("eval", "1 + 1", {}, None, NOW, 0.05)[:2] == ("ok", 2)
    assert pool.warm() == 2  # warming again starts nothing new
    assert len(pool._idle.queue) == 2


def test_a_killed_worker_is_replaced_and_the_next_script_runs(pool: SandboxPool) -> None:
    pool.warm()
    # One built-in call cannot be interrupted from inside: the worker is killed and replaced.
    with pytest.raises(ScriptTimeout):
        pool.run("exec", "x = len(sum([[0] * 1000] * 3000, []))\n", {}, None, NOW, 0.2)
    outcome, value, _ = pool.run("exec", "x = 41 + 1\n", {}, None, NOW, 2.0)
    assert outcome == "ok" and value["x"] == 42
    assert pool.warm() == 2
