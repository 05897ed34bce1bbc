"""Audit pages: an instance's history (timeline, diagram replay, integrity check, export), the
search across instances with its exports, the printable per-country report and the deployed
model versions.

Every route here only reads (GET), so the read-only `auditor` role may use all of them.
Instance pages follow the instance's visibility (country users see their own country); search,
exports across instances, reports and versions are for staff roles, who see every country.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, time, timedelta

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_babel import gettext as _

from engine import EventFilter, NotFound, Page, permissions
from web.auth import current_actor, login_required, roles_required, the_engine
from web.inputs import db_int
from web.pages import submissionview
from web.pages.common import page_number
from web.served import stored_file

bp = Blueprint("audit", __name__, url_prefix="/audit")

AUDIT_ROLES = permissions.STAFF_ROLES
"""Roles that may search every instance, export search results and read country reports."""
PER_PAGE = 50


def _page() -> int:
    return max(1, request.args.get("page", 1, type=db_int))


def _date(name: str, errors: dict[str, str]) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        errors[name] = _("Enter a date as YYYY-MM-DD.")
        return None
    if not 1900 <= day.year <= 9000:
        errors[name] = _("Enter a date between the years 1900 and 9000.")
        return None
    return day


def _search_filter() -> tuple[EventFilter, dict[str, str]]:
    """The search form's filter; bad dates are reported and left out."""
    errors: dict[str, str] = {}
    since, until = _date("since", errors), _date("until", errors)
    instance = request.args.get("instance", "").strip()
    instance_id = request.args.get("instance", type=db_int)
    if instance and instance_id is None:
        errors["instance"] = _("Enter an instance number.")
    flt = EventFilter(
        country=request.args.get("country", "").strip().upper() or None,
        kinds=tuple(k for k in request.args.getlist("kind") if k),
        actor=request.args.get("actor", "").strip() or None,
        since=datetime.combine(since, time(), UTC) if since else None,
        # "until" names the last day included.
        until=datetime.combine(until + timedelta(days=1), time(), UTC) if until else None,
        instance_id=instance_id,
    )
    return flt, errors


def _stamp() -> str:
    return the_engine().now().strftime("%Y%m%dT%H%M%SZ")


def _download(body: str, mimetype: str, filename: str) -> Response:
    return stored_file(body, filename, mimetype=mimetype)


def _export(
    flt: EventFilter, fmt: str, stem: str, hidden: frozenset[str] = frozenset()
) -> Response:
    engine = the_engine()
    if fmt == "csv":
        body = engine.audit.export_csv(flt, hidden)
        return _download(body, "text/csv", f"{stem}-{_stamp()}.csv")
    document = engine.audit.export_document(
        flt, exported_at=engine.now(), exported_by=current_actor().username, hidden=hidden
    )
    body = json.dumps(document, indent=1, ensure_ascii=False, sort_keys=False)
    return _download(body, "application/json", f"{stem}-{_stamp()}.json")


# -- one instance --------------------------------------------------------------------------------


@bp.get("/instances/<int:instance_id>")
@login_required
def history(instance_id: int) -> str:
    kinds = tuple(k for k in request.args.getlist("kind") if k)
    actor = request.args.get("actor", "").strip() or None
    found = the_engine().audit.timeline(
        current_actor(), instance_id, kinds=kinds, by=actor, page=_page(), per_page=PER_PAGE
    )
    return render_template(
        "audit/history.html",
        instance=found.instance,
        entries=found.entries,
        options=found.options,
        kinds=kinds,
        actor=actor,
        args={k: v for k, v in request.args.items(multi=True) if k != "page" and v},
        filtered=bool(kinds or actor),
        start=found.start,
        may_search=current_actor().has(*AUDIT_ROLES),
    )


@bp.get("/instances/<int:instance_id>/states")
@login_required
def states(instance_id: int) -> Response:
    """The diagram highlights after event `seq` (JSON, for the replay slider)."""
    raw = request.args.get("seq", "")
    body = the_engine().audit.replay(
        current_actor(), instance_id, int(raw) if raw.isdigit() else None
    )
    return Response(json.dumps(body), mimetype="application/json")


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" or request.args.get("format") == "json"


@bp.get("/instances/<int:instance_id>/verify")
@login_required
def verify(instance_id: int) -> Response | str:
    """Recompute the instance's hash chain and its documents' SHA-256 (reads only; every role
    that sees the instance may ask)."""
    inst, verdict = the_engine().audit.verdict(current_actor(), instance_id)
    files = the_engine().verify_attachments(inst.id)
    if _wants_json():
        body = {
            **dataclasses.asdict(verdict),
            "intact": verdict.intact and not files,
            "files": [dataclasses.asdict(f) | {"message": f.message} for f in files],
        }
        return Response(json.dumps(body, default=str), mimetype="application/json")
    return render_template("audit/verify.html", instance=inst, verdict=verdict, files=files)


