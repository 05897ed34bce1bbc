"""The `pathfinder` command: deploy, users, verification, as an operator runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main

ROOT = Path(__file__).resolve().parents[2]
XXE = ROOT.parent / "shared/interop/sample-process-models/testing-sec-test.bpmn"


@pytest.fixture
def run(database_url: str, tmp_path: Path):
    env = {
        "DATABASE_URL": database_url,
        "PATHFINDER_SECRET_KEY": "k",
        "PATHFINDER_VAR_DIR": str(tmp_path),
    }

    def invoke(*args: str, stdin: str | None = None):
        return CliRunner().invoke(main, list(args), env=env, input=stdin, catch_exceptions=False)

    return invoke


def test_deploy_bundled_then_same_file_is_unchanged(run) -> None:
    first = run("deploy", "--bundled")
    assert first.exit_code == 0 and "pathfinder version 1: deployed" in first.output
    again = run("deploy", str(ROOT / "processes/pathfinder.bpmn"))
    assert again.exit_code == 0 and "pathfinder version 1: unchanged" in again.output
    assert "warning" not in again.output


@pytest.mark.skipif(not XXE.exists(), reason="interop corpus (../shared/interop) absent")
def test_deploy_refuses_a_hostile_file_with_one_clear_problem(run) -> None:
    result = run("deploy", str(XXE))
    assert result.exit_code == 1
    assert "Deployment refused: 1 problem(s)" in result.output
    assert "DOCTYPE" in result.output


def test_users_add_reads_the_password_from_stdin_and_refuses_a_short_one(run) -> None:
    ok = run(
        "users",
        "add",
        "maria",
        "--role",
        "country",
        "--country",
        "npl",
        "--email",
        "m@example.org",
        "--password-stdin",
        stdin="s3cret-pass-99\n",
    )
    assert ok.exit_code == 0 and "user maria added" in ok.output
    short = run("users", "add", "bob", "--role", "secretariat", "--password-stdin", stdin="short\n")
    assert short.exit_code == 1 and "At least 8 characters" in short.output
    taken = run(
        "users", "add", "maria", "--role", "gcg", "--password-stdin", stdin="another-pass-1\n"
    )
    assert taken.exit_code == 1 and "already exists" in taken.output


def test_audit_verify_reports_intact(run) -> None:
    run("deploy", "--bundled")
    result = run("audit", "verify")
    assert result.exit_code == 0 and result.output.strip().startswith("intact")


def _modules_after(code: str) -> set[str]:
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            f"{code}\nimport sys\nprint('\\n'.join(n for n, m in sys.modules.items() if m))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return set(out.split())


def test_help_does_not_load_the_engine() -> None:
    """`pathfinder --help` used to import the whole engine (2 s of CPU per CLI call)."""
    loaded = _modules_after("import cli.main")
    assert not {"engine", "sqlalchemy", "SpiffWorkflow", "jsonschema", "flask"} & loaded


def test_engine_skips_the_costly_iri_format_checker_but_still_checks_uris() -> None:
    loaded = _modules_after("import engine")
    assert "rfc3987_syntax" not in loaded and "rfc3986_validator" in loaded


def test_a_database_clash_is_one_line_not_a_traceback(run, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import IntegrityError

    from engine import Engine

    def clash(*_args: object, **_kwargs: object) -> None:
        raise IntegrityError("INSERT ...", {}, Exception("duplicate key uq_audit_events_chain"))

    monkeypatch.setattr(Engine, "deploy_directory", clash)
    result = run("deploy", "--bundled")
    assert result.exit_code == 1
    assert "another process changed the same data at the same moment" in result.output
    assert "IntegrityError" not in result.output and "Traceback" not in result.output
