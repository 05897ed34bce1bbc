"""Moving running instances to a newer version of their process model.

An instance can move when SpiffWorkflow can restore its task tree under the new spec: every task
in the tree (finished ones too: the tree keeps them) names a task spec, and that spec must exist
in the new version (in the same process or called/embedded subprocess), and the elements it is
waiting in (ready tasks, waiting events, running subprocesses) must still be the same kind of
element. `load_state` does not check this itself (it leaves `task_spec` as None), so `check`
does it before anything is written, then restores and re-serializes the workflow to be sure.

`migrate` moves each instance in its own transaction and records an `instance_migrated` audit
event; an instance that cannot move is refused with the reasons and left as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bpmn.serialization import Specs, dump_state, load_state
from engine.core import Engine
from engine.errors import Conflict, Forbidden, NotExecutable
from engine.people.access import Actor
from engine.people.permissions import MODEL_OWNER_ROLES
from engine.records.history import Recorder
from engine.runtime.context import ACTIVE, Loaded, element_name_of
from engine.runtime.execution import lock_instance, save, specs_of, version_of
from engine.store.models import HumanTask, Instance, ProcessVersion
from engine.transactions import transaction

MIGRATOR_ROLES = MODEL_OWNER_ROLES

_OPEN: dict[int, str] = {
    TaskState.READY: "ready",
    TaskState.WAITING: "waiting",
    TaskState.STARTED: "running",
    TaskState.ERROR: "failed",
}


@dataclass
class MigrationCheck:
    """Whether one instance can move to the target version, and why not."""

    instance_id: int
    label: str | None
    country: str | None
    status: str
    from_version: int
    to_version: int
    can_move: bool
    reasons: list[str] = field(default_factory=list)
    """Why it cannot move (empty when it can)."""
    open_elements: list[str] = field(default_factory=list)
    """Element ids it is in now (ready, waiting or running)."""
    notes: list[str] = field(default_factory=list)
    """What a person should know when it moves (a waiting timer keeps its due date...)."""


@dataclass
class MigrationOutcome:
    """What `migrate` did with one instance."""

    instance_id: int
    migrated: bool
    from_version: int
    to_version: int
    reasons: list[str] = field(default_factory=list)


def _spec_kind(spec: Any) -> str:
    return type(spec).__name__


def _tree_problems(
    tasks: Mapping[str, Any], old: Any, new: Any, where: str
) -> tuple[list[str], list[str]]:
    """(reasons, open element ids) for one serialized task tree against the new spec."""
    reasons, open_ids = [], []
    missing: dict[str, str] = {}
    for task in tasks.values():
        name = task["task_spec"]
        old_spec = old.task_specs.get(name) if old is not None else None
        new_spec = new.task_specs.get(name) if new is not None else None
        state = _OPEN.get(task["state"])
        label = getattr(old_spec, "bpmn_name", None) or name
        is_open = state is not None
        element_id = getattr(old_spec, "bpmn_id", None)
        if is_open and element_id:
            open_ids.append(str(element_id))
        if new_spec is None:
            if is_open:
                reasons.append(
                    f"It is {state} at '{label}' ({name}), "
                    f"which the new version{where} does not have."
                )
            else:
                missing.setdefault(name, label)
        elif is_open and old_spec is not None and _spec_kind(old_spec) != _spec_kind(new_spec):
            reasons.append(
                f"'{label}' ({name}), where it is {state}, "
                f"is a {_spec_kind(old_spec)} in its version but a {_spec_kind(new_spec)} in the "
                "new one."
            )
    for name, label in sorted(missing.items()):
        reasons.append(
            f"Its history passes through '{label}' ({name}), which the new version{where} does "
            "not have; the workflow could not be restored without it."
        )
    return reasons, open_ids


def _state_problems(
    state: Mapping[str, Any], old_specs: Specs, new_specs: Specs
) -> tuple[list[str], list[str]]:
    reasons, open_ids = _tree_problems(state.get("tasks", {}), old_specs[0], new_specs[0], "")
    for sub in (state.get("subprocesses") or {}).values():
        spec_name = sub.get("spec")
        old_sub, new_sub = old_specs[1].get(spec_name), new_specs[1].get(spec_name)
        if new_sub is None:
            reasons.append(
                f"It is inside the subprocess '{spec_name}', which the new version does not have."
            )
            continue
        more, ids = _tree_problems(sub.get("tasks", {}), old_sub, new_sub, f" ({spec_name})")
        reasons += more
        open_ids += ids
    return reasons, open_ids


def _check_row(
    engine: Engine, row: Instance, target: ProcessVersion
) -> tuple[MigrationCheck, Specs | None]:
    current = row.process_version
    check = MigrationCheck(
        instance_id=row.id,
        label=row.label,
        country=row.country,
        status=row.status,
        from_version=current.version,
        to_version=target.version,
        can_move=False,
    )
    if current.id == target.id:
        check.reasons.append(f"It already runs on version {target.version}.")
        return check, None
    if row.status not in ACTIVE:
        check.reasons.append(f"It is {row.status}; only active instances move.")
        return check, None
    try:
        old_specs = specs_of(engine.runtime, current)
        new_specs = specs_of(engine.runtime, target)
    except NotExecutable as error:
        check.reasons.append(error.message)
        return check, None
    if current.dialect != target.dialect:
        check.reasons.append(
            f"The new version is read as {target.dialect} files, this instance as "
            f"{current.dialect}."
        )
        return check, None
    state = json.loads(row.state)
    reasons, open_ids = _state_problems(state, old_specs, new_specs)
    check.open_elements = sorted(set(open_ids))
    if not reasons:
        try:  # the proof: restore under the new spec and write it back
            wf = load_state(target.dialect, row.state, new_specs)
            dump_state(target.dialect, wf)
        except Exception as error:  # noqa: BLE001 - anything here means "cannot restore"
            reasons.append(f"SpiffWorkflow cannot restore it under the new version: {error}.")
    check.reasons = reasons
    check.can_move = not reasons
    if check.can_move and any(t["state"] == TaskState.WAITING for t in _all_tasks(state)):
        check.notes.append("A waiting timer or event keeps the due date it already has.")
    return check, new_specs if check.can_move else None


def _all_tasks(state: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    yield from state.get("tasks", {}).values()
    for sub in (state.get("subprocesses") or {}).values():
        yield from sub.get("tasks", {}).values()


def _active_rows(session: Session, process_key: str, ids: Iterable[int] | None) -> list[Instance]:
    query = select(Instance).where(Instance.process_key == process_key)
    if ids is not None:
        query = query.where(Instance.id.in_(list(ids)))
    else:
        query = query.where(Instance.status.in_(ACTIVE))
    return list(session.execute(query.order_by(Instance.id)).scalars())


def dry_run(
    engine: Engine, process_key: str, to_version: int, instance_ids: Iterable[int] | None = None
) -> list[MigrationCheck]:
    """For each active instance of the process (or those given), whether it can move."""
    with engine.session() as session:
        target = version_of(session, process_key, to_version)
        return [
            _check_row(engine, row, target)[0]
            for row in _active_rows(session, process_key, instance_ids)
            if row.process_version_id != target.id or instance_ids is not None
        ]


def _refresh_tasks(loaded: Loaded) -> None:
    """Ready task rows take the new version's names, lanes, forms and instructions."""
    rows = loaded.session.execute(
        select(HumanTask).where(HumanTask.instance_id == loaded.row.id, HumanTask.state == "ready")
    ).scalars()
    by_id = {str(t.id): t for t in loaded.wf.get_tasks(state=TaskState.READY, manual=True)}
    for row in rows:
        task = by_id.get(row.id)
        if task is None:
            continue
        ext = getattr(task.task_spec, "extensions", None) or {}
        props = ext.get("properties") or {}
        row.name = element_name_of(task)
        row.lane = getattr(task.task_spec, "lane", None)
        row.form_file = props.get("formJsonSchemaFilename")
        row.ui_form_file = props.get("formUiSchemaFilename")
        row.instructions = ext.get("instructionsForEndUser")


