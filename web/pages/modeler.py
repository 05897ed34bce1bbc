"""Process owners' Models area: the bpmn-js modeller, validation on the diagram, deploys,
upload/download, version diffs, instance migration and simulation.

Every page and endpoint is for the `process_owner` and `admin` roles. The JSON endpoints are
called by `web/static/modeler/*.js` with the CSRF token in the `X-CSRFToken` header.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from engine import EngineError, ValidationFailed
from engine.bpmn.deployments import instance_counts
from engine.bpmn.model_diff import diff_files, elements
from engine.bpmn.parsing import Problem, parse_bundle
from engine.bpmn.xmlsafe import NSMAP, form_refs, safe_xml
from engine.config import PROJECT_ROOT
from engine.runtime import migration as migrations
from engine.runtime.simulation import SimulationStore, parse_json_object, start_simulation
from engine.store.models import Instance, ProcessModel, ProcessVersion
from web.auth import current_actor, roles_required, the_engine
from web.inputs import db_int
from web.served import stored_file

bp = Blueprint("modeler", __name__, url_prefix="/modeler")
F = TypeVar("F", bound=Callable[..., Any])
OWNERS = ("process_owner", "admin")
Page = str | Response | tuple[str, int] | tuple[Response, int]
BPMNLINT_TIMEOUT = 60
MODEL_SUFFIXES = (".bpmn", ".dmn", ".xml")
_SAFE_NAME = re.compile(r"^[\w.\- ]{1,200}$")
_LINT_LINE = re.compile(r"^\s+(\S+)\s+(error|warning|warn)\s+(.+?)\s{2,}(\S+)\s*$")


def owners_only(view: F) -> F:
    """Process owners and admins; anyone else gets 403, anonymous visitors the sign-in page."""
    return roles_required(*OWNERS)(view)


# -- loading what the pages need ---------------------------------------------------------------


def _version(key: str, number: int | None = None) -> ProcessVersion:
    with the_engine().session() as s:
        query = select(ProcessVersion).where(ProcessVersion.process_key == key)
        if number is not None:
            query = query.where(ProcessVersion.version == number)
        pv = s.execute(query.order_by(ProcessVersion.version.desc()).limit(1)).scalar()
        if pv is None:
            abort(404)
        return pv


def _disk_forms() -> dict[str, str]:
    settings = current_app.extensions["pathfinder_settings"]
    folder = Path(settings.forms_dir)
    if not folder.is_dir():
        return {}
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.json"))}


def available_forms(
    pv: ProcessVersion | None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Form files a diagram may reference: the version's snapshot, then forms/ on disk, then
    forms uploaded in the modeller (these win)."""
    forms = dict(pv.forms) if pv is not None else {}
    for name, text in _disk_forms().items():
        forms.setdefault(name, text)
    forms.update(extra or {})
    return forms


def _is_schema(name: str) -> bool:
    return name.endswith(".json") and not name.endswith(".uischema.json")


def form_outputs(text: str) -> dict[str, Any] | None:
    """What the properties panel shows of a form's outputs: its `x-outputs` as declared and its
    fields' titles (modeler.js works out the case variables the same way `engine.forms` does)."""
    try:
        schema = json.loads(text)
    except ValueError:
        return None
    if not isinstance(schema, dict):
        return None
    declared = schema.get("properties")
    props: dict[str, Any] = declared if isinstance(declared, dict) else {}
    fields = {
        str(k): str(v.get("title") or k) if isinstance(v, dict) else str(k)
        for k, v in props.items()
    }
    return {"outputs": schema.get("x-outputs"), "fields": fields}


def _referenced(files: Mapping[str, bytes]) -> set[str]:
    names: set[str] = set()
    for name, data in files.items():
        try:
            root = safe_xml(data, name)
        except ValidationFailed:
            continue  # parse_bundle reports it
        for process in root.xpath("//bpmn:process", namespaces=NSMAP):
            names.update(form for _el, form in form_refs(process))
    return names


