"""Serving stored files (diagrams, forms, exports, attachments) so they never run in our origin.

Anything a user uploaded or the app stores can carry markup a browser would execute: a BPMN file
may hold `<html:script>` inside `bpmn:documentation`, and served as `application/xml` it would run
with the signed-in user's rights. Every route that returns such a file goes through
`stored_file`: shown inline only as `text/plain`, otherwise as a download, always with `nosniff`
and a CSP that sandboxes the document and allows it to load nothing.
"""

from __future__ import annotations

import io
from typing import IO

from flask import Response, send_file

SANDBOX_CSP = "sandbox; default-src 'none'"
"""Content-Security-Policy of every stored file: no script, no plugin, a unique opaque origin."""


def protect(response: Response, *, cache: str = "private, no-store") -> Response:
    """Add the headers that stop a browser from sniffing, running or framing a stored file."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = SANDBOX_CSP
    response.headers["Cache-Control"] = cache
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


def stored_file(
    content: str | bytes | IO[bytes],
    filename: str,
    *,
    download: bool = True,
    mimetype: str = "application/octet-stream",
    etag: str | None = None,
    cache: str = "private, no-store",
) -> Response:
    """A stored file as a response that cannot execute in the app's origin.

    `download=True` sends it as an attachment with `mimetype`; `download=False` shows text inline
    as `text/plain; charset=utf-8` whatever it contains (scripts fetch diagrams this way).
    """
    if isinstance(content, str):
        content = content.encode("utf-8")
    if not download:
        if not isinstance(content, bytes):
            content = content.read()
        response = Response(content, mimetype="text/plain")
        response.headers["Content-Disposition"] = "inline"
        return protect(response, cache=cache)
    stream = io.BytesIO(content) if isinstance(content, bytes) else content
    response = send_file(
        stream,
        mimetype=mimetype,
        as_attachment=True,
        download_name=filename,
        conditional=False,
        etag=etag if etag is not None else False,
        max_age=0,
    )
    return protect(response, cache=cache)
