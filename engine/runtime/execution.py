"""Running a restored workflow: load and lock, engine steps, errors, and the rows they keep.

Every function works inside the caller's transaction: it loads the instance row (locked), restores
the workflow with its version's live spec, acts, writes the task, timer and audit rows and the new
state, and flushes. The optimistic lock on `Instance.lock_version` turns a concurrent change into
`Conflict`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.util import identity_key

from engine.bpmn.serialization import dump_state, load_state
from engine.errors import (
    N_,
    Conflict,
    Forbidden,
    InstanceNotRunnable,
    NotExecutable,
    NotFound,
)
from engine.people.access import Actor
from engine.people.permissions import may_see_country
from engine.records.history import Recorder
from engine.runtime.context import ACTIVE, Loaded, element_name_of
from engine.runtime.context import (
    TIMER_CHANNEL as TIMER_CHANNEL,  # timers, worker, core name these here
)
from engine.runtime.context import Runtime as Runtime
from engine.runtime.context import StepFailed as StepFailed
from engine.runtime.rows import (
    ready_by_id,
    scan,
    sync_tasks,
    sync_timers,
    timer_element,
)
from engine.runtime.writes import insert_events, insert_tasks, update_instance
from engine.store.db import drop_later, loaded_row, lock_for_writes, run_later
from engine.store.models import HumanTask, Instance, ProcessModel, ProcessVersion


def version_of(session: Session, process_key: str, version: int | None) -> ProcessVersion:
    """The process version to start: the one asked for, else the newest."""
    query = select(ProcessVersion).where(ProcessVersion.process_key == process_key)
    if version is not None:
        query = query.where(ProcessVersion.version == version)
    pv = session.execute(query.order_by(ProcessVersion.version.desc()).limit(1)).scalar()
    if pv is None:
        raise _not_deployed(process_key, version)
    return pv


def _not_deployed(process_key: str, version: int | None) -> NotFound:
    what = f"version {version} of " if version is not None else ""
    return NotFound(f"No {what}process model '{process_key}' is deployed.", process_key=process_key)


def version_to_start(
    session: Session, rt: Runtime, process_key: str, version: int | None
) -> tuple[ProcessVersion, ProcessModel]:
    """`version_of` for a start, with the process model (its start roles), in one statement
    that reads the version's id only: the version's columns (its BPMN text, files and forms)
    come from `rt.versions`, which reads them once per process (`version_by_id`)."""
    query = (
        select(ProcessVersion.id, ProcessModel)
        .join(ProcessModel, ProcessModel.key == ProcessVersion.process_key)
        .where(ProcessVersion.process_key == process_key)
    )
    if version is not None:
        query = query.where(ProcessVersion.version == version)
    found = session.execute(query.order_by(ProcessVersion.version.desc()).limit(1)).first()
    if found is None:
        raise _not_deployed(process_key, version)
    return version_by_id(session, rt, found[0]), found[1]


def specs_of(rt: Runtime, pv: ProcessVersion) -> tuple[Any, dict[str, Any]]:
    """The parsed process and subprocess specs of an executable version (cached)."""
    if not pv.executable or pv.spec_json is None:
        raise NotExecutable(
            f"Process '{pv.process_key}' version {pv.version} cannot be started: "
            f"{pv.not_executable_reason or 'it is not executable'}",
            process_key=pv.process_key,
            version=pv.version,
        )
    return rt.specs.get(pv.id, pv.dialect, pv.spec_json)


MAX_CACHED_VERSIONS = 256


def version_by_id(session: Session, rt: Runtime, version_id: int) -> ProcessVersion:
    """The process version row in `session`, from `rt.versions` without a query when cached.

    A version row is immutable once deployed, so a detached copy of its columns (not its
    relationships: the process model's lane roles do change) can be merged into each session."""
    cached = rt.versions.get(version_id)
    if cached is None:
        return remember_version(rt, session.get_one(ProcessVersion, version_id))
    # Already in this session (a group of timer firings of one model): used as it is.
    present = session.identity_map.get(identity_key(ProcessVersion, version_id))
    if isinstance(present, ProcessVersion):
        return present
    # What `session.merge(cached, load=False)` makes of it (the same column values, nothing
    # loaded), at a fraction of merge's cost.
    return loaded_row(session, ProcessVersion, {k: cached.__dict__[k] for k in _version_keys()})


@cache
def _version_keys() -> tuple[str, ...]:
    return tuple(a.key for a in inspect(ProcessVersion).column_attrs)


def cached_version(session: Session, rt: Runtime, version_id: int) -> ProcessVersion:
    """The detached copy of a process version's columns in `rt.versions` (read on a miss), for
    reads that only look at it (its forms): nothing is merged into `session`."""
    cached = rt.versions.get(version_id)
    if cached is None:
        remember_version(rt, session.get_one(ProcessVersion, version_id))
        cached = rt.versions[version_id]
    return cached


def remember_version(rt: Runtime, pv: ProcessVersion) -> ProcessVersion:
    """Keep a detached copy of `pv`'s columns in `rt.versions`; returns `pv`."""
    if pv.id not in rt.versions:
        columns = {key: getattr(pv, key) for key in _version_keys()}
        copy = ProcessVersion(**columns)
        make_transient_to_detached(copy)
        if len(rt.versions) >= MAX_CACHED_VERSIONS:
            rt.versions.clear()
        rt.versions[pv.id] = copy
    return pv


def lock_instance(session: Session, instance_id: int) -> Instance:
    """The instance row, locked for this transaction (PostgreSQL `FOR UPDATE`; SQLite write
    transactions are already exclusive), so writers on one instance queue up instead of racing."""
    row = session.get(Instance, instance_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise NotFound(
            N_("Instance %(instance)s does not exist."),
            params={"instance": instance_id},
            instance_id=instance_id,
        )
    return row


def lock_instances(session: Session, instance_ids: Sequence[int]) -> dict[int, Instance]:
    """The instance rows that exist among `instance_ids`, locked as `lock_instance` locks one,
    in one statement (in id order, so two writers locking overlapping sets cannot deadlock)."""
    rows = session.execute(
        select(Instance)
        .where(Instance.id.in_(instance_ids))
        .order_by(Instance.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalars()
    return {row.id: row for row in rows}


def lock_task(
    session: Session, task_id: str
) -> tuple[Instance, HumanTask, ProcessModel | None] | None:
    """A task's instance row, locked as `lock_instance` locks it, with the task and its process
    model (the lane check reads the model's lane roles from the session while the caller holds
    it), in one statement; None when there is no such task.

    On SQLite nothing is locked here: a write transaction holds the whole database from its
    `BEGIN IMMEDIATE`, and a `lock_late` one (a completion) reads a snapshot whose instance
    version `flush_rows` checks once it takes the lock. On PostgreSQL the statement locks the
    task row too (`FOR UPDATE OF` both, the instance first): a lock that had to wait re-reads
    the newest version of each locked row, so the task is never the one from before the wait
    (possibly completed since), as it could be if only the instance were locked.

    The statement is Core and the three objects are made from its row (`loaded_row`), as the
    ORM would load them with `populate_existing`; the ORM's loading cost about six times the
    statement on a task completion's hot path."""
    query, parts = _task_and_instance(session.get_bind().dialect.name)
    found = session.connection().execute(query, {"task_id": task_id}).first()
    if found is None:
        return None
    objects: list[Any] = []
    start = 0
    for cls, keys in parts:
        values = dict(zip(keys, found[start : start + len(keys)], strict=True))
        start += len(keys)
        # The model is outer-joined: no row, no model (its primary key is NULL).
        absent = cls is ProcessModel and values["key"] is None
        objects.append(None if absent else loaded_row(session, cls, values))
    return objects[0], objects[1], objects[2]


_LOCKED = (Instance, HumanTask, ProcessModel)
"""The entities `lock_task` reads, in the order of its row's columns."""


@cache
def _task_and_instance(
    dialect: str,
) -> tuple[Select[Any], tuple[tuple[type, tuple[str, ...]], ...]]:
    """The statement of `lock_task`, and for each entity its attribute keys in column order."""
    parts = []
    columns = []
    for cls in _LOCKED:
        mapper: Mapper[Any] = inspect(cls)
        table_columns = list(cast(Table, cls.__table__).c)
        parts.append((cls, tuple(mapper.get_property_by_column(c).key for c in table_columns)))
        columns += table_columns
    query = (
        select(*columns)
        .join_from(Instance, HumanTask, HumanTask.instance_id == Instance.id)
        .outerjoin(ProcessModel, ProcessModel.key == HumanTask.process_key)
        .where(HumanTask.id == bindparam("task_id"))
    )
    if dialect != "sqlite":
        query = query.with_for_update(of=[Instance.__table__, HumanTask.__table__])
    return query, tuple(parts)


def load(session: Session, rt: Runtime, instance_id: int) -> Loaded:
    """Load an instance and restore its workflow with the live spec of its version."""
    return restore(session, rt, lock_instance(session, instance_id))


def restore(session: Session, rt: Runtime, row: Instance) -> Loaded:
    """Restore the workflow of an instance row already locked in this transaction."""
    pv = version_by_id(session, rt, row.process_version_id)
    set_committed_value(row, "process_version", pv)  # readable after commit, without a query
    wf = load_state(pv.dialect, row.state, specs_of(rt, pv))
    wf.script_engine = rt.script_engine
    loaded = Loaded(session, rt, row, pv, wf, Recorder(session, row, rt.now()))
    # `save` keeps the task and timer rows equal to the workflow's READY manual tasks and
    # waiting timers, so the restored workflow says which rows exist without a query.
    ready, waiting, _ = scan(wf)
    loaded.ready_rows = frozenset(ready)
    live = waiting if row.status in ACTIVE else {}  # as `live_timers` says, in the same walk
    loaded.timer_rows = {tid: (timer_element(task), due) for tid, (task, due) in live.items()}
    return loaded


def save(loaded: Loaded, *, flush: bool = True) -> None:
    """Write the loaded instance back: task and timer rows, audit events, the state (`flush`
    False: leave the flush to the caller, who writes several instances together)."""
    row, wf = loaded.row, loaded.wf
    now = loaded.rt.now()
    sync_tasks(loaded)
    sync_timers(loaded)
    if row.status == "running" and wf.is_completed():
        row.status = "completed"
        row.completed_at = now
        loaded.recorder.record("instance_completed", data={"data": row.data})
    row.stage = _stage(loaded)
    row.state = dump_state(loaded.version.dialect, wf)
    row.updated_at = now
    if flush:
        flush_rows(loaded.session, row.id, loaded)
    else:
        loaded.session.add_all(loaded.added_rows)  # the caller's flush writes them together


class StaleRead(Exception):  # noqa: N818 - a signal to start again, not an error anyone sees
    """What a `lock_late` transaction read changed before it took the write lock (the
    instance's lock_version moved); nothing was written. The caller starts its work again,
    now under the lock (`engine.runtime.tasks.complete_task`)."""


def flush_rows(
    session: Session, instance_id: int | None = None, loaded: Loaded | None = None
) -> None:
    """Flush, turning a concurrent change into `Conflict`. With `loaded`, its new task rows,
    its instance row and its audit events are written first with Core statements
    (`engine.runtime.writes`).

    In a `lock_late` transaction (SQLite) this is where the write lock is taken: the instance's
    UPDATE goes first, and its optimistic lock tells whether what the step read still holds
    (`StaleRead`, nothing written, when it does not); then the writes kept for the lock
    (`write_later`: the completed task, the submission, timer changes) and the rest."""
    try:
        if loaded is not None:
            fresh = lock_for_writes(session)
            if fresh:
                _check_first(session, loaded)
            run_later(session)
            insert_tasks(session, loaded.added_rows)
            if not fresh:
                update_instance(session, loaded.row)
            insert_events(session, loaded.recorder.events, loaded.rt.on_events)
        session.flush()
    except (StaleDataError, IntegrityError) as exc:
        # Stale version, or (PostgreSQL) the same next task row inserted by a concurrent writer.
        raise Conflict(
            N_("This instance was changed by someone else in the meantime. Reload and try again."),
            instance_id=instance_id,
        ) from exc


def _check_first(session: Session, loaded: Loaded) -> None:
    """Write the instance row before anything else, or raise `StaleRead` (nothing written)."""
    try:
        update_instance(session, loaded.row)
    except StaleDataError:
        drop_later(session)
        raise StaleRead(loaded.row.id) from None


def open_rows(loaded: Loaded) -> list[HumanTask]:
    """The instance's open task rows after `save`, oldest first, as `queries.open_tasks` reads
    them after commit: the rows added in memory, and only the ones that stayed open are read."""
    added = {ht.id: ht for ht in loaded.added_rows}
    kept = set(_ready(loaded)) - added.keys()
    rows = list(added.values())
    if kept or loaded.ready_rows is None:
        query = select(HumanTask).where(
            HumanTask.instance_id == loaded.row.id, HumanTask.state == "ready"
        )
        rows = [r for r in loaded.session.execute(query).scalars() if r.id not in added] + rows
    return sorted(rows, key=lambda ht: (ht.created_at, ht.id))


def _stage(loaded: Loaded) -> str | None:
    stage = loaded.row.data.get("stage")
    if isinstance(stage, str):
        return stage
    first = next(iter(_ready(loaded).values()), None)
    return element_name_of(first) if first is not None else None


def _ready(loaded: Loaded) -> dict[str, Any]:
    """The READY manual tasks by id, as `save` last found them (walked again if it did not)."""
    return loaded.ready_saved if loaded.ready_saved is not None else ready_by_id(loaded.wf)


def require_running(row: Instance) -> None:
    """Refuse (`InstanceNotRunnable`) unless the instance is running."""
    if row.status != "running":
        raise InstanceNotRunnable(
            N_("Instance %(instance)s is %(state)s; it must be running for this."),
            params={"instance": row.id, "state": row.status},
            instance_id=row.id,
            status=row.status,
        )


def require_visible(actor: Actor, row: Instance) -> None:
    """`NotFound` when the actor may not see the instance's country."""
    if not may_see_country(actor, row.country):
        raise Forbidden(N_("This instance belongs to another country."), instance_id=row.id)