def _bundle_files(pv: ProcessVersion | None, file_name: str, xml: str) -> dict[str, bytes]:
    """The version's files with the edited one replaced."""
    files = {n: t.encode("utf-8") for n, t in (pv.files if pv else {}).items()}
    files[file_name] = xml.encode("utf-8")
    return files


def _problem_dict(problem: Problem, source: str = "engine") -> dict[str, Any]:
    return {**asdict(problem), "source": source}


# -- checks: the engine's full validation plus bpmnlint ----------------------------------------


def bpmnlint_problems(xml: str, file_name: str) -> list[dict[str, Any]]:
    """bpmnlint's findings (the repo's .bpmnlintrc) for one BPMN document."""
    binary = PROJECT_ROOT / "node_modules" / ".bin" / "bpmnlint"
    if not binary.exists() or shutil.which("node") is None:
        return [
            _problem_dict(
                Problem(
                    _(
                        "bpmnlint is not installed (run `make install`); only the "
                        "engine's checks ran."
                    ),
                    file=file_name,
                    severity="warning",
                    code="bpmnlint-missing",
                ),
                "bpmnlint",
            )
        ]
    with tempfile.TemporaryDirectory(prefix="pathfinder-lint-") as folder:
        path = Path(folder) / "diagram.bpmn"
        path.write_text(xml, encoding="utf-8")
        result = subprocess.run(  # noqa: S603 - fixed binary, our own temp file
            [str(binary), "--config", str(PROJECT_ROOT / ".bpmnlintrc"), str(path)],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=BPMNLINT_TIMEOUT,
            check=False,
        )
    problems = []
    for line in result.stdout.splitlines():
        match = _LINT_LINE.match(line)
        if match:
            element_id, severity, message, rule = match.groups()
            problems.append(
                _problem_dict(
                    Problem(
                        f"{message} (bpmnlint rule {rule}).",
                        element_id=element_id,
                        file=file_name,
                        severity="error" if severity == "error" else "warning",
                        code=f"bpmnlint/{rule}",
                    ),
                    "bpmnlint",
                )
            )
    if result.returncode not in (0, 1) or (result.returncode == 1 and not problems):
        text = (result.stderr or result.stdout).strip().splitlines()
        message = _(
            "bpmnlint could not check the diagram: %(output)s.",
            output=text[-1] if text else _("no output"),
        )
        problems.append(
            _problem_dict(
                Problem(message, file=file_name, severity="warning", code="bpmnlint-failed"),
                "bpmnlint",
            )
        )
    return problems


def check(
    files: Mapping[str, bytes], forms: Mapping[str, bytes], edited: str
) -> list[dict[str, Any]]:
    """Every problem of the edited bundle. A reason that would make a process view-only counts
    as an error here: the modeller deploys processes to run them."""
    try:
        bundle = parse_bundle(files, forms, limits=the_engine().model_limits)
        problems = [_problem_dict(p) for p in bundle.warnings]
    except ValidationFailed as refused:
        problems = [_problem_dict(p) for p in refused.problems]
    text = files[edited].decode("utf-8", "replace")
    if not any(p["code"] in ("xml-syntax", "hostile-xml", "not-bpmn") for p in problems):
        problems += bpmnlint_problems(text, edited)
    element_names = _names(files[edited])
    for problem in problems:
        if problem["element_id"] and not problem["element_name"]:
            problem["element_name"] = element_names.get(problem["element_id"])
    return problems


def _names(data: bytes) -> dict[str, str]:
    try:
        root = safe_xml(data, "diagram")
    except ValidationFailed:
        return {}
    return {el.get("id"): el.get("name") for el in root.xpath("//*[@id and @name]")}


def _counts(problems: list[dict[str, Any]]) -> dict[str, int]:
    errors = sum(1 for p in problems if p["severity"] == "error")
    return {"errors": errors, "warnings": len(problems) - errors}


