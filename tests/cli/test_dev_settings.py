"""Settings for `make run`: a kept development secret key, a base URL that follows the port, and
`pathfinder serve` refusing to start without a secret key outside development."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cli.main import main
from engine import Settings


def test_dev_secret_key_is_generated_once_and_kept_in_var(tmp_path: Path) -> None:
    env = {"PATHFINDER_VAR_DIR": str(tmp_path), "PATHFINDER_DEV": "1"}
    first = Settings.from_env(env)
    assert first.secret_key_set and len(first.secret_key) == 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0  # readable by its owner only
    assert Settings.from_env(env).secret_key == first.secret_key  # a restart keeps sessions


def test_without_dev_or_a_key_the_key_is_throwaway(tmp_path: Path) -> None:
    settings = Settings.from_env({"PATHFINDER_VAR_DIR": str(tmp_path)})
    assert not settings.secret_key_set
    assert not (tmp_path / "secret_key").exists()
    keyed = Settings.from_env({"PATHFINDER_VAR_DIR": str(tmp_path), "PATHFINDER_SECRET_KEY": "s"})
    assert keyed.secret_key == "s" and keyed.secret_key_set


def test_base_url_follows_the_port_unless_set(tmp_path: Path) -> None:
    assert Settings.from_env({"PORT": "5077"}).base_url == "http://127.0.0.1:5077"
    env = {"PORT": "5077", "PATHFINDER_BASE_URL": "https://pathfinder.example.org/"}
    assert Settings.from_env(env).base_url == "https://pathfinder.example.org"


def test_serve_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    env = {"PATHFINDER_VAR_DIR": str(tmp_path), "PATHFINDER_SECRET_KEY": "", "PATHFINDER_DEV": ""}
    result = CliRunner().invoke(main, ["serve", "--port", "5999"], env=env)
    assert result.exit_code != 0
    assert "Set PATHFINDER_SECRET_KEY" in result.output