@bp.get("/instances/<int:instance_id>/export.<any(csv, json):fmt>")
@login_required
def export_instance(instance_id: int, fmt: str) -> Response:
    inst, hidden = the_engine().audit.hidden_for(current_actor(), instance_id)
    stem = f"audit-instance-{inst.id}-{(inst.country or 'na').lower()}"
    return _export(EventFilter(instance_id=inst.id), fmt, stem, hidden)


@bp.get("/versions/<int:version_id>/diagram.bpmn")
@login_required
def version_diagram(version_id: int) -> Response:
    """The BPMN of a deployed version (the replay shows the version each event ran under)."""
    me = current_actor()
    try:
        xml = the_engine().audit.version_diagram(me, version_id, staff=me.has(*AUDIT_ROLES))
    except NotFound:
        abort(404)
    return stored_file(xml, "diagram.bpmn", download=False, cache="private, max-age=300")


# -- across instances ----------------------------------------------------------------------------


@bp.get("")
@roles_required(*AUDIT_ROLES)
def search() -> tuple[str, int]:
    flt, errors = _search_filter()
    found = the_engine().audit.search(flt, page=_page(), per_page=PER_PAGE)
    html = render_template(
        "audit/search.html",
        page=found.page,
        flt=flt,
        errors=errors,
        options=found.options,
        versions=found.versions,
        labels=found.labels,
        args={k: v for k, v in request.args.items(multi=True) if k != "page" and v},
        searched=any(v for k, v in request.args.items() if k != "page"),
    )
    return html, 422 if errors else 200


@bp.get("/export.<any(csv, json):fmt>")
@roles_required(*AUDIT_ROLES)
def export_search(fmt: str) -> Response | tuple[str, int]:
    flt, errors = _search_filter()
    if errors:
        return search()
    return _export(flt, fmt, "audit-search")


@bp.get("/countries/<string(length=3):country>")
@roles_required(*AUDIT_ROLES)
def country_report(country: str) -> str:
    """A printable report of everything recorded for one country."""
    engine = the_engine()
    report = engine.audit.country_report(country)
    if not report:
        abort(404)
    me = current_actor()
    shown = {
        r["instance"].id: [submissionview.view_of(r["forms"], sub, me) for sub in r["submissions"]]
        for r in report
    }
    return render_template(
        "audit/report.html",
        submissions=shown,
        country=country.upper(),
        report=report,
        generated_at=engine.now(),
        generated_by=current_actor().username,
    )


@bp.get("/versions")
@roles_required(*AUDIT_ROLES)
def versions() -> str:
    return render_template("audit/versions.html", versions=the_engine().audit.versions())


@bp.get("/verify")
@roles_required(*AUDIT_ROLES)
def verify_all() -> str:
    """Recompute every chain in the database (the system chain and each instance's)."""
    reports = list(the_engine().verify())
    broken = [r for r in reports if not r.intact]
    return render_template(
        "audit/verify_all.html",
        reports=reports,
        broken=broken,
        files=the_engine().verify_attachments(),
        total=sum(r.events for r in reports),
        search_url=url_for("audit.search"),
    )


CHECKPOINTS_PER_PAGE = 50


@bp.get("/checkpoints")
@roles_required(*AUDIT_ROLES)
def checkpoints() -> str:
    """The signed checkpoints of every chain head, newest first."""
    engine = the_engine()
    every = engine.checkpoints.listing()
    number = min(page_number(), max(1, -(-len(every) // CHECKPOINTS_PER_PAGE)))
    start = (number - 1) * CHECKPOINTS_PER_PAGE
    page = Page(
        every[start : start + CHECKPOINTS_PER_PAGE], len(every), number, CHECKPOINTS_PER_PAGE
    )
    return render_template(
        "audit/checkpoints.html",
        checkpoints=page.items,
        page=page,
        enabled=engine.settings.checkpoint_key is not None,
        interval=engine.settings.checkpoint_interval_hours,
    )


@bp.get("/checkpoints/<name>")
@roles_required(*AUDIT_ROLES)
def verify_checkpoint(name: str) -> str:
    """Verify the database against one checkpoint: every head it lists must still be extended."""
    engine = the_engine()
    document = engine.checkpoints.read(name)
    report, chains = engine.checkpoints.verify(document)
    return render_template(
        "audit/checkpoint_verify.html",
        name=name,
        report=report,
        broken=[r for r in chains if not r.intact],
        total=sum(r.events for r in chains),
        chains=len(chains),
    )
