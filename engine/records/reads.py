"""Frozen read types: what the engine's handles hand to the web and the CLI instead of rows.

Each is a snapshot taken inside the handle's session, so a page or an API answer can use it
after the session closed (no lazy loads, no writes by accident).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.bpmn.forms import FormDefinition
from engine.records.attachments import AttachmentInfo
from engine.records.procedure import Procedure
from engine.records.submissions import Prefill, SubmissionInfo
from engine.store.models import HumanTask, Instance


@dataclass(frozen=True)
class TaskView:
    """A human task as the inbox, the task page and the API show it."""

    id: str
    instance_id: int
    process_key: str
    element_id: str
    name: str
    lane: str | None
    country: str | None
    state: str
    instructions: str | None
    due_at: datetime | None
    claimed_by: str | None
    created_at: datetime
    completed_at: datetime | None
    completed_by: str | None
    draft: Mapping[str, Any] | None
    """Unfinished form input kept on the task (`draft_by` saved it)."""
    draft_by: str | None
    form_file: str | None
    ui_form_file: str | None

    @classmethod
    def of(cls, row: HumanTask) -> TaskView:
        """The snapshot of a task row."""
        return cls(
            id=row.id,
            instance_id=row.instance_id,
            process_key=row.process_key,
            element_id=row.element_id,
            name=row.name,
            lane=row.lane,
            country=row.country,
            state=row.state,
            instructions=row.instructions,
            due_at=row.due_at,
            claimed_by=row.claimed_by,
            created_at=row.created_at,
            completed_at=row.completed_at,
            completed_by=row.completed_by,
            draft=dict(row.draft) if row.draft is not None else None,
            draft_by=row.draft_by,
            form_file=row.form_file,
            ui_form_file=row.ui_form_file,
        )


@dataclass(frozen=True)
class InstanceView:
    """A process instance (a country's case) with the version it runs."""

    id: int
    process_key: str
    process_version_id: int
    version: int
    """The process version's number (1, 2, …)."""
    version_name: str | None
    status: str
    country: str | None
    stage: str | None
    label: str | None
    business_key: str | None
    data: Mapping[str, Any]
    """Every case variable (pages show `InstanceDetail.variables`, filtered for the reader)."""
    started_by: str
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    error_element_id: str | None
    error_message: str | None
    lock_version: int
    """Bumped by every change; a page posts it back so a stale form is refused."""
    audit_count: int
    """How many events the instance's chain holds (the replay slider's end)."""
    audit_head: str | None
    """The hash of the chain's newest event (None before the first)."""

    @classmethod
    def of(cls, row: Instance) -> InstanceView:
        """The snapshot of an instance row (reads its process version)."""
        version = row.process_version
        return cls(
            id=row.id,
            process_key=row.process_key,
            process_version_id=row.process_version_id,
            version=version.version,
            version_name=version.name,
            status=row.status,
            country=row.country,
            stage=row.stage,
            label=row.label,
            business_key=row.business_key,
            data=dict(row.data or {}),
            started_by=row.started_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
            completed_at=row.completed_at,
            error_element_id=row.error_element_id,
            error_message=row.error_message,
            lock_version=row.lock_version,
            audit_count=row.audit_count,
            audit_head=row.audit_head,
        )


@dataclass(frozen=True)
class InstanceDetail:
    """An instance with what its page and the API's instance document show beside it."""

    instance: InstanceView
    open_tasks: list[TaskView]
    """Oldest first."""
    variables: Mapping[str, Any]
    """The case variables the reader may see (internal ones removed for country users)."""
    forms: Mapping[str, str]
    """The version's form files (submissions render from the form they were made with)."""


@dataclass(frozen=True)
class TaskDetail:
    """A task with its form, as the API's task document shows it."""

    task: TaskView
    instance_version: int
    """The instance's `lock_version`, to send back as `expected_version`."""
    form: FormDefinition | None


@dataclass(frozen=True)
class TaskPage:
    """Everything the task page shows around the form, read in one session."""

    task: TaskView
    instance: InstanceView
    forms: Mapping[str, str]
    """The version's form files (the page translates the form and renders submissions)."""
    form: FormDefinition | None
    """The task's form (None: a task without one)."""
    opened: Prefill
    """What the form opens with, and why (draft, sent back, blank)."""
    under_review: list[tuple[SubmissionInfo, SubmissionInfo | None]]
    """Submissions this task reviews, each with its previous round (None: the first)."""
    submissions: list[SubmissionInfo]
    """The instance's submissions, in the order they were made."""
    previous_round: SubmissionInfo | None
    """The element's earlier round, when its form asks to show it for reference."""
    documents: list[AttachmentInfo]
    colleagues: list[Colleague]
    """Active users who may act in the task's lane (empty unless the reader may assign)."""
    held_since: datetime | None
    """When the current holder got the task (from the audit trail)."""


@dataclass(frozen=True)
class Colleague:
    """Someone a task can be given to."""

    username: str
    display_name: str | None


@dataclass(frozen=True)
class CasePage:
    """Everything a case (instance) page shows, read in one session."""

    detail: InstanceDetail
    actionable: frozenset[str]
    """Ids of the open tasks the reader may act on."""
    states: Mapping[str, Any]
    """Diagram highlights (`engine.records.overview.element_states`)."""
    submissions: list[SubmissionInfo]
    documents: list[AttachmentInfo]
    task_names: Mapping[str, str]
    """Completed task ids to their names."""
    has_stages: bool
    """Whether the process declares stages (the procedure tab)."""


@dataclass(frozen=True)
class ProcedureView:
    """A case's procedure tracker (None: its process declares no stages)."""

    instance: InstanceView
    tracker: Procedure | None
