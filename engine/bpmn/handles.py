"""The `engine.models` handle: process models as their owners edit, check, deploy, compare,
migrate and simulate them, and the lane -> role mapping admins set.

It opens its own sessions and returns frozen read types, so the Models area and the admin pages
hold no database session or row. Deploying itself is `Engine.deploy`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from engine.bpmn.deployments import instance_counts, set_lane_roles
from engine.bpmn.model_diff import ModelDiff, diff_files, elements
from engine.bpmn.parsing import Problem, ValidationFailed, parse_bundle
from engine.bpmn.xmlsafe import NSMAP, form_refs, safe_xml
from engine.errors import NotFound
from engine.people import permissions
from engine.people.access import Actor, role_for_lane
from engine.records.paging import contains, read_page
from engine.records.queries import Page
from engine.store.db import transaction
from engine.store.models import Instance, ProcessModel, ProcessVersion

if TYPE_CHECKING:
    from engine.core import Engine
    from engine.runtime.migration import MigrationCheck, MigrationOutcome
    from engine.runtime.simulation import Simulation, SimulationStore


@dataclass(frozen=True)
class ModelVersion:
    """One deployed version of a process model, with its files."""

    id: int
    """The version's row id."""
    process_key: str
    """The process id in the diagrams."""
    version: int
    """The version number (1, 2, …)."""
    name: str | None
    """The process's name in this version."""
    main_file: str
    """The diagram file holding the process."""
    files: Mapping[str, str]
    """Every diagram file of the bundle, by name."""
    forms: Mapping[str, str]
    """Every form (and translation) file it carries, by name."""
    executable: bool
    """Whether instances can be started from it."""
    not_executable_reason: str | None
    """Why not, when it cannot run."""
    deployed_by: str | None
    """Who deployed it."""
    deployed_at: datetime
    """When."""
    lanes: tuple[str, ...]
    """The lanes of its pools."""

    @classmethod
    def of(cls, row: ProcessVersion) -> ModelVersion:
        """The read view of a version row."""
        return cls(
            row.id,
            row.process_key,
            row.version,
            row.name,
            row.main_file,
            dict(row.files or {}),
            dict(row.forms or {}),
            row.executable,
            row.not_executable_reason,
            row.deployed_by,
            row.deployed_at,
            tuple(row.lanes or ()),
        )


@dataclass(frozen=True)
class ModelOverview:
    """A process model with every version (newest first) and its active instances."""

    key: str
    """The process id."""
    name: str | None
    """Its name for people."""
    versions: tuple[ModelVersion, ...]
    """Every version, newest first."""
    counts: Mapping[int, int]
    """Active instances by version number."""


@dataclass(frozen=True)
class LaneRole:
    """Who acts in one lane of a process model."""

    lane: str
    """The lane's name in the newest version's diagram."""
    role: str | None
    """The role that acts in it."""
    explicit: bool
    """True when an admin set the role; False when it comes from the lane's name."""


@dataclass(frozen=True)
class ModelLanes:
    """A process model's lanes and who may start it (the admins' Processes page)."""

    key: str
    """The process id."""
    name: str | None
    """Its name for people."""
    start_roles: tuple[str, ...]
    """Roles (besides admins and process owners) that may start it."""
    lanes: tuple[LaneRole, ...]
    """The newest version's lanes, each with its role."""

    @classmethod
    def of(cls, row: ProcessModel) -> ModelLanes:
        """The read view of a process model row (lanes from its newest version)."""
        explicit = row.lane_roles or {}
        latest = row.versions[-1] if row.versions else None
        lanes = tuple(
            LaneRole(lane, role_for_lane(lane, explicit), lane in explicit)
            for lane in (latest.lanes or [] if latest else [])
        )
        return cls(row.key, row.name, tuple(row.start_roles or ()), lanes)


