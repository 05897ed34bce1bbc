"""`/process-models`: list deployed processes, their versions, and deploy new ones."""

from __future__ import annotations

import posixpath
from typing import Any

from flask import Response, jsonify, request
from flask_babel import gettext as _

from engine import InvalidData, ProcessInfo, VersionInfo
from web.api.auth import current_caller, get_engine, require_role
from web.api.blueprint import ApiBlueprint
from web.api.errors import not_found
from web.api.schemas import (
    DeployResultSchema,
    ProcessModelDetailSchema,
    ProcessModelSchema,
    UploadSchema,
)

blp = ApiBlueprint(
    "process_models",
    __name__,
    url_prefix="/process-models",
    tag="Process models",
    description="BPMN/DMN process models and their versions.",
)

DIAGRAM_SUFFIXES = (".bpmn", ".dmn")
FORM_SUFFIXES = (".json",)


def _model_dict(model: ProcessInfo) -> dict[str, Any]:
    return {
        "key": model.key,
        "name": model.name,
        "latest_version": model.latest_version,
        "executable": model.executable,
        "start_roles": list(model.start_roles),
        "created_at": model.created_at,
    }


def _version_dict(pv: VersionInfo) -> dict[str, Any]:
    return {
        "version": pv.version,
        "name": pv.name,
        "executable": pv.executable,
        "not_executable_reason": pv.not_executable_reason,
        "main_file": pv.main_file,
        "files": list(pv.files),
        "forms": list(pv.forms),
        "lanes": list(pv.lanes),
        "warnings": list(pv.warnings),
        "deployed_by": pv.deployed_by,
        "deployed_at": pv.deployed_at,
        "active_instances": pv.active_instances,
    }


@blp.route("")
@blp.response(200, ProcessModelSchema(many=True))
def list_models() -> list[dict[str, Any]]:
    """List deployed process models (any signed-in role)"""
    current_caller()
    return [_model_dict(m) for m in get_engine().processes.all()]


@blp.route("/<string(maxlength=200):key>")
@blp.response(200, ProcessModelDetailSchema)
@blp.alt_response(404, response="Problem404")
def get_model(key: str) -> dict[str, Any]:
    """A process model with every deployed version, newest first"""
    current_caller()
    model = get_engine().processes.get(key)
    if model is None:
        raise not_found(_("No process model '%(key)s' is deployed.", key=key))
    return {**_model_dict(model), "versions": [_version_dict(v) for v in model.versions]}


def _split_upload() -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Uploaded files by kind: diagrams (.bpmn/.dmn) and forms (.json), keyed by base name."""
    diagrams: dict[str, bytes] = {}
    forms: dict[str, bytes] = {}
    errors: dict[str, str] = {}
    for upload in request.files.getlist("files"):
        name = posixpath.basename((upload.filename or "").replace("\\", "/")).strip()
        lowered = name.lower()
        if not name:
            errors["files"] = _("Every uploaded file needs a file name.")
        elif lowered.endswith(DIAGRAM_SUFFIXES):
            diagrams[name] = upload.read()
        elif lowered.endswith(FORM_SUFFIXES):
            forms[name] = upload.read()
        else:
            errors[f"files.{name}"] = _("Upload .bpmn or .dmn diagrams and .json forms only.")
    if not diagrams and not errors:
        errors["files"] = _("Upload at least one .bpmn or .dmn file.")
    if errors:
        raise InvalidData(_("The upload cannot be deployed."), errors)
    return diagrams, forms


@blp.route("", methods=["POST"])
@blp.arguments(UploadSchema, location="files")
@blp.response(201, DeployResultSchema(many=True))
@blp.alt_response(
    200, schema=DeployResultSchema(many=True), description="Nothing changed", success=True
)
@blp.problems(403, 413, 422)
def deploy(_files: dict[str, Any]) -> Response:
    """Deploy process models (process owners and admins)

    Multipart upload, field `files` repeated: `.bpmn`/`.dmn` diagrams and the `.json` form files
    they reference. 201 if any process got a new version, 200 if everything was already deployed.
    A refused bundle answers 422 with `errors: [{element_id, element_name, file, line, message,
    code, severity}]`.
    """
    actor = require_role("process_owner")
    diagrams, forms = _split_upload()
    results = get_engine().deploy(diagrams, forms, actor.username)
    body = DeployResultSchema(many=True).dump(
        [
            {
                "key": r.process_key,
                "version": r.version,
                "created": r.created,
                "executable": r.executable,
            }
            for r in results
        ]
    )
    response = jsonify(body)
    response.status_code = 201 if any(r.created for r in results) else 200
    return response
