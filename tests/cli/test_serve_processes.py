"""`pathfinder serve` as a real subprocess on a free port (granian): it answers, keeps answering
while a slow request holds a thread, finishes a request in flight when stopped, and with
PATHFINDER_WORKERS=2 both web processes take connections."""

from __future__ import annotations

import http.client
import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from cli.served import as_waitress_gave_it
from engine.store.migrate import upgrade


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _get(port: int, path: str = "/healthz", timeout: float = 30) -> tuple[int, Message]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return r.status, r.headers


@contextmanager
def _serving(
    tmp_path: Path, *args: str, workers: int = 1
) -> Iterator[tuple[subprocess.Popen, int]]:  # type: ignore[type-arg]
    url = f"sqlite:///{tmp_path / 'pathfinder.db'}"
    upgrade(url)
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PATHFINDER_VAR_DIR": str(tmp_path),
        "PATHFINDER_SECRET_KEY": "k" * 32,
        "PATHFINDER_WORKERS": str(workers),
        "PATHFINDER_SCRIPT_PROCESSES": "0",
        "PATHFINDER_MAX_UPLOAD_MB": "1",  # requests up to 25 MB
    }
    exe = str(Path(sys.executable).parent / "pathfinder")
    server = subprocess.Popen(
        [exe, "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert _get(port, timeout=2)[0] == 200
                break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.2)
        yield server, port
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


def _files_heads_and_limits(port: int) -> None:
    """A file streams whole, HEAD answers its headers alone, and a body over the request
    limit is refused before it is read."""
    css = (Path(__file__).parents[2] / "web" / "static" / "app.css").read_bytes()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # one kept-alive connection
    conn.request("GET", "/static/app.css")
    answer = conn.getresponse()
    assert answer.status == 200 and answer.read() == css
    conn.request("HEAD", "/static/app.css")
    answer = conn.getresponse()
    assert answer.getheader("Content-Length") == str(len(css)) and answer.read() == b""
    conn.putrequest("POST", "/login")
    conn.putheader("Content-Type", "application/x-www-form-urlencoded")
    conn.putheader("Content-Length", str(1024**3))
    conn.endheaders()
    assert conn.getresponse().status == 413
    conn.close()
    for size, status in [(10, 400), (26 * 1024 * 1024, 413)]:  # 400: no CSRF token
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.putrequest("POST", "/login")
        conn.putheader("Content-Type", "application/x-www-form-urlencoded")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        chunk = b"x" * (1024 * 1024)
        for start in range(0, size, len(chunk)):
            part = chunk[: size - start]
            conn.send(b"%x\r\n%s\r\n" % (len(part), part))
        conn.send(b"0\r\n\r\n")
        assert conn.getresponse().status == status
        conn.close()


def _slow_upload(port: int) -> socket.socket:
    """A sign-in form whose body arrives late: the request holds a server thread meanwhile."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    conn.sendall(
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 30\r\n\r\nusername="
    )
    time.sleep(1)  # the app is reading the body by now
    return conn


@pytest.mark.timeout(150)
def test_one_slow_request_does_not_stall_the_others_and_sigterm_lets_it_finish(
    tmp_path: Path,
) -> None:
    with _serving(tmp_path, "--threads", "2") as (server, port):  # and a timer worker thread
        status, headers = _get(port)
        assert status == 200 and headers["Server"] == "pathfinder"  # no software, no version
        _files_heads_and_limits(port)
        slow = _slow_upload(port)
        # Answered by the other thread (with one thread it would wait for the upload forever).
        assert _get(port, timeout=20)[0] == 200
        server.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert server.poll() is None  # still finishing the upload in flight
        slow.sendall(b"x" * 21)
        answer = slow.recv(200)
        slow.close()
        assert answer.startswith(b"HTTP/1.1 400")  # the form arrived whole: no CSRF token
        assert server.wait(timeout=40) == 0
        log = server.stdout.read().decode() if server.stdout else ""
        assert "pathfinder.worker: worker" in log and " stopped at " in log  # leases handed back
        with pytest.raises(OSError):
            _get(port, timeout=2)


def _established(port: int, pid: int) -> int:
    """Accepted connections on `port` whose socket `pid` holds."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "01":
            inodes.add(fields[9])
    held = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        held += target.startswith("socket:[") and target[8:-1] in inodes
    return held


@pytest.mark.timeout(150)
def test_two_web_processes_both_take_connections(tmp_path: Path) -> None:
    with _serving(tmp_path, "--no-worker", workers=2) as (server, port):
        deadline = time.monotonic() + 30
        while len(_children(server.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        processes = _children(server.pid)
        assert len(processes) == 2  # granian's two worker processes under `pathfinder serve`
        # Keep-alive connections stay with the process that accepted them, and the kernel
        # spreads new ones over the processes listening (a process still building its app
        # takes none yet): open more until each process holds one.
        conns: list[http.client.HTTPConnection] = []
        while not all(_established(port, pid) > 0 for pid in processes):
            assert time.monotonic() < deadline, "one process took no connection"
            for _ in range(8):
                conns.append(http.client.HTTPConnection("127.0.0.1", port, timeout=30))
                conns[-1].request("GET", "/healthz")
                assert conns[-1].getresponse().read() == b'{"status":"ok"}\n'
        for conn in conns:
            conn.close()


def test_workers_must_be_positive(tmp_path: Path) -> None:
    env = {
        "PATHFINDER_VAR_DIR": str(tmp_path),
        "PATHFINDER_SECRET_KEY": "s",
        "PATHFINDER_WORKERS": "0",
    }
    result = CliRunner().invoke(main, ["serve", "--port", "5999"], env=env)
    assert result.exit_code != 0 and "PATHFINDER_WORKERS must be 1 or more" in result.output


def test_bad_settings_and_simulate_with_processes_are_refused(tmp_path: Path) -> None:
    env = {"PATHFINDER_VAR_DIR": str(tmp_path), "PATHFINDER_SECRET_KEY": "s"}
    result = CliRunner().invoke(main, ["serve"], env={**env, "PATHFINDER_WORKERS": "two"})
    assert result.exit_code == 1 and "not valid" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(
        main, ["serve", "--simulate"], env={**env, "PATHFINDER_WORKERS": "2"}
    )
    assert result.exit_code == 1 and "--simulate keeps the virtual clock" in result.output


def test_requests_do_not_carry_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATHFINDER_SECRET_KEY", "secret")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid")
    seen: dict[str, object] = {}

    def app(environ: dict[str, object], start_response: object) -> list[bytes]:
        seen.update(environ)
        return []

    # granian's environ: a copy of the process environment under the request's own keys.
    environ = {**os.environ, "REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_HOST": "x"}
    as_waitress_gave_it(app, 1000)(environ, None)
    assert "PATHFINDER_SECRET_KEY" not in seen and "HTTP_PROXY" not in seen
    assert seen["PATH_INFO"] == "/" and seen["HTTP_HOST"] == "x"


def test_a_chunked_body_over_the_limit_is_refused_not_cut() -> None:
    from flask import Flask, request

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1000

    @app.post("/")
    def form() -> str:
        return str(len(request.form["a"]))

    def post(size: int) -> tuple[str, bytes]:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/",
            "SERVER_NAME": "x",
            "SERVER_PORT": "80",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b"a=" + b"x" * size),
            "wsgi.input_terminated": True,  # as granian says
            "wsgi.errors": io.StringIO(),
            "CONTENT_TYPE": "application/x-www-form-urlencoded",
            "HTTP_TRANSFER_ENCODING": "chunked",
        }
        status: list[str] = []
        body = as_waitress_gave_it(app.wsgi_app, 1000)(environ, lambda s, h: status.append(s))
        return status[0], b"".join(body)

    assert post(900) == ("200 OK", b"900")
    assert post(5000)[0].startswith("413")  # werkzeug alone would have read 998 of them
