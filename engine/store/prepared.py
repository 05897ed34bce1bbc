"""Hot-path write statements compiled once per dialect and set of columns, and sent as SQL.

SQLAlchemy caches a Core statement's compiled form, but each execution still looks it up
(building the statement's cache key), sets up an execution context from it and constructs its
parameters, several times the cost of the database's own work for the small writes of an
engine step. `execute` does that set-up once per statement, dialect and set of columns, and
then only converts the parameters with the compiled statement's own type processors and sends
its SQL (`exec_driver_sql`): the database receives the same SQL and values, the connection's
events (statement counting, SQLite's write lock, PostgreSQL's pipeline) see the statement as
before, and its execution options (`PIPELINED`) go with it. A statement whose compiled form
needs more than that (a Python-side column default, an expanding IN, a value computed at
execution) is executed as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, cast

from sqlalchemy import CursorResult, Executable
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler


class _Prepared(NamedTuple):
    statement: Any
    """Kept so the statement's id, part of the cache key, is not reused."""
    sql: str | None
    """None: not preparable, executed as a Core statement."""
    binds: tuple[tuple[str, Callable[[Any], Any] | None, Any], ...]
    """Each parameter in order: its name, its type's processor, and its fixed value (`_GIVEN`
    when the caller gives it)."""
    positional: bool
    options: Mapping[str, Any]


_GIVEN: Any = object()
_CACHE: dict[tuple[int, str, frozenset[str]], _Prepared] = {}
_MAX_CACHED = 256


def execute(
    session: Session,
    statement: Executable,
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> CursorResult[Any]:
    """Execute `statement` (a Core INSERT or UPDATE, or a text statement with typed binds)
    with `params` (one row, or several for an executemany) on the session's connection."""
    conn = session.connection()
    one = isinstance(params, Mapping)
    rows = [cast(Mapping[str, Any], params)] if one else cast(Sequence[Mapping[str, Any]], params)
    columns = frozenset(rows[0])
    key = (id(statement), conn.dialect.name, columns)
    prepared = _CACHE.get(key)
    if prepared is None or prepared.statement is not statement:
        prepared = _prepare(statement, conn.dialect, columns)
        if len(_CACHE) >= _MAX_CACHED:
            _CACHE.clear()
        _CACHE[key] = prepared
    if prepared.sql is None:
        return conn.execute(statement, params)
    args = [_values(prepared, row) for row in rows]
    return conn.exec_driver_sql(prepared.sql, args[0] if one else args, prepared.options)


def _values(prepared: _Prepared, row: Mapping[str, Any]) -> Any:
    values = []
    for name, process, fixed in prepared.binds:
        value = row[name] if fixed is _GIVEN else fixed
        values.append(value if process is None else process(value))
    if prepared.positional:
        return tuple(values)
    return dict(zip((name for name, _, _ in prepared.binds), values, strict=True))


def _prepare(statement: Any, dialect: Any, columns: frozenset[str]) -> _Prepared:
    options = dict(statement.get_execution_options())
    compiled = statement.compile(dialect=dialect, column_keys=sorted(columns))
    needs_more = (
        "insert_prefetch",  # Python-side defaults, computed per execution
        "update_prefetch",
        "postfetch",
        "literal_execute_params",
        "post_compile_params",
        "escaped_bind_names",
        "effective_returning",  # a result to set up per execution: left to Core
    )
    if not isinstance(compiled, SQLCompiler) or any(
        getattr(compiled, name, None) for name in needs_more
    ):
        return _Prepared(statement, None, (), False, options)
    if compiled.positional:
        names = tuple(compiled.positiontup or ())
    else:
        names = tuple(dict.fromkeys(compiled.bind_names.values()))
    by_name = {name: bind for bind, name in compiled.bind_names.items()}
    processors = compiled._bind_processors
    binds = []
    for name in names:
        bind = by_name[name]
        if name in columns:
            fixed = _GIVEN
        elif bind.callable is None and not bind.required:
            fixed = bind.value  # e.g. a literal of the statement
        else:
            return _Prepared(statement, None, (), False, options)
        binds.append((name, cast(Callable[[Any], Any] | None, processors.get(name)), fixed))
    return _Prepared(statement, compiled.string, tuple(binds), bool(compiled.positional), options)
