"""Scripts made only of `name = literal` lines are applied without a round trip to a sandbox
process (nothing of them runs), with the same result and the same refusals as a pool run."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.bpmn.restricted import literal_assignments
from engine.bpmn.sandbox import SandboxPool
from engine.bpmn.scripting import SandboxEnvironment, ScriptRefused, _helpers
from engine.clock import VirtualClock

NOW = datetime(2027, 3, 15, 9, 0, tzinfo=UTC)


class Spy:
    """A sandbox pool that counts the calls it passes on."""

    def __init__(self, pool: SandboxPool) -> None:
        self.pool, self.calls = pool, 0

    def run(self, *args: Any) -> Any:
        self.calls += 1
        return self.pool.run(*args)


@pytest.fixture(scope="module")
def real_pool() -> Iterator[SandboxPool]:
    pool = SandboxPool(processes=1, memory_mb=512)
    yield pool
    pool.close()


@pytest.fixture
def spy(real_pool: SandboxPool) -> Spy:
    return Spy(real_pool)


def env(pool: Spy) -> SandboxEnvironment:
    clock = VirtualClock(NOW)
    return SandboxEnvironment(_helpers(clock), 2.0, pool=pool, clock=clock)


def pooled(real_pool: SandboxPool, script: str, data: dict[str, Any]) -> dict[str, Any]:
    """What the pool makes of the script (the result the fast path must equal)."""
    outcome, value, _ = real_pool.run("exec", script, dict(data), None, NOW, 2.0)
    assert outcome == "ok", value
    return dict(value)


@pytest.mark.parametrize(
    "script",
    [
        'pathfinder_status = "candidate"',
        "fired = True",
        "a = b = 3\nc = None\nd = 2.5\na = 'again'",
        "count = 7  # a comment\n\n",
    ],
)
def test_a_literal_script_is_applied_without_a_pool_call_and_as_the_pool_would(
    spy: Spy, real_pool: SandboxPool, script: str
) -> None:
    data = {"country": "NPL", "count": 1, "nested": {"x": [1, 2]}}
    context = dict(data)
    assert env(spy).execute(script, context)
    assert spy.calls == 0
    assert context == pooled(real_pool, script, data)
    assert list(context) == list(pooled(real_pool, script, data))  # same key order


@pytest.mark.parametrize(
    "script",
    ["x = 1 + 1", "x = -1", "x = [1]", "x = now()", "x['y'] = 1", "x = 1\nprint(x)", "now = '1'"],
)
def test_anything_else_still_runs_in_a_sandbox_process(spy: Spy, script: str) -> None:
    with contextlib.suppress(ScriptRefused):  # a helper's name is refused there, as before
        env(spy).execute(script, {"x": {"y": 0}})
    assert spy.calls == 1


def test_refusals_are_the_same(spy: Spy) -> None:
    with pytest.raises(ScriptRefused, match="_hidden"):
        env(spy).execute("_hidden = 1", {})
    context = {"kept": 1}
    with pytest.raises(ScriptRefused, match="cannot be stored"):
        env(spy).execute("big = 1e999\nfine = 2", context)
    assert context == {"kept": 1}  # left as a pool run leaves it
    with pytest.raises(ScriptRefused, match="hides the script function"):
        env(spy).execute("x = 1", {"now": "data named like a helper"})
    assert spy.calls == 0


def test_literal_assignments_reads_only_plain_literal_lines() -> None:
    assert literal_assignments("a = 'x'\nb = c = 2") == (("a", "x"), ("b", 2), ("c", 2))
    for other in ("a = b", "a, b = 1, 2", "a += 1", "a = b'x'", "if a: b = 1", "", "a = (", "f()"):
        assert literal_assignments(other) is None, other