def _posted() -> tuple[ProcessVersion | None, str, dict[str, bytes], dict[str, bytes]]:
    """(base version, edited file name, files, referenced forms) from a modeller JSON post."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("xml"), str):
        abort(400)
    key, number = body.get("process_key") or None, body.get("version")
    try:
        pv = _version(str(key), db_int(number) if number else None) if key else None
    except ValueError:
        abort(400)
    name = str(body.get("file_name") or (pv.main_file if pv else "diagram.bpmn"))
    if not _SAFE_NAME.match(name):
        abort(400)
    posted_forms = body.get("forms")
    extra: dict[str, Any] = posted_forms if isinstance(posted_forms, dict) else {}
    files = _bundle_files(pv, name, body["xml"])
    available = available_forms(pv, {str(k): str(v) for k, v in extra.items()})
    wanted = _referenced(files)
    forms = {n: available[n].encode("utf-8") for n in sorted(wanted) if n in available}
    # The base version's translations travel with the edit (the engine keeps those that still
    # name a form or process of the bundle).
    forms.update({n: t.encode("utf-8") for n, t in available.items() if n.startswith("i18n/")})
    return pv, name, files, forms


# -- pages -------------------------------------------------------------------------------------


@bp.get("/")
@owners_only
def index() -> str:
    engine = the_engine()
    with engine.session() as s:
        models = list(s.execute(select(ProcessModel).order_by(ProcessModel.key)).scalars())
        rows = []
        for model in models:
            counts = instance_counts(s, model.key)
            versions = list(reversed(model.versions))
            rows.append({"model": model, "versions": versions, "counts": counts})
    return render_template("modeler/index.html", rows=rows)


@bp.get("/<key>/edit")
@bp.get("/new", defaults={"key": None})
@owners_only
def edit(key: str | None) -> str:
    number = request.args.get("version", type=db_int)
    pv = _version(key, number) if key else None
    available = {n: t for n, t in available_forms(pv).items() if not n.startswith("i18n/")}
    return render_template(
        "modeler/edit.html",
        pv=pv,
        key=key,
        file_name=pv.main_file if pv else "diagram.bpmn",
        form_files=sorted(available),
        form_outputs={n: form_outputs(t) for n, t in available.items() if _is_schema(n)},
        xml_url=url_for("modeler.download", key=key, version=pv.version, name=pv.main_file)
        if pv
        else None,
    )


@bp.get("/<key>/versions/<int:version>/files/<path:name>")
@owners_only
def download(key: str, version: int, name: str) -> Response:
    pv = _version(key, version)
    text = pv.files.get(name) if name in pv.files else pv.forms.get(name)
    if text is None:
        abort(404)
    kind = "application/json" if name in pv.forms else "application/xml"
    return stored_file(text, name, download=request.args.get("download") == "1", mimetype=kind)


@bp.get("/<key>/versions/<int:version>/bundle.zip")
@owners_only
def download_bundle(key: str, version: int) -> Response:
    """The version's diagrams and the forms they reference, as one zip."""
    pv = _version(key, version)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in pv.files.items():
            archive.writestr(f"processes/{name}", text)
        for name, text in pv.forms.items():
            archive.writestr(f"forms/{name}", text)
    buffer.seek(0)
    return stored_file(buffer, f"{key}-v{version}.zip", mimetype="application/zip")


