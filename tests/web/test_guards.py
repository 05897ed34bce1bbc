"""NUL characters are refused with a clear 422 before they reach the database (PostgreSQL cannot
store them), on the API and on pages alike."""

from __future__ import annotations

from engine import Settings
from web import create_app


def test_api_refuses_nul_with_problem_json(settings: Settings) -> None:
    client = create_app(settings).test_client()
    response = client.post(
        "/api/v1/auth/token", json={"username": "ad\x00min", "password": "x" * 10}
    )
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.json["errors"] == {"username": "Remove the NUL (\\0) character."}


def test_login_page_refuses_nul(settings: Settings) -> None:
    app = create_app(settings, config={"WTF_CSRF_ENABLED": False})
    response = app.test_client().post("/login", data={"username": "a\x00", "password": "whatever1"})
    assert response.status_code == 422
    assert b"NUL" in response.data
