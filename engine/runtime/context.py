"""What every instance operation works with: the runtime's collaborators, a loaded instance, the
errors a run raises, and how a SpiffWorkflow task names its BPMN element."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from sqlalchemy.orm import Session

from engine.bpmn.serialization import SpecCache
from engine.clock import Clock
from engine.records.history import Recorder
from engine.store.models import AuditEvent, HumanTask, Instance, ProcessVersion

ACTIVE = ("running", "suspended", "error")

TIMER_CHANNEL = "pathfinder_timers"
"""PostgreSQL NOTIFY channel: a transaction that writes a timer job notifies it (payload: the
earliest due time written, ISO 8601), so sleeping workers in other processes wake up."""


class StepFailed(Exception):
    """A model step failed while a job (a timer firing) ran the instance; raised instead of
    putting the instance in error so the job's transaction rolls back and the job is retried."""

    def __init__(self, message: str, element_id: str | None, element_name: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.element_id = element_id
        self.element_name = element_name


class EngineGuardError(Exception):
    """Raised from inside engine steps to stop runaway work (recursion, endless loops)."""

    def __init__(self, message: str, element_id: str | None) -> None:
        super().__init__(message)
        self.element_id = element_id


@dataclass
class Runtime:
    """The collaborators every instance operation needs."""

    clock: Clock
    script_engine: Any
    specs: SpecCache = field(default_factory=SpecCache)
    max_call_depth: int = 20
    """Call activities nested deeper than this stop the instance with an error."""
    max_steps: int = 10_000
    """Automatic steps in one go beyond which the instance stops (an endless loop)."""
    max_seconds: float = 30.0
    """Wall time one engine run may take before the instance stops."""
    max_timer_catch_up: int = 10
    """Owed occurrences of one timer cycle fired in one run; the rest are skipped."""
    min_timer_period: float = 60.0
    """A cycle computed at run time that repeats more often than this stops the instance."""
    versions: dict[int, ProcessVersion] = field(default_factory=dict)
    """Detached copies of process version rows by id (never changed once deployed), so a
    step does not read the version and its spec again; see `version_by_id`."""
    on_timer_written: Callable[[datetime], None] | None = None
    """Called after the commit of a transaction that wrote a timer job, with the earliest due
    time written (an in-process worker uses it to wake up early). Must not block."""
    on_events: Callable[[Session, Sequence[AuditEvent]], None] | None = None
    """Hears of the audit events a step writes with its own INSERT (`writes.insert_events`),
    which the session's flush, and so `Engine.subscribers`' flush hook, never sees."""

    def now(self) -> datetime:
        """The current time on the runtime's clock."""
        return self.clock.now()


@dataclass
class Loaded:
    """An instance row with its restored workflow, inside one transaction."""

    session: Session
    rt: Runtime
    row: Instance
    version: ProcessVersion
    wf: BpmnWorkflow
    recorder: Recorder
    worker: str | None = None
    """The timer worker running this instance, if any; recorded on `timer_fired` events."""
    skipped: dict[str, list[tuple[datetime, datetime]]] = field(default_factory=dict)
    """Owed cycle occurrences skipped in this run, [from, to) by timer task id: not fired."""
    ready_rows: frozenset[str] | None = None
    """Ids of the instance's `ready` task rows as loaded (the workflow's READY manual tasks at
    its last save); `save` writes only the difference. None: unknown, so `save` queries them."""
    added_rows: list[HumanTask] = field(default_factory=list)
    """Task rows `save` added (the tasks that became ready in this transaction)."""
    ready_saved: dict[str, Task] | None = None
    """The workflow's READY manual tasks by id as `save` last wrote them (None: not saved yet),
    so what reads them after the save (the stage, the open task rows) does not walk the tree."""
    timer_rows: dict[str, tuple[str, datetime]] | None = None
    """The instance's timer job rows as loaded, task id -> (element id, due time); None:
    unknown, so `save` queries them."""
    waiting: dict[str, tuple[Task, datetime]] | None = None
    """The waiting timers as `run_engine` left them (its last scan of the task tree), for `save`
    to reuse instead of scanning again; None when not known (each `run_engine` resets it first,
    `save` uses it once)."""
    ready_run: dict[str, Task] | None = None
    """The READY manual tasks by id as `run_engine` left them (the same last scan as `waiting`),
    for `save` to reuse once; None when not known."""
    gone_timers: list[str] | None = None
    """None: `save` deletes the timer jobs that fired or were dropped itself. A list: `save`
    collects their task ids here instead, for a caller that deletes the jobs of several
    instances in one statement (a group of timer firings, `engine.runtime.firing`)."""


def element_id_of(task: Task) -> str | None:
    """The BPMN element id behind a SpiffWorkflow task (None for its own tasks)."""
    return getattr(task.task_spec, "bpmn_id", None)


def element_name_of(task: Task) -> str:
    """The element's name for people (its id when it has none)."""
    spec = task.task_spec
    return str(getattr(spec, "bpmn_name", None) or getattr(spec, "description", None) or spec.name)


def from_element(task: Task) -> str | None:
    """The element the task was reached from (for the audit trail)."""
    parent = task.parent
    while parent is not None and element_id_of(parent) is None:
        parent = parent.parent
    return element_id_of(parent) if parent is not None else None


def properties(task: Task) -> dict[str, str]:
    """The `spiffworkflow:properties` of a task's element (form files, dueIn, ...)."""
    ext = getattr(task.task_spec, "extensions", None) or {}
    props = ext.get("properties") or {}
    return dict(props) if isinstance(props, Mapping) else {}


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of a value (anything JSON cannot hold, such as dates, as a string)."""
    return json.loads(json.dumps(value, default=str))


def data_objects(wf: BpmnWorkflow) -> dict[str, Any]:
    """BPMN data objects of the workflow and its running subprocesses (shared across branches)."""
    out: dict[str, Any] = {}
    for workflow in (wf, *sorted(wf.get_active_subprocesses(), key=lambda w: w.depth)):
        out.update({k: v for k, v in (workflow.data_objects or {}).items() if v is not None})
    return out
