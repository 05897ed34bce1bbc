"""The inbox and the task page: see what waits for me, claim it, fill in its form, finish it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from engine import (
    Conflict,
    FormDefinition,
    InvalidData,
    SubmitAction,
    TaskPage,
    Upload,
    file_fields,
    permissions,
    value_at,
    with_given_rows,
)
from web.auth import login_required
from web.i18n import (
    element_filter,
    error_fields,
    error_text,
    translate_errors,
    translated_form,
)
from web.inputs import db_int
from web.pages import formrender, submissionview
from web.pages.common import STAFF, actor, engine, filter_options, lanes, now, page_number

bp = Blueprint("tasks", __name__)

MAX_DUE_DAYS = 3660
"""The inbox's "due within N days" filter looks at most ten years ahead."""

SORTS = [
    ("due", _l("Due date")),
    ("-due", _l("Due date, latest first")),
    ("created", _l("Oldest first")),
    ("-created", _l("Newest first")),
    ("name", _l("Task name")),
]
DUE_WITHIN = [("7", "Within 7 days"), ("30", "Within 30 days"), ("90", "Within 90 days")]


@bp.app_template_filter("task_count")
def count_label(count: int, capped: bool = False) -> str:
    """`{{ n|task_count }}`: a task count, `1,000+` past the cap."""
    if not isinstance(count, int):  # no counts (an error page): show nothing
        return ""
    return engine().tasks.count_label(count, capped)


@bp.get("/")
@login_required
def home() -> Response:
    return redirect(url_for("tasks.inbox"))


@bp.get("/inbox")
@login_required
def inbox() -> str | Response:
    me = actor()
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    due = request.args.get("due", type=db_int)
    page = engine().tasks.inbox(
        me,
        lanes=lanes(),
        process_key=args.get("process"),
        country=args.get("country"),
        stage=args.get("stage"),
        overdue=args.get("overdue") == "1",
        due_within_days=None if due is None else min(due, MAX_DUE_DAYS),
        claimed_by=me.username if args.get("mine") == "1" else None,
        sort=args.get("sort", "due"),
        page=page_number(),
    )
    # A focal point with nothing to do lands where their country stands instead.
    idle = not page.total and not args and me.country and not me.has(*STAFF)
    if idle and engine().instances.has_country_case(me):
        return redirect(url_for("procedure.mine"))
    options = filter_options()
    if not me.has(*STAFF):
        options["countries"] = [(me.country, me.country)] if me.country else []
    return render_template(
        "inbox.html",
        page=page,
        labels=engine().instances.labels({t.instance_id for t in page.items}),
        options=options,
        args=args,
        sorts=SORTS,
        due_within=DUE_WITHIN,
        now=now(),
        filtered=bool(set(args) - {"sort"}),
    )


def _form(found: TaskPage) -> FormDefinition:
    """The task's form in the reader's language (validation uses the same rules in any)."""
    if found.form is None:
        return FormDefinition(schema={"type": "object", "properties": {}}, ui_schema={})
    return translated_form(found.forms, found.form)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value else []


def _render(
    found: TaskPage,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    extra: dict[str, int] | None = None,
    conflict: str | None = None,
    lock_version: int | None = None,
    status: int = 200,
) -> tuple[str, int]:
    ht, instance, forms = found.task, found.instance, found.forms
    form = _form(found)
    me = actor()
    opened = found.opened
    if values is None:
        values = opened.values
    values = with_given_rows(form.schema, values, instance.data or {})
    reviewed = []
    for sub, earlier in found.under_review:
        view = submissionview.view_of(forms, sub, me)
        if earlier:  # compare with the previous round: last year's report, or the sent-back one
            view = submissionview.compare(view, submissionview.view_of(forms, earlier, me))
        reviewed.append(view)
    max_mb = engine().settings.max_upload_mb
    ids = [i for path in file_fields(form.schema, max_mb) for i in _as_list(value_at(values, path))]
    fields = formrender.build(
        form.schema,
        form.ui_schema,
        values,
        errors,
        extra,
        uploaded=engine().tasks.uploaded(ids),
        max_mb=max_mb,
    )
    last = found.previous_round
    html = render_template(
        "task.html",
        task=ht,
        instance=instance,
        form=form,
        fields=fields,
        errors=errors or {},
        labels=formrender.labels(fields),
        conflict=conflict,
        lock_version=instance.lock_version if lock_version is None else lock_version,
        earlier=[submissionview.view_of(forms, sub, me) for sub in reversed(found.submissions)],
        opened=opened,
        sent_back=submissionview.view_of(forms, opened.review, me) if opened.review else None,
        reviewed=reviewed,
        reference=(
            submissionview.view_of(forms, last, me) if last and not opened.previous else None
        ),
        documents=found.documents,
        colleagues=found.colleagues,
        now=now(),
    )
    return html, status


