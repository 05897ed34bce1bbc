"""`pathfinder serve` with PATHFINDER_WORKERS=2: two gunicorn worker processes answer requests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from engine.store.migrate import upgrade


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


@pytest.mark.timeout(90)
def test_two_web_processes_serve_requests(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pathfinder.db'}"
    upgrade(url)
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PATHFINDER_VAR_DIR": str(tmp_path),
        "PATHFINDER_SECRET_KEY": "k" * 32,
        "PATHFINDER_WORKERS": "2",
        "PATHFINDER_SCRIPT_PROCESSES": "0",
    }
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "pathfinder"),
            "serve",
            "--port",
            str(port),
            "--no-worker",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.3)
        while len(_children(server.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(_children(server.pid)) == 2  # the gunicorn arbiter and its two workers
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)


def test_workers_must_be_positive(tmp_path: Path) -> None:
    env = {
        "PATHFINDER_VAR_DIR": str(tmp_path),
        "PATHFINDER_SECRET_KEY": "s",
        "PATHFINDER_WORKERS": "0",
    }
    result = CliRunner().invoke(main, ["serve", "--port", "5999"], env=env)
    assert result.exit_code != 0 and "PATHFINDER_WORKERS must be 1 or more" in result.output
