"""The sandbox that runs every script, condition and timer expression of a process model.

Built on RestrictedPython (the policy and guards are in `engine.bpmn.restricted`; this module
runs the code, with the helpers and the time limit): code is compiled with a policy that refuses
imports, names and attributes starting with ``_`` (so no
``().__class__.__base__.__subclasses__()`` walk), class definitions, and calls to ``eval``,
``exec``, ``compile``, ``open``, ``globals``, ``locals``, ``vars``, ``getattr``, ``setattr``,
``delattr``, ``dir``, ``type`` and similar. Those names, and the modules ``os``, ``sys``,
``gc``, ``subprocess``, ``builtins`` and ``importlib``, are refused at run time too if reached
another way. Every refusal raises :class:`ScriptRefused` naming what was refused.

Names offered to scripts (the contract; strings in, strings out, so task data stays JSON):

- ``now()``: ISO 8601 UTC datetime from the engine clock, e.g. ``2027-03-15T09:00:00+00:00``.
- ``today()``: ``YYYY-MM-DD``, the engine clock's date in UTC.
- ``add_duration(value, duration)``: ISO date or datetime string plus an ISO 8601 duration
  (``P1Y``, ``P3M``, ``P30D``, ``PT5M``), calendar-exact, returned in the same form.
- ``days_between(a, b)``: whole days from ``a`` to ``b`` (ISO date or datetime strings; a naive
  datetime counts as UTC; a partial day is dropped, towards zero).
- builtins: ``len min max sum sorted any all int float str bool list dict tuple set round abs
  range enumerate zip isinstance`` and ``None True False``.
- ``print(...)``: writes a line to the ``pathfinder.scripts`` log (never to standard output), so
  models written for other engines that print progress still run.

Task data wins over a builtin of the same name; task data that would hide one of the four
helpers is refused by :meth:`SandboxEnvironment.execute`, as SpiffWorkflow's own environment does.

Time and size limits: a script or expression running longer than ``time_limit`` seconds is
stopped with :class:`ScriptTimeout`. No signals (they only work in the main thread) and no
``sys.settrace`` (slow, and it fights debuggers and coverage): the compiler inserts a check at
the top of every ``while`` body, function and lambda, and every ``for`` loop and comprehension
iterates through a checking ``_getiter_``. A script that catches the timeout is still failed.
Work done inside one C call cannot be interrupted, so the obvious cases are refused up front:
``range()`` over more than 1,000,000 items (``sum(range(10**12))``), and ``*``/``**``/``<<``
producing an int over 100,000 bits or a sequence over 1,000,000 items. Other C-level memory
hogs (``"x".ljust(10**10)``) are not caught here: run workers with a memory limit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import CodeType, ModuleType
from typing import Any

from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
)
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine.python_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine import clock as clocks
from engine.bpmn.restricted import (
    ScriptRefused,
    ScriptTimeout,
    _apply,
    _augitem,
    _binop,
    _compile,
    _getattr,
    _getitem,
    _inplacevar,
    _refuse_unstorable,
    _sandbox_builtins,
    literal_assignments,
)
from engine.clock import Clock

__all__ = [
    "ScriptRefused",
    "ScriptTimeout",
    "SandboxEnvironment",
    "make_script_engine",
]


_script_log = logging.getLogger("pathfinder.scripts")
_print_sink: list[str] | None = None
"""In a sandbox process, where printed lines are collected for the caller to log."""


class _ScriptPrint:
    """RestrictedPython's ``_print_`` hook: ``print()`` in a script goes to the log."""

    def __init__(self, _getattr_: Any = None) -> None:
        self.lines: list[str] = []

    def _call_print(self, *objects: Any, **_kwargs: Any) -> None:
        line = " ".join(str(o) for o in objects)
        self.lines.append(line)
        if _print_sink is not None:  # in a sandbox process: the caller logs it
            _print_sink.append(line[:2000])
        else:
            _script_log.info("script printed: %s", line[:2000])

    def __call__(self) -> str:
        return "\n".join(self.lines)


_GUARDS: dict[str, Any] = {
    "__builtins__": _sandbox_builtins(),
    "_print_": _ScriptPrint,
    "__name__": "pathfinder_script",
    "_getattr_": _getattr,
    "_getitem_": _getitem,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,
    "_inplacevar_": _inplacevar,
    "_augitem_": _augitem,
    "_apply_": _apply,
    "_binop_": _binop,
}


