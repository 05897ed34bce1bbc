"""The app of one web process of `pathfinder serve`, as granian loads it: `cli.served:app`
(a factory, granian's `--factory`), called once in each worker process after it started.

`pathfinder serve` decides everything before granian starts its processes and passes it down
through the environment, which every worker process inherits:

- the settings, read by `Settings.from_env()` as everywhere (`serve` sets `PATHFINDER_BASE_URL`
  to the bound address when it is unset, and `PATHFINDER_SIMULATE=1` for `--simulate`);
- `PATHFINDER_TIMER_THREAD` (`1` unless `--no-worker`): run a timer worker thread beside the
  server in this process.

The same factory serves an operator who runs granian by hand:
`granian --interface wsgi --factory --workers 2 --blocking-threads 4 cli.served:app`.
"""

from __future__ import annotations

import os
import tempfile
import threading
from multiprocessing import util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from flask import Flask

    WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]

TIMER_THREAD = "PATHFINDER_TIMER_THREAD"
"""Environment variable: `0` leaves the timer worker thread out of each web process."""

STOP_SECONDS = 10.0
"""How long a stopping process waits for its timer worker thread to finish the instances in
hand (it then exits; leases not handed back expire as after a crash)."""


def app() -> Flask:
    """Build this process's app, start the script sandbox beside it and, unless
    `PATHFINDER_TIMER_THREAD=0`, a timer worker thread that stops with the process."""
    from cli.main import _settings
    from engine import Worker
    from web import create_app

    settings = _settings()
    flask_app = create_app(settings)
    engine = flask_app.extensions["pathfinder_engine"]
    # The sandbox processes start beside the server, so the first script after start-up does
    # not wait for them, and the server answers before they are up.
    threading.Thread(target=engine.warm_scripts, name="warm-scripts", daemon=True).start()
    if os.environ.get(TIMER_THREAD, "1") not in {"0", "false", "no"}:
        worker = Worker(engine, max_sleep=1.0 if settings.simulate else 5.0).attach()
        flask_app.extensions["pathfinder_worker"] = worker
        thread = threading.Thread(target=worker.run_forever, name="timer-worker", daemon=True)
        thread.start()

        def stop() -> None:
            worker.stop()
            thread.join(STOP_SECONDS)

        # granian's worker processes are multiprocessing children: they leave through
        # multiprocessing's exit function, which runs these finalizers (atexit does not run).
        util.Finalize(worker, stop, exitpriority=10)
    request_only = as_waitress_gave_it(flask_app.wsgi_app, flask_app.config["MAX_CONTENT_LENGTH"])
    flask_app.wsgi_app = request_only  # type: ignore[method-assign,assignment]
    return flask_app


CGI_KEYS = frozenset(
    [
        "CONTENT_LENGTH",
        "CONTENT_TYPE",
        "GATEWAY_INTERFACE",
        "PATH_INFO",
        "QUERY_STRING",
        "REMOTE_ADDR",
        "REQUEST_METHOD",
        "SCRIPT_NAME",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "SERVER_SOFTWARE",
    ]
)
"""The request's own CGI variables, which granian sets from the request over any namesake."""


def as_waitress_gave_it(wsgi_app: WSGIApp, max_body: int) -> WSGIApp:
    """`wsgi_app`, called with the request's WSGI environ only, and a chunked body read first.

    granian starts every request's environ from a copy of the process environment, as CGI
    did: `DATABASE_URL`, `PATHFINDER_SECRET_KEY` and the rest would ride along with each request
    (anything that logs or reports an environ would show them), and a variable such as
    `HTTP_PROXY` would read as a request header. The names are taken once, when the process
    starts; removing them costs about a microsecond a request.

    A chunked body (no `Content-Length`) reaches the app as a stream that werkzeug cuts at the
    request limit without a word for a plain `read()` (a form or JSON body). It is read here
    first, up to one byte past `max_body` (in memory up to 1 MB, then a temporary file), and
    given its length (the `Transfer-Encoding` goes), so one over the limit is refused with 413
    like any other, as under waitress, which read every body before the app saw it."""
    extra = tuple(sorted(set(os.environ) - CGI_KEYS))

    def call(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        for key in extra:
            environ.pop(key, None)
        if "HTTP_TRANSFER_ENCODING" in environ and "CONTENT_LENGTH" not in environ:
            _read_whole(environ, max_body)
        return wsgi_app(environ, start_response)

    return call


def _read_whole(environ: dict[str, Any], max_body: int) -> None:
    body = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115 - the request's
    stream, size = environ["wsgi.input"], 0
    while size <= max_body:
        chunk = stream.read(min(64 * 1024, max_body + 1 - size))
        if not chunk:
            break
        body.write(chunk)
        size += len(chunk)
    body.seek(0)
    environ["wsgi.input"], environ["CONTENT_LENGTH"] = body, str(size)
    del environ[
        "HTTP_TRANSFER_ENCODING"
    ]  # the body is no longer chunked; werkzeug reads the length
