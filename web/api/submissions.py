"""`/instances/{id}/submissions`: what each completed task submitted, as its own record."""

from __future__ import annotations

from typing import Any

from web.api.auth import current_actor, get_engine
from web.api.blueprint import ID, ApiBlueprint
from web.api.representations import instance_or_404
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
    found = instance_or_404(
        instance_id, lambda: get_engine().submissions.for_actor(actor, instance_id)
    )
    element = args.get("element")
    return {"items": [s.to_dict() for s in found if not element or s.element_id == element]}
