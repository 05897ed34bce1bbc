"""`/account`: the signed-in person's own API tokens (create, list, revoke).

People who sign in through an OpenID provider have no Pathfinder password to exchange for a
token at the API, so they make their tokens here.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from engine import InvalidData, NotFound
from web.api.auth import real_now
from web.auth import login_required, the_engine

bp = Blueprint("account", __name__, url_prefix="/account")

Page = str | Response | tuple[str, int]


def _page(status: int = 200, **context: object) -> tuple[str, int]:
    tokens = the_engine().tokens
    page = render_template(
        "account/api_tokens.html",
        tokens=tokens.of_user(current_user.user_id),
        now=real_now(),
        max_days=tokens.max_days,
        default_days=tokens.default_days,
        errors=context.pop("errors", {}),
        values=context.pop("values", {}),
        **context,
    )
    return page, status


@bp.get("/api-tokens")
@login_required
def api_tokens() -> Page:
    return _page()


@bp.post("/api-tokens")
@login_required
def api_token_new() -> Page:
    name = request.form.get("name", "")
    raw_days = request.form.get("expires_in_days", "").strip()
    values = {"name": name, "expires_in_days": raw_days}
    if not raw_days.isdigit():
        errors = {"expires_in_days": f"Between 1 and {the_engine().tokens.max_days} days."}
        return _page(422, errors=errors, values=values)
    try:
        row, plain = the_engine().tokens.create(current_user.user_id, name, int(raw_days))
    except InvalidData as err:
        return _page(422, errors=err.errors, values=values)
    return _page(201, new_token=plain, new_name=row.name)


@bp.route("/api-tokens/<int:token_id>/revoke", methods=["GET", "POST"])
@login_required
def api_token_revoke(token_id: int) -> Page:
    mine = {t.id: t.name for t in the_engine().tokens.of_user(current_user.user_id)}
    if token_id not in mine:
        abort(404)
    if request.method == "GET" or request.form.get("confirm") != "yes":
        return render_template("account/revoke_token.html", token_id=token_id, name=mine[token_id])
    try:
        the_engine().tokens.revoke(current_user.user_id, token_id)
    except NotFound:
        abort(404)
    flash(
        _(
            "Token %(token_id)s revoked; scripts using it are refused from now on.",
            token_id=mine[token_id],
        ),
        "success",
    )
    return redirect(url_for("account.api_tokens"))
