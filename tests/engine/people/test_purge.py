"""Old web sessions and sign-in attempts are deleted after PATHFINDER_SESSION_RETENTION_DAYS."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cli.main import main
from engine import Engine, Settings
from engine.store.models import LoginAttempt, WebSession


def _rows(engine: Engine) -> tuple[set[str], set[str]]:
    with engine.session() as s:
        sessions = set(s.execute(select(WebSession.end_reason)).scalars())
        attempts = set(s.execute(select(LoginAttempt.username)).scalars())
    return {str(r) for r in sessions}, attempts


def _seed(engine: Engine) -> None:
    person = engine.people.create("ana", "a long enough password", ["secretariat"])
    wall, now = engine.wall_clock.now(), engine.now()
    with engine.session() as s:
        for reason, ended, seen in [
            ("logout-old", wall - timedelta(days=31), wall - timedelta(days=31)),
            ("logout-recent", wall - timedelta(days=29), wall - timedelta(days=29)),
            (None, None, wall - timedelta(days=40)),  # never ended, unused for 40 days
            ("open", None, wall - timedelta(minutes=5)),
        ]:
            s.add(
                WebSession(
                    id=f"{reason}-{seen.timestamp()}",
                    user_id=person.id,
                    created_at=seen,
                    last_seen_at=seen,
                    ended_at=ended,
                    end_reason=reason,
                )
            )
        s.add(
            LoginAttempt(username="guess-old", remote_addr="10.0.0.1", at=now - timedelta(days=31))
        )
        s.add(
            LoginAttempt(username="guess-new", remote_addr="10.0.0.1", at=now - timedelta(days=1))
        )
        s.commit()


def test_purge_deletes_what_is_older_than_the_retention(engine: Engine) -> None:
    _seed(engine)
    assert engine.people.purge() == (2, 1)
    assert _rows(engine) == ({"logout-recent", "open"}, {"guess-new"})
    assert engine.people.purge() == (0, 0)


def test_the_retention_is_a_setting(settings: Settings, engine: Engine) -> None:
    _seed(engine)
    shorter = Engine.from_settings(
        dataclasses.replace(settings, session_retention_days=1), engine.clock
    )
    assert shorter.people.purge() == (3, 1)
    assert _rows(engine) == ({"open"}, {"guess-new"})


def test_a_bad_retention_setting_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="PATHFINDER_SESSION_RETENTION_DAYS must be a whole"):
        Settings.from_env({"PATHFINDER_SESSION_RETENTION_DAYS": "0"})
    with pytest.raises(ValueError, match="at least 1 \\(got 'soon'\\)"):
        Settings.from_env({"PATHFINDER_SESSION_RETENTION_DAYS": "soon"})


def test_the_purge_command(database_url: str, tmp_path: Path, engine: Engine) -> None:
    _seed(engine)
    env = {
        "DATABASE_URL": database_url,
        "PATHFINDER_SECRET_KEY": "k",
        "PATHFINDER_VAR_DIR": str(tmp_path),
        "PATHFINDER_SESSION_RETENTION_DAYS": "30",
    }
    result = CliRunner().invoke(main, ["purge"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Deleted 2 web session(s) and" in result.output
    assert _rows(engine)[0] == {"logout-recent", "open"}
