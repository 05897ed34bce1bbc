"""The rows an engine step writes, as single Core statements instead of the ORM's unit of work.

A task completion changes a handful of rows (the completed task, the next task, the submission,
the instance). Flushing them through the ORM cost more CPU than anything else in the step (its
unit of work sorts and inspects every object, then builds each statement), for nothing the step
needs: the rows are known, and each is written once. Here each is written with one prebuilt
statement, and the ORM object is then marked as holding what the database holds
(`set_committed_value`), so it stays readable after commit, the identity map still finds it,
and the session's flush does not write it again. What the database receives is what the ORM
would have sent: the same columns, a JSON column left unset stays SQL NULL, and the instance's
UPDATE carries the optimistic lock (`lock_version`) as the ORM's `version_id_col` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any, cast

from sqlalchemy import Table, TextualSelect, bindparam, insert, inspect, text, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from engine.store.db import write_later
from engine.store.models import AuditEvent, HumanTask, Instance
from engine.store.pg import PIPELINED

_TASKS = cast(Table, HumanTask.__table__)
_INSTANCES = cast(Table, Instance.__table__)
_EVENTS = cast(Table, AuditEvent.__table__)

_UPDATE_TASK = (
    update(_TASKS).where(_TASKS.c.id == bindparam("task_pk")).execution_options(**{PIPELINED: True})
)
"""SET takes the keys of the parameters given (cached per set of keys). Its row count is not
read (the task row is loaded, and locked with its instance), so on PostgreSQL it goes to the
server with the statements after it (`PIPELINED`)."""
_INSERT_TASKS = insert(_TASKS).inline().execution_options(**{PIPELINED: True})
_UPDATE_INSTANCE = update(_INSTANCES).where(
    _INSTANCES.c.id == bindparam("instance_pk"),
    _INSTANCES.c.lock_version == bindparam("expected_version"),
)

_UNSET_JSON = ("draft",)
"""JSON columns a new task row leaves out of its INSERT (a new task has no draft: SQL NULL)."""


@cache
def _task_columns() -> tuple[str, ...]:
    # Every column is written, unset ones as None: a column default would be overridden.
    defaulted = [c.key for c in _TASKS.c if c.default is not None or c.server_default is not None]
    assert not defaulted, f"insert_tasks writes None over the defaults of {defaulted}"
    return tuple(c.key for c in _TASKS.c if c.key not in _UNSET_JSON)


@cache
def _instance_columns() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The instance's column attributes (same names as its columns) and its relationships."""
    mapper = inspect(Instance)
    columns = tuple(a.key for a in mapper.column_attrs if a.key != "lock_version")
    assert all(key in _INSTANCES.c for key in columns), "attribute and column names differ"
    return columns, tuple(r.key for r in mapper.relationships)


def update_task(session: Session, task: HumanTask, values: Mapping[str, Any]) -> None:
    """Write `values` to a task row already in the session, and to the object, as committed
    (the UPDATE waits for the write lock in a `lock_late` transaction: `write_later`)."""
    params = {**values, "task_pk": task.id}
    write_later(session, lambda: session.connection().execute(_UPDATE_TASK, params))
    for key, value in values.items():
        setattr(task, key, value)
    _written(session, task)


def insert_tasks(session: Session, tasks: Sequence[HumanTask]) -> None:
    """INSERT new task rows (not yet in a session) in one statement; the objects then belong to
    the session as loaded rows, every column readable (the unset ones None)."""
    new = [t for t in tasks if inspect(t).transient]
    if not new:
        return
    columns = _task_columns()
    rows = [{key: t.__dict__.get(key) for key in columns} for t in new]
    # One row as a single execute: a list, even of one, takes the costlier executemany path.
    session.connection().execute(_INSERT_TASKS, rows[0] if len(rows) == 1 else rows)
    for task in new:
        unset = [key for key in (*columns, *_UNSET_JSON) if key not in task.__dict__]
        make_transient_to_detached(task)  # what was set is committed, the rest expired...
        session.add(task)
        for key in unset:
            set_committed_value(task, key, None)  # ...and is None, as the row holds it


