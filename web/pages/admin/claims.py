"""OpenID Connect claim mappings (admins): which claim values grant which roles."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import ROLES, Conflict, InvalidData, NotFound, permissions
from web.auth import roles_required
from web.i18n import error_fields, error_text, role_label
from web.pages.admin.lists import Page, bp, confirmed, list_filters
from web.pages.common import actor, engine, page_number


def _mappings_page(status: int = 200, **context: Any) -> tuple[str, int]:
    from web.oidc import providers

    known = list(providers().values())
    args = list_filters(("q",), provider=[p.name for p in known], role=ROLES)
    page = engine().access.mappings_page(number=page_number(), **args)
    html = render_template(
        "admin/claim_mappings.html",
        mappings=page.items,
        page=page,
        args=args,
        providers=known,
        roles=ROLES,
        role_options=[(r, role_label(r)) for r in ROLES],
        provider_options=[(p.name, p.button_label) for p in known],
        errors=context.pop("errors", {}),
        values=context.pop("values", {}),
        **context,
    )
    return html, status


@bp.get("/claim-mappings")
@roles_required(*permissions.ADMIN_ROLES)
def claim_mappings() -> Page:
    return _mappings_page()


@bp.post("/claim-mappings")
@roles_required(*permissions.ADMIN_ROLES)
def claim_mapping_new() -> Page:
    from web.oidc import providers

    values = {k: request.form.get(k, "") for k in ("provider", "claim_value", "role", "country")}
    try:
        engine().access.add_mapping(
            provider=values["provider"],
            claim_value=values["claim_value"],
            role=values["role"],
            country=values["country"],
            providers=list(providers()),
            actor=actor(),
        )
    except InvalidData as err:
        return _mappings_page(422, errors=error_fields(err), values=values)
    except Conflict as err:
        return _mappings_page(409, errors={"claim_value": error_text(err)}, values=values)
    flash(
        _(
            "'%(claim_value)s' now grants the role %(role)s.",
            claim_value=values["claim_value"].strip(),
            role=values["role"],
        ),
        "success",
    )
    return redirect(url_for("admin.claim_mappings"))


@bp.route("/claim-mappings/<int:mapping_id>/delete", methods=["GET", "POST"])
@roles_required(*permissions.ADMIN_ROLES)
def claim_mapping_delete(mapping_id: int) -> Page:
    try:
        row = engine().access.mapping(mapping_id)
    except NotFound:
        abort(404)
    if not confirmed():
        return render_template("admin/confirm_claim_mapping.html", mapping=row)
    try:
        engine().access.delete_mapping(mapping_id, actor=actor())
    except NotFound:
        abort(404)
    flash(_("Mapping of '%(claim_value)s' deleted.", claim_value=row.claim_value), "success")
    return redirect(url_for("admin.claim_mappings"))