def migrate_one(
    engine: Engine, instance_id: int, to_version: int, actor: Actor
) -> MigrationOutcome:
    """Move one instance in one transaction; refused (nothing written) if it cannot move."""
    if not actor.has(*MIGRATOR_ROLES):
        raise Forbidden("Only process owners and admins migrate instances.")
    with transaction(engine.sessions) as session:
        row = lock_instance(session, instance_id)
        target = version_of(session, row.process_key, to_version)
        check, specs = _check_row(engine, row, target)
        if not check.can_move or specs is None:
            return MigrationOutcome(
                instance_id, False, check.from_version, target.version, check.reasons
            )
        now = engine.now()
        wf = load_state(target.dialect, row.state, specs)
        wf.script_engine = engine.runtime.script_engine
        from_version = row.process_version
        row.process_version_id = target.id
        row.process_version = target
        loaded = Loaded(session, engine.runtime, row, target, wf, Recorder(session, row, now))
        loaded.recorder.record(
            "instance_migrated",
            actor=actor.username,
            process_version_id=target.id,
            data={
                "process_key": row.process_key,
                "from_version": from_version.version,
                "to_version": target.version,
                "from_version_id": from_version.id,
                "to_version_id": target.id,
                "open_elements": check.open_elements,
            },
        )
        _refresh_tasks(loaded)
        save(loaded)
        return MigrationOutcome(instance_id, True, check.from_version, target.version)


def migrate(
    engine: Engine,
    process_key: str,
    to_version: int,
    actor: Actor,
    instance_ids: Iterable[int] | None = None,
) -> list[MigrationOutcome]:
    """Move the given instances (default: every active one that can) to `to_version`.

    Each instance moves in its own transaction: one that cannot move, or that someone changed at
    the same moment, is reported and does not stop the others.
    """
    if not actor.has(*MIGRATOR_ROLES):
        raise Forbidden("Only process owners and admins migrate instances.")
    if instance_ids is None:
        instance_ids = [c.instance_id for c in dry_run(engine, process_key, to_version)]
    outcomes = []
    for instance_id in instance_ids:
        try:
            outcomes.append(migrate_one(engine, instance_id, to_version, actor))
        except Conflict as error:
            with engine.session() as session:
                row = session.get(Instance, instance_id)
                version = row.process_version.version if row else 0
            outcomes.append(
                MigrationOutcome(instance_id, False, version, to_version, [error.message])
            )
    return outcomes
