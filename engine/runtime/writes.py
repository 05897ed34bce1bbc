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

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, inspect, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from engine.store.db import write_later
from engine.store.models import HumanTask, Instance
from engine.store.pg import PIPELINED

_TASKS = cast(Table, HumanTask.__table__)
_INSTANCES = cast(Table, Instance.__table__)

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
"""JSON columns a new task row leaves unset: the ORM omits them (SQL NULL), whereas a Core
parameter None would be stored as the JSON text `null`."""


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
    if any(state.attrs[key].history.has_changes() for key in relationships):
        return False
    changed: dict[str, Any] = {}
    for key in columns:
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


def _written(session: Session, obj: object) -> None:
    """Mark every attribute of `obj` as what the database holds and the object as clean, as the
    ORM does after its own flush (`InstanceState._commit_all`, which SQLAlchemy's public
    `make_transient_to_detached` uses too), so the session's flush skips it altogether.
    tests/engine/runtime/test_writes.py checks that the session is left clean."""
    state = inspect(obj)
    state._commit_all(state.dict, session.identity_map)
