"""Marshmallow schemas for every request and response of the API; the OpenAPI document is
generated from them, so the reference cannot drift from the code."""

# ruff: noqa: E402  (the history schemas are imported after the others, to keep their order)

from __future__ import annotations

from typing import Any

from flask_smorest.fields import Upload
from marshmallow import INCLUDE, Schema, fields, validate

MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000
"""Larger page numbers are refused: they can only be mistakes, and SQL offsets stay sane."""

INSTANCE_STATUSES = ("running", "suspended", "completed", "cancelled", "error")
TASK_SORTS = ("due", "-due", "created", "-created", "name")
MAX_ADVANCE_DAYS = 3660
"""The simulation moves at most ten years per call."""

JSON_OBJECT = {"type": "object", "additionalProperties": True}


def _object(**kw: Any) -> fields.Dict:
    """A free-form JSON object (task and instance data, form schemas)."""
    return fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True), **kw)


class ProblemSchema(Schema):
    """An RFC 9457 problem: every error the API returns has this shape. Extension members
    (e.g. `instance_id`, `task_id`) may follow."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(required=True, metadata={"description": "URI naming the kind of problem."})
    title = fields.String(required=True, metadata={"description": "Short summary of the kind."})
    status = fields.Integer(required=True, metadata={"description": "The HTTP status code."})
    detail = fields.String(required=True, metadata={"description": "What happened, for people."})
    errors = fields.Raw(
        metadata={
            "description": "Field errors keyed by field path (422 on data), or a list of "
            "`{element_id, element_name, file, line, message, code, severity}` (422 on a model)."
        }
    )


# -- pagination ----------------------------------------------------------------------------


class PageQuerySchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(1, MAX_PAGE))
    per_page = fields.Integer(load_default=25, validate=validate.Range(1, MAX_PER_PAGE))


class _PageSchema(Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True, metadata={"description": "Items across all pages."})
    pages = fields.Integer(required=True, metadata={"description": "Number of pages (at least 1)."})


def page_of(item: type[Schema], name: str, **extra: fields.Field[Any]) -> type[Schema]:
    """A page envelope `{items, page, per_page, total, pages}` around `item` (plus `extra`)."""
    return type(
        name, (_PageSchema,), {"items": fields.List(fields.Nested(item), required=True), **extra}
    )


# -- auth ----------------------------------------------------------------------------------


class TokenRequestSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(1, 150))
    password = fields.String(required=True, validate=validate.Length(1, 1024))
    name = fields.String(
        load_default="api", validate=validate.Length(1, 200), metadata={"description": "A label."}
    )
    expires_in_days = fields.Integer(
        load_default=90,
        allow_none=True,
        validate=validate.Range(1, 365),
        metadata={
            "description": "Lifetime in days (1-365, at most the server's "
            "PATHFINDER_TOKEN_MAX_DAYS; null: that maximum). Every token expires. Default 90."
        },
    )


class TokenSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    prefix = fields.String(
        required=True, metadata={"description": "First characters, to tell tokens apart."}
    )
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class NewTokenSchema(TokenSchema):
    token = fields.String(required=True, metadata={"description": "Shown once: store it now."})
    token_type = fields.String(required=True, metadata={"description": "Always `Bearer`."})


class MeSchema(Schema):
    username = fields.String(required=True)
    display_name = fields.String(allow_none=True)
    roles = fields.List(fields.String(), required=True)
    country = fields.String(allow_none=True)
    read_only = fields.Boolean(required=True, metadata={"description": "True for auditors."})
    auth = fields.String(required=True, metadata={"description": "`token` or `session`."})


# -- process models ------------------------------------------------------------------------


class DeployResultSchema(Schema):
    key = fields.String(required=True)
    version = fields.Integer(required=True)
    created = fields.Boolean(
        required=True, metadata={"description": "False: same content as before."}
    )
    executable = fields.Boolean(required=True)


class UploadSchema(Schema):
    files = fields.List(
        Upload(),
        metadata={
            "description": "`.bpmn`/`.dmn` diagrams and the `.json` form files they reference "
            "(repeat the field for each file)."
        },
    )


class ProcessModelSchema(Schema):
    key = fields.String(required=True)
    name = fields.String(allow_none=True)
    latest_version = fields.Integer(allow_none=True)
    executable = fields.Boolean(required=True, metadata={"description": "Of the latest version."})
    start_roles = fields.List(fields.String(), required=True)
    created_at = fields.DateTime(required=True)


class ProcessVersionSchema(Schema):
    version = fields.Integer(required=True)
    name = fields.String(allow_none=True)
    executable = fields.Boolean(required=True)
    not_executable_reason = fields.String(allow_none=True)
    main_file = fields.String(required=True)
    files = fields.List(fields.String(), required=True)
    forms = fields.List(fields.String(), required=True)
    lanes = fields.List(fields.String(), required=True)
    warnings = fields.List(_object(), required=True)
    deployed_by = fields.String(required=True)
    deployed_at = fields.DateTime(required=True)
    active_instances = fields.Integer(required=True)


class ProcessModelDetailSchema(ProcessModelSchema):
    versions = fields.List(fields.Nested(ProcessVersionSchema), required=True)


# -- tasks ---------------------------------------------------------------------------------


class FormSchema(Schema):
    schema = _object(required=True, metadata={"description": "JSON Schema of the task's data."})
    ui_schema = _object(required=True, metadata={"description": "Layout hints (may be empty)."})


class TaskSummarySchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True, metadata={"description": "The BPMN element id."})
    title = fields.String(required=True, metadata={"description": "The task's name, for people."})
    lane = fields.String(allow_none=True)
    instance_id = fields.Integer(required=True)
    process_key = fields.String(required=True)
    country = fields.String(allow_none=True)
    state = fields.String(required=True)
    due_at = fields.DateTime(allow_none=True)
    claimed_by = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)


class TaskSchema(TaskSummarySchema):
    instructions = fields.String(allow_none=True)
    instance_version = fields.Integer(
        required=True, metadata={"description": "Pass as `expected_version` when completing."}
    )
    draft = _object(allow_none=True)
    form = fields.Nested(FormSchema, allow_none=True)


class TaskQuerySchema(PageQuerySchema):
    instance_id = fields.Integer(
        validate=validate.Range(1, 2**31 - 1),
        metadata={
            "description": "Only this instance's open tasks (its next task(s), without "
            "scanning the inbox)."
        },
    )
    process_key = fields.String(validate=validate.Length(1, 200))
    country = fields.String(validate=validate.Length(3, 3))
    stage = fields.String(validate=validate.Length(1, 100))
    lane = fields.String(validate=validate.Length(1, 200))
    overdue = fields.Boolean(load_default=False)
    due_within_days = fields.Integer(validate=validate.Range(0, 3660))
    claimed_by = fields.String(
        validate=validate.Length(1, 150), metadata={"description": "A username, or `me`."}
    )
    sort = fields.String(load_default="due", validate=validate.OneOf(TASK_SORTS))


class ClaimSchema(Schema):
    assignee = fields.String(
        validate=validate.Length(1, 150),
        metadata={"description": "Assign to a colleague (Secretariat and admins only)."},
    )


class CompleteSchema(Schema):
    data = _object(load_default=dict, metadata={"description": "The form's fields."})
    expected_version = fields.Integer(
        validate=validate.Range(0, 2**31 - 1),
        metadata={
            "description": "The task's `instance_version`: 409 if the instance changed since."
        },
    )


class DraftSchema(Schema):
    data = _object(required=True)


class AttachmentUploadSchema(Schema):
    field = fields.String(
        required=True,
        validate=validate.Length(1, 200),
        metadata={
            "description": "The form's file field (a property with `format: attachment`), "
            "dotted for nested fields."
        },
    )
    file = Upload(
        required=True,
        metadata={
            "description": "The document: PDF, Office (docx/xlsx/pptx, doc/xls/ppt), PNG/JPEG/"
            "GIF or CSV/plain text, as the field's `x-accept` allows; checked by content."
        },
    )


class AttachmentSchema(Schema):
    id = fields.String(
        required=True, metadata={"description": "Put this in the completion data's field."}
    )
    filename = fields.String(required=True, metadata={"description": "The sanitised file name."})
    size = fields.Integer(required=True, metadata={"description": "Bytes."})
    sha256 = fields.String(required=True, metadata={"description": "SHA-256 of the content, hex."})


# -- instances -----------------------------------------------------------------------------


class StartInstanceSchema(Schema):
    process_key = fields.String(required=True, validate=validate.Length(1, 200))
    version = fields.Integer(
        validate=validate.Range(1, 2**31 - 1), metadata={"description": "Default: latest."}
    )
    data = _object(
        load_default=dict, metadata={"description": 'Start data, e.g. `{"country": "NPL"}`.'}
    )


class InstanceQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(INSTANCE_STATUSES))
    stage = fields.String(validate=validate.Length(1, 100))
    country = fields.String(validate=validate.Length(3, 3))
    process_key = fields.String(validate=validate.Length(1, 200))


class InstanceSchema(Schema):
    id = fields.Integer(required=True)
    process_key = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "Process model version."})
    status = fields.String(required=True, validate=validate.OneOf(INSTANCE_STATUSES))
    country = fields.String(allow_none=True)
    stage = fields.String(allow_none=True)
    label = fields.String(allow_none=True)
    business_key = fields.String(allow_none=True)
    started_by = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    completed_at = fields.DateTime(allow_none=True)
    lock_version = fields.Integer(required=True)


class InstanceDetailSchema(InstanceSchema):
    data = _object(required=True)
    error_element_id = fields.String(allow_none=True)
    error_message = fields.String(allow_none=True)
    open_tasks = fields.List(fields.Nested(TaskSummarySchema), required=True)


class ReasonSchema(Schema):
    reason = fields.String(load_default="", validate=validate.Length(0, 1000))


class MessageSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    payload = _object(load_default=dict)


# The history, simulation and submission schemas and the pages (defined after the above).
from web.api.history_schemas import (  # noqa: E402, F401  (re-exported)
    AdvanceResultSchema as AdvanceResultSchema,
)
from web.api.history_schemas import (
    AdvanceSchema as AdvanceSchema,
)
from web.api.history_schemas import (
    ClockSchema as ClockSchema,
)
from web.api.history_schemas import (
    EventPageSchema as EventPageSchema,
)
from web.api.history_schemas import (
    EventSchema as EventSchema,
)
from web.api.history_schemas import (
    InstancePageSchema as InstancePageSchema,
)
from web.api.history_schemas import (
    SubmissionListSchema as SubmissionListSchema,
)
from web.api.history_schemas import (
    SubmissionQuerySchema as SubmissionQuerySchema,
)
from web.api.history_schemas import (
    SubmissionSchema as SubmissionSchema,
)
from web.api.history_schemas import (
    TaskPageSchema as TaskPageSchema,
)
from web.api.history_schemas import (
    VerifySchema as VerifySchema,
)
