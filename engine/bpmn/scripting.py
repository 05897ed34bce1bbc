"""The sandbox that runs every script, condition and timer expression of a process model.

Built on RestrictedPython: code is compiled with a policy that refuses imports, names and
attributes starting with ``_`` (so no ``().__class__.__base__.__subclasses__()`` walk), class
definitions, and calls to ``eval``, ``exec``, ``compile``, ``open``, ``globals``, ``locals``,
``vars``, ``getattr``, ``setattr``, ``delattr``, ``dir``, ``type`` and similar. Those
names, and the modules ``os``, ``sys``, ``gc``, ``subprocess``, ``builtins`` and ``importlib``,
are refused at run time too if reached another way. Every refusal raises :class:`ScriptRefused`
naming what was refused.

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

import ast
import builtins
import json
import logging
import operator
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from types import CodeType, ModuleType
from typing import Any, Literal, cast

from RestrictedPython.compile import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr_raise,
)
from RestrictedPython.transformer import (
    INSPECT_ATTRIBUTES,
    IOPERATOR_TO_STR,
    RestrictingNodeTransformer,
)
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine.python_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine import clock as clocks
from engine.clock import Clock

__all__ = [
    "ScriptRefused",
    "ScriptTimeout",
    "SandboxEnvironment",
    "make_script_engine",
    "validate_expression",
    "validate_script",
]


class ScriptRefused(Exception):
    """A script tried something the sandbox does not allow."""

    def __init__(self, message: str, lineno: int | None = None) -> None:
        super().__init__(message)
        self.lineno = lineno
        """Line of the script where it was refused, when known at compile time."""


class ScriptTimeout(Exception):
    """A script ran longer than its time limit."""


SANDBOX_FILENAME = "<string>"
"""Filename of compiled scripts: SpiffWorkflow looks for it in tracebacks to find the line."""

MAX_RANGE = 1_000_000
MAX_SEQUENCE = 1_000_000
MAX_INT_BITS = 100_000

_OFFERED_BUILTINS = (
    *("len", "min", "max", "sum", "sorted", "any", "all", "int", "float", "str", "bool"),
    *("list", "dict", "tuple", "set", "round", "abs", "enumerate", "zip", "isinstance"),
)
_REFUSED_CALLS = frozenset(
    {
        *("eval", "exec", "compile", "open", "globals", "locals", "vars", "getattr"),
        *("setattr", "delattr", "hasattr", "dir", "type", "object", "super", "input"),
        *("breakpoint", "help", "memoryview", "exit", "quit", "classmethod"),
        *("staticmethod", "property"),
    }
)
_REFUSED_MODULES = ("os", "sys", "gc", "subprocess", "builtins", "importlib")


# --- compiling --------------------------------------------------------------------------------


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy, plus the refusals and size guards described above."""

    def visit_Import(self, node: ast.Import) -> Any:
        names = ", ".join(alias.name for alias in node.names)
        self.error(node, f"import is not allowed in scripts (import {names})")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> Any:
        self.error(node, f"import is not allowed in scripts (from {node.module} import ...)")

    def visit_ClassDef(self, node: ast.ClassDef) -> Any:
        self.error(node, f"class definitions are not allowed in scripts (class {node.name})")

    def visit_Call(self, node: ast.Call) -> Any:
        if isinstance(node.func, ast.Name) and node.func.id in _REFUSED_CALLS:
            self.error(node, f"{node.func.id}() is not allowed in scripts")
        return super().visit_Call(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        """Also allow ``d[key] += 1`` (RestrictedPython refuses it), through the write guard."""
        target = node.target
        if not isinstance(target, ast.Subscript) or isinstance(target.slice, ast.Slice):
            return super().visit_AugAssign(node)
        call = ast.Call(
            func=ast.Name("_augitem_", ast.Load()),
            args=[
                self.visit(target.value),
                self.visit(target.slice),
                ast.Constant(IOPERATOR_TO_STR[type(node.op)]),
                self.visit(node.value),
            ],
            keywords=[],
        )
        return ast.fix_missing_locations(ast.copy_location(ast.Expr(call), node))

    def visit_While(self, node: ast.While) -> Any:
        node = self.node_contents_visit(node)
        node.body.insert(0, _tick_statement(node))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        result = super().visit_FunctionDef(node)
        node.body.insert(0, _tick_statement(node))
        return result

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        result = super().visit_Lambda(node)
        node.body = _tick_call(node.body)
        return result

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        symbol = _GUARDED_BINOPS.get(type(node.op))
        if symbol is None:
            return node
        call = ast.Call(
            func=ast.Name("_binop_", ast.Load()),
            args=[ast.Constant(symbol), node.left, node.right],
            keywords=[],
        )
        return ast.fix_missing_locations(ast.copy_location(call, node))


def _tick_call(value: ast.expr | None = None) -> ast.expr:
    """``_tick_()`` or ``_tick_(value)``: checks the time limit, returns ``value``."""
    call = ast.Call(func=ast.Name("_tick_", ast.Load()), args=[value] if value else [], keywords=[])
    return ast.fix_missing_locations(ast.copy_location(call, value)) if value else call


def _tick_statement(node: ast.stmt) -> ast.stmt:
    return ast.fix_missing_locations(ast.copy_location(ast.Expr(_tick_call()), node))


_GUARDED_BINOPS: dict[type[ast.operator], str] = {ast.Mult: "*", ast.Pow: "**", ast.LShift: "<<"}


@lru_cache(maxsize=512)
def _compile(source: str, mode: Literal["exec", "eval"]) -> CodeType:
    """Compile under the sandbox policy; raise ``SyntaxError`` or :class:`ScriptRefused`."""
    if not isinstance(source, str):
        raise ScriptRefused(f"expected script text, got {type(source).__name__}")
    # Parsing first keeps a real SyntaxError (with its line) instead of RestrictedPython's text.
    # Python's parser and compiler give up on deep nesting (100,000 minus signs, a few thousand
    # brackets) with MemoryError or RecursionError: that is the script's fault, so it is refused.
    try:
        tree = cast(ast.Module | ast.Expression, ast.parse(source, SANDBOX_FILENAME, mode))
        compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
        result = compiler(tree, SANDBOX_FILENAME, policy=_Policy)
    except (MemoryError, RecursionError):
        raise ScriptRefused(
            "the code is nested too deeply to be read (thousands of operators or brackets "
            "in a row); simplify it"
        ) from None
    if result.errors or result.code is None:
        raise ScriptRefused("; ".join(result.errors), lineno=_error_line(result.errors))
    return result.code


def _error_line(errors: Sequence[str]) -> int | None:
    """RestrictedPython formats errors as ``Line N: ...``."""
    head = errors[0].split(":", 1)[0].removeprefix("Line ").strip() if errors else ""
    return int(head) if head.isdigit() else None


def _problem(source: str, mode: Literal["exec", "eval"]) -> str | None:
    try:
        _compile(source, mode)
    except SyntaxError as err:
        return f"Line {err.lineno}: {err.msg}"
    except ScriptRefused as err:
        return str(err)
    return None


def validate_expression(text: str) -> str | None:
    """Return None if ``text`` compiles as a sandboxed expression, else ``Line N: message``."""
    return _problem(text, "eval")


def validate_script(text: str) -> str | None:
    """Return None if ``text`` compiles as a sandboxed script, else ``Line N: message``."""
    return _problem(text, "exec")


# --- run-time guards --------------------------------------------------------------------------


def _refuse(what: str) -> Callable[..., Any]:
    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise ScriptRefused(f"{what} is not allowed in scripts")

    return refused


class _RefusedModule:
    """Stands for a module name such as ``sys``: any use is refused, naming the module."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        raise ScriptRefused(f"the module {self._name!r} is not available in scripts")

    def __call__(self, *_args: Any, **_kwargs: Any) -> Any:
        raise ScriptRefused(f"the module {self._name!r} is not available in scripts")


def _safe_range(*args: int) -> range:
    span = range(*args)
    try:
        size = len(span)
    except OverflowError:
        size = MAX_RANGE + 1
    if size > MAX_RANGE:
        raise ScriptRefused(f"range() of more than {MAX_RANGE:,} items is not allowed in scripts")
    return span


def _binop(symbol: str, left: Any, right: Any) -> Any:
    """``*``, ``**`` and ``<<`` with a size check first: their C code cannot be interrupted."""
    if symbol == "**" and _is_int(left) and _is_int(right) and abs(left) > 1 and right > 0:
        bits = left.bit_length() * right
    elif symbol == "<<" and _is_int(left) and _is_int(right) and left and right > 0:
        bits = left.bit_length() + right
    elif symbol == "*" and _is_int(left) and _is_int(right):
        bits = left.bit_length() + right.bit_length()
    else:
        bits = 0
    if bits > MAX_INT_BITS:
        raise ScriptRefused(f"'{symbol}' would produce a number over {MAX_INT_BITS:,} bits")
    if symbol == "*":
        for seq, times in ((left, right), (right, left)):
            sized = isinstance(seq, str | bytes | list | tuple) and _is_int(times)
            if sized and len(seq) * times > MAX_SEQUENCE:
                raise ScriptRefused(f"'*' would produce a sequence over {MAX_SEQUENCE:,} items")
        return left * right
    return left**right if symbol == "**" else left << right


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    ">>=": operator.irshift,
    "|=": operator.ior,
    "^=": operator.ixor,
    "&=": operator.iand,
}


def _inplacevar(op: str, target: Any, value: Any) -> Any:
    if op in ("*=", "**=", "<<="):
        return _binop(op[:-1], target, value)
    if op not in _INPLACE:
        raise ScriptRefused(f"the operator {op!r} is not allowed in scripts")
    return _INPLACE[op](target, value)


def _augitem(obj: Any, key: Any, op: str, value: Any) -> None:
    """``obj[key] op= value``, with the same write guard as ``obj[key] = value``."""
    full_write_guard(obj)[key] = _inplacevar(op, obj[key], value)


def _getattr(obj: Any, name: str, default: Any = None) -> Any:
    if name.startswith("_") or name in INSPECT_ATTRIBUTES:
        raise ScriptRefused(f"access to the attribute {name!r} is not allowed in scripts")
    if name in ("format", "format_map") and (
        isinstance(obj, str) or (isinstance(obj, type) and issubclass(obj, str))
    ):
        raise ScriptRefused(f"str.{name}() is not allowed in scripts; use an f-string")
    return _library_getattr(obj, name)


_library_getattr: Callable[[Any, str], Any] = safer_getattr_raise
"""RestrictedPython's own checks (str.format, string.Formatter), raising on a missing name."""


def _getitem(obj: Any, key: Any) -> Any:
    return obj[key]


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def _sandbox_builtins() -> dict[str, Any]:
    offered: dict[str, Any] = {name: getattr(builtins, name) for name in _OFFERED_BUILTINS}
    offered.update({"None": None, "True": True, "False": False, "range": _safe_range})
    offered.update({name: _refuse(f"{name}()") for name in _REFUSED_CALLS})
    offered.update({name: _RefusedModule(name) for name in _REFUSED_MODULES})
    offered["__import__"] = _refuse("import")
    return offered


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


def _unstorable(value: Any) -> str | None:
    """Why `value` cannot be stored as task data (JSON), or None when it can."""
    try:
        json.dumps(value, allow_nan=False, default=str)
    except RecursionError:
        return "values nested too deeply"
    except ValueError as err:
        if "float" in str(err):
            return "NaN or Infinity, which are not numbers JSON can store"
        return "an integer of more than 4,300 digits"
    return None


def _refuse_unstorable(context: dict[str, Any]) -> None:
    """Refuse a script that left task data which could not be saved. The offending variables
    are removed first, so the instance can still be saved in the error state."""
    bad = {key: why for key, value in context.items() if (why := _unstorable(value))}
    if not bad:
        return
    for key in bad:
        del context[key]
    described = "; ".join(f"'{key}' holds {why}" for key, why in sorted(bad.items()))
    raise ScriptRefused(
        f"the script left task data that cannot be stored ({described}); keep numbers finite "
        "and under 4,300 digits"
    )


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
