"""Tables. What the UI queries (ready tasks, due timers, instance status, history) lives in
indexed columns; the SpiffWorkflow state is an opaque JSON document per instance.

One module per kind of table (`processes`, `people`, `records`); importing this package
registers every table on `Base.metadata`, and every table is importable from here.
"""

from engine.store.models.columns import UTCDateTime
from engine.store.models.people import (
    ApiToken,
    ClaimMapping,
    ExternalIdentity,
    LoginAttempt,
    User,
    WebSession,
)
from engine.store.models.processes import (
    HumanTask,
    Instance,
    ProcessModel,
    ProcessVersion,
    TimerJob,
)
from engine.store.models.records import Attachment, AuditEvent, OutboxMessage, Submission

__all__ = [
    "ApiToken",
    "Attachment",
    "AuditEvent",
    "ClaimMapping",
    "ExternalIdentity",
    "HumanTask",
    "Instance",
    "LoginAttempt",
    "OutboxMessage",
    "ProcessModel",
    "ProcessVersion",
    "Submission",
    "TimerJob",
    "User",
    "UTCDateTime",
    "WebSession",
]