class Models:
    """Process models and their versions (`engine.models`)."""

    def __init__(self, engine: Engine) -> None:
        """Bind the handle to `engine`'s sessions and clock."""
        self._engine = engine
        self._simulations: SimulationStore | None = None
        self._names: dict[tuple[int, str, str], tuple[dict[str, str], dict[str, str]]] = {}

    # -- reading -----------------------------------------------------------------------------

    def overview(self) -> list[ModelOverview]:
        """Every process model by key, with its versions and active instances."""
        with self._engine.sessions() as s:
            rows = s.execute(select(ProcessModel).order_by(ProcessModel.key)).scalars()
            return [
                ModelOverview(
                    m.key,
                    m.name,
                    tuple(ModelVersion.of(v) for v in reversed(m.versions)),
                    instance_counts(s, m.key),
                )
                for m in rows
            ]

    def version(self, key: str, number: int | None = None) -> ModelVersion:
        """A version of a process model (default: the newest); `NotFound` when there is none."""
        with self._engine.sessions() as s:
            query = select(ProcessVersion).where(ProcessVersion.process_key == key)
            if number is not None:
                query = query.where(ProcessVersion.version == number)
            row = s.execute(query.order_by(ProcessVersion.version.desc()).limit(1)).scalar()
            if row is None:
                raise NotFound(f"No version {number or ''} of process model '{key}'.")
            return ModelVersion.of(row)

    def version_by_id(self, version_id: int) -> ModelVersion | None:
        """The version with this row id (as `DeployResult.version_id` names it), or None."""
        with self._engine.sessions() as s:
            row = s.get(ProcessVersion, version_id)
            return ModelVersion.of(row) if row is not None else None

    def element_names(self, key: str, number: int) -> dict[str, str]:
        """Element id -> name of one version's diagrams (named elements only)."""
        found = elements(self.version(key, number).files)
        return {i: e.name for i, e in found.items() if e.name}

    def translated_names(self, lang: str) -> tuple[dict[str, str], dict[str, str]]:
        """(element id -> name, English name -> name) in `lang`, from the newest version of
        each process that carries translations (a deployed version never changes, so each is
        read once per language)."""
        from engine import i18n as content

        by_id: dict[str, str] = {}
        by_name: dict[str, str] = {}
        with self._engine.sessions() as s:
            rows = s.execute(
                select(ProcessVersion.id, ProcessVersion.content_hash).order_by(
                    ProcessVersion.id.desc()
                )
            ).all()
            for version_id, content_hash in rows:
                cache_key = (version_id, content_hash, lang)
                if cache_key not in self._names:
                    v = s.get_one(ProcessVersion, version_id)
                    if len(self._names) > 256:
                        self._names.clear()
                    self._names[cache_key] = content.names(
                        v.forms or {}, v.files or {}, v.process_key, lang
                    )
                ids, names = self._names[cache_key]
                for k, name in ids.items():
                    by_id.setdefault(k, name)
                for k, name in names.items():
                    by_name.setdefault(k, name)
        return by_id, by_name

    # -- lanes -------------------------------------------------------------------------------

    def lanes_page(self, *, q: str = "", number: int = 1) -> Page[ModelLanes]:
        """A page of process models (by key) with their lanes; `q` looks in the key and name."""
        query = select(ProcessModel).order_by(ProcessModel.key)
        if q:
            query = query.where(contains(ProcessModel.key, q) | contains(ProcessModel.name, q))
        return read_page(self._engine.sessions, query, number, ModelLanes.of)

    def lanes(self, key: str) -> ModelLanes:
        """One process model's lanes; `NotFound` when there is no such model."""
        with self._engine.sessions() as s:
            row = s.get(ProcessModel, key)
            if row is None:
                raise NotFound(f"No process model '{key}'.")
            return ModelLanes.of(row)

    def set_lane_roles(self, key: str, lane_roles: Mapping[str, str], *, actor: Actor) -> None:
        """Change which role acts in each lane of a process model (audited); `Forbidden`
        unless the actor owns process models."""
        permissions.check_may_own_models(actor)
        with transaction(self._engine.sessions) as s:
            set_lane_roles(s, key, dict(lane_roles), actor=actor.username, now=self._engine.now())

    # -- checking an edited bundle -----------------------------------------------------------

    def check(self, files: Mapping[str, bytes], forms: Mapping[str, bytes]) -> list[Problem]:
        """Every problem the engine finds in a bundle (refusals and warnings alike), without
        storing anything."""
        try:
            return list(parse_bundle(files, forms, limits=self._engine.model_limits).warnings)
        except ValidationFailed as refused:
            return list(refused.problems)

    @staticmethod
    def referenced_forms(files: Mapping[str, bytes]) -> set[str]:
        """The form files the user tasks of these diagrams name (unreadable files skipped)."""
        names: set[str] = set()
        for name, data in files.items():
            try:
                root = safe_xml(data, name)
            except ValidationFailed:
                continue  # checking the bundle reports it
            for process in root.xpath("//bpmn:process", namespaces=NSMAP):
                names.update(form for _el, form in form_refs(process))
        return names

    @staticmethod
    def names_in(data: bytes) -> dict[str, str]:
        """Element id -> name of one diagram file ({} when it cannot be read)."""
        try:
            root = safe_xml(data, "diagram")
        except ValidationFailed:
            return {}
        return {el.get("id"): el.get("name") for el in root.xpath("//*[@id and @name]")}

    def diff(
        self, key: str, old: int, new: int | None
    ) -> tuple[ModelVersion, ModelVersion, ModelDiff]:
        """Two versions of a process model and what changed between them (`new`: the newest
        when None)."""
        before, after = self.version(key, old), self.version(key, new)
        return before, after, diff_files(before.files, after.files)

    # -- migration ---------------------------------------------------------------------------

    def migration_plan(self, key: str, to_version: int) -> list[MigrationCheck]:
        """For each active instance of the process, whether it can move to `to_version`."""
        from engine.runtime import migration

        return migration.dry_run(self._engine, key, to_version)

    def migrate(
        self, key: str, to_version: int, actor: Actor, instance_ids: Sequence[int]
    ) -> list[MigrationOutcome]:
        """Move the given instances of this process (others are ignored) to `to_version`, each
        in its own transaction; `Forbidden` unless the actor owns processes."""
        from engine.runtime import migration

        with self._engine.sessions() as s:
            own = set(
                s.execute(
                    select(Instance.id).where(
                        Instance.process_key == key, Instance.id.in_(list(instance_ids))
                    )
                ).scalars()
            )
        ids = [i for i in instance_ids if i in own]
        return migration.migrate(self._engine, key, to_version, actor, ids)

    # -- simulation --------------------------------------------------------------------------

    @property
    def simulations(self) -> SimulationStore:
        """The running simulations of this engine, by token (each owner sees only theirs)."""
        if self._simulations is None:
            from engine.runtime.simulation import SimulationStore

            self._simulations = SimulationStore()
        return self._simulations

    def simulate(
        self,
        files: Mapping[str, bytes],
        forms: Mapping[str, bytes],
        *,
        owner: str,
        start: datetime | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Simulation:
        """Deploy an edited bundle into a throwaway database, start it on a virtual clock and
        keep it for its owner; `ValidationFailed` when it could not run."""
        from engine.runtime.simulation import start_simulation

        sim = start_simulation(files, forms, owner=owner, start=start, data=data)
        self.simulations.add(sim)
        return sim

    @staticmethod
    def json_object(text: str | None) -> dict[str, Any] | None:
        """A JSON object typed by a person, None for blank; `EngineError` when it is not one."""
        from engine.runtime.simulation import parse_json_object

        return parse_json_object(text)
