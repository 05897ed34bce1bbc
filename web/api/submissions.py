"""`/instances/{id}/submissions`: what each completed task submitted, as its own record."""

from __future__ import annotations

from typing import Any

from engine.records import submissions
from web.api.auth import current_actor, get_engine
from web.api.blueprint import ID, ApiBlueprint
from web.api.representations import visible_instance
from web.api.schemas import SubmissionListSchema, SubmissionQuerySchema

blp = ApiBlueprint(
    "submissions",
    __name__,
    url_prefix=f"/instances/<{ID}:instance_id>/submissions",
    description="Each completed task's submission, never changed by later tasks.",
)


@blp.route("")
@blp.arguments(SubmissionQuerySchema, location="query")
@blp.response(200, SubmissionListSchema)
@blp.alt_response(404, response="Problem404")
def list_submissions(args: dict[str, Any], instance_id: int) -> dict[str, Any]:
    """An instance's submissions in the order they were made (filter with `element`)"""
    actor = current_actor()
    with get_engine().session() as session:
        instance = visible_instance(session, actor, instance_id)
        found = submissions.for_actor(session, instance, actor)
    element = args.get("element")
    return {"items": [s.to_dict() for s in found if not element or s.element_id == element]}
