"""The `engine.processes` handle: deployed process models and their versions, as read types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from engine.bpmn.deployments import instance_counts
from engine.store.models import ProcessModel, ProcessVersion

if TYPE_CHECKING:
    from engine.core import Engine


@dataclass(frozen=True)
class VersionInfo:
    """One deployed version of a process model."""

    version: int
    """The version number (1, 2, …)."""
    name: str | None
    """The process's name in this version."""
    executable: bool
    """Whether instances can be started from it."""
    not_executable_reason: str | None
    """Why not, when it cannot run."""
    main_file: str
    """The diagram file holding the process."""
    files: tuple[str, ...]
    """Every diagram file of the bundle, by name."""
    forms: tuple[str, ...]
    """Every form file it references, by name."""
    lanes: tuple[str, ...]
    """The lanes of its pools."""
    warnings: tuple[Any, ...]
    """What deployment warned about."""
    deployed_by: str | None
    """Who deployed it."""
    deployed_at: datetime
    """When."""
    active_instances: int
    """Instances of this version that have not ended."""

    @classmethod
    def of(cls, row: ProcessVersion, active: int) -> VersionInfo:
        """The read view of a version row with its count of active instances."""
        return cls(
            row.version,
            row.name,
            row.executable,
            row.not_executable_reason,
            row.main_file,
            tuple(sorted(row.files)),
            tuple(sorted(row.forms)),
            tuple(row.lanes or ()),
            tuple(row.warnings or ()),
            row.deployed_by,
            row.deployed_at,
            active,
        )


@dataclass(frozen=True)
class ProcessInfo:
    """A deployed process model (its newest version's headline; `versions` when asked)."""

    key: str
    """The process id in the diagrams."""
    name: str | None
    """Its name for people."""
    latest_version: int | None
    """The newest version's number."""
    executable: bool
    """Whether the newest version can run."""
    start_roles: tuple[str, ...]
    """Roles (besides admins and process owners) that may start it."""
    created_at: datetime
    """When it was first deployed."""
    versions: tuple[VersionInfo, ...] = ()
    """Every version, newest first (only from `Processes.get`)."""

    @classmethod
    def of(cls, row: ProcessModel, versions: tuple[VersionInfo, ...] = ()) -> ProcessInfo:
        """The read view of a process model row."""
        latest = row.versions[-1] if row.versions else None
        return cls(
            row.key,
            row.name,
            latest.version if latest else None,
            bool(latest and latest.executable),
            tuple(row.start_roles or ()),
            row.created_at,
            versions,
        )


class Processes:
    """Deployed process models (`engine.processes`)."""

    def __init__(self, engine: Engine) -> None:
        """Bind the handle to `engine`'s sessions."""
        self._engine = engine

    def all(self) -> list[ProcessInfo]:
        """Every deployed process model, by key."""
        with self._engine.sessions() as s:
            rows = s.execute(select(ProcessModel).order_by(ProcessModel.key)).scalars()
            return [ProcessInfo.of(m) for m in rows]

    def get(self, key: str) -> ProcessInfo | None:
        """A process model with every version (newest first) and its active instances."""
        with self._engine.sessions() as s:
            row = s.get(ProcessModel, key)
            if row is None:
                return None
            counts = instance_counts(s, key)
            versions = tuple(
                VersionInfo.of(v, counts.get(v.version, 0)) for v in reversed(row.versions)
            )
            return ProcessInfo.of(row, versions)
