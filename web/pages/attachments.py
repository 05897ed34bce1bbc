"""Downloading attached documents: only for those who may see the instance, never rendered
inline (always `Content-Disposition: attachment`, `nosniff`, a sandboxing CSP)."""

from __future__ import annotations

from typing import BinaryIO

from flask import Blueprint, Response

from engine import AttachmentInfo
from web.auth import login_required
from web.pages.common import actor, engine
from web.served import stored_file

bp = Blueprint("attachments", __name__, url_prefix="/attachments")


def download_response(info: AttachmentInfo, content: BinaryIO) -> Response:
    """The file as a download with headers that stop a browser from running or sniffing it."""
    return stored_file(content, info.filename, mimetype=info.content_type, etag=info.sha256)


@bp.get("/<uuid:attachment_id>")
@login_required
def download(attachment_id: object) -> Response:
    """Another country's document answers 404, exactly like one that does not exist."""
    info, content = engine().open_attachment(str(attachment_id), actor())
    return download_response(info, content)
