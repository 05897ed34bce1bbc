"""The words the engine stores for statuses, states and audit event kinds, as enums.

Each is a `StrEnum`: a member is the very string stored in the database and shown in exports
(`InstanceStatus.RUNNING == "running"`), so rows written before these enums existed read the same.
"""

from __future__ import annotations

from enum import StrEnum


class InstanceStatus(StrEnum):
    """Where a process instance stands (`instances.status`)."""

    RUNNING = "running"
    """Working: it has open tasks or waits for a timer or a message."""
    SUSPENDED = "suspended"
    """Paused by a manager; timers and tasks wait until it is resumed."""
    ERROR = "error"
    """Stopped by an incident (a failing script, condition or timer); a manager retries it."""
    COMPLETED = "completed"
    """Reached its end."""
    CANCELLED = "cancelled"
    """Ended by a manager, with a reason."""


ACTIVE_STATUSES = (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED, InstanceStatus.ERROR)
"""Statuses of instances that have not ended."""


class TaskState(StrEnum):
    """Where a human task stands (`human_tasks.state`)."""

    READY = "ready"
    """Open: someone in its lane may do it."""
    COMPLETED = "completed"
    """Done, with a submission."""
    CANCELLED = "cancelled"
    """Withdrawn by the process (a boundary event, a cancelled instance)."""


class TimerState(StrEnum):
    """Where a timer job stands (`timer_jobs.state`)."""

    WAITING = "waiting"
    """Due at `due_at`; a worker fires it then."""
    INCIDENT = "incident"
    """Failed every retry; shown as an incident on its instance."""


class AttachmentState(StrEnum):
    """Where an uploaded document stands (`attachments.state`)."""

    UPLOADED = "uploaded"
    """Stored for a form not yet submitted; only its uploader sees it."""
    ATTACHED = "attached"
    """Part of a submitted form; its hash is on the audit trail."""


class OutboxState(StrEnum):
    """Where a queued e-mail stands (`outbox.state`)."""

    PENDING = "pending"
    """To be sent (again, after a failed attempt, at `next_attempt_at`)."""
    DIGEST = "digest"
    """Held for the recipient's daily digest."""
    SENT = "sent"
    """Accepted by the mail server (or written to the mail folder)."""
    FAILED = "failed"
    """Refused on every attempt."""
    SKIPPED = "skipped"
    """Not sent: the recipient switched notifications off or was deactivated."""


class EventKind(StrEnum):
    """Every kind of audit event the engine records (`audit_events.kind`)."""

    INSTANCE_STARTED = "instance_started"
    INSTANCE_COMPLETED = "instance_completed"
    INSTANCE_CANCELLED = "instance_cancelled"
    INSTANCE_SUSPENDED = "instance_suspended"
    INSTANCE_RESUMED = "instance_resumed"
    INSTANCE_RETRIED = "instance_retried"
    INSTANCE_ERROR = "instance_error"
    INSTANCE_MIGRATED = "instance_migrated"
    INCIDENT = "incident"
    WARNING = "warning"
    STATUS_CHANGED = "status_changed"
    ELEMENT_COMPLETED = "element_completed"
    GATEWAY_DECISION = "gateway_decision"
    MESSAGE_RECEIVED = "message_received"
    TASK_READY = "task_ready"
    TASK_COMPLETED = "task_completed"
    TASK_CANCELLED = "task_cancelled"
    TASK_CLAIMED = "task_claimed"
    TASK_UNCLAIMED = "task_unclaimed"
    TASK_ASSIGNED = "task_assigned"
    TASK_TAKEN_OVER = "task_taken_over"
    TIMER_SCHEDULED = "timer_scheduled"
    TIMER_FIRED = "timer_fired"
    TIMER_CANCELLED = "timer_cancelled"
    TIMER_SKIPPED = "timer_skipped"
    TIMER_RETRY_SCHEDULED = "timer_retry_scheduled"
    MODEL_DEPLOYED = "model_deployed"
    LANE_ROLES_CHANGED = "lane_roles_changed"
    USER_CREATED = "user_created"
    USER_UPDATED = "user_updated"
    USER_ACTIVATED = "user_activated"
    USER_DEACTIVATED = "user_deactivated"
    USER_SIGNED_IN = "user_signed_in"
    USER_SIGNED_OUT_BY_PROVIDER = "user_signed_out_by_provider"
    USER_ROLES_MAPPED = "user_roles_mapped"
    PASSWORD_RESET = "password_reset"  # noqa: S105 (an event kind, not a password)
    SIGN_IN_REFUSED = "sign_in_refused"
    CLAIM_MAPPING_ADDED = "claim_mapping_added"
    CLAIM_MAPPING_DELETED = "claim_mapping_deleted"
    CHECKPOINT_WRITTEN = "checkpoint_written"
    UPLOADS_REMOVED = "uploads_removed"
    MAIL_RESENT = "mail_resent"


REACHED_KINDS = frozenset(
    {
        EventKind.ELEMENT_COMPLETED,
        EventKind.TASK_READY,
        EventKind.TASK_COMPLETED,
        EventKind.TIMER_SCHEDULED,
        EventKind.TIMER_FIRED,
    }
)
"""Events that mean the instance reached their element (diagram highlights)."""
