"""Administration: user accounts (admins) and the lane -> role mapping of process models."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from engine import Conflict, InvalidData, NotFound
from engine.bpmn.deployments import set_lane_roles
from engine.people import identities, permissions
from engine.people import tokens as api_tokens
from engine.people.access import ROLES, role_for_lane
from engine.people.accounts import (
    MIN_PASSWORD,
    USERNAME,
    create_user,
    reset_password,
    set_active,
    update_user,
)
from engine.records import queries
from engine.store.db import transaction
from engine.store.models import ApiToken, ProcessModel, ProcessVersion, User
from web.auth import roles_required
from web.i18n import role_label
from web.pages.common import actor, engine, now, page_number

bp = Blueprint("admin", __name__, url_prefix="/admin")

Page = str | Response | tuple[str, int]


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


def _get_user(s: Session, user_id: int) -> User:
    user = s.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.get("/users")
@roles_required("admin")
def users() -> str:
    q = request.args.get("q", "").strip()[:150]
    role = request.args.get("role", "")
    role = role if role in ROLES else ""
    state = request.args.get("state", "")
    state = state if state in ("active", "inactive") else ""
    query = select(User).order_by(User.active.desc(), User.username)
    if q:
        needle = q.lower()
        query = query.where(
            func.lower(User.username).contains(needle, autoescape=True)
            | func.lower(func.coalesce(User.display_name, "")).contains(needle, autoescape=True)
            | func.lower(func.coalesce(User.email, "")).contains(needle, autoescape=True)
            | func.lower(func.coalesce(User.country, "")).contains(needle, autoescape=True)
        )
    if state:
        query = query.where(User.active.is_(state == "active"))
    with engine().session() as s:
        if role:  # roles are a JSON list: filter in Python, then page the matching ids
            ids = [u.id for u in s.execute(query).scalars() if role in (u.roles or [])]
            query = query.where(User.id.in_(ids))
        page = queries.paginate(s, query, page_number())
        args = {k: v for k, v in {"q": q, "role": role, "state": state}.items() if v}
        return render_template(
            "admin/users.html",
            users=page.items,
            page=page,
            args=args,
            role_options=[(r, role_label(r)) for r in ROLES],
        )


@bp.route("/users/new", methods=["GET", "POST"])
@roles_required("admin")
def user_new() -> Page:
    values: dict[str, Any] = {"roles": []}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values, errors = _user_form()
        password = request.form.get("password", "")
        if not USERNAME.match(values["username"]):
            errors["username"] = _("2-150 letters, digits or . _ @ -")
        if len(password) < MIN_PASSWORD:  # checked here too, so every error shows at once
            errors["password"] = _("At least %(min)s characters.", min=MIN_PASSWORD)
        if not errors:
            try:
                with transaction(engine().sessions) as s:
                    create_user(
                        s,
                        values["username"],
                        password,
                        values["roles"],
                        now=now(),
                        country=values["country"],
                        email=values["email"],
                        display_name=values["display_name"],
                        actor=actor().username,
                    )
            except InvalidData as err:
                errors = err.errors
            except Conflict as err:
                errors = {"username": err.message}
            else:
                flash(_("User %(username)s added.", username=values["username"]), "success")
                return redirect(url_for("admin.users"))
        return render_template(
            "admin/user_form.html", user=None, values=values, errors=errors, roles=ROLES
        ), 422
    return render_template(
        "admin/user_form.html", user=None, values=values, errors=errors, roles=ROLES
    )


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles_required("admin")
def user_edit(user_id: int) -> Page:
    errors: dict[str, str] = {}
    with engine().session() as s:
        user = _get_user(s, user_id)
        values: dict[str, Any] = {
            "username": user.username,
            "display_name": user.display_name,
            "email": user.email,
            "roles": list(user.roles or []),
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
                with transaction(engine().sessions) as s:
                    update_user(
                        s,
                        user_id,
                        actor=actor().username,
                        now=now(),
                        roles=values["roles"],
                        country=values["country"],
                        email=values["email"],
                        display_name=values["display_name"],
                    )
            except InvalidData as err:
                errors = err.errors
            else:
                flash(_("User %(username)s updated.", username=values["username"]), "success")
                return redirect(url_for("admin.users"))
        return render_template(
            "admin/user_form.html", user=user, values=values, errors=errors, roles=ROLES
        ), 422
    return render_template(
        "admin/user_form.html", user=user, values=values, errors=errors, roles=ROLES
    )


@bp.route("/users/<int:user_id>/<any(deactivate, activate):change>", methods=["GET", "POST"])
@roles_required("admin")
def user_active(user_id: int, change: str) -> Page:
    with engine().session() as s:
        user = _get_user(s, user_id)
    if not permissions.may_change_active(actor().username, user.username, change == "activate"):
        flash(_("You cannot deactivate your own account."), "error")
        return redirect(url_for("admin.users"))
    if request.method == "GET" or request.form.get("confirm") != "yes":
        return render_template("admin/confirm_user.html", user=user, change=change)
    with transaction(engine().sessions) as s:
        set_active(s, user_id, change == "activate", actor=actor().username, now=now())
    flash(
        _("User %(username)s re-activated.", username=user.username)
        if change == "activate"
        else _("User %(username)s deactivated.", username=user.username),
        "success",
    )
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
@roles_required("admin")
def user_password(user_id: int) -> Page:
    with engine().session() as s:
        user = _get_user(s, user_id)
    errors: dict[str, str] = {}
    if request.method == "POST":
        password = request.form.get("password", "")
        if password != request.form.get("password_again", ""):
            errors["password"] = _("The two passwords differ.")  # noqa: S105
        else:
            try:
                with transaction(engine().sessions) as s:
                    reset_password(s, user_id, password, actor=actor().username, now=now())
            except InvalidData as err:
                errors = err.errors
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


# -------------------------------------------------------------------------- API tokens


@dataclass(frozen=True)
class TokenRow:
    """One API token as the admins' page shows it."""

    id: int
    username: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    state: str


