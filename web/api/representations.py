"""Rows as the API shows them (plain dicts that the response schemas dump), and visibility checks
shared by the instance, task and history endpoints."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from engine import Actor
from engine.bpmn.forms import load_form
from engine.people.permissions import may_see_instance
from engine.records import submissions
from engine.records.queries import open_tasks, task_with_instance
from engine.store.models import HumanTask, Instance, ProcessVersion
from web.api.errors import not_found


def visible_instance(session: Session, actor: Actor, instance_id: int) -> Instance:
    """The instance if the actor may see it. Another country's instance is reported as missing
    (404), exactly like one that does not exist, so ids do not reveal other countries' cases."""
    row = session.get(Instance, instance_id)
    if row is None or not may_see_instance(actor, row):
        raise not_found(_("Instance %(instance_id)s does not exist.", instance_id=instance_id))
    return row


def visible_task(session: Session, actor: Actor, task_id: str) -> HumanTask:
    """The task if the actor may see its instance (404 otherwise, as for instances)."""
    found = task_with_instance(session, task_id)
    if found is None or not may_see_instance(actor, found[1]):
        raise not_found(_("Task %(task_id)s does not exist.", task_id=task_id))
    task: HumanTask = found[0]
    return task


def task_summary(task: HumanTask) -> dict[str, Any]:
    return {
        "id": task.id,
        "name": task.element_id,
        "title": task.name,
        "lane": task.lane,
        "instance_id": task.instance_id,
        "process_key": task.process_key,
        "country": task.country,
        "state": task.state,
        "due_at": task.due_at,
        "claimed_by": task.claimed_by,
        "created_at": task.created_at,
    }


class TaskRenderer:
    """Full task representations with their forms; caches each version's forms for one request."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._versions: dict[int, ProcessVersion | None] = {}

    def _version(self, version_id: int) -> ProcessVersion | None:
        if version_id not in self._versions:
            self._versions[version_id] = self.session.get(ProcessVersion, version_id)
        return self._versions[version_id]

    def __call__(self, task: HumanTask) -> dict[str, Any]:
        instance = self.session.get(Instance, task.instance_id)
        assert instance is not None  # a foreign key guarantees it
        version = self._version(instance.process_version_id)
        form = load_form(version.forms, task.form_file, task.ui_form_file) if version else None
        return {
            **task_summary(task),
            "instructions": task.instructions,
            "instance_version": instance.lock_version,
            "draft": task.draft,
            "form": {"schema": form.schema, "ui_schema": form.ui_schema} if form else None,
        }


def instance_summary(row: Instance) -> dict[str, Any]:
    return {
        "id": row.id,
        "process_key": row.process_key,
        "version": row.process_version.version,
        "status": row.status,
        "country": row.country,
        "stage": row.stage,
        "label": row.label,
        "business_key": row.business_key,
        "started_by": row.started_by,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "completed_at": row.completed_at,
        "lock_version": row.lock_version,
    }


def instance_detail(session: Session, row: Instance, actor: Actor) -> dict[str, Any]:
    return instance_detail_of(row, open_tasks(session, row.id), actor)


def instance_detail_of(row: Instance, tasks: list[HumanTask], actor: Actor) -> dict[str, Any]:
    """The instance document from rows already in memory (`tasks`: its open tasks)."""
    return {
        **instance_summary(row),
        "data": submissions.visible_variables(row, actor),
        "error_element_id": row.error_element_id,
        "error_message": row.error_message,
        "open_tasks": [task_summary(t) for t in tasks],
    }
