"""The Models area's blueprint and what its pages share: the role check, loading a version,
the forms a diagram may reference, problems as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Blueprint, Flask, abort, current_app
from werkzeug.wrappers import Response

from engine import NotFound, Problem, permissions
from web.auth import roles_required, the_engine

if TYPE_CHECKING:
    from engine.bpmn.handles import ModelVersion

bp = Blueprint("modeler", __name__, url_prefix="/modeler")
F = TypeVar("F", bound=Callable[..., Any])
OWNERS = permissions.MODEL_OWNER_ROLES
Page = str | Response | tuple[str, int] | tuple[Response, int]


def owners_only(view: F) -> F:
    """Process owners and admins; anyone else gets 403, anonymous visitors the sign-in page."""
    return roles_required(*OWNERS)(view)


def init_app(app: Flask) -> None:
    """Register the Models area (also available as `app.register_blueprint(bp)`)."""
    app.register_blueprint(bp)


def version(key: str, number: int | None = None) -> ModelVersion:
    """A version of a process model (the newest when `number` is None), or 404."""
    try:
        return the_engine().models.version(key, number)
    except NotFound:
        abort(404)


def disk_forms() -> dict[str, str]:
    """The form files in the configured forms folder, by name."""
    settings = current_app.extensions["pathfinder_settings"]
    folder = Path(settings.forms_dir)
    if not folder.is_dir():
        return {}
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.json"))}


def available_forms(
    pv: ModelVersion | None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Form files a diagram may reference: the version's snapshot, then forms/ on disk, then
    forms uploaded in the modeller (these win)."""
    forms = dict(pv.forms) if pv is not None else {}
    for name, text in disk_forms().items():
        forms.setdefault(name, text)
    forms.update(extra or {})
    return forms


def is_schema(name: str) -> bool:
    """Whether a form file name is a form's JSON Schema (not its UI schema)."""
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


def problem_dict(problem: Problem, source: str = "engine") -> dict[str, Any]:
    """A problem as the modeller's JSON shows it, with who found it."""
    return {**asdict(problem), "source": source}
