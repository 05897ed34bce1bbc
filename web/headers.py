"""Security headers on every response the app sends (pages, the API, static files).

Pages allow scripts only from this site (no inline script, no `eval`), cannot be framed, and do
not leak their address to other sites. Responses that set their own policy (stored files, see
`web.served`) keep it.
"""

from __future__ import annotations

from flask import Flask, Response

PAGE_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # bpmn-js positions and colours SVG elements with style attributes; styles cannot run code.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
"""Content-Security-Policy of every page and API answer."""

HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    # Names no server software or version (granian would say `granian`).
    "Server": "pathfinder",
}


_BY_KEY = [(name.lower(), name, value) for name, value in HEADERS.items()]


def add_security_headers(response: Response) -> Response:
    """Set each security header the response does not already carry (one pass over the
    response's headers, where `setdefault` would scan them twice per header)."""
    present = {name.lower() for name in response.headers.keys()}  # noqa: SIM118 - a multidict
    for key, name, value in _BY_KEY:
        if key not in present:
            response.headers.add(name, value)
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
