"""Countries (process instances): the list, one instance's page with its diagram, starting one,
and the administrative actions (suspend, resume, cancel, retry) behind a confirmation step."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response as BaseResponse

from engine import (
    Conflict,
    EngineError,
    Forbidden,
    InvalidData,
    MessageRule,
    NotFound,
    permissions,
)
from web.auth import login_required
from web.i18n import error_text
from web.pages import submissionview
from web.pages.common import (
    STAFF,
    actor,
    engine,
    filter_options,
    now,
    page_number,
    visible_instance,
)
from web.served import stored_file

bp = Blueprint("instances", __name__, url_prefix="/instances")

ACTIONS: dict[str, dict[str, Any]] = {
    "suspend": {
        "label": _l("Suspend"),
        "done": _l("suspended"),
        "from": ("running", "error"),
        "reason": True,
        "explain": _l("Nobody can complete its tasks and its timers wait until it is resumed."),
    },
    "resume": {
        "label": _l("Resume"),
        "done": _l("resumed"),
        "from": ("suspended",),
        "reason": False,
        "explain": _l("Its tasks become workable again and overdue timers fire."),
    },
    "cancel": {
        "label": _l("Cancel"),
        "done": _l("cancelled"),
        "from": ("running", "suspended", "error"),
        "reason": True,
        "explain": _l("This ends the procedure for this country for good. It cannot be undone."),
    },
    "retry": {
        "label": _l("Retry"),
        "done": _l("retried"),
        "from": ("error",),
        "reason": False,
        "explain": _l("The failed step runs again with the current data."),
    },
}


QUIET = {"element_completed", "gateway_decision", "timer_scheduled"}
"""Engine-level events the timeline hides unless asked for all events."""


@bp.get("")
@login_required
def index() -> str:
    me = actor()
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    page = engine().instances.listing(
        me,
        status=args.get("status"),
        stage=args.get("stage"),
        country=args.get("country"),
        process_key=args.get("process"),
        page=page_number(),
    )
    options = filter_options()
    if not me.has(*STAFF):
        options["countries"] = [(me.country, me.country)] if me.country else []
    return render_template(
        "instances.html",
        page=page,
        args=args,
        options=options,
        filtered=bool(args),
        may_start_any=bool(engine().instances.startable(me)),
    )


@bp.get("/<int:instance_id>")
@login_required
def show(instance_id: int) -> str:
    me = actor()
    show_all = request.args.get("events") == "all"
    case = engine().instances.page(me, instance_id)
    inst = case.detail.instance
    forms = case.detail.forms
    shown = [submissionview.view_of(forms, sub, me) for sub in case.submissions]
    return render_template(
        "instance.html",
        instance=inst,
        tasks=case.detail.open_tasks,
        actionable=case.actionable,
        states=case.states,
        history=[e for e in engine().history(inst.id) if show_all or e.kind not in QUIET],
        documents=case.documents,
        task_names=case.task_names,
        show_all=show_all,
        now=now(),
        actions=ACTIONS,
        may_manage=permissions.may_manage_instances(me),
        messages=engine().instances.message_rules(inst.id, me),
        submissions=submissionview.by_step(shown),
        submission_of={v.sub.task_id: v.sub.id for v in shown},
        variables=case.detail.variables,
        sees_variables=permissions.sees_internal(me),
        has_stages=case.has_stages,
    )


@bp.get("/<int:instance_id>/diagram.bpmn")
@login_required
def diagram(instance_id: int) -> Response:
    xml = engine().instances.diagram(actor(), instance_id)
    return stored_file(xml, "diagram.bpmn", download=False, cache="private, max-age=300")


@bp.route("/new", methods=["GET", "POST"])
@login_required
def start() -> str | BaseResponse | tuple[str, int]:
    choices = engine().instances.startable(actor())
    if not choices:
        abort(403)
    values = {k: request.form.get(k, "").strip() for k in ("process", "country", "country_name")}
    errors: dict[str, str] = {}
    message = None
    if request.method == "POST":
        if values["process"] not in {k for k, _label in choices}:
            errors["process"] = _("Choose a process.")
        if not values["country_name"]:
            errors["country_name"] = _("Enter the country's name.")
        if not errors:
            data = {
                "country": values["country"].upper() or None,
                "country_name": values["country_name"],
            }
            try:
                inst = engine().start(
                    values["process"], {k: v for k, v in data.items() if v}, actor()
                )
            except InvalidData as err:
                errors = err.errors
            except Conflict as err:
                message = error_text(err)
            else:
                flash(_("Started: %(label)s.", label=inst.label), "success")
                return redirect(url_for("instances.show", instance_id=inst.id))
        status = 409 if message else 422
        return render_template(
            "start.html", choices=choices, values=values, errors=errors, message=message
        ), status
    values["process"] = values["process"] or choices[0][0]
    return render_template(
        "start.html", choices=choices, values=values, errors=errors, message=None
    )


@bp.route(
    "/<int:instance_id>/<any(suspend, resume, cancel, retry):action>", methods=["GET", "POST"]
)
@login_required
def manage(instance_id: int, action: str) -> tuple[str, int] | BaseResponse:
    me = actor()
    if not permissions.may_manage_instances(me):
        abort(403)
    spec = ACTIONS[action]
    inst = visible_instance(instance_id)
    label, status = inst.label, inst.status
    name = label or f"#{instance_id}"
    reason = request.form.get("reason", "").strip()
    errors: dict[str, str] = {}
    if request.method == "POST" and request.form.get("confirm") == "yes":
        if spec["reason"] and not reason:
            errors["reason"] = _("Give the reason: it is recorded in the case's history.")
        typed = request.form.get("confirm_name", "").strip()
        if action == "cancel" and typed.casefold() != name.casefold():
            errors["confirm_name"] = _("Type the country's name, %(name)s, to confirm.", name=name)
    if request.method == "GET" or request.form.get("confirm") != "yes" or errors:
        return render_template(
            "confirm_action.html",
            action=action,
            spec=spec,
            instance_id=instance_id,
            label=name,
            status=status,
            errors=errors,
            values=request.form,
        ), 422 if errors else 200
    eng = engine()
    try:
        if action == "suspend":
            eng.instances.suspend(instance_id, me, reason)
        elif action == "cancel":
            eng.instances.cancel(instance_id, me, reason)
        elif action == "resume":
            eng.instances.resume(instance_id, me)
        else:
            eng.instances.retry(instance_id, me)
    except Conflict as err:
        flash(error_text(err), "error")
    else:
        flash(_("%(label)s: done for %(label2)s.", label=spec["label"], label2=label), "success")
    return redirect(url_for("instances.show", instance_id=instance_id))


def _message_rule(instance_id: int, name: str) -> MessageRule:
    rules = {rule.name: rule for rule in engine().instances.message_rules(instance_id, actor())}
    if name not in rules:
        raise Forbidden(
            _("There is no message '%(name)s' that you may record for this case now.", name=name)
        )
    return rules[name]


@bp.route("/<int:instance_id>/messages/<name>", methods=["GET", "POST"])
@login_required
def message(instance_id: int, name: str) -> str | BaseResponse:
    """Record a message the case waits for (e.g. a country's withdrawal letter), behind a
    confirmation page; who may and which fields it carries come from the model."""
    label = visible_instance(instance_id).label
    rule = _message_rule(instance_id, name)
    fields = sorted(rule.fields)
    if request.method == "GET" or request.form.get("confirm") != "yes":
        return render_template(
            "confirm_message.html", rule=rule, fields=fields, instance_id=instance_id, label=label
        )
    payload = {f: value for f in fields if (value := request.form.get(f, "").strip())}
    try:
        engine().instances.send_message(instance_id, name, payload, actor())
    except EngineError as err:
        if isinstance(err, NotFound | Forbidden):
            raise
        flash(error_text(err), "error")
    else:
        flash(
            _("Recorded for %(label)s: %(name)s.", label=label, name=rule.element_name or name),
            "success",
        )
    return redirect(url_for("instances.show", instance_id=instance_id))
