"""A worker loop that fires due timers, sleeping until the next one is due."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from datetime import UTC, datetime

from engine import timers
from engine.core import Engine

log = logging.getLogger("pathfinder.worker")


class Worker:
    """Fires due timers; sleeps until the next due time (at most `max_sleep`) or until woken."""

    def __init__(self, engine: Engine, *, max_sleep: float = 5.0, name: str | None = None) -> None:
        self.engine = engine
        self.max_sleep = max_sleep
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 10000}"
        self._stop = threading.Event()
        self._wake = threading.Event()

    def run_once(self) -> int:
        """One pass: fire everything due now."""
        return timers.fire_due_timers(
            self.engine.sessions,
            self.engine.runtime,
            owner=self.name,
            policy=self.engine.retry_policy,
        )

    def wake(self) -> None:
        """Cut the current sleep short (a nearer timer was written)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _sleep_seconds(self) -> float:
        with self.engine.session() as s:
            due = timers.next_due(s)
        if due is None:
            return self.max_sleep
        now = self.engine.now()
        return max(0.0, min(self.max_sleep, (due - now).total_seconds()))

    def run_forever(self) -> None:
        """Loop until SIGTERM/SIGINT (main thread) or `stop()`."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop())
        log.info("worker %s started", self.name)
        while not self._stop.is_set():
            try:
                fired = self.run_once()
                if fired:
                    log.info("fired timers on %d instance(s)", fired)
            except Exception:  # noqa: BLE001 - a worker must survive a bad pass (e.g. DB restart)
                log.exception("worker pass failed; retrying")
            self._wake.clear()
            self._wake.wait(self._sleep_seconds())
        log.info("worker %s stopped at %s", self.name, datetime.now(UTC).isoformat())
