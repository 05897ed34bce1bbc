"""`/attachments/{id}`: downloading a document attached to a task."""

from __future__ import annotations

from uuid import UUID

from flask import Response

from engine import FILE_KINDS
from web.api.auth import current_actor, get_engine
from web.api.blueprint import ApiBlueprint
from web.pages.attachments import download_response

blp = ApiBlueprint(
    "attachments", __name__, url_prefix="/attachments", description="Attached documents."
)

BINARY = {"schema": {"type": "string", "format": "binary"}}
CONTENT = {kind.content_type.split(";")[0]: BINARY for kind in FILE_KINDS.values()}


@blp.route("/<uuid:attachment_id>")
@blp.doc(
    responses={
        "200": {
            "description": "The document, as a download (`Content-Disposition: attachment`, "
            "`X-Content-Type-Options: nosniff`).",
            "content": CONTENT,
        }
    }
)
@blp.alt_response(404, response="Problem404")
def download(attachment_id: UUID) -> Response:
    """Download an attached document

    Same rules as the instance it belongs to: country users only their own country's (another
    country's answers 404, as if it did not exist); a file not yet submitted with its task only
    by whoever uploaded it.
    """
    info, content = get_engine().open_attachment(str(attachment_id), current_actor())
    return download_response(info, content)
