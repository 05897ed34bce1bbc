"""Auditor pages: the list of signed checkpoints, and verifying the database against one."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from engine import Actor, Engine, Settings, VirtualClock
from tests.engine.records.test_audit import country_with_two_reviews
from tests.fixtures.tamper import rewrite_chain
from tests.web.conftest import Web
from web.pages import audit as audit_views


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return dataclasses.replace(settings, checkpoint_key=tmp_path / "keys" / "checkpoint.pem")


@pytest.fixture
def auditor(app: Flask, login: Callable[[str], Web]) -> Web:
    if "audit" not in app.blueprints:
        app.register_blueprint(audit_views.bp)
    return login("aud")


@pytest.fixture
def nepal_id(deployed: Engine, clock: VirtualClock, users: dict[str, Actor]) -> int:
    return country_with_two_reviews(deployed, clock, deploy=False).id


def test_checkpoints_are_listed_and_verify(auditor: Web, deployed: Engine, nepal_id: int) -> None:
    assert 'id="no-checkpoints"' in auditor.html("/audit/checkpoints")
    path = deployed.checkpoints.write(actor="cli")
    page = auditor.html("/audit/checkpoints")
    assert f'data-name="{path.name}"' in page and "Verify against this checkpoint" in page

    verdict = auditor.html(f"/audit/checkpoints/{path.name}")
    assert 'data-intact="1"' in verdict
    assert "The database still extends all 2 chain heads of this checkpoint." in verdict


def test_a_chain_rewritten_in_sql_is_named_against_the_checkpoint(
    auditor: Web, deployed: Engine, nepal_id: int
) -> None:
    path = deployed.checkpoints.write(actor="cli")
    rewrite_chain(deployed.sessions, nepal_id, {"approved": False})
    # The chain alone still looks intact ...
    assert "✓ intact" in auditor.html("/audit/verify")
    # ... the checkpoint does not.
    verdict = auditor.html(f"/audit/checkpoints/{path.name}")
    assert 'data-intact="0"' in verdict
    assert "1 of 2 chains were rewritten after this checkpoint." in verdict
    assert f"<strong>instance:{nepal_id}</strong>" in verdict


def test_unknown_or_crafted_names_are_not_found(auditor: Web, deployed: Engine) -> None:
    deployed.checkpoints.write(actor="cli")
    auditor.html("/audit/checkpoints/checkpoint-20270101T000000Z-00000000.json", status=404)
    auditor.html("/audit/checkpoints/..%2F..%2Fetc%2Fpasswd", status=404)


def test_country_users_may_not_see_checkpoints(login: Callable[[str], Web], app: Flask) -> None:
    if "audit" not in app.blueprints:
        app.register_blueprint(audit_views.bp)
    web = login("nima")
    assert web.get("/audit/checkpoints").status_code in (403, 404)


def test_checkpoints_are_paged(
    auditor: Web,
    deployed: Engine,
    nepal_id: int,
    clock: VirtualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audit_views, "CHECKPOINTS_PER_PAGE", 1)
    first = deployed.checkpoints.write(actor="cli")
    clock.advance(timedelta(hours=1))
    second = deployed.checkpoints.write(actor="cli")
    page_one = auditor.html("/audit/checkpoints")
    assert f'data-name="{second.name}"' in page_one and first.name not in page_one
    assert "Page 1 of 2" in page_one
    page_two = auditor.html("/audit/checkpoints?page=2")
    assert f'data-name="{first.name}"' in page_two and second.name not in page_two
    assert f'data-name="{first.name}"' in auditor.html("/audit/checkpoints?page=99")  # the last
