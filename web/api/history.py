"""`/instances/{id}/history`: the audit trail of an instance and a check that it is intact."""

from __future__ import annotations

from typing import Any

from web.api.auth import current_actor, get_engine
from web.api.blueprint import ID, ApiBlueprint
from web.api.representations import instance_or_404
from web.api.schemas import EventPageSchema, PageQuerySchema, VerifySchema

blp = ApiBlueprint(
    "history",
    __name__,
    url_prefix=f"/instances/<{ID}:instance_id>/history",
    description="Hash-chained audit events.",
)


@blp.route("")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, EventPageSchema)
@blp.alt_response(404, response="Problem404")
def list_events(args: dict[str, Any], instance_id: int) -> dict[str, Any]:
    """An instance's audit events, oldest first (paginated)"""
    page, per_page = args["page"], args["per_page"]
    me = current_actor()
    found = instance_or_404(
        instance_id,
        lambda: get_engine().audit.events(me, instance_id, page=page, per_page=per_page),
    )
    return {
        "items": found.items,
        "page": found.page,
        "per_page": found.per_page,
        "total": found.total,
        "pages": found.pages,
    }


@blp.route("/verify")
@blp.response(200, VerifySchema)
@blp.alt_response(404, response="Problem404")
def verify(instance_id: int) -> dict[str, Any]:
    """Check the instance's hash chain: `intact`, events checked, and the first broken event"""
    me = current_actor()
    report = instance_or_404(instance_id, lambda: get_engine().audit.verify_chain(me, instance_id))
    return {
        "chain": report.chain,
        "intact": report.intact,
        "events": report.events,
        "first_broken": report.first_broken,
    }
