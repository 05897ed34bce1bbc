"""Engine errors. Each carries what a person needs to act: what, where, and what to do.

The web layer maps them to HTTP statuses (`http_status`) and inline messages; the API to
problem+json.

The engine knows no languages (and no Flask). A message people read is raised as a message id,
an English text with `%(name)s` placeholders marked with `N_`, plus its `params`; the web and the
API translate it with the web's catalogs in the reader's language (`web.i18n.error_text`).
`message` is the English text with the parameters filled in (logs, the CLI, tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def N_(text: str) -> str:
    """Mark an engine message for the web's catalogs (`pybabel extract -k N_`); returns it as is."""
    return text


class EngineError(Exception):
    """Base class: `message` is for people; `details` for machines."""

    http_status = 400
    title = N_("Request refused")

    def __init__(
        self, message: str, *, params: Mapping[str, Any] | None = None, **details: Any
    ) -> None:
        self.msgid = message
        """The message id: English with `%(name)s` placeholders, translated by the web."""
        self.params = dict(params or {})
        """The values of the placeholders (names of tasks, users, states...)."""
        self.message = message % self.params if self.params else message
        super().__init__(self.message)
        self.details = details


class NotFound(EngineError):
    """The process model, instance or task does not exist."""

    http_status = 404
    title = N_("Not found")


class Forbidden(EngineError):
    """The actor's roles or country do not allow this action."""

    http_status = 403
    title = N_("Not allowed")


class Conflict(EngineError):
    """The action was based on a stale view: someone else changed the instance first."""

    http_status = 409
    title = N_("Changed by someone else")


class NotReady(Conflict):
    """The task is not ready (completed already, not reached yet, or cancelled)."""

    title = N_("Task no longer open")


class InstanceNotRunnable(Conflict):
    """The instance is suspended, cancelled, completed or in error."""

    title = N_("Instance not running")


class InvalidData(EngineError):
    """Submitted form data does not match the form; `errors` maps field paths to messages."""

    http_status = 422
    title = N_("Invalid data")

    def __init__(
        self, message: str, errors: dict[str, str], *, params: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message, params=params, errors=errors)
        self.errors = errors


class NotExecutable(EngineError):
    """The process model is stored for viewing but cannot be started."""

    http_status = 422
    title = N_("Process cannot be started")


class TooManyAttempts(EngineError):
    """Sign-in refused for a while after repeated failures."""

    http_status = 429
    title = N_("Too many attempts")
