"""Health endpoints answer without signing in and report the database."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import Settings
from web import create_app


def test_healthz_and_readyz(settings: Settings) -> None:
    client = create_app(settings).test_client()
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json == {"status": "ready", "database": "ok"}


def test_readyz_reports_an_unreachable_database(tmp_path: Path) -> None:
    # Nothing listens on port 1 of the loopback: the connection is refused at once.
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    client = create_app(Settings(database_url=url, secret_key="x", var_dir=tmp_path)).test_client()
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "OperationalError"}


def test_readyz_fails_while_another_writer_holds_the_database(settings: Settings) -> None:
    import dataclasses
    import sqlite3

    if not settings.database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL has no database-wide write lock; SQLite (the default) has")
    app = create_app(dataclasses.replace(settings, readyz_timeout=0.2))
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    # A stuck writer (as a runaway engine run used to be) holds SQLite's write lock.
    holder = sqlite3.connect(settings.database_url.split("///", 1)[1], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json == {"status": "unavailable", "database": "OperationalError"}
        assert client.get("/healthz").status_code == 200
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert client.get("/readyz").status_code == 200


def test_every_answer_says_what_it_cost_the_server(settings: Settings) -> None:
    import re

    client = create_app(settings).test_client()
    for path in ("/healthz", "/login", "/static/app.css"):
        header = client.get(path).headers.get("Server-Timing", "")
        found = re.fullmatch(r"app;dur=([0-9.]+), cpu;dur=([0-9.]+)", header)
        assert found, f"{path}: {header!r}"
        assert float(found.group(2)) <= float(found.group(1)) * 2 + 5  # CPU within reach of wall
