"""Pathfinder's workflow engine: deployments, instances, one clock, sandboxed scripts, audit.

The engine never imports flask or the web package; the web app, the CLI, the worker and the tests
all drive it through these names.
"""

import engine._startup  # noqa: F401  (first: keeps jsonschema's import cheap)
from engine import permissions
from engine.access import SYSTEM, Actor
from engine.clock import Clock, SystemClock, VirtualClock
from engine.config import Settings
from engine.core import Engine
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
from engine.handles import Person, TokenView
from engine.messages import MessageRefused, MessageRule
from engine.parsing import Problem, ValidationFailed
from engine.states import (
    AttachmentState,
    EventKind,
    InstanceStatus,
    OutboxState,
    TaskState,
    TimerState,
)
from engine.submission_flow import SubmitAction, SubmitResult, Upload

__all__ = [
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
    "Person",
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
