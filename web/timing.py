"""`Server-Timing` on every response: the request's wall time and the CPU time its thread spent.

Browsers show the figures in their network panel, and the crawl test reads the CPU figure to
tell a slow page from a busy machine (wall time grows with the machine's load, CPU time does not).
"""

from __future__ import annotations

import time

from flask import Flask, Response, g


def start_clock() -> None:
    """Note when the request started, in wall and thread CPU time."""
    g.timing_started = (time.perf_counter(), time.thread_time())


def add_server_timing(response: Response) -> Response:
    """Add `Server-Timing: app;dur=<wall ms>, cpu;dur=<cpu ms>` when the request was timed."""
    started = g.get("timing_started")
    if started is not None:
        wall = (time.perf_counter() - started[0]) * 1000
        cpu = (time.thread_time() - started[1]) * 1000
        response.headers["Server-Timing"] = f"app;dur={wall:.1f}, cpu;dur={cpu:.1f}"
    return response


def init_app(app: Flask) -> None:
    app.before_request(start_clock)
    app.after_request(add_server_timing)
