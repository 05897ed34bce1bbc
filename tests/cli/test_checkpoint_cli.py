"""`pathfinder audit checkpoint` and `pathfinder audit verify --checkpoint FILE`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from engine import Engine
from tests.fixtures.tamper import rewrite_chain


@pytest.fixture
def run(database_url: str, tmp_path: Path):
    env = {
        "DATABASE_URL": database_url,
        "PATHFINDER_SECRET_KEY": "k",
        "PATHFINDER_VAR_DIR": str(tmp_path / "var"),
        "PATHFINDER_CHECKPOINT_KEY": str(tmp_path / "secret" / "checkpoint.pem"),
        "PATHFINDER_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
    }

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    return invoke


@pytest.fixture
def instance_id(engine: Engine, review_bundle, actors) -> int:
    engine.deploy(*review_bundle, actor="olu")
    inst = engine.start("review", {"country": "NPL"}, actors["country"])
    [fill] = engine.ready_tasks(inst.id)
    engine.complete(fill.id, {"title": "Roadmap", "amount": 3}, actors["country"])
    return inst.id


def test_checkpoint_then_verify_against_it(run, instance_id: int, tmp_path: Path) -> None:
    made = run("audit", "checkpoint")
    assert made.exit_code == 0, made.output
    [path] = (tmp_path / "checkpoints").glob("checkpoint-*.json")
    assert str(path) in made.output
    checked = run("audit", "verify", "--checkpoint", str(path))
    assert checked.exit_code == 0, checked.output
    assert "all 2 chain heads are extended" in checked.output


def test_verify_names_a_chain_rewritten_since_the_checkpoint(
    run, engine: Engine, instance_id: int, tmp_path: Path
) -> None:
    run("audit", "checkpoint")
    [path] = (tmp_path / "checkpoints").glob("checkpoint-*.json")
    rewrite_chain(engine.sessions, instance_id, {"title": "Roadmap", "amount": 300})
    assert run("audit", "verify").exit_code == 0  # consistent in itself

    checked = run("audit", "verify", "--checkpoint", str(path))
    assert checked.exit_code == 1
    assert f"REWRITTEN instance:{instance_id}: since the checkpoint of" in checked.output
    assert "1 of 2 chains were rewritten since" in checked.output


def test_checkpoint_without_a_key_says_what_to_set(database_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": database_url, "PATHFINDER_VAR_DIR": str(tmp_path)}
    result = CliRunner().invoke(main, ["audit", "checkpoint"], env=env)
    assert result.exit_code == 1 and "PATHFINDER_CHECKPOINT_KEY" in result.output
    assert "Traceback" not in result.output
