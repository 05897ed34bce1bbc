"""Where a case stands in its procedure: the stages, the current step, what comes next and when.

A process declares its stages in the diagram, as extension properties on `bpmn:process`:

    <spiffworkflow:property name="stage:observer" value="Observer | set_stage_observer" />

(the stage code after `stage:`, then its title and the ids of the elements that reach it). The
tracker is built from those declarations, the audit trail (when each stage was reached), the open
tasks (who holds the current step) and the waiting timers (the next dated event).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bpmn.xmlsafe import safe_xml
from engine.people.access import Actor
from engine.people.permissions import may_act_in_lane, may_see_country
from engine.records import attachments, audit
from engine.store.models import (
    AuditEvent,
    HumanTask,
    Instance,
    ProcessModel,
    ProcessVersion,
    TimerJob,
)

STAGE_PREFIX = "stage:"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
REACHING_KINDS = {"element_completed", "task_ready", "task_completed", "timer_fired"}
"""Audit event kinds that show an element was reached."""


@dataclass(frozen=True)
class StageSpec:
    """One stage as the diagram declares it."""

    code: str
    title: str
    elements: tuple[str, ...]
    """Element ids whose reaching means the case entered this stage."""


@dataclass(frozen=True)
class Stage:
    """One stage of the procedure and the date the case reached it."""

    code: str
    title: str
    reached_at: datetime | None
    state: str
    """done | current | ahead"""


@dataclass(frozen=True)
class Step:
    """An open task: the current step and the role (lane) that holds it."""

    name: str
    lane: str | None
    yours: bool
    """The reader may act on it (so the page says "with you")."""
    since: datetime
    due_at: datetime | None
    task_id: str


@dataclass(frozen=True)
class Upcoming:
    """A dated event ahead: a meeting or review timer, or a task's due date."""

    name: str
    at: datetime
    days_left: int
    kind: str
    """timer | due"""


@dataclass(frozen=True)
class Moment:
    """One line of the history in plain words; the page phrases it by `kind`."""

    at: datetime
    kind: str
    """opened | stage | status | done | message | ended"""
    name: str
    actor: str | None


@dataclass(frozen=True)
class Procedure:
    """A case's procedure in plain words: stages, current step, what comes next."""

    instance_id: int
    label: str
    country: str | None
    status: str
    process_name: str
    stages: tuple[Stage, ...]
    current: Stage | None
    steps: tuple[Step, ...]
    upcoming: tuple[Upcoming, ...]
    documents: tuple[attachments.AttachmentInfo, ...]
    history: tuple[Moment, ...]

    @property
    def next_event(self) -> Upcoming | None:
        """The next dated event, if any."""
        return self.upcoming[0] if self.upcoming else None


@lru_cache(maxsize=64)
def _declared(version_id: int, xml: str, process_key: str) -> tuple[StageSpec, ...]:
    root = safe_xml(xml.encode(), "process.bpmn")
    out: list[StageSpec] = []
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        if process.get("id") != process_key:
            continue
        for prop in process.iterfind(
            f"{{{BPMN_NS}}}extensionElements/{{{SPIFF_NS}}}properties/{{{SPIFF_NS}}}property"
        ):
            name = prop.get("name") or ""
            if not name.startswith(STAGE_PREFIX):
                continue
            title, _, elements = (prop.get("value") or "").partition("|")
            code = name[len(STAGE_PREFIX) :].strip()
            out.append(StageSpec(code, title.strip() or code, tuple(elements.split())))
    return tuple(out)


def declared_stages(version: ProcessVersion) -> tuple[StageSpec, ...]:
    """The stages a deployed version declares, in diagram order (empty when it declares none)."""
    xml = version.files.get(version.main_file)
    if not xml:
        return ()
    return _declared(version.id, xml, version.process_key)


def stage_titles(session: Session, process_key: str = "pathfinder") -> dict[str, str]:
    """Stage code -> title, from the newest deployed version of `process_key`."""
    version = session.execute(
        select(ProcessVersion)
        .where(ProcessVersion.process_key == process_key)
        .order_by(ProcessVersion.version.desc())
        .limit(1)
    ).scalar_one_or_none()
    return {s.code: s.title for s in declared_stages(version)} if version else {}


def country_case(session: Session, actor: Actor) -> Instance | None:
    """The newest case of the actor's country whose process declares stages (running first)."""
    if not actor.country:
        return None
    rows = session.execute(
        select(Instance)
        .where(Instance.country == actor.country)
        .order_by((Instance.status == "running").desc(), Instance.id.desc())
    ).scalars()
    for inst in rows:
        if declared_stages(inst.process_version):
            return inst
    return None