@bp.route("/upload", methods=["GET", "POST"])
@owners_only
def upload() -> Page:
    if request.method == "GET":
        return render_template("modeler/upload.html", outcome=None)
    files: dict[str, bytes] = {}
    forms: dict[str, bytes] = {}
    for storage in request.files.getlist("files") + request.files.getlist("forms"):
        name = Path(storage.filename or "").name
        if not name:
            continue
        target = forms if name.lower().endswith(".json") else files
        target[name] = storage.read()
    if not files:
        outcome = {"refused": True, "problems": [{"message": _("Choose at least one .bpmn file.")}]}
        return render_template("modeler/upload.html", outcome=outcome), 422
    referenced = _referenced(files)
    disk = _disk_forms()
    for name in referenced - set(forms):
        if name in disk:
            forms[name] = disk[name].encode("utf-8")
    try:
        results = the_engine().deploy(files, forms, current_actor().username)
    except ValidationFailed as refused:
        outcome = {"refused": True, "problems": [_problem_dict(p) for p in refused.problems]}
        return render_template("modeler/upload.html", outcome=outcome), 422
    except EngineError as error:
        outcome = {"refused": True, "problems": [{"message": error.message}]}
        return render_template("modeler/upload.html", outcome=outcome), 422
    deployed = []
    with the_engine().session() as s:
        for result in results:
            pv = s.get(ProcessVersion, result.version_id)
            deployed.append({"result": result, "reason": pv.not_executable_reason if pv else None})
    return render_template("modeler/upload.html", outcome={"refused": False, "deployed": deployed})


# -- modeller JSON endpoints -------------------------------------------------------------------


@bp.post("/validate")
@owners_only
def validate() -> Response:
    _key, name, files, forms = _posted()
    problems = check(files, forms, name)
    return jsonify({"problems": problems, **_counts(problems)})


@bp.post("/deploy")
@owners_only
def deploy() -> tuple[Response, int]:
    _key, name, files, forms = _posted()
    problems = check(files, forms, name)
    counts = _counts(problems)
    body = request.get_json(silent=True) or {}
    if counts["errors"]:
        message = _("Not deployed: fix the %(errors)s error(s) first.", errors=counts["errors"])
        return jsonify({"deployed": False, "message": message, "problems": problems, **counts}), 422
    if counts["warnings"] and body.get("accept_warnings") is not True:
        message = _(
            "Not deployed: accept the %(warnings)s warning(s) to deploy anyway.",
            warnings=counts["warnings"],
        )
        return jsonify({"deployed": False, "message": message, "problems": problems, **counts}), 409
    try:
        results = the_engine().deploy(files, forms, current_actor().username)
    except ValidationFailed as refused:
        problems = [_problem_dict(p) for p in refused.problems]
        return jsonify({"deployed": False, "problems": problems, **_counts(problems)}), 422
    versions = [
        {
            "process_key": r.process_key,
            "version": r.version,
            "created": r.created,
            "executable": r.executable,
            "url": url_for("modeler.edit", key=r.process_key, version=r.version),
        }
        for r in results
    ]
    created = [v for v in versions if v["created"]]
    message = (
        "Deployed " + ", ".join(f"{v['process_key']} version {v['version']}" for v in created)
        if created
        else _("Nothing changed: this content is already deployed.")
    )
    return jsonify({"deployed": True, "message": message, "versions": versions}), 200


# -- version diff ------------------------------------------------------------------------------


@bp.get("/<key>/diff")
@owners_only
def diff(key: str) -> str:
    latest = _version(key)
    new_number = request.args.get("to", type=db_int) or latest.version
    old_number = request.args.get("from", type=db_int) or max(new_number - 1, 1)
    old, new = _version(key, old_number), _version(key, new_number)
    result = diff_files(old.files, new.files)
    return render_template(
        "modeler/diff.html",
        key=key,
        old=old,
        new=new,
        diff=result,
        versions=list(range(1, latest.version + 1)),
        marks=result.ids(),
    )


@bp.get("/<key>/diff.json")
@owners_only
def diff_json(key: str) -> Response:
    old = _version(key, request.args.get("from", type=db_int) or 1)
    new = _version(key, request.args.get("to", type=db_int))
    return jsonify(diff_files(old.files, new.files).to_dict())


# -- migration ---------------------------------------------------------------------------------


