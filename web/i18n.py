"""Languages: English, French and Spanish, per user (Flask-Babel).

The language of a request is the signed-in user's profile setting, else the language chosen with
the header's switcher (kept in the session for people who are not signed in), else the best
match of the browser's `Accept-Language`, else English. The API follows `Accept-Language` alone.
Dates, numbers and plurals go through Babel in that language, via the template filters
registered here (`|date`, `|datetime`, `|number`), so every page formats them one way.

Forms and diagram element names are translated from per-language JSON files deployed with the
model (see forms/README.md and `web.content_i18n`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, cast
from urllib.parse import urlsplit

from flask import Blueprint, Flask, flash, g, redirect, request, session, url_for
from flask_babel import Babel, format_date, format_datetime, format_decimal, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.wrappers import Response

from engine import EngineError, FormDefinition, InvalidData, field_errors
from engine import i18n as content

log = logging.getLogger("pathfinder.web")

LANGUAGES: dict[str, str] = {"en": "English", "fr": "Français", "es": "Español"}
"""The product's languages, each named in itself (as the switcher shows them)."""
DEFAULT = "en"
DATE_FORMATS = {"date": "medium", "datetime": "medium", "short": "short"}

bp = Blueprint("i18n", __name__)

STATUS_LABELS = {
    # a case (instance)
    "running": _l("running"),
    "suspended": _l("suspended"),
    "completed": _l("completed"),
    "cancelled": _l("cancelled"),
    "error": _l("error"),
    # a task
    "ready": _l("ready"),
    "waiting": _l("waiting"),
    # a country's pathfinder status (set by the diagram)
    "candidate": _l("candidate"),
    "pathfinder": _l("pathfinder"),
    "on_hold": _l("on hold"),
    "closed": _l("closed"),
    "withdrawn": _l("withdrawn"),
    "unknown": _l("unknown"),  # a case that has no stage or status yet (dashboard)
    # outbox messages and tokens
    "pending": _l("pending"),
    "digest": _l("digest"),
    "failed": _l("failed"),
    "sent": _l("sent"),
    "skipped": _l("skipped"),
    "active": _l("active"),
    "revoked": _l("revoked"),
    "expired": _l("expired"),
}
"""Status codes shown on pages, by their label in the reader's language."""

ROLE_LABELS = {
    "admin": _l("admin"),
    "process_owner": _l("process owner"),
    "secretariat": _l("Secretariat"),
    "chair": _l("GCG Chair"),
    "gcg": _l("GCG"),
    "country": _l("country"),
    "auditor": _l("auditor"),
}
KIND_LABELS = {
    "PNG image": _l("PNG image"),
    "JPEG image": _l("JPEG image"),
    "GIF image": _l("GIF image"),
    "text": _l("text"),
}
"""File kinds whose name is a word (the others are product names: PDF, Word, Excel)."""


EVENT_LABELS = {
    "instance_started": _l("Case started"),
    "instance_completed": _l("Case completed"),
    "instance_cancelled": _l("Case cancelled"),
    "instance_suspended": _l("Case suspended"),
    "instance_resumed": _l("Case resumed"),
    "instance_retried": _l("Case retried"),
    "instance_error": _l("Case error"),
    "instance_migrated": _l("Case migrated"),
    "incident": _l("Incident"),
    "warning": _l("Warning"),
    "status_changed": _l("Status changed"),
    "element_completed": _l("Element completed"),
    "gateway_decision": _l("Gateway decision"),
    "message_received": _l("Message received"),
    "task_ready": _l("Task ready"),
    "task_completed": _l("Task completed"),
    "task_cancelled": _l("Task cancelled"),
    "task_claimed": _l("Task claimed"),
    "task_unclaimed": _l("Task unclaimed"),
    "task_assigned": _l("Task assigned"),
    "task_taken_over": _l("Task taken over"),
    "timer_scheduled": _l("Timer scheduled"),
    "timer_fired": _l("Timer fired"),
    "timer_cancelled": _l("Timer cancelled"),
    "timer_skipped": _l("Timer skipped"),
    "timer_retry_scheduled": _l("Timer retry scheduled"),
    "model_deployed": _l("Model deployed"),
    "lane_roles_changed": _l("Lane roles changed"),
    "user_created": _l("User created"),
    "user_updated": _l("User updated"),
    "user_activated": _l("User activated"),
    "user_deactivated": _l("User deactivated"),
    "user_signed_in": _l("User signed in"),
    "user_signed_out_by_provider": _l("User signed out by the identity provider"),
    "user_roles_mapped": _l("User roles mapped"),
    "password_reset": _l("Password reset"),
    "sign_in_refused": _l("Sign in refused"),
    "claim_mapping_added": _l("Claim mapping added"),
    "claim_mapping_deleted": _l("Claim mapping deleted"),
    "checkpoint_written": _l("Checkpoint written"),
    "uploads_removed": _l("Uploads removed"),
    "mail_resent": _l("Mail resent"),
}
"""What each kind of recorded event is called on the timeline and the audit pages."""


