"""User accounts (admins): the list, adding, editing, (de)activating and password resets."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import ROLES, Conflict, Forbidden, InvalidData, NotFound, Person, permissions
from web.auth import roles_required
from web.i18n import error_fields, error_text, role_label
from web.pages.admin.lists import Page, bp, confirmed, list_filters
from web.pages.common import actor, engine, page_number


def _user_form() -> tuple[dict[str, Any], dict[str, str]]:
    """The posted user fields, and what is wrong with them."""
    values: dict[str, Any] = {
        "username": request.form.get("username", "").strip(),
        "display_name": request.form.get("display_name", "").strip() or None,
        "email": request.form.get("email", "").strip() or None,
        "roles": [r for r in request.form.getlist("roles") if r in ROLES],
        "country": request.form.get("country", "").strip().upper() or None,
    }
    errors: dict[str, str] = {}
    if not values["roles"]:
        errors["roles"] = _("Choose at least one role.")
    if values["country"] and not (len(values["country"]) == 3 and values["country"].isalpha()):
        errors["country"] = _("Use an ISO 3166-1 alpha-3 code, such as NPL.")
    if "country" in values["roles"] and not values["country"]:
        errors["country"] = _("Country users need their country (ISO 3166-1 alpha-3, such as NPL).")
    if values["email"] and "@" not in values["email"]:
        errors["email"] = _("Enter a valid e-mail address.")
    return values, errors


def _form_page(user: Person | None, values: dict[str, Any], errors: dict[str, str]) -> Page:
    """The add/edit form; 422 after a post that was refused."""
    page = render_template(
        "admin/user_form.html", user=user, values=values, errors=errors, roles=ROLES
    )
    return (page, 422) if request.method == "POST" else page


def _get_user(user_id: int) -> Person:
    try:
        return engine().users.get(user_id)
    except NotFound:
        abort(404)


@bp.get("/users")
@roles_required(*permissions.ADMIN_ROLES)
def users() -> str:
    args = list_filters(("q",), role=ROLES, state=("active", "inactive"))
    page = engine().users.page(number=page_number(), **args)
    return render_template(
        "admin/users.html",
        users=page.items,
        page=page,
        args=args,
        role_options=[(r, role_label(r)) for r in ROLES],
    )


@bp.route("/users/new", methods=["GET", "POST"])
@roles_required(*permissions.ADMIN_ROLES)
def user_new() -> Page:
    values: dict[str, Any] = {"roles": []}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values, errors = _user_form()
        password = request.form.get("password", "")
        handle = engine().users
        if not handle.username_pattern.match(values["username"]):
            errors["username"] = _("2-150 letters, digits or . _ @ -")
        if len(password) < handle.min_password:  # checked here too, so every error shows at once
            errors["password"] = _("At least %(min)s characters.", min=handle.min_password)
        if not errors:
            try:
                handle.create(
                    values["username"],
                    password,
                    values["roles"],
                    actor=actor(),
                    country=values["country"],
                    email=values["email"],
                    display_name=values["display_name"],
                )
            except InvalidData as err:
                errors = error_fields(err)
            except Conflict as err:
                errors = {"username": error_text(err)}
            else:
                flash(_("User %(username)s added.", username=values["username"]), "success")
                return redirect(url_for("admin.users"))
    return _form_page(None, values, errors)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles_required(*permissions.ADMIN_ROLES)
def user_edit(user_id: int) -> Page:
    user = _get_user(user_id)
    errors: dict[str, str] = {}
    values: dict[str, Any] = {
        "username": user.username,
        "display_name": user.display_name,
        "email": user.email,
        "roles": list(user.roles),
        "country": user.country,
    }
    if request.method == "POST":
        posted, errors = _user_form()
        posted["username"] = values["username"]
        values = posted
        if not permissions.may_change_roles(actor().username, user.username, values["roles"]):
            errors["roles"] = _("You cannot remove your own admin role.")
        if not errors:
            try:
                engine().users.update(
                    user_id,
                    actor=actor(),
                    roles=values["roles"],
                    country=values["country"],
                    email=values["email"],
                    display_name=values["display_name"],
                )
            except InvalidData as err:
                errors = error_fields(err)
            else:
                flash(_("User %(username)s updated.", username=values["username"]), "success")
                return redirect(url_for("admin.users"))
    return _form_page(user, values, errors)


@bp.route("/users/<int:user_id>/<any(deactivate, activate):change>", methods=["GET", "POST"])
@roles_required(*permissions.ADMIN_ROLES)
def user_active(user_id: int, change: str) -> Page:
    user = _get_user(user_id)
    activate = change == "activate"
    if not permissions.may_change_active(actor().username, user.username, activate):
        flash(_("You cannot deactivate your own account."), "error")
        return redirect(url_for("admin.users"))
    if not confirmed():
        return render_template("admin/confirm_user.html", user=user, change=change)
    try:
        engine().users.set_active(user_id, activate, actor=actor())
    except Forbidden:
        flash(_("You cannot deactivate your own account."), "error")
        return redirect(url_for("admin.users"))
    flash(
        _("User %(username)s re-activated.", username=user.username)
        if activate
        else _("User %(username)s deactivated.", username=user.username),
        "success",
    )
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
@roles_required(*permissions.ADMIN_ROLES)
def user_password(user_id: int) -> Page:
    user = _get_user(user_id)
    errors: dict[str, str] = {}
    if request.method == "POST":
        password = request.form.get("password", "")
        if password != request.form.get("password_again", ""):
            errors["password"] = _("The two passwords differ.")  # noqa: S105
        else:
            try:
                engine().users.reset_password(user_id, password, actor=actor())
            except InvalidData as err:
                errors = error_fields(err)
            else:
                flash(
                    _(
                        "Password of %(username)s reset; their other sessions are signed out.",
                        username=user.username,
                    ),
                    "success",
                )
                return redirect(url_for("admin.users"))
        return render_template("admin/password.html", user=user, errors=errors), 422
    return render_template("admin/password.html", user=user, errors=errors)
