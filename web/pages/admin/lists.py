"""The admin blueprint and what its paged, filtered lists share."""

from __future__ import annotations

from collections.abc import Collection

from flask import Blueprint, request
from werkzeug.wrappers import Response

bp = Blueprint("admin", __name__, url_prefix="/admin")

Page = str | Response | tuple[str, int]
"""What an admin view answers: a page, a redirect, or a page with its status."""

MAX_TEXT = 150
"""Free-text filters are cut to this many characters."""


def list_filters(text: Collection[str] = (), **choices: Collection[str]) -> dict[str, str]:
    """The filters a list page was asked for (`?q=…&role=…`), only those set: each of `text`
    is free text (trimmed, cut to `MAX_TEXT`); each of `choices` keeps only an allowed value.
    The result is both the engine call's keywords and the pager's query arguments."""
    found = {name: request.args.get(name, "").strip()[:MAX_TEXT] for name in text}
    for name, allowed in choices.items():
        value = request.args.get(name, "")
        found[name] = value if value in allowed else ""
    return {name: value for name, value in found.items() if value}


def confirmed() -> bool:
    """Whether a confirmation form was posted with `confirm=yes` (a GET only asks)."""
    return request.method == "POST" and request.form.get("confirm") == "yes"
