"""E-mail pages: my notification settings, the no-login unsubscribe link, the admin outbox.

The unsubscribe link carries a signed token (the app secret); the token is the credential, so its
POST is exempt from CSRF, which also lets mail clients use RFC 8058 one-click unsubscribe.
"""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any, cast

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.wrappers import Response

from engine import MailConfig, mail_files
from web.auth import login_required, roles_required, the_engine
from web.pages.common import page_number

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

Page = str | Response | tuple[str, int]

PREFERENCES = {
    "immediate": _l("Immediately, one e-mail per event"),
    "digest": "Once a day, in a digest",
    "none": "Never (no e-mails)",
}
STATES = ("pending", "digest", "failed", "sent", "skipped")
MAIL_FILES_SHOWN = 20
"""The newest mail-folder files the outbox lists (the folder itself holds them all)."""
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAIL_FILE = re.compile(r"^[\w.-]+\.eml$")


def init_app(app: Flask) -> None:
    """Register the blueprint (after `web.auth.init_app`, which sets up CSRF)."""
    app.register_blueprint(bp)


@bp.record_once
def _exempt_unsubscribe(state: BlueprintSetupState) -> None:
    csrf = state.app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(unsubscribe)


def _mail_config() -> MailConfig:
    return MailConfig.from_settings(current_app.extensions["pathfinder_settings"])


def _secret() -> str:
    return str(current_app.config.get("SECRET_KEY") or "")


# -- my settings -------------------------------------------------------------------------------


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings() -> Page:
    engine = the_engine()
    user_id = cast(Any, current_user).user_id
    errors: dict[str, str] = {}
    email, notify = engine.outbox.settings_of(user_id)
    values = {"email": email, "notify": notify}
    if request.method == "POST":
        values = {
            "email": request.form.get("email", "").strip(),
            "notify": request.form.get("notify", ""),
        }
        if values["email"] and (len(values["email"]) > 300 or not EMAIL.match(values["email"])):
            errors["email"] = _("Enter an e-mail address such as name@example.org.")
        if values["notify"] not in PREFERENCES:
            errors["notify"] = _("Choose one of the options.")
        if values["notify"] != "none" and not values["email"] and "email" not in errors:
            errors["email"] = _("Enter an e-mail address, or choose to receive no e-mails.")
        if not errors:
            engine.outbox.save_settings(user_id, values["email"] or None, values["notify"])
            flash(_("Your e-mail settings are saved."), "success")
            return redirect(url_for("notifications.settings"))
    page = render_template(
        "notifications/settings.html", values=values, errors=errors, preferences=PREFERENCES
    )
    return (page, 422) if errors else page


# -- unsubscribe without signing in ------------------------------------------------------------


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> Page:
    """GET asks for confirmation (link scanners must not unsubscribe anyone); POST does it."""
    outbox = the_engine().outbox
    target = outbox.unsubscribe_target(token, _secret())
    if target is None:
        page = render_template("notifications/unsubscribe.html", state="invalid")
        return page, 400
    user_id, name, already = target
    if request.method == "GET":
        state = "already" if already else "confirm"
        return render_template("notifications/unsubscribe.html", state=state, name=name)
    outbox.unsubscribe(user_id)
    return render_template("notifications/unsubscribe.html", state="done", name=name)


# -- administration ----------------------------------------------------------------------------


@bp.get("/admin/outbox")
@roles_required("admin")
def outbox() -> str:
    state = request.args.get("state", "")
    state = state if state in STATES else ""
    to = request.args.get("to", "").strip()[:200]
    config = _mail_config()
    counts = the_engine().outbox.counts()
    page = the_engine().outbox.page(state=state, to=to, number=page_number())
    files = [] if config.smtp_url else mail_files(config.drop_dir, limit=MAIL_FILES_SHOWN)
    return render_template(
        "notifications/outbox.html",
        page=page,
        messages=page.items,
        args={k: v for k, v in {"state": state, "to": to}.items() if v},
        to=to,
        files=files,
        counts=counts,
        states=STATES,
        state=state,
        smtp=bool(config.smtp_url),
    )


@bp.post("/admin/outbox/<int:message_id>/retry")
@roles_required("admin")
def retry(message_id: int) -> Response:
    """Put a failed message back in the queue (after fixing the address or the server)."""
    retried = the_engine().outbox.retry(message_id)
    if retried is None:
        abort(404)
    if retried:
        flash(_("Message %(message_id)s will be sent again.", message_id=message_id), "success")
    return redirect(url_for("notifications.outbox", state="failed"))


@bp.get("/admin/mail/<name>")
@roles_required("admin")
def mail_file(name: str) -> str:
    """One `.eml` file of the development mail folder, readable in the browser."""
    folder = _mail_config().drop_dir
    path = folder / name
    if not MAIL_FILE.match(name) or not path.is_file() or path.resolve().parent != folder.resolve():
        abort(404)
    message = BytesParser(policy=policy.default).parsebytes(Path(path).read_bytes())
    body = message.get_body(preferencelist=("plain",))
    headers = [(k, str(message[k])) for k in ("Date", "From", "To", "Subject") if message[k]]
    text = body.get_content() if body is not None else ""
    return render_template("notifications/mail_file.html", name=name, headers=headers, text=text)