def supported(code: str | None) -> str | None:
    """`code` if Pathfinder speaks it (`fr-CA` -> `fr`), else None."""
    if not code:
        return None
    base = code.replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def browser_locale() -> str:
    """The best of our languages for the request's `Accept-Language` (English when none fits)."""
    return request.accept_languages.best_match(list(LANGUAGES), default=DEFAULT) or DEFAULT


def select_locale() -> str:
    """The language of this request (see the module docstring for the order)."""
    if request.blueprint == "api" or request.path.startswith("/api/"):
        return browser_locale()
    if current_user and current_user.is_authenticated:
        mine = supported(getattr(current_user, "locale", None))
        if mine:
            return mine
    chosen = supported(session.get("locale"))
    return chosen or browser_locale()


def current() -> str:
    """The language code of the current request (`en`, `fr`, `es`)."""
    return str(get_locale() or DEFAULT)


def _as_datetime(value: Any) -> datetime | date | None:
    if isinstance(value, (datetime, date)):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def date_filter(value: Any, fmt: str = "medium") -> str:
    """`{{ d|date }}`: a date in the reader's language (4 déc. 2026, 4 dic 2026)."""
    when = _as_datetime(value)
    if when is None:
        return "" if value is None else str(value)
    return str(format_date(when, fmt))


def datetime_filter(value: Any, fmt: str = "medium") -> str:
    """`{{ d|datetime }}`: a date and time in the reader's language."""
    when = _as_datetime(value)
    if when is None:
        return "" if value is None else str(value)
    if not isinstance(when, datetime):
        return str(format_date(when, fmt))
    return str(format_datetime(when, fmt))


def number_filter(value: Any) -> str:
    """`{{ n|number }}`: a number with the reader's separators (1,234.5; 1 234,5; 1234,5)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(format_decimal(value))
    return "" if value is None else str(value)


def status_label(code: Any) -> str:
    """`{{ status|status_label }}`: a status code in the reader's language (`on_hold` ->
    `en suspens`); an unknown code shows as itself, with spaces for underscores."""
    if code is None:
        return ""
    label = STATUS_LABELS.get(str(code))
    return str(label) if label is not None else str(code).replace("_", " ")


MILESTONE_LABELS = {
    "candidate": _l("candidate"),
    "pathfinder awarded": _l("pathfinder awarded"),
    "put on hold": _l("put on hold"),
    "reinstated": _l("reinstated"),
}
"""The status changes the history names (`engine.records.audit.MILESTONES`), translated."""


def milestone_label(label: Any) -> str:
    """`{{ m|milestone_label }}`: a named status change (`pathfinder awarded`) in the reader's
    language; another status value by its status label."""
    known = MILESTONE_LABELS.get(str(label))
    return str(known) if known is not None else status_label(str(label).replace(" ", "_"))


def event_label(kind: Any) -> str:
    """`{{ e.kind|event_label }}`: an event kind in the reader's language (`task_ready` ->
    `Tâche prête`); an unknown kind shows as words."""
    label = EVENT_LABELS.get(str(kind))
    return str(label) if label is not None else str(kind).replace("_", " ").capitalize()


def role_label(code: Any) -> str:
    """`{{ role|role_label }}`: a role in the reader's language."""
    label = ROLE_LABELS.get(str(code))
    return str(label) if label is not None else str(code).replace("_", " ")


def kind_label(label: str) -> str:
    """A file kind's name (`PNG image`) in the reader's language."""
    known = KIND_LABELS.get(label)
    return str(known) if known is not None else label


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host) may be the page to return to."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/"):
            return target
    return url_for("tasks.inbox")


@bp.post("/language")
def choose() -> Response:
    """The header's switcher: save the language in the profile (or the session) and go back."""
    code = supported(request.form.get("language"))
    back = _safe_next(request.form.get("next"))
    if code is None:
        flash(_("That language is not available."), "error")
        return redirect(back)
    session["locale"] = code
    if current_user.is_authenticated:
        from web.auth import the_engine

        the_engine().users.set_locale(cast(Any, current_user).user_id, code)
    return redirect(back)


