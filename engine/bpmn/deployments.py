"""Deploying process models: validate a bundle of files, store one new version per process."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.bpmn.parsing import Bundle, ModelLimits, parse_bundle
from engine.bpmn.serialization import dump_spec
from engine.errors import NotFound
from engine.people.access import role_for_lane
from engine.records.history import Recorder
from engine.store.models import Instance, ProcessModel, ProcessVersion


@dataclass(frozen=True)
class DeployResult:
    """What a deployment did for one process."""

    process_key: str
    version: int
    created: bool
    """False when the same content was already deployed (a no-op)."""
    executable: bool
    version_id: int


def content_hash(bundle: Bundle) -> str:
    """SHA-256 over every file and form of the bundle, by name."""
    digest = hashlib.sha256()
    for kind, files in (("file", bundle.files), ("form", bundle.forms)):
        for name in sorted(files):
            digest.update(f"{kind}:{name}:{len(files[name])}:".encode())
            digest.update(files[name])
    return digest.hexdigest()


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _start_roles(spec: Any) -> list[str]:
    """By default, the role of the lane that holds the process's start event may start it."""
    roles = set()
    for task_spec in spec.task_specs.values():
        if type(task_spec).__name__ == "StartEvent" and getattr(task_spec, "lane", None):
            role = role_for_lane(task_spec.lane, {})
            if role:
                roles.add(role)
    return sorted(roles)


def deploy(
    session: Session,
    files: Mapping[str, bytes],
    forms: Mapping[str, bytes] | None,
    actor: str,
    now: datetime,
    limits: ModelLimits | None = None,
) -> list[DeployResult]:
    """Validate and store the processes in `files`. Nothing is stored if anything is wrong.

    Raises `engine.parsing.ValidationFailed` with every problem found.
    """
    bundle = parse_bundle(files, forms or {}, limits=limits)
    digest = content_hash(bundle)
    results = []
    recorder: Recorder | None = None
    for key, info in bundle.processes.items():
        latest = session.execute(
            select(ProcessVersion)
            .where(ProcessVersion.process_key == key)
            .order_by(ProcessVersion.version.desc())
            .limit(1)
        ).scalar()
        if latest is not None and latest.content_hash == digest:
            results.append(DeployResult(key, latest.version, False, latest.executable, latest.id))
            continue
        specs = bundle.spec_for(key) if info.executable else None
        model = session.get(ProcessModel, key)
        if model is None:
            model = ProcessModel(
                key=key,
                name=info.name,
                lane_roles={},
                start_roles=_start_roles(specs[0]) if specs else [],
                created_at=now,
            )
            session.add(model)
        elif info.name:
            model.name = info.name
        spec_json = dump_spec(bundle.dialect, *specs) if specs else None
        reason = info.not_executable_reason
        pv = ProcessVersion(
            process_key=key,
            version=(latest.version if latest else 0) + 1,
            name=info.name,
            content_hash=digest,
            dialect=bundle.dialect,
            main_file=info.file,
            files={name: _text(data) for name, data in bundle.files.items()},
            forms={name: _text(data) for name, data in bundle.forms.items()},
            executable=info.executable,
            not_executable_reason=reason.message if reason else None,
            spec_json=spec_json,
            lanes=list(info.lanes),
            warnings=[asdict(w) for w in bundle.warnings],
            deployed_by=actor,
            deployed_at=now,
        )
        session.add(pv)
        session.flush()
        recorder = recorder or Recorder(session, None, now)
        recorder.record(
            "model_deployed",
            actor=actor,
            element_id=key,
            element_name=info.name,
            process_version_id=pv.id,
            data={
                "process_key": key,
                "version": pv.version,
                "content_hash": digest,
                "files": sorted(bundle.files),
                "forms": sorted(bundle.forms),
                "executable": info.executable,
            },
        )
        results.append(DeployResult(key, pv.version, True, info.executable, pv.id))
    session.flush()
    return results


def instance_counts(session: Session, process_key: str) -> dict[int, int]:
    """Active instances per version number of a process."""
    rows = session.execute(
        select(ProcessVersion.version, func.count(Instance.id))
        .join(Instance, Instance.process_version_id == ProcessVersion.id)
        .where(
            ProcessVersion.process_key == process_key,
            Instance.status.in_(("running", "suspended", "error")),
        )
        .group_by(ProcessVersion.version)
    ).all()
    return {version: count for version, count in rows}


def set_lane_roles(
    session: Session, process_key: str, lane_roles: dict[str, str], *, actor: str, now: datetime
) -> ProcessModel:
    """Change which role acts in each lane of a process model (all its versions)."""
    model = session.get(ProcessModel, process_key)
    if model is None:
        raise NotFound(f"No process model '{process_key}'.")
    before = dict(model.lane_roles or {})
    model.lane_roles = dict(lane_roles)
    Recorder(session, None, now).record(
        "lane_roles_changed",
        actor=actor,
        element_id=process_key,
        data={"process_key": process_key, "before": before, "after": dict(lane_roles)},
    )
    return model
