"""The REST API under /api/v1 (filled in by the API work)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the API on `app`."""
