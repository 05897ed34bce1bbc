"""Checking an edited diagram: the engine's full validation plus bpmnlint, and the modeller's
validate and deploy endpoints."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import abort, jsonify, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from engine import PROJECT_ROOT, Problem, ValidationFailed
from web.auth import current_actor, the_engine
from web.inputs import db_int
from web.pages.modeler.base import available_forms, bp, owners_only, problem_dict, version

if TYPE_CHECKING:
    from engine.bpmn.handles import ModelVersion

BPMNLINT_TIMEOUT = 60
_SAFE_NAME = re.compile(r"^[\w.\- ]{1,200}$")
_LINT_LINE = re.compile(r"^\s+(\S+)\s+(error|warning|warn)\s+(.+?)\s{2,}(\S+)\s*$")


def _bundle_files(pv: ModelVersion | None, file_name: str, xml: str) -> dict[str, bytes]:
    """The version's files with the edited one replaced."""
    files = {n: t.encode("utf-8") for n, t in (pv.files if pv else {}).items()}
    files[file_name] = xml.encode("utf-8")
    return files


def bpmnlint_problems(xml: str, file_name: str) -> list[dict[str, Any]]:
    """bpmnlint's findings (the repo's .bpmnlintrc) for one BPMN document."""
    binary = PROJECT_ROOT / "node_modules" / ".bin" / "bpmnlint"
    if not binary.exists() or shutil.which("node") is None:
        return [
            problem_dict(
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
                problem_dict(
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
            problem_dict(
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
    models = the_engine().models
    problems = [problem_dict(p) for p in models.check(files, forms)]
    text = files[edited].decode("utf-8", "replace")
    if not any(p["code"] in ("xml-syntax", "hostile-xml", "not-bpmn") for p in problems):
        problems += bpmnlint_problems(text, edited)
    element_names = models.names_in(files[edited])
    for problem in problems:
        if problem["element_id"] and not problem["element_name"]:
            problem["element_name"] = element_names.get(problem["element_id"])
    return problems


def _counts(problems: list[dict[str, Any]]) -> dict[str, int]:
    errors = sum(1 for p in problems if p["severity"] == "error")
    return {"errors": errors, "warnings": len(problems) - errors}


def posted() -> tuple[ModelVersion | None, str, dict[str, bytes], dict[str, bytes]]:
    """(base version, edited file name, files, referenced forms) from a modeller JSON post."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("xml"), str):
        abort(400)
    key, number = body.get("process_key") or None, body.get("version")
    try:
        pv = version(str(key), db_int(number) if number else None) if key else None
    except ValueError:
        abort(400)
    name = str(body.get("file_name") or (pv.main_file if pv else "diagram.bpmn"))
    if not _SAFE_NAME.match(name):
        abort(400)
    posted_forms = body.get("forms")
    extra: dict[str, Any] = posted_forms if isinstance(posted_forms, dict) else {}
    files = _bundle_files(pv, name, body["xml"])
    available = available_forms(pv, {str(k): str(v) for k, v in extra.items()})
    wanted = the_engine().models.referenced_forms(files)
    forms = {n: available[n].encode("utf-8") for n in sorted(wanted) if n in available}
    # The base version's translations travel with the edit (the engine keeps those that still
    # name a form or process of the bundle).
    forms.update({n: t.encode("utf-8") for n, t in available.items() if n.startswith("i18n/")})
    return pv, name, files, forms


@bp.post("/validate")
@owners_only
def validate() -> Response:
    _key, name, files, forms = posted()
    problems = check(files, forms, name)
    return jsonify({"problems": problems, **_counts(problems)})


@bp.post("/deploy")
@owners_only
def deploy() -> tuple[Response, int]:
    _key, name, files, forms = posted()
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
        problems = [problem_dict(p) for p in refused.problems]
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
