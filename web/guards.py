"""Request-wide input guards that no single form or schema should have to repeat."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Flask, request
from flask_babel import gettext as _

from engine import InvalidData

NUL = "\x00"
FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})


def _nul_fields(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, str):
        if NUL in value:
            yield path or "_request"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _nul_fields(str(key), path or "_request")
            yield from _nul_fields(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _nul_fields(item, f"{path}.{i}" if path else str(i))


def refuse_nul_characters() -> None:
    """Refuse NUL characters anywhere in the input: PostgreSQL cannot store them in text, and no
    legitimate form value contains one. Answered as a 422 naming the fields."""
    fields = [*_nul_fields(request.args.to_dict(flat=False), "")] if request.args else []
    if request.mimetype == "application/json":
        fields += _nul_fields(request.get_json(silent=True), "")
    elif request.mimetype in FORM_TYPES:  # the only bodies werkzeug parses into form and files
        if request.form:
            fields += _nul_fields(request.form.to_dict(flat=False), "")
        names = [f.filename for f in request.files.values() if f.filename]
        fields += [f"file:{name}" for name in names if NUL in name]
    if fields:
        unique = sorted(set(fields))
        raise InvalidData(
            _("The request contains a NUL character, which is not allowed."),
            {field: _("Remove the NUL (\\0) character.") for field in unique},
        )


def init_app(app: Flask) -> None:
    app.before_request(refuse_nul_characters)