def _reached(specs: tuple[StageSpec, ...], events: list[AuditEvent]) -> dict[str, datetime]:
    by_element = {e: s.code for s in specs for e in s.elements}
    codes = {s.code for s in specs}
    reached: dict[str, datetime] = {}
    for e in events:
        code = None
        if e.kind in REACHING_KINDS and e.element_id in by_element:
            code = by_element[e.element_id]
        elif e.kind == "status_changed" and (e.data or {}).get("variable") == "stage":
            new = (e.data or {}).get("new")
            code = new if new in codes else None
        if code and code not in reached:
            reached[code] = e.at
    return reached


def _stages(
    specs: tuple[StageSpec, ...], reached: dict[str, datetime], current_code: str | None
) -> tuple[Stage, ...]:
    if current_code not in reached:
        current_code = next((s.code for s in reversed(specs) if s.code in reached), None)
    out: list[Stage] = []
    passed = current_code is not None
    for s in specs:
        if s.code == current_code:
            out.append(Stage(s.code, s.title, reached.get(s.code), "current"))
            passed = False
        else:
            out.append(Stage(s.code, s.title, reached.get(s.code), "done" if passed else "ahead"))
    return tuple(out)


def _history(
    events: list[AuditEvent], titles: dict[str, str], show_actor: bool
) -> tuple[Moment, ...]:
    out: list[Moment] = []
    for e in events:
        who = e.actor if show_actor else None
        data = e.data or {}
        if e.kind == "instance_started":
            out.append(Moment(e.at, "opened", "", who))
        elif e.kind == "task_completed":
            out.append(Moment(e.at, "done", e.element_name or e.element_id or "", who))
        elif e.kind == "status_changed" and data.get("variable") == "stage":
            new = data.get("new")
            if isinstance(new, str):
                out.append(Moment(e.at, "stage", titles.get(new, new.replace("_", " ")), None))
        elif e.kind == "status_changed" and (label := audit.milestone(e)):
            out.append(Moment(e.at, "status", label, None))
        elif e.kind == "message_received":
            out.append(Moment(e.at, "message", e.element_name or e.element_id or "", None))
        elif e.kind in ("instance_completed", "instance_cancelled"):
            out.append(Moment(e.at, "ended", "", None))
    return tuple(reversed(out))


def _upcoming(session: Session, inst: Instance, now: datetime, tasks: list[HumanTask]) -> list[Any]:
    names = dict(
        session.execute(
            select(AuditEvent.element_id, AuditEvent.element_name).where(
                AuditEvent.instance_id == inst.id, AuditEvent.kind == "timer_scheduled"
            )
        ).all()
    )
    items = [
        Upcoming(names.get(t.element_id) or t.element_id, t.due_at, 0, "timer")
        for t in session.execute(
            select(TimerJob).where(TimerJob.instance_id == inst.id, TimerJob.state == "waiting")
        ).scalars()
    ]
    items += [Upcoming(t.name, t.due_at, 0, "due") for t in tasks if t.due_at is not None]
    return sorted(
        (
            Upcoming(u.name, u.at, max(0, (u.at.date() - now.date()).days), u.kind)
            for u in items
            if u.at >= now
        ),
        key=lambda u: u.at,
    )


def _yours(actor: Actor, lane: str | None, lane_roles: dict[str, str]) -> bool:
    # Admins may act anywhere; the tracker still says which role holds the step for them.
    return not actor.is_admin and may_act_in_lane(actor, lane, lane_roles)


def build(session: Session, inst: Instance, actor: Actor, now: datetime) -> Procedure | None:
    """The tracker for one case, or None when its process declares no stages."""
    specs = declared_stages(inst.process_version)
    if not specs:
        return None
    events = list(
        session.execute(
            select(AuditEvent).where(AuditEvent.instance_id == inst.id).order_by(AuditEvent.seq)
        ).scalars()
    )
    stages = _stages(specs, _reached(specs, events), inst.stage)
    model = session.get(ProcessModel, inst.process_key)
    lane_roles = model.lane_roles if model else {}
    tasks = list(
        session.execute(
            select(HumanTask)
            .where(HumanTask.instance_id == inst.id, HumanTask.state == "ready")
            .order_by(HumanTask.created_at)
        ).scalars()
    )
    steps = tuple(
        Step(t.name, t.lane, _yours(actor, t.lane, lane_roles), t.created_at, t.due_at, t.id)
        for t in tasks
    )
    titles = {s.code: s.title for s in specs}
    staff = may_see_country(actor, None)
    return Procedure(
        instance_id=inst.id,
        label=inst.label or inst.country or f"#{inst.id}",
        country=inst.country,
        status=inst.status,
        process_name=inst.process_version.name or inst.process_key,
        stages=stages,
        current=next((s for s in stages if s.state == "current"), None),
        steps=steps,
        upcoming=tuple(_upcoming(session, inst, now, tasks)),
        documents=tuple(
            attachments.listing(
                session, instance_id=inst.id, hidden_fields=attachments.hidden_fields(inst, actor)
            )
        ),
        history=_history(events, titles, show_actor=staff),
    )
