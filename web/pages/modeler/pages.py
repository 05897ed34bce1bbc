"""The Models area's pages: the list of models, the editor, file downloads and uploads."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from flask import abort, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from engine import EngineError, ValidationFailed
from web.auth import current_actor, the_engine
from web.i18n import error_text
from web.inputs import db_int
from web.pages.modeler.base import (
    Page,
    available_forms,
    bp,
    disk_forms,
    form_outputs,
    is_schema,
    owners_only,
    problem_dict,
    version,
)
from web.served import stored_file


@bp.get("/")
@owners_only
def index() -> str:
    return render_template("modeler/index.html", rows=the_engine().models.overview())


@bp.get("/<key>/edit")
@bp.get("/new", defaults={"key": None})
@owners_only
def edit(key: str | None) -> str:
    number = request.args.get("version", type=db_int)
    pv = version(key, number) if key else None
    available = {n: t for n, t in available_forms(pv).items() if not n.startswith("i18n/")}
    return render_template(
        "modeler/edit.html",
        pv=pv,
        key=key,
        file_name=pv.main_file if pv else "diagram.bpmn",
        form_files=sorted(available),
        form_outputs={n: form_outputs(t) for n, t in available.items() if is_schema(n)},
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


_version = version  # the download views' `version` argument shadows the helper


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
    models = the_engine().models
    disk = disk_forms()
    for name in models.referenced_forms(files) - set(forms):
        if name in disk:
            forms[name] = disk[name].encode("utf-8")
    try:
        results = the_engine().deploy(files, forms, current_actor().username)
    except ValidationFailed as refused:
        outcome = {"refused": True, "problems": [problem_dict(p) for p in refused.problems]}
        return render_template("modeler/upload.html", outcome=outcome), 422
    except EngineError as error:
        outcome = {"refused": True, "problems": [{"message": error_text(error)}]}
        return render_template("modeler/upload.html", outcome=outcome), 422
    deployed = []
    for result in results:
        pv = models.version_by_id(result.version_id)
        deployed.append({"result": result, "reason": pv.not_executable_reason if pv else None})
    return render_template("modeler/upload.html", outcome={"refused": False, "deployed": deployed})
