"""Countries (process instances): the list, one instance's page with its diagram, starting one,
and the administrative actions (suspend, resume, cancel, retry) behind a confirmation step."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from engine import Conflict, EngineError, Forbidden, InvalidData, MessageRule, NotFound
from engine.people import permissions
from engine.records import attachments, procedure, queries, submissions
from engine.store.models import Instance, ProcessModel, ProcessVersion
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


def _visible(instance_id: int, s: Session) -> Instance:
    return visible_instance(s, instance_id)


@bp.get("")
@login_required
def index() -> str:
    me = actor()
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    with engine().session() as s:
        page = queries.instance_query(
            s,
            me,
            status=args.get("status"),
            stage=args.get("stage"),
            country=args.get("country"),
            process_key=args.get("process"),
            page=page_number(),
        )
        options = filter_options(s)
        if not me.has(*STAFF):
            options["countries"] = [(me.country, me.country)] if me.country else []
        return render_template(
            "instances.html",
            page=page,
            args=args,
            options=options,
            filtered=bool(args),
            may_start_any=bool(_startable(s)),
        )


@bp.get("/<int:instance_id>")
@login_required
def show(instance_id: int) -> str:
    me = actor()
    show_all = request.args.get("events") == "all"
    with engine().session() as s:
        inst = _visible(instance_id, s)
        model = s.get(ProcessModel, inst.process_key)
        lane_roles = model.lane_roles if model else {}
        tasks = queries.open_tasks(s, inst.id)
        actionable = {t.id for t in tasks if permissions.may_act_in_lane(me, t.lane, lane_roles)}
        states = queries.element_states(s, inst.id)
        shown = [submissionview.view_of(inst, sub, me) for sub in submissions.listing(s, inst.id)]
        return render_template(
            "instance.html",
            instance=inst,
            tasks=tasks,
            actionable=actionable,
            states=states,
            history=[e for e in engine().history(inst.id) if show_all or e.kind not in QUIET],
            documents=attachments.listing(
                s, instance_id=inst.id, hidden_fields=attachments.hidden_fields(inst, me)
            ),
            task_names={t.id: t.name for t in queries.completed_tasks(s, inst.id)},
            show_all=show_all,
            now=now(),
            actions=ACTIONS,
            may_manage=permissions.may_manage_instances(me),
            messages=engine().message_rules(inst.id, me),
            submissions=submissionview.by_step(shown),
            submission_of={v.sub.task_id: v.sub.id for v in shown},
            variables=submissions.visible_variables(inst, me),
            sees_variables=permissions.sees_internal(me),
            has_stages=bool(procedure.declared_stages(inst.process_version)),
        )


@bp.get("/<int:instance_id>/diagram.bpmn")
@login_required
def diagram(instance_id: int) -> Response:
    with engine().session() as s:
        inst = _visible(instance_id, s)
        version = inst.process_version
        xml = version.files.get(version.main_file) or next(iter(version.files.values()), "")
    return stored_file(xml, "diagram.bpmn", download=False, cache="private, max-age=300")


def _startable(s: Any) -> list[ProcessVersion]:
    me = actor()
    latest: dict[str, ProcessVersion] = {}
    for pv in s.execute(select(ProcessVersion).order_by(ProcessVersion.version)).scalars():
        latest[pv.process_key] = pv
    models = {m.key: m for m in s.execute(select(ProcessModel)).scalars()}
    return [
        pv
        for key, pv in sorted(latest.items())
        if pv.executable
        and permissions.may_start(me, models[key].start_roles if key in models else ())
    ]


@bp.route("/new", methods=["GET", "POST"])
@login_required
def start() -> str | BaseResponse | tuple[str, int]:
    with engine().session() as s:
        choices = [(pv.process_key, pv.name or pv.process_key) for pv in _startable(s)]
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
    with engine().session() as s:
        inst = _visible(instance_id, s)
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
            eng.suspend(instance_id, me, reason)
        elif action == "cancel":
            eng.cancel(instance_id, me, reason)
        elif action == "resume":
            eng.resume(instance_id, me)
        else:
            eng.retry(instance_id, me)
    except Conflict as err:
        flash(error_text(err), "error")
    else:
        flash(_("%(label)s: done for %(label2)s.", label=spec["label"], label2=label), "success")
    return redirect(url_for("instances.show", instance_id=instance_id))


def _message_rule(instance_id: int, name: str) -> MessageRule:
    rules = {rule.name: rule for rule in engine().message_rules(instance_id, actor())}
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
    with engine().session() as s:
        label = _visible(instance_id, s).label
    rule = _message_rule(instance_id, name)
    fields = sorted(rule.fields)
    if request.method == "GET" or request.form.get("confirm") != "yes":
        return render_template(
            "confirm_message.html", rule=rule, fields=fields, instance_id=instance_id, label=label
        )
    payload = {f: value for f in fields if (value := request.form.get(f, "").strip())}
    try:
        engine().send_message(instance_id, name, payload, actor())
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
