"""Every user's API tokens (admins): the list and revoking one."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from engine import NotFound, permissions
from web.auth import roles_required
from web.pages.admin.lists import Page, bp, confirmed, list_filters
from web.pages.common import actor, engine, page_number

TOKEN_STATES = ("active", "expired", "revoked")


@bp.get("/tokens")
@roles_required(*permissions.ADMIN_ROLES)
def tokens() -> str:
    args = list_filters(("user",), state=TOKEN_STATES)
    page = engine().users.tokens_page(number=page_number(), **args)
    return render_template("admin/tokens.html", tokens=page.items, page=page, args=args)


@bp.route("/tokens/<int:token_id>/revoke", methods=["GET", "POST"])
@roles_required(*permissions.ADMIN_ROLES)
def token_revoke(token_id: int) -> Page:
    try:
        token = engine().users.token(token_id)
    except NotFound:
        abort(404)
    if not confirmed():
        return render_template("admin/confirm_token.html", token=token)
    engine().users.revoke_token(token_id, actor=actor())
    flash(
        _("Token %(name)s of %(username)s revoked.", name=token.name, username=token.username),
        "success",
    )
    return redirect(url_for("admin.tokens"))
