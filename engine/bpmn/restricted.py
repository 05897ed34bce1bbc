"""What a script, condition or timer expression may do: RestrictedPython's compile-time policy
and the run-time guards behind it.

`validate_script` and `validate_expression` check source at deploy time under the same policy
that compiles it at run time; the guards (refused calls and modules, a `range` and operators
bounded in size, attribute and item access) are what compiled code reaches while it runs. What a
script may leave behind is checked here too: task data must be storable as JSON. Where the code
runs, and with which helpers and time limit, is `engine.bpmn.scripting`.
"""

from __future__ import annotations

import ast
import builtins
import json
import operator
from collections.abc import Callable, Sequence
from functools import lru_cache
from types import CodeType
from typing import Any, Literal, cast

from RestrictedPython.compile import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import (
    full_write_guard,
    safer_getattr_raise,
)
from RestrictedPython.transformer import (
    INSPECT_ATTRIBUTES,
    IOPERATOR_TO_STR,
    RestrictingNodeTransformer,
)


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


_LITERALS = (str, int, float, bool, type(None))


@lru_cache(maxsize=512)
def literal_assignments(source: str) -> tuple[tuple[str, Any], ...] | None:
    """The `(name, value)` pairs, in order, of a script made only of `name = literal` lines
    (a string, a number, True, False or None, e.g. `status = "candidate"`); None for any other
    script. Applying the pairs is all that running such a script does, so nothing of it needs
    to be run (`SandboxEnvironment.execute` skips the sandbox process for it)."""
    try:
        tree = ast.parse(source, SANDBOX_FILENAME, "exec")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    pairs: list[tuple[str, Any]] = []
    for node in tree.body:
        if not (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and type(node.value.value) in _LITERALS
            and all(isinstance(target, ast.Name) for target in node.targets)
        ):
            return None
        pairs.extend((cast(ast.Name, target).id, node.value.value) for target in node.targets)
    return tuple(pairs) or None


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