class _Deadline:
    """The time limit of one run: checked at each loop pass, iteration and function call."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.expires = time.monotonic() + limit
        self.tripped = False

    def tick(self, value: Any = None) -> Any:
        # Keeps raising once expired, so a bare ``except:`` in a loop cannot swallow it.
        if time.monotonic() > self.expires:
            self.tripped = True
            raise ScriptTimeout(f"script stopped: it ran longer than {self.limit:g} s")
        return value

    def iterate(self, iterable: Any) -> Iterator[Any]:
        """``_getiter_``: every ``for`` loop and comprehension goes through here."""
        for item in iterable:
            self.tick()
            yield item


def _run(code: CodeType, namespace: dict[str, Any], time_limit: float) -> Any:
    deadline = _Deadline(time_limit)
    namespace.update(_GUARDS)
    namespace.update({"_tick_": deadline.tick, "_getiter_": deadline.iterate})
    result = eval(code, namespace)  # noqa: S307 - compiled under the sandbox policy
    if deadline.tripped:  # the script caught ScriptTimeout and carried on
        raise ScriptTimeout(f"script stopped: it ran longer than {time_limit:g} s")
    return result


_RUN_NAMES = frozenset({*_GUARDS, "_tick_", "_getiter_"})


# --- SpiffWorkflow integration ----------------------------------------------------------------


def _helpers(clock: Clock) -> dict[str, Callable[..., Any]]:
    def now() -> str:
        """ISO 8601 UTC datetime from the engine clock."""
        return clocks.to_iso(clock.now())

    def today() -> str:
        """``YYYY-MM-DD`` from the engine clock (UTC)."""
        return clock.now().date().isoformat()

    def add_duration(value: str, duration: str) -> str:
        """ISO date/datetime string plus an ISO 8601 duration, calendar-exact."""
        if not isinstance(value, str):
            raise ValueError(f"add_duration() needs an ISO date or datetime string, not {value!r}")
        return clocks.add_duration(value, duration)

    def days_between(a: str, b: str) -> int:
        """Whole days from ``a`` to ``b``."""
        start, end = _as_datetime(a), _as_datetime(b)
        return int((end - start).total_seconds() / 86400)

    return {"now": now, "today": today, "add_duration": add_duration, "days_between": days_between}


def _as_datetime(value: str) -> datetime:
    """An ISO date (midnight) or datetime string as an aware datetime; naive counts as UTC."""
    if not isinstance(value, str):
        raise ValueError(f"days_between() needs ISO date or datetime strings, not {value!r}")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"invalid ISO 8601 date or datetime {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run_here(
    mode: str,
    source: str,
    context: dict[str, Any],
    external: dict[str, Any] | None,
    now: datetime,
    time_limit: float,
    printed: list[str],
) -> Any:
    """Run one call in this process with helpers reading the instant `now` (a sandbox worker's
    side of `SandboxPool.run`): the new task data for a script, the value of an expression."""
    global _print_sink
    env = SandboxEnvironment(_helpers(clocks.VirtualClock(now)), time_limit)
    _print_sink = printed
    try:
        if mode == "eval":
            return env.evaluate(source, context, external)
        env.execute(source, context, external)
        return context
    finally:
        _print_sink = None


class SandboxEnvironment(BasePythonScriptEngineEnvironment):  # type: ignore[misc]
    """Runs task scripts and expressions under RestrictedPython with a time limit; with a
    `pool` (and `clock`), in a sandbox process instead of this one."""

    def __init__(
        self,
        helpers: dict[str, Callable[..., Any]],
        time_limit: float,
        pool: Any = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(environment_globals=dict(helpers))
        self.time_limit = time_limit
        self.pool = pool
        self.clock = clock

    def _remote(
        self, mode: str, source: str, context: dict[str, Any], external: Any
    ) -> tuple[bool, Any]:
        """(True, result) when run in the pool; (False, None) to run here instead."""
        from engine.bpmn.sandbox import SandboxUnavailable

        if self.pool is None or self.clock is None:
            return False, None
        _compile(source, "eval" if mode == "eval" else "exec")  # refuse early, with its line
        try:
            outcome, value, printed = self.pool.run(
                mode, source, context, external, self.clock.now(), self.time_limit
            )
        except SandboxUnavailable:
            return False, None
        for line in printed:
            _script_log.info("script printed: %s", line)
        if outcome == "memory":
            raise ScriptRefused("the script used more memory than allowed and was stopped")
        if outcome == "error":
            raise value
        return True, value

    def evaluate(
        self, expression: str, context: dict[str, Any], external_context: Any = None
    ) -> Any:
        """Evaluate an expression in the sandbox (SpiffWorkflow's environment API)."""
        remote, value = self._remote("eval", expression, context, external_context)
        if remote:
            return value
        code = _compile(expression, "eval")
        # External context is the workflow's data objects: they win over task data, so a task
        # field of the same name cannot change which way a gateway goes.
        namespace = {**self.globals, **context, **(external_context or {})}
        return _run(code, namespace, self.time_limit)

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        """Run a script in the sandbox and take its variables back into the task data."""
        external = dict(external_context or {})
        hidden = (set(self.globals) | set(external)) & set(context)
        if hidden:
            raise ScriptRefused(
                "task data hides the script function(s) "
                f"{sorted(hidden)}; rename those fields or variables"
            )
        pairs = literal_assignments(script) if self.pool is not None else None
        if pairs and not any(
            n in self.globals or n in external or n in _RUN_NAMES for n, _ in pairs
        ):
            # Only `name = literal` lines: no code to run, so no round trip to a sandbox process;
            # the same compile-time refusals and storability check as a run.
            _compile(script, "exec")
            _refuse_unstorable({**context, **dict(pairs)})  # on a copy, as a pool run leaves it
            context.update(pairs)
            return True
        remote, value = self._remote("exec", script, context, external or None)
        if remote:
            context.clear()
            context.update(value)
            return True
        code = _compile(script, "exec")
        context.update({**self.globals, **external})
        try:
            _run(code, context, self.time_limit)
        finally:
            self._remove_leftovers(context, external)
        _refuse_unstorable(context)
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> Any:
        """Refuse: service tasks are not supported."""
        raise ScriptRefused("service tasks are not supported")

    def _remove_leftovers(self, context: dict[str, Any], external: dict[str, Any]) -> None:
        """Drop our names and anything that cannot be stored as task data (functions...)."""
        for key in list(context):
            value = context[key]
            if (
                key in _RUN_NAMES
                or key in self.globals
                or key in external
                or callable(value)
                or isinstance(value, ModuleType | Iterator)
            ):
                del context[key]


class SandboxScriptEngine(PythonScriptEngine):  # type: ignore[misc]
    """``PythonScriptEngine`` whose errors keep the original message in ``str(err)``."""

    def evaluate(self, task: Any, expression: str, external_context: Any = None) -> Any:
        """Evaluate a condition or expression for a task, failing with the element named."""
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except SpiffWorkflowException as err:
            err.add_note(f"Error evaluating expression '{expression}'")
            raise
        except Exception as err:
            raise WorkflowTaskException(
                f"Error evaluating expression '{expression}': {type(err).__name__}: {err}",
                task=task,
                exception=err,
                line_number=getattr(err, "lineno", None),
            ) from err

    def create_task_exec_exception(
        self, task: Any, script: str, err: Exception
    ) -> SpiffWorkflowException:
        """The error a failing script becomes, naming the task's element."""
        if isinstance(err, SpiffWorkflowException):
            return super().create_task_exec_exception(task, script, err)
        # The library does ``name + ":" + err.args[0]``, a TypeError for ``KeyError(1)``.
        if isinstance(err, ScriptRefused) and err.lineno:
            line_number = err.lineno
            lines = script.splitlines()
            error_line = lines[line_number - 1] if line_number <= len(lines) else ""
        elif getattr(err, "sandbox_lineno", None):
            line_number = err.sandbox_lineno  # type: ignore[attr-defined]
            lines = script.splitlines()
            error_line = lines[line_number - 1] if line_number <= len(lines) else ""
        else:
            line_number, error_line = self.get_error_line_number_and_content(script, err)
        wrapped = WorkflowTaskException(
            f"{type(err).__name__}: {err}",
            task=task,
            exception=err,
            line_number=line_number,
            error_line=error_line,
        )
        wrapped.__cause__ = err
        return wrapped


def make_script_engine(
    clock: Clock, *, time_limit: float = 2.0, pool: Any = None
) -> PythonScriptEngine:
    """A SpiffWorkflow script engine running the sandbox, with helpers reading ``clock``; in
    the processes of `pool` (an `engine.sandbox.SandboxPool`) when given."""
    env = SandboxEnvironment(_helpers(clock), time_limit, pool=pool, clock=clock)
    return SandboxScriptEngine(environment=env)
