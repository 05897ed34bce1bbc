"""Schemas of the history, simulation and submission operations, and the pages of tasks,
instances and events (re-exported by `web.api.schemas`, after the others: the OpenAPI document
lists them in this order)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from web.api.schemas import (
    MAX_ADVANCE_DAYS,
    InstanceSchema,
    TaskSchema,
    _object,
    page_of,
)

# -- history -------------------------------------------------------------------------------


class EventSchema(Schema):
    id = fields.Integer(required=True)
    chain = fields.String(required=True)
    seq = fields.Integer(required=True)
    instance_id = fields.Integer(allow_none=True)
    process_version_id = fields.Integer(allow_none=True)
    kind = fields.String(required=True)
    at = fields.String(required=True, metadata={"description": "ISO 8601 UTC, as hashed."})
    actor = fields.String(allow_none=True)
    country = fields.String(allow_none=True)
    element_id = fields.String(allow_none=True)
    element_name = fields.String(allow_none=True)
    data = _object(required=True)
    prev_hash = fields.String(required=True)
    hash = fields.String(required=True)


class VerifySchema(Schema):
    chain = fields.String(required=True)
    intact = fields.Boolean(required=True)
    events = fields.Integer(required=True, metadata={"description": "Events verified."})
    first_broken = _object(
        allow_none=True, metadata={"description": "`{seq, id, problem}` of the first bad event."}
    )


# -- simulation ----------------------------------------------------------------------------


class ClockSchema(Schema):
    now = fields.DateTime(required=True)
    simulated = fields.Boolean(required=True)


class AdvanceSchema(Schema):
    days = fields.Integer(load_default=0, validate=validate.Range(0, MAX_ADVANCE_DAYS))
    seconds = fields.Integer(load_default=0, validate=validate.Range(0, MAX_ADVANCE_DAYS * 86400))

    @validates_schema
    def _some_time(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("days") and not data.get("seconds"):
            raise ValidationError("Give `days` or `seconds` (more than zero).", "days")


class AdvanceResultSchema(ClockSchema):
    fired = fields.Integer(
        required=True, metadata={"description": "Timer firings (instances run)."}
    )


TaskPageSchema = page_of(
    TaskSchema,
    "TaskPageSchema",
    total_capped=fields.Boolean(
        required=True,
        metadata={
            "description": "The count stopped early: there are more than `total` tasks (and "
            "more than `pages` pages); keep following `page + 1` while a page is full."
        },
    ),
)
InstancePageSchema = page_of(InstanceSchema, "InstancePageSchema")
EventPageSchema = page_of(EventSchema, "EventPageSchema")


class SubmissionQuerySchema(Schema):
    element = fields.String(
        load_default=None, metadata={"description": "Only this element's submissions."}
    )


class SubmissionSchema(Schema):
    id = fields.Integer(required=True)
    instance_id = fields.Integer(required=True)
    element_id = fields.String(required=True)
    element_name = fields.String(required=True)
    task_id = fields.String(required=True)
    round = fields.Integer(
        required=True,
        metadata={"description": "1 for the element's first submission, 2 for the next, ..."},
    )
    lane = fields.String(allow_none=True)
    submitted_by = fields.String(required=True)
    submitted_at = fields.String(required=True, metadata={"description": "ISO 8601 UTC."})
    data = _object(
        required=True,
        metadata={"description": "As submitted; internal fields left out for country users."},
    )
    attachments = fields.List(_object(), required=True)


class SubmissionListSchema(Schema):
    items = fields.List(fields.Nested(SubmissionSchema), required=True)