def _token_row(t: ApiToken, at: datetime) -> TokenRow:
    expires = (
        t.expires_at
        if t.expires_at is None or t.expires_at.tzinfo
        else t.expires_at.replace(tzinfo=UTC)
    )
    state = "revoked" if t.revoked_at else "expired" if expires and expires <= at else "active"
    return TokenRow(
        t.id, t.user.username, t.name, t.prefix, t.created_at, t.expires_at, t.last_used_at, state
    )


TOKEN_STATES = ("active", "expired", "revoked")


@bp.get("/tokens")
@roles_required("admin")
def tokens() -> str:
    at = engine().wall_clock.now()  # tokens expire on the wall clock (see web.api.auth)
    who = request.args.get("user", "").strip()[:150]
    state = request.args.get("state", "")
    state = state if state in TOKEN_STATES else ""
    query = select(ApiToken).join(ApiToken.user).order_by(ApiToken.id.desc())
    if who:
        query = query.where(func.lower(User.username).contains(who.lower(), autoescape=True))
    live = ApiToken.expires_at.is_(None) | (ApiToken.expires_at > at)
    if state == "revoked":
        query = query.where(ApiToken.revoked_at.is_not(None))
    elif state == "expired":
        query = query.where(ApiToken.revoked_at.is_(None), ~live)
    elif state == "active":
        query = query.where(ApiToken.revoked_at.is_(None), live)
    with engine().session() as s:
        page = queries.paginate(s, query, page_number())
        rows = [_token_row(t, at) for t in page.items]
    args = {k: v for k, v in {"user": who, "state": state}.items() if v}
    return render_template("admin/tokens.html", tokens=rows, page=page, args=args)


@bp.route("/tokens/<int:token_id>/revoke", methods=["GET", "POST"])
@roles_required("admin")
def token_revoke(token_id: int) -> Page:
    with engine().session() as s:
        row = s.get(ApiToken, token_id)
        if row is None:
            abort(404)
        token = _token_row(row, engine().wall_clock.now())
    if request.method == "GET" or request.form.get("confirm") != "yes":
        return render_template("admin/confirm_token.html", token=token)
    with transaction(engine().sessions) as s:
        api_tokens.revoke_token(s, None, token_id, now=engine().wall_clock.now())
    flash(
        _("Token %(name)s of %(username)s revoked.", name=token.name, username=token.username),
        "success",
    )
    return redirect(url_for("admin.tokens"))