def update_instance(session: Session, row: Instance) -> bool:
    """Write what changed on a persistent instance row in one UPDATE that also checks and moves
    its optimistic lock (`StaleDataError` when someone else moved it first). False, leaving the
    row to the ORM's flush, when the row is not in the database yet or a relationship changed."""
    state = inspect(row)
    if not state.persistent:
        return False
    columns, relationships = _instance_columns()
    # Only an attribute set since the row was loaded has an entry in `committed_state` (its
    # loaded value), so the history of the others need not be worked out.
    touched = state.committed_state.keys()
    if any(state.attrs[key].history.has_changes() for key in relationships if key in touched):
        return False
    changed: dict[str, Any] = {}
    for key in columns:
        if key in touched:
            added = state.attrs[key].history.added
            if added:
                changed[key] = added[0]
    if not changed:
        _written(session, row)  # e.g. a value set to what it was
        return True
    version = row.lock_version
    result = session.connection().execute(
        _UPDATE_INSTANCE,
        {
            **changed,
            "lock_version": version + 1,
            "instance_pk": row.id,
            "expected_version": version,
        },
    )
    if result.rowcount != 1:
        raise StaleDataError(
            f"UPDATE of instance {row.id} at lock_version {version} matched {result.rowcount} rows"
        )
    row.lock_version = version + 1
    _written(session, row)
    return True


MAX_CORE_EVENTS = 16
"""Audit events of one flush written by one prebuilt INSERT; more are left to the ORM."""


def insert_events(
    session: Session,
    events: Sequence[AuditEvent],
    publish: Callable[[Session, Sequence[AuditEvent]], None] | None = None,
) -> list[AuditEvent]:
    """INSERT the pending audit events of one chain (one instance's step) in one statement that
    returns their ids; the objects then belong to the session as loaded rows, as after the ORM's
    flush. Returns the events written (none when there are too many for one statement or they
    are not all pending, for the ORM's flush to write as before). `publish` hears of them just
    before the INSERT, as `Engine.subscribers` hear of the events a flush writes (the session's
    flush no longer sees these).

    The row is the one the ORM wrote: every hashed column as the event holds it, through the
    same column types (`data` as JSON, `at` as UTC), and `insert_sentinel` numbered as the
    ORM numbers it (tests/engine/runtime/test_writes.py compares the rows). Ids are matched to
    events by `seq` (unique in a chain), since a multi-row INSERT's RETURNING order is not
    guaranteed."""
    if not events or len(events) > MAX_CORE_EVENTS:
        return []
    states = [inspect(e) for e in events]
    if not all(st.pending for st in states) or len({e.chain for e in events}) != 1:
        return []
    columns = _event_columns()
    params: dict[str, Any] = {}
    for i, event in enumerate(events):
        values = event.__dict__
        if not all(key in values for key in columns):  # a default to apply: the ORM's job
            return []
        for key in columns:
            params[f"{key}_{i}"] = values[key]
        params[f"insert_sentinel_{i}"] = _sentinel(i, len(events))
    if publish is not None:
        publish(session, events)
    ids: dict[int, int] = dict(
        session.connection().execute(_insert_events(len(events)), params).all()
    )
    for i, state in enumerate(states):
        state.dict["id"] = ids[state.dict["seq"]]
        state.dict["_sentinel"] = _sentinel(i, len(events))
    # What the ORM's flush does with the objects it inserted: each gets its identity key and
    # every attribute committed, and the transaction remembers it as new (a rollback expunges it).
    session._register_persistent(set(states))
    return list(events)


def _sentinel(index: int, count: int) -> int | None:
    """The `insert_sentinel` the ORM's flush stores: the row's place in a multi-row INSERT,
    NULL for a row inserted alone (kept the same so both write the same rows)."""
    return index if count > 1 else None


@cache
def _event_columns() -> tuple[str, ...]:
    """The columns an event's INSERT writes: all but its id and the batch sentinel."""
    return tuple(c.key for c in _EVENTS.c if c.key not in ("id", "insert_sentinel"))


@cache
def _insert_events(count: int) -> TextualSelect:
    """INSERT of `count` events (parameters `<column>_<i>`) returning (seq, id), built once.

    As text with typed parameters: SQLAlchemy does not cache the compiled form of a multi-row
    `insert().values([...])`, and compiling it on every step cost more than the ORM's flush."""
    columns = (*_event_columns(), "insert_sentinel")
    rows = ", ".join("(" + ", ".join(f":{key}_{i}" for key in columns) + ")" for i in range(count))
    names = ", ".join(columns)  # the table's own column names, and numbered placeholders
    sql = f"INSERT INTO {_EVENTS.name} ({names}) VALUES {rows} RETURNING seq, id"  # noqa: S608
    params = [
        bindparam(f"{key}_{i}", type_=_EVENTS.c[key].type) for i in range(count) for key in columns
    ]
    return text(sql).bindparams(*params).columns(_EVENTS.c.seq, _EVENTS.c.id)


def _written(session: Session, obj: object) -> None:
    """Mark every attribute of `obj` as what the database holds and the object as clean, as the
    ORM does after its own flush (`InstanceState._commit_all`, which SQLAlchemy's public
    `make_transient_to_detached` uses too), so the session's flush skips it altogether.
    tests/engine/runtime/test_writes.py checks that the session is left clean."""
    state = inspect(obj)
    state._commit_all(state.dict, session.identity_map)