@bp.get("/<key>/migrate")
@owners_only
def migrate_plan(key: str) -> str:
    target = _version(key, request.args.get("to", type=db_int))
    checks = migrations.dry_run(the_engine(), key, target.version)
    names = {  # element names of each version instances are on, shown with the id on hover
        n: {i: e.name for i, e in elements(_version(key, n).files).items() if e.name}
        for n in {c.from_version for c in checks}
    }
    return render_template(
        "modeler/migrate.html", key=key, target=target, checks=checks, names=names
    )


@bp.post("/<key>/migrate")
@owners_only
def migrate_run(key: str) -> Page:
    target = _version(key, request.form.get("to", type=db_int))
    ids = request.form.getlist("instance", type=db_int)
    with the_engine().session() as s:
        own = set(
            s.execute(
                select(Instance.id).where(Instance.process_key == key, Instance.id.in_(ids))
            ).scalars()
        )
    outcomes = migrations.migrate(
        the_engine(), key, target.version, current_actor(), [i for i in ids if i in own]
    )
    moved = [o for o in outcomes if o.migrated]
    refused = [o for o in outcomes if not o.migrated]
    if moved:
        flash(
            _(
                "Moved %(moved)s instance(s) to version %(version)s.",
                moved=len(moved),
                version=target.version,
            ),
            "success",
        )
    for outcome in refused:
        flash(
            _(
                "Instance %(instance_id)s not moved: %(reasons)s",
                instance_id=outcome.instance_id,
                reasons=" ".join(outcome.reasons),
            ),
            "error",
        )
    if not outcomes:
        flash(_("Choose at least one instance to move."), "error")
    return redirect(url_for("modeler.migrate_plan", key=key, to=target.version))


# -- simulation --------------------------------------------------------------------------------


def _simulations() -> SimulationStore:
    store = current_app.extensions.get("pathfinder_simulations")
    if store is None:
        store = current_app.extensions["pathfinder_simulations"] = SimulationStore()
    return store


def _engine_error(error: EngineError) -> tuple[Response, int]:
    if isinstance(error, ValidationFailed):
        problems = [_problem_dict(p) for p in error.problems]
        return jsonify({"message": error.message, "problems": problems}), 422
    body = {"message": error.message, "errors": getattr(error, "errors", None)}
    return jsonify(body), error.http_status if error.http_status != 403 else 422


@bp.post("/simulate")
@owners_only
def simulate_start() -> tuple[Response, int]:
    _key, _name, files, forms = _posted()
    body = request.get_json(silent=True) or {}
    try:
        data = parse_json_object(body.get("data"))
        start = body.get("start")
        begin = datetime.fromisoformat(start).replace(tzinfo=UTC) if start else None
        sim = start_simulation(files, forms, owner=current_actor().username, start=begin, data=data)
    except EngineError as error:
        return _engine_error(error)
    except ValueError as error:
        return jsonify({"message": _("Invalid start date: %(error)s.", error=error)}), 400
    _simulations().add(sim)
    return jsonify(sim.snapshot()), 200


@bp.post("/simulate/<token>/<any(complete, advance, stop):action>")
@owners_only
def simulate_act(token: str, action: str) -> tuple[Response, int]:
    store = _simulations()
    body = request.get_json(silent=True) or {}
    try:
        sim = store.get(token, current_actor().username)
        if action == "stop":
            store.discard(token, current_actor().username)
            return jsonify({"stopped": True}), 200
        with sim.lock:
            if action == "complete":
                data = parse_json_object(body.get("data"))
                sim.complete(str(body.get("task_id", "")), data)
            else:
                amounts = {u: int(body.get(u) or 0) for u in ("days", "months", "years")}
                sim.advance(**amounts)
            return jsonify(sim.snapshot()), 200
    except EngineError as error:
        return _engine_error(error)
    except (TypeError, ValueError, OverflowError):
        return jsonify({"message": _("Days, months and years must be whole numbers.")}), 400


def init_app(app: Flask) -> None:
    """Register the Models area (also available as `app.register_blueprint(bp)`)."""
    app.register_blueprint(bp)


__all__ = ["bp", "check", "init_app"]
