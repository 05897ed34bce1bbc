"""`engine.instances`: process instances (countries' cases) as the pages and the API read and
manage them.

Each method opens its own session (reads) or one transaction (actions) and hands back frozen
read types (`engine.records.reads`). Who may see an instance is `engine.people.permissions`'s
answer: another country's case is `NotFound`, exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.bpmn.messages import MessageRule
from engine.clock import Clock
from engine.errors import NotFound
from engine.people import permissions
from engine.people.access import SYSTEM, Actor
from engine.records import attachments, overview, procedure, queries, submissions
from engine.records.paging import Page
from engine.records.reads import CasePage, InstanceDetail, InstanceView, ProcedureView, TaskView
from engine.runtime import execution, instances
from engine.runtime.task_handle import instance_detail
from engine.states import InstanceStatus
from engine.store.models import Instance, ProcessModel, ProcessVersion
from engine.transactions import transaction


class Instances:
    """Start, list, inspect and manage instances."""

    def __init__(
        self, sessions: sessionmaker[Session], runtime: execution.Runtime, clock: Clock
    ) -> None:
        """Bind the handle to the engine's sessions, runtime and clock."""
        self._sessions = sessions
        self._runtime = runtime
        self._clock = clock

    # -- reading -----------------------------------------------------------------------------

    def listing(self, actor: Actor, **filters: Any) -> Page[InstanceView]:
        """Instances `actor` may see, newest activity first (the filters of
        `engine.records.queries.instance_query`)."""
        with self._sessions() as s:
            return queries.instance_query(s, actor, **filters).map(InstanceView.of)

    def visible(self, actor: Actor, instance_id: int) -> InstanceView:
        """The instance, if `actor` may see it; `NotFound` for a missing one and for another
        country's, alike (pages and the API answer 404 for both)."""
        with self._sessions() as s:
            return InstanceView.of(permissions.visible_instance(s, actor, instance_id))

    def detail(self, actor: Actor, instance_id: int) -> InstanceDetail:
        """The instance with its open tasks and the variables `actor` may see."""
        with self._sessions() as s:
            row = permissions.visible_instance(s, actor, instance_id)
            return instance_detail(row, queries.open_tasks(s, row.id), actor)

    def page(self, actor: Actor, instance_id: int) -> CasePage:
        """What the case page shows: the instance, its open tasks (and which `actor` may act
        on), the diagram's states, submissions, documents and completed task names."""
        with self._sessions() as s:
            row = permissions.visible_instance(s, actor, instance_id)
            open_rows = queries.open_tasks(s, row.id)
            model = s.get(ProcessModel, row.process_key)
            lane_roles = model.lane_roles if model else {}
            return CasePage(
                detail=instance_detail(row, open_rows, actor),
                actionable=frozenset(
                    t.id
                    for t in open_rows
                    if permissions.may_act_in_lane(actor, t.lane, lane_roles)
                ),
                states=overview.element_states(s, row.id),
                submissions=submissions.listing(s, row.id),
                documents=attachments.listing(
                    s, instance_id=row.id, hidden_fields=attachments.hidden_fields(row, actor)
                ),
                task_names={t.id: t.name for t in queries.completed_tasks(s, row.id)},
                has_stages=bool(procedure.declared_stages(row.process_version)),
            )

    def diagram(self, actor: Actor, instance_id: int) -> str:
        """The BPMN the instance runs (its version's main file), if `actor` may see it."""
        with self._sessions() as s:
            version = permissions.visible_instance(s, actor, instance_id).process_version
            return version.files.get(version.main_file) or next(iter(version.files.values()), "")

    def procedure(self, actor: Actor, instance_id: int | None = None) -> ProcedureView | None:
        """A case's procedure tracker: of `instance_id` (if `actor` may see it), or of the
        actor's own country's case (None when there is none)."""
        with self._sessions() as s:
            if instance_id is None:
                row = procedure.country_case(s, actor)
                if row is None:
                    return None
            else:
                row = permissions.visible_instance(s, actor, instance_id)
            tracker = procedure.build(s, row, actor, self._clock.now())
            return ProcedureView(InstanceView.of(row), tracker)

    def has_country_case(self, actor: Actor) -> bool:
        """Whether the actor's country has a case whose process declares stages."""
        with self._sessions() as s:
            return procedure.country_case(s, actor) is not None

    def stage_titles(self, process_key: str = "pathfinder") -> dict[str, str]:
        """Stage code -> title, from the newest deployed version of `process_key`."""
        with self._sessions() as s:
            return procedure.stage_titles(s, process_key)

    def dashboard(self, process_key: str = "pathfinder") -> dict[str, Any]:
        """The dashboard's figures (`engine.records.overview.dashboard`), with instances and
        tasks as read types, and the stage titles."""
        with self._sessions() as s:
            figures = overview.dashboard(s, self._clock.now(), process_key)
            return {
                **figures,
                "upcoming_reviews": [
                    (InstanceView.of(i), due) for i, due in figures["upcoming_reviews"]
                ],
                "overdue_tasks": [TaskView.of(t) for t in figures["overdue_tasks"]],
                "stage_titles": procedure.stage_titles(s, process_key),
            }

    def labels(self, ids: set[int]) -> dict[int, InstanceView]:
        """Instances by id (for the inbox's country column); no permission check: the ids come
        from tasks the reader may already see."""
        if not ids:
            return {}
        with self._sessions() as s:
            rows = s.execute(select(Instance).where(Instance.id.in_(ids))).scalars()
            return {i.id: InstanceView.of(i) for i in rows}

    def filter_options(self) -> dict[str, list[tuple[str, str]]]:
        """Choices for the process / country / stage / status filters."""
        with self._sessions() as s:
            processes = [
                (m.key, m.name or m.key)
                for m in s.execute(select(ProcessModel).order_by(ProcessModel.key)).scalars()
            ]
            countries = sorted(
                {c for c in s.execute(select(Instance.country).distinct()).scalars() if c}
            )
            stages = sorted(
                {x for x in s.execute(select(Instance.stage).distinct()).scalars() if x}
            )
            titles = procedure.stage_titles(s)
        return {
            "processes": processes,
            "countries": [(c, c) for c in countries],
            "stages": [(x, titles.get(x) or x.replace("_", " ")) for x in stages],
            "statuses": [(x, x) for x in InstanceStatus],
        }

    def startable(self, actor: Actor) -> list[tuple[str, str]]:
        """(process key, name) of the newest executable version of each process `actor` may
        start, by key."""
        with self._sessions() as s:
            latest: dict[str, ProcessVersion] = {}
            for pv in s.execute(select(ProcessVersion).order_by(ProcessVersion.version)).scalars():
                latest[pv.process_key] = pv
            models = {m.key: m for m in s.execute(select(ProcessModel)).scalars()}
            return [
                (pv.process_key, pv.name or pv.process_key)
                for key, pv in sorted(latest.items())
                if pv.executable
                and permissions.may_start(actor, models[key].start_roles if key in models else ())
            ]

    def message_rules(self, instance_id: int, actor: Actor) -> list[MessageRule]:
        """The messages the instance waits for that `actor` may send, each with the payload
        fields its model declares. Raises `NotFound` for an instance the actor may not see."""
        with self._sessions() as s:
            row = s.get(Instance, instance_id)
            if row is None or not permissions.may_see_country(actor, row.country):
                raise NotFound(f"Instance {instance_id} does not exist.", instance_id=instance_id)
            rules = instances.message_rules(s, self._runtime, instance_id)
        return [rule for rule in rules if rule.may_send(actor)]

    # -- acting ------------------------------------------------------------------------------

    def start(
        self,
        process_key: str,
        data: Mapping[str, Any] | None = None,
        actor: Actor = SYSTEM,
        version: int | None = None,
    ) -> Instance:
        """Start an instance of the newest (or given) version of a process as `actor`; it runs
        until it waits for a person, a timer or a message."""
        with transaction(self._sessions) as s:
            return instances.start(s, self._runtime, process_key, data or {}, actor, version)

    def start_and_show(
        self,
        process_key: str,
        data: Mapping[str, Any] | None = None,
        actor: Actor = SYSTEM,
        version: int | None = None,
    ) -> tuple[int, InstanceDetail | None]:
        """`start`; the new instance's id and the instance as it waits, as `detail` would read
        it back (built from memory), or None when `actor` may not see what it started."""
        with transaction(self._sessions) as s:
            row, open_rows = instances.start_with_open(
                s, self._runtime, process_key, data or {}, actor, version
            )
            if not permissions.may_see_instance(actor, row):
                return row.id, None
            return row.id, instance_detail(row, open_rows, actor)

    def suspend(self, instance_id: int, actor: Actor, reason: str = "") -> InstanceView:
        """Pause a running instance (managers); its tasks and timers wait."""
        with transaction(self._sessions) as s:
            return InstanceView.of(instances.suspend(s, self._runtime, instance_id, actor, reason))

    def resume(self, instance_id: int, actor: Actor) -> InstanceView:
        """Resume a suspended instance (managers)."""
        with transaction(self._sessions) as s:
            return InstanceView.of(instances.resume(s, self._runtime, instance_id, actor))

    def cancel(self, instance_id: int, actor: Actor, reason: str = "") -> InstanceView:
        """End an instance for good, with a reason (managers)."""
        with transaction(self._sessions) as s:
            return InstanceView.of(instances.cancel(s, self._runtime, instance_id, actor, reason))

    def retry(self, instance_id: int, actor: Actor) -> InstanceView:
        """Run an instance stopped by an incident again (managers)."""
        with transaction(self._sessions) as s:
            return InstanceView.of(instances.retry(s, self._runtime, instance_id, actor))

    def send_message(
        self, instance_id: int, name: str, payload: Mapping[str, Any], actor: Actor
    ) -> InstanceView:
        """Deliver a BPMN message the instance waits for, if `actor` may send it."""
        with transaction(self._sessions) as s:
            row = instances.send_message(s, self._runtime, instance_id, name, payload, actor)
            return InstanceView.of(row)
