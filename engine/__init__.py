"""Pathfinder's workflow engine: deployments, instances, one clock, sandboxed scripts, audit.

The engine never imports flask or the web package; the web app, the CLI, the worker and the tests
all drive it through these names.
"""

import engine._startup  # noqa: F401  (first: keeps jsonschema's import cheap)
from engine import permissions
from engine.access import SYSTEM, Actor
from engine.attachments import AttachmentInfo
from engine.clock import Clock, SystemClock, VirtualClock
from engine.config import PROJECT_ROOT, OidcProvider, Settings
from engine.core import (
    Engine,
    as_engine_error,
    database_revision,
    seed_demo,
    upgrade_database,
)
from engine.deployments import DeployResult
from engine.errors import (
    Conflict,
    EngineError,
    Forbidden,
    InstanceNotRunnable,
    InvalidData,
    NotExecutable,
    NotFound,
    NotReady,
    TooManyAttempts,
)
from engine.filetypes import KINDS as FILE_KINDS
from engine.filetypes import describe_accept, human_size
from engine.forms import FormDefinition, file_rule
from engine.handles import Person, TokenView
from engine.history import verify_export
from engine.mailer import MailConfig, mail_files
from engine.messages import MessageRefused, MessageRule
from engine.parsing import Problem, ValidationFailed
from engine.processes import ProcessInfo, VersionInfo
from engine.states import (
    AttachmentState,
    EventKind,
    InstanceStatus,
    OutboxState,
    TaskState,
    TimerState,
)
from engine.submission_flow import SubmitAction, SubmitResult, Upload
from engine.submissions import SubmissionInfo
from engine.worker import Worker

__all__ = [
    "Worker",
    "as_engine_error",
    "database_revision",
    "seed_demo",
    "upgrade_database",
    "verify_export",
    "FILE_KINDS",
    "PROJECT_ROOT",
    "AttachmentInfo",
    "FormDefinition",
    "OidcProvider",
    "SubmissionInfo",
    "describe_accept",
    "file_rule",
    "human_size",
    "AttachmentState",
    "EventKind",
    "InstanceStatus",
    "OutboxState",
    "TaskState",
    "TimerState",
    "SYSTEM",
    "Actor",
    "Clock",
    "Conflict",
    "DeployResult",
    "Engine",
    "EngineError",
    "Forbidden",
    "InstanceNotRunnable",
    "InvalidData",
    "MessageRefused",
    "MessageRule",
    "NotExecutable",
    "NotFound",
    "NotReady",
    "MailConfig",
    "mail_files",
    "Person",
    "ProcessInfo",
    "VersionInfo",
    "TokenView",
    "TooManyAttempts",
    "Problem",
    "Settings",
    "SubmitAction",
    "SubmitResult",
    "SystemClock",
    "Upload",
    "ValidationFailed",
    "VirtualClock",
    "permissions",
]
