"""Shared fixtures: a fresh migrated database per test, a virtual clock, an engine on both.

SQLite by default (a migrated template file copied per test). With TEST_DATABASE_URL pointing at
PostgreSQL, each xdist worker gets its own database, migrated once and truncated between tests.
"""

from __future__ import annotations

import gc
import hashlib
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from engine import Actor, Engine, Settings, VirtualClock
from engine.store.db import Base
from engine.store.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
START = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)

pytest_plugins = [
    "tests.fixtures.bpmn_files",
    "tests.fixtures.oidc",
    "tests.fixtures.statements",
    "tests.processes.coverage",
]


def _pg_url(worker: str) -> str | None:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        return None
    url = make_url(base)
    # One database per checkout and xdist worker: two checkouts testing against the same server
    # at once would otherwise drop and truncate each other's databases mid-run.
    tree = hashlib.sha256(str(ROOT).encode()).hexdigest()[:6]
    name = f"{url.database}_pf_{tree}_{worker}"
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def _database_template(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> str:
    """A migrated database made once per test process: an SQLite file, or a PostgreSQL DB."""
    pg = _pg_url(worker_id)
    if pg:
        url = make_url(pg)
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{url.database}"'))
        admin.dispose()
        upgrade(pg)
        return pg
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return str(path)


@pytest.fixture(autouse=True)
def _close_pools_of_dropped_engines() -> Iterator[None]:
    """On PostgreSQL, close the connection pools of the engines a test dropped.

    An `Engine` and its handles (`engine.people` and the like) refer to each other, so a dropped
    engine waits for the cycle collector, holding its pooled connections meanwhile; over a few
    hundred tests one worker held 50 and the server refused new clients. One process runs one
    engine in production, so this is a test-suite matter only.
    """
    yield
    if os.environ.get("TEST_DATABASE_URL"):
        gc.collect()


@pytest.fixture
def database_url(_database_template: str, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database for this test."""
    if "://" in _database_template:
        eng = create_engine(_database_template)
        with eng.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        eng.dispose()
        yield _database_template
        return
    path = tmp_path / "pathfinder.db"
    shutil.copy(_database_template, path)
    yield f"sqlite:///{path}"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, secret_key="test-secret", var_dir=tmp_path / "var")


@pytest.fixture
def engine(settings: Settings, clock: VirtualClock) -> Engine:
    return Engine.from_settings(settings, clock)


@pytest.fixture
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture
def actors() -> dict[str, Actor]:
    """One actor per role (country users for Nepal and Kenya)."""
    return {
        "admin": Actor("ada", ["admin"]),
        "owner": Actor("olu", ["process_owner"]),
        "secretariat": Actor("sam", ["secretariat"]),
        "chair": Actor("chris", ["chair"]),
        "gcg": Actor("gus", ["gcg"]),
        "country": Actor("nima", ["country"], country="NPL"),
        "other_country": Actor("kofi", ["country"], country="KEN"),
        "auditor": Actor("aud", ["auditor"]),
    }
