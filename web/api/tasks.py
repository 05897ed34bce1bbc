"""`/tasks`: the caller's actionable tasks, with their forms; claim, release, draft, complete."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from engine import InvalidData
from web.api.auth import current_actor, get_engine
from web.api.blueprint import MULTIPART, ApiBlueprint
from web.api.representations import instance_document, task_document, task_or_404
from web.api.schemas import (
    AttachmentSchema,
    AttachmentUploadSchema,
    ClaimSchema,
    CompleteSchema,
    DraftSchema,
    InstanceDetailSchema,
    TaskPageSchema,
    TaskQuerySchema,
    TaskSchema,
)
from web.i18n import DEFAULT, current, translate_errors, translated_form

blp = ApiBlueprint("tasks", __name__, url_prefix="/tasks", description="Human tasks.")

TASK = "/<uuid:task_id>"


def _task(task_id: UUID) -> dict[str, Any]:
    me, wanted = current_actor(), str(task_id)
    return task_document(task_or_404(wanted, lambda: get_engine().tasks.detail(me, wanted)))


def _check_visible(task_id: UUID) -> str:
    """The task id as stored, after a 404 for tasks of instances the caller may not see."""
    me, wanted = current_actor(), str(task_id)
    return task_or_404(wanted, lambda: get_engine().tasks.check_visible(me, wanted))


@blp.route("")
@blp.arguments(TaskQuerySchema, location="query")
@blp.response(200, TaskPageSchema)
def list_tasks(args: dict[str, Any]) -> dict[str, Any]:
    """Open tasks you may act on (paginated), soonest due first by default

    Lanes map to roles; country users only see their own country's tasks. `claimed_by=me` lists
    the tasks you claimed. `instance_id=` answers one instance's next task(s) (what a client
    driving an instance asks after each step) without scanning the inbox.
    """
    actor = current_actor()
    engine = get_engine()
    if args.get("claimed_by") == "me":
        args["claimed_by"] = actor.username
    page = engine.tasks.inbox_details(actor, **args)
    return {
        "items": [task_document(found) for found in page.items],
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
        "total_capped": page.total_capped,
        "pages": page.pages,
    }


@blp.route(TASK)
@blp.response(200, TaskSchema)
@blp.alt_response(404, response="Problem404")
def get_task(task_id: UUID) -> dict[str, Any]:
    """A task with its form (open or done)"""
    return _task(task_id)


@blp.route(f"{TASK}/claim", methods=["POST"])
@blp.arguments(ClaimSchema)
@blp.response(200, TaskSchema)
@blp.problems(403, 404, 409)
def claim_task(args: dict[str, Any], task_id: UUID) -> dict[str, Any]:
    """Claim a task (or assign it to `assignee`: Secretariat and admins)

    403 if the task's lane is not yours; 409 if someone else holds it or it is no longer open.
    """
    get_engine().tasks.claim(_check_visible(task_id), current_actor(), args.get("assignee"))
    return _task(task_id)


@blp.route(f"{TASK}/unclaim", methods=["POST"])
@blp.response(200, TaskSchema)
@blp.problems(403, 404, 409)
def unclaim_task(task_id: UUID) -> dict[str, Any]:
    """Release your claim on a task (Secretariat and admins may release anyone's)"""
    get_engine().tasks.unclaim(_check_visible(task_id), current_actor())
    return _task(task_id)


@blp.route(f"{TASK}/draft", methods=["PUT"])
@blp.arguments(DraftSchema)
@blp.response(200, TaskSchema)
@blp.problems(403, 404, 409)
def save_draft(args: dict[str, Any], task_id: UUID) -> dict[str, Any]:
    """Keep unfinished form input on the task (not validated)"""
    get_engine().tasks.save_draft(_check_visible(task_id), args["data"], current_actor())
    return _task(task_id)


@blp.route(f"{TASK}/complete", methods=["POST"])
@blp.arguments(CompleteSchema)
@blp.response(200, InstanceDetailSchema)
@blp.problems(403, 404, 409, 422)
def complete_task(args: dict[str, Any], task_id: UUID) -> dict[str, Any]:
    """Complete a task with its form data; answers with the instance as it continued

    403 if the task's lane is not yours; 409 if it is no longer open, is claimed by someone
    else, or the instance changed since `expected_version`; 422 with `errors` keyed by field path
    (`actions.0.budget`) when the data does not match the form.
    """
    wanted, me = str(task_id), current_actor()
    try:
        found = task_or_404(  # the 404 for another country's task is checked in the transaction
            wanted,
            lambda: get_engine().tasks.complete_and_show(
                wanted, args["data"], me, expected_version=args.get("expected_version")
            ),
        )
    except InvalidData as exc:
        raise _in_readers_language(exc, wanted, args["data"]) from None
    return instance_document(found)  # from memory: no second read


def _in_readers_language(exc: InvalidData, task_id: str, data: Any) -> InvalidData:
    """The form's own validation messages in the request's language (`Accept-Language`), as
    the task page shows them: the engine's are English with the field titles filled in."""
    if current() == DEFAULT or not exc.errors or not isinstance(data, dict):
        return exc
    page = get_engine().tasks.page(current_actor(), task_id)  # a refusal: one more read is fine
    if page.form is None:
        return exc
    form = translated_form(page.forms, page.form)
    today = get_engine().now().date()
    return InvalidData(
        exc.msgid, translate_errors(form, data, today, exc.errors), params=exc.params
    )


@blp.route(f"{TASK}/attachments", methods=["POST"])
@blp.arguments(AttachmentUploadSchema, location=MULTIPART)
@blp.response(201, AttachmentSchema)
@blp.problems(403, 404, 409, 413, 422)
def upload_attachment(args: dict[str, Any], task_id: UUID) -> tuple[dict[str, Any], int]:
    """Upload a document for a file field of an open task; put the answered `id` in that
    field of the completion data

    Multipart: `field` (the form's file field) and `file`. The file is checked by its content
    (type, size limit, no macros or executables) and stored once per content; 422 with
    `errors.<field>` says why a file was refused. Completing the task attaches it and records
    its SHA-256 in the history.
    """
    upload = args["file"]
    info = get_engine().tasks.upload(
        _check_visible(task_id),
        args["field"],
        upload.filename or "",
        upload.read(),
        current_actor(),
    )
    return {"id": info.id, "filename": info.filename, "size": info.size, "sha256": info.sha256}, 201