@bp.get("/tasks/<task_id>")
@login_required
def show(task_id: str) -> tuple[str, int]:
    found = engine().tasks.page(actor(), task_id)
    ht = found.task
    if ht.state == "ready" and ht.claimed_by not in (None, actor().username):
        return _held(found)
    return _render(found)


def _held(found: TaskPage, reason_error: str | None = None) -> tuple[str, int]:
    """A task a colleague holds: read-only, with who holds it since when, and take-over."""
    ht = found.task
    may_take_over = permissions.may_take_over(actor())
    html = render_template(
        "task_held.html",
        task=ht,
        instance=found.instance,
        since=found.held_since,
        draft=ht.draft if ht.draft_by == ht.claimed_by else None,
        may_take_over=may_take_over,
        colleagues=found.colleagues if may_take_over else [],
        reason_error=reason_error,
        now=now(),
    )
    return html, 422 if reason_error else 200


@bp.post("/tasks/<task_id>/take-over")
@login_required
def take_over(task_id: str) -> Response | tuple[str, int]:
    try:
        ht = engine().tasks.take_over(task_id, actor(), request.form.get("reason", ""))
    except InvalidData as err:
        return _held(engine().tasks.page(actor(), task_id), error_fields(err).get("reason"))
    flash(_("You now hold '%(name)s'.", name=ht.name), "success")
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.post("/tasks/<task_id>")
@login_required
def submit(task_id: str) -> Response | tuple[str, int]:
    """One engine call stores the posted files and saves a draft or completes the task."""
    button = request.form.get("action", "complete")
    posted: MultiDict[str, str] = MultiDict(request.form)
    lock_version = request.form.get("lock_version", type=db_int)
    if button.startswith("remove_row:"):
        posted = formrender.without_row(posted, button.split(":", 1)[1])
    if button.startswith(("add_row:", "remove_row:")):
        action = SubmitAction.KEEP
    else:
        action = SubmitAction.SAVE_DRAFT if button == "save_draft" else SubmitAction.COMPLETE
    result = engine().tasks.submit(
        task_id,
        actor(),
        parse=lambda form: formrender.parse(form.schema, form.ui_schema, posted),
        uploads=[
            Upload(name, upload.filename, upload.read())
            for name, upload in request.files.items(multi=True)
            if upload.filename
        ],
        action=action,
        expected_version=lock_version,
    )
    if not result.done:
        extra = formrender.blank_rows(posted, result.values)
        if button.startswith("add_row:"):
            path = button.split(":", 1)[1]
            extra[path] = extra.get(path, 0) + 1
        status = 409 if result.conflict else 422 if result.errors else 200
        found = engine().tasks.page(actor(), task_id)
        errors = (
            translate_errors(_form(found), result.values, now().date(), result.errors)
            if result.errors
            else None
        )
        return _render(
            found,
            values=result.values,
            errors=errors,
            extra=extra,
            conflict=error_text(result.conflict) if result.conflict else None,
            lock_version=lock_version,
            status=status,
        )
    if action == SubmitAction.SAVE_DRAFT:
        flash(_("Draft saved. You can come back to it at any time."), "success")
        return redirect(url_for("tasks.show", task_id=task_id))
    flash(_("Done: %(name)s.", name=element_filter(result.task_name, result.element_id)), "success")
    return redirect(url_for("tasks.inbox"))


def _back(task_id: str) -> Response:
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.post("/tasks/<task_id>/claim")
@login_required
def claim(task_id: str) -> Response:
    assignee = request.form.get("assignee", "").strip() or None
    engine().tasks.check_may_act(actor(), task_id)  # another country's task: 404, as on its page
    try:
        ht = engine().tasks.claim(task_id, actor(), assignee=assignee)
    except (Conflict, InvalidData) as err:
        flash(error_text(err), "error")
        return _back(task_id)
    who = "you" if ht.claimed_by == actor().username else ht.claimed_by
    flash(_("'%(name)s' is now assigned to %(who)s.", name=ht.name, who=who), "success")
    return _back(task_id)


@bp.post("/tasks/<task_id>/unclaim")
@login_required
def unclaim(task_id: str) -> Response:
    engine().tasks.check_may_act(actor(), task_id)
    try:
        ht = engine().tasks.unclaim(task_id, actor())
    except Conflict as err:
        flash(error_text(err), "error")
        return _back(task_id)
    flash(_("'%(name)s' is released; anyone in its lane can take it.", name=ht.name), "success")
    return _back(task_id)