# -------------------------------------------------------------------------- process models


def _lanes(s: Session, key: str) -> list[str]:
    pv = (
        s.execute(
            select(ProcessVersion)
            .where(ProcessVersion.process_key == key)
            .order_by(ProcessVersion.version.desc())
        )
        .scalars()
        .first()
    )
    return list(pv.lanes or []) if pv else []


@bp.get("/processes")
@roles_required("admin", "process_owner")
def processes() -> str:
    with engine().session() as s:
        models = list(s.execute(select(ProcessModel).order_by(ProcessModel.key)).scalars())
        lanes = {
            m.key: [(lane, role_for_lane(lane, m.lane_roles or {})) for lane in _lanes(s, m.key)]
            for m in models
        }
        return render_template("admin/processes.html", models=models, lanes=lanes)


@bp.route("/processes/<key>/lanes", methods=["GET", "POST"])
@roles_required("admin", "process_owner")
def process_lanes(key: str) -> Page:
    with engine().session() as s:
        model = s.get(ProcessModel, key)
        if model is None:
            abort(404)
        lanes = _lanes(s, key)
        current = {lane: role_for_lane(lane, model.lane_roles or {}) for lane in lanes}
        name = model.name or key
    if request.method == "POST":
        chosen = {lane: request.form.get(f"lane-{i}", "") for i, lane in enumerate(lanes)}
        bad = [lane for lane, role in chosen.items() if role not in ROLES]
        if bad:
            return render_template(
                "admin/lanes.html",
                key=key,
                name=name,
                current=chosen,
                roles=ROLES,
                error=_("Choose a role for: %(bad)s.", bad=", ".join(bad)),
            ), 422
        with transaction(engine().sessions) as s:
            set_lane_roles(s, key, chosen, actor=actor().username, now=now())
        flash(
            _(
                "Lane roles of %(name)s saved by %(username)s.",
                name=name,
                username=actor().username,
            ),
            "success",
        )
        return redirect(url_for("admin.processes"))
    return render_template(
        "admin/lanes.html", key=key, name=name, current=current, roles=ROLES, error=None
    )


# ------------------------------------------------------------ OpenID Connect claim mappings


def _mappings_page(status: int = 200, **context: Any) -> tuple[str, int]:
    from web.oidc import providers

    with engine().session() as s:
        rows = identities.list_mappings(s)
        page = render_template(
            "admin/claim_mappings.html",
            mappings=rows,
            providers=list(providers().values()),
            roles=ROLES,
            errors=context.pop("errors", {}),
            values=context.pop("values", {}),
            **context,
        )
    return page, status


@bp.get("/claim-mappings")
@roles_required("admin")
def claim_mappings() -> Page:
    return _mappings_page()


@bp.post("/claim-mappings")
@roles_required("admin")
def claim_mapping_new() -> Page:
    from web.oidc import providers

    values = {k: request.form.get(k, "") for k in ("provider", "claim_value", "role", "country")}
    try:
        with transaction(engine().sessions) as s:
            identities.add_mapping(
                s,
                provider=values["provider"],
                claim_value=values["claim_value"],
                role=values["role"],
                country=values["country"],
                providers=list(providers()),
                actor=actor().username,
                now=now(),
            )
    except InvalidData as err:
        return _mappings_page(422, errors=err.errors, values=values)
    except Conflict as err:
        return _mappings_page(409, errors={"claim_value": err.message}, values=values)
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
@roles_required("admin")
def claim_mapping_delete(mapping_id: int) -> Page:
    try:
        with engine().session() as s:
            row = identities.mapping(s, mapping_id)
            s.expunge(row)
    except NotFound:
        abort(404)
    if request.method == "GET" or request.form.get("confirm") != "yes":
        return render_template("admin/confirm_claim_mapping.html", mapping=row)
    try:
        with transaction(engine().sessions) as s:
            identities.delete_mapping(s, mapping_id, actor=actor().username, now=now())
    except NotFound:
        abort(404)
    flash(_("Mapping of '%(claim_value)s' deleted.", claim_value=row.claim_value), "success")
    return redirect(url_for("admin.claim_mappings"))
