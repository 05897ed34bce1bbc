"""Read types as the API shows them (plain dicts that the response schemas dump), and the
visibility checks the instance, task and history endpoints share: another country's case is
reported as missing (404), exactly like one that does not exist."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask_babel import gettext as _

from engine import InstanceDetail, InstanceView, NotFound, TaskDetail, TaskView
from web.api.errors import not_found

T = TypeVar("T")


def instance_or_404(instance_id: int, read: Callable[[], T]) -> T:
    """`read()`, with the engine's `NotFound` for an instance answered as the API's 404."""
    try:
        return read()
    except NotFound:
        raise not_found(
            _("Instance %(instance_id)s does not exist.", instance_id=instance_id)
        ) from None


def task_or_404(task_id: str, read: Callable[[], T]) -> T:
    """`read()`, with the engine's `NotFound` for a task answered as the API's 404."""
    try:
        return read()
    except NotFound:
        raise not_found(_("Task %(task_id)s does not exist.", task_id=task_id)) from None


def task_summary(task: TaskView) -> dict[str, Any]:
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


def task_document(found: TaskDetail) -> dict[str, Any]:
    """A task with its form and its instance's version (to send back as expected_version)."""
    task, form = found.task, found.form
    return {
        **task_summary(task),
        "instructions": task.instructions,
        "instance_version": found.instance_version,
        "draft": dict(task.draft) if task.draft is not None else None,
        "form": {"schema": form.schema, "ui_schema": form.ui_schema} if form else None,
    }


def instance_summary(row: InstanceView) -> dict[str, Any]:
    return {
        "id": row.id,
        "process_key": row.process_key,
        "version": row.version,
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


def instance_document(found: InstanceDetail) -> dict[str, Any]:
    """The instance document: summary, the variables the caller may see, open tasks."""
    row = found.instance
    return {
        **instance_summary(row),
        "data": dict(found.variables),
        "error_element_id": row.error_element_id,
        "error_message": row.error_message,
        "open_tasks": [task_summary(t) for t in found.open_tasks],
    }
