"""Pathfinder's workflow engine: deployments, instances, one clock, sandboxed scripts, audit.

The engine never imports flask or the web package; the web app, the CLI, the worker and the tests
all drive it through these names.
"""

import engine._startup  # noqa: F401  (first: keeps jsonschema's import cheap)
from engine import i18n
from engine.bpmn.deployments import DeployResult
from engine.bpmn.forms import FormDefinition, field_errors, file_fields, file_rule
from engine.bpmn.given_rows import read_only_fields, with_given_rows
from engine.bpmn.messages import MessageRefused, MessageRule
from engine.bpmn.parsing import Problem, ValidationFailed
from engine.bpmn.processes import ProcessInfo, VersionInfo
from engine.clock import Clock, SystemClock, VirtualClock
from engine.config import PROJECT_ROOT, OidcProvider, Settings
from engine.core import (
    Engine,
    as_engine_error,
    database_revision,
    seed_demo,
    upgrade_database,
)
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
from engine.mail.mailer import MailConfig
from engine.mail.transports import mail_files
from engine.people import permissions
from engine.people.access import ROLES, SYSTEM, Actor
from engine.people.handles import Person, TokenView
from engine.people.sessions import ProviderSession
from engine.records.attachments import AttachmentInfo, value_at
from engine.records.audit import EventFilter
from engine.records.filetypes import KINDS as FILE_KINDS
from engine.records.filetypes import describe_accept, human_size
from engine.records.handles import SearchResult, Submissions, Timeline, VersionRow
from engine.records.history import verify_export
from engine.records.paging import Page
from engine.records.reads import (
    CasePage,
    Colleague,
    InstanceDetail,
    InstanceView,
    ProcedureView,
    TaskDetail,
    TaskPage,
    TaskView,
)
from engine.records.submissions import SubmissionInfo
from engine.runtime.submission_flow import SubmitAction, SubmitResult, Upload
from engine.runtime.worker import Worker
from engine.states import (
    AttachmentState,
    EventKind,
    InstanceStatus,
    OutboxState,
    TaskState,
    TimerState,
)

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
    "field_errors",
    "file_rule",
    "read_only_fields",
    "with_given_rows",
    "human_size",
    "AttachmentState",
    "EventKind",
    "InstanceStatus",
    "OutboxState",
    "TaskState",
    "TimerState",
    "ROLES",
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
    "ProviderSession",
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
    "i18n",
    "CasePage",
    "Colleague",
    "EventFilter",
    "InstanceDetail",
    "InstanceView",
    "Page",
    "ProcedureView",
    "SearchResult",
    "TaskDetail",
    "TaskPage",
    "TaskView",
    "Timeline",
    "VersionRow",
    "Submissions",
    "file_fields",
    "value_at",
]