def _context() -> dict[str, Any]:
    return {"languages": LANGUAGES, "current_language": current()}


def init_app(app: Flask) -> None:
    """Set up Flask-Babel (catalogs in web/translations/), the filters and the switcher."""
    Babel(
        app,
        locale_selector=select_locale,
        default_translation_directories="translations",
        default_domain="messages",
    )
    app.register_blueprint(bp)
    app.context_processor(_context)
    app.add_template_filter(date_filter, "date")
    app.add_template_filter(datetime_filter, "datetime")
    app.add_template_filter(number_filter, "number")
    app.add_template_filter(status_label, "status_label")
    app.add_template_filter(event_label, "event_label")
    app.add_template_filter(milestone_label, "milestone_label")
    app.add_template_filter(element_filter, "element")
    app.add_template_filter(role_label, "role_label")
    app.add_template_filter(instructions_filter, "instructions")


# -- engine errors -------------------------------------------------------------------------------


def error_text(err: EngineError) -> str:
    """An engine error's message in the reader's language (the API's reader: `Accept-Language`):
    its message id translated by the catalogs, with task names and states translated too."""
    params = dict(err.params)
    if params.get("task"):
        params["task"] = element_filter(params["task"])
    if params.get("state"):
        params["state"] = status_label(params["state"])
    return str(_(err.msgid, **params)) if params else str(_(err.msgid))


def error_title(err: EngineError) -> str:
    """An engine error's title (`Changed by someone else`) in the reader's language."""
    return str(_(err.title))


def error_fields(err: InvalidData) -> dict[str, str]:
    """An `InvalidData`'s messages by field, each translated when the catalogs know it."""
    return {path: str(_(message)) for path, message in err.errors.items()}


# -- forms and element names of the deployed models ---------------------------------------------


def translated_form(stored: Mapping[str, str], form: FormDefinition) -> FormDefinition:
    """The form in the reader's language (its overlay deployed with the version), or as is."""
    lang = current()
    if lang not in content.TRANSLATED or not form.file:
        return form
    overlay = content.load(stored, content.form_key(lang, form.file))
    if not overlay:
        return form
    schema, ui = content.translate_form(form.schema, form.ui_schema, overlay)
    return FormDefinition(schema=schema, ui_schema=ui, file=form.file)


def form_errors(form: FormDefinition, data: dict[str, Any], today: date) -> dict[str, str]:
    """The form's validation messages in the reader's language (titles from the overlay)."""
    return field_errors(form.schema, data, today, _, date_filter)


def translate_errors(
    form: FormDefinition, data: dict[str, Any], today: date, errors: dict[str, str]
) -> dict[str, str]:
    """`errors` (English, from the engine) with each message the form's own in this language."""
    if current() == DEFAULT:
        return errors
    ours = form_errors(form, data, today)
    return {path: ours.get(path, message) for path, message in errors.items()}


def _name_maps() -> tuple[dict[str, str], dict[str, str]]:
    """(element id -> name, English name -> name) in the reader's language, from the newest
    version of each process that carries translations; one read per request."""
    lang = current()
    cached = g.get("element_names")
    if cached is not None and cached[0] == lang:
        return cached[1], cached[2]
    by_id: dict[str, str] = {}
    by_name: dict[str, str] = {}
    if lang in content.TRANSLATED:
        from web.auth import the_engine

        try:
            by_id, by_name = the_engine().models.translated_names(lang)
        except Exception:  # noqa: BLE001 - a name must not break a page (an error page included)
            log.exception("Could not read the element names")
    g.element_names = (lang, by_id, by_name)
    return by_id, by_name


def instructions_filter(text: Any, element_id: str | None = None) -> str:
    """`{{ task.instructions|instructions(task.element_id) }}`: a task's instructions in the
    reader's language (deployed with the model), else as written in the diagram."""
    if not text:
        return ""
    by_id, _names = _name_maps()
    return by_id.get(f"{element_id}#instructions", str(text)) if element_id else str(text)


def element_filter(name: Any, element_id: str | None = None) -> str:
    """`{{ t.name|element(t.element_id) }}`: a diagram element's (or lane's) name in the
    reader's language, from the translations deployed with the model; else as named."""
    if name is None:
        return ""
    by_id, by_name = _name_maps()
    if element_id and element_id in by_id:
        return by_id[element_id]
    return by_name.get(str(name), str(name))
