"""Engine errors. Each carries what a person needs to act: what, where, and what to do.

The web layer maps them to HTTP statuses (`http_status`) and inline messages; the API to
problem+json.
"""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """Base class: `message` is for people; `details` for machines."""

    http_status = 400
    title = "Request refused"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(EngineError):
    """The process model, instance or task does not exist."""

    http_status = 404
    title = "Not found"


class Forbidden(EngineError):
    """The actor's roles or country do not allow this action."""

    http_status = 403
    title = "Not allowed"


class Conflict(EngineError):
    """The action was based on a stale view: someone else changed the instance first."""

    http_status = 409
    title = "Changed by someone else"


class NotReady(Conflict):
    """The task is not ready (completed already, not reached yet, or cancelled)."""

    title = "Task no longer open"


class InstanceNotRunnable(Conflict):
    """The instance is suspended, cancelled, completed or in error."""

    title = "Instance not running"


class InvalidData(EngineError):
    """Submitted form data does not match the form; `errors` maps field paths to messages."""

    http_status = 422
    title = "Invalid data"

    def __init__(self, message: str, errors: dict[str, str]) -> None:
        super().__init__(message, errors=errors)
        self.errors = errors


class NotExecutable(EngineError):
    """The process model is stored for viewing but cannot be started."""

    http_status = 422
    title = "Process cannot be started"


class TooManyAttempts(EngineError):
    """Sign-in refused for a while after repeated failures."""

    http_status = 429
    title = "Too many attempts"
