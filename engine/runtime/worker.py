"""A worker loop that fires due timers, sleeping until the next one is due.

The worker sleeps until the earliest of: the next due timer, the next retry, the expiry of a lease
another worker holds, and `max_sleep`. It is woken early when a nearer timer is written:
- in this process, through `Runtime.on_timer_written` (wire it with `attach`), called after the
  commit that wrote the timer;
- from other processes on PostgreSQL, through `LISTEN pathfinder_timers` on a connection of its
  own (the transaction that writes a timer job sends `NOTIFY`).
On SQLite without an in-process writer, `max_sleep` bounds how late a new timer can be noticed.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

from engine.core import Engine
from engine.mail import notifications
from engine.runtime import timers
from engine.runtime.execution import TIMER_CHANNEL

log = logging.getLogger("pathfinder.worker")

HOUSEKEEPING_SECONDS = 60.0
"""How often (real time) a worker checks whether a checkpoint or an upload clean-up is due."""

MAIL_SECONDS = 1.0
"""How often (real time) at most `run_forever` runs the mail pass while timers keep it busy: a
worker firing timers as they fall due wakes many times a second, and mail a second later is as
good (a worker that sleeps longer than that between passes runs it on every pass)."""

IDLE_FLOOR = 0.2
"""Seconds slept at least after a pass that fired nothing although a timer was already due
(a job that cannot run yet), so a stuck job cannot make the worker spin."""

LEASE_GRACE = 0.05
"""Seconds to wait past another worker's lease expiry before trying to take its jobs over."""


class Worker:
    """Fires due timers; sleeps until the next due time (at most `max_sleep`) or until woken."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_sleep: float = 5.0,
        name: str | None = None,
        batch: int = 100,
        listen: bool | None = None,
    ) -> None:
        """`listen`: wait for PostgreSQL notifications (default: on PostgreSQL)."""
        self.engine = engine
        self.max_sleep = max_sleep
        self.batch = batch
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 10000}"
        with engine.session() as s:
            self._url = s.get_bind().engine.url
        self.listen = self._url.get_backend_name() == "postgresql" if listen is None else listen
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._wake_at: datetime | None = None
        self._next_housekeeping = 0.0
        """`time.monotonic()` at which the next checkpoint and clean-up check is due."""
        self._next_mail = 0.0
        """`time.monotonic()` before which `run_forever` leaves the mail pass out."""
        self.listening = threading.Event()
        """Set while the notification listener is connected (tests wait for it)."""

    @property
    def asleep_until(self) -> datetime | None:
        """When the worker plans to wake up (engine clock); None while it is working."""
        with self._lock:
            return self._wake_at

    def attach(self) -> Worker:
        """Be woken by timers this process's engine writes (`Runtime.on_timer_written`)."""
        self.engine.runtime.on_timer_written = self.notice
        return self

    def run_once(self, *, mail: bool = True) -> int:
        """One pass: fire everything due now, then (with `mail`) the mail pass: the mail events
        owe, reminders, digests, the outbox; returns how many instances ran."""
        fired = timers.fire_due_timers(
            self.engine.sessions,
            self.engine.runtime,
            owner=self.name,
            batch=self.batch,
            policy=self.engine.retry_policy,
            should_stop=self._stop.is_set,
        )
        if mail and not self._stop.is_set():
            self._next_mail = time.monotonic() + MAIL_SECONDS
            try:
                notifications.mail_pass(
                    self.engine.sessions, self.engine.mail, now=self.engine.now, owner=self.name
                )
            except Exception:  # noqa: BLE001 - mail trouble must not stop timers
                log.exception("mail pass failed; retrying next pass")
        if not self._stop.is_set() and time.monotonic() >= self._next_housekeeping:
            self._next_housekeeping = time.monotonic() + HOUSEKEEPING_SECONDS
            self.housekeeping()
        return fired

    def housekeeping(self) -> None:
        """Write a checkpoint when one is due, remove uploads never attached, and purge old
        web sessions and sign-in attempts."""
        try:
            if self.engine.checkpoints.due():
                log.info("checkpoint written to %s", self.engine.checkpoints.write())
            removed = self.engine.remove_stale_uploads()
            if removed:
                log.info("removed %d upload(s) never attached to a submitted form", removed)
            ended, attempts = self.engine.people.purge()
            if ended or attempts:
                log.info("purged %d ended web session(s), %d sign-in attempt(s)", ended, attempts)
        except Exception:  # noqa: BLE001 - housekeeping must not stop timers
            log.exception("housekeeping failed; retrying later")

    def notice(self, due: datetime) -> None:
        """A timer due at `due` (engine clock) was written: wake now if that is before the
        planned wake-up. Thread-safe and cheap; called after the writer's commit."""
        with self._lock:
            planned = self._wake_at
        if planned is None or due < planned:
            self._wake.set()

    def wake(self) -> None:
        """Cut the current sleep short (the clock moved, or something else may be due)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the instances in hand (one group, `timers.GROUP`), release the other leases and
        leave `run_forever`."""
        self._stop.set()
        self._wake.set()

    def sleep_seconds(self, *, idle_since: datetime | None = None) -> float:
        """How long to sleep from now, and remember the planned wake-up for `notice`.

        `idle_since`: when the last pass started, if it fired nothing; a timer due before that
        could not run, so sleep at least `IDLE_FLOOR` rather than spin on it.
        """
        with self.engine.session() as s:
            due = timers.next_due(s, self.engine.wall_clock)
            lease_end = timers.next_lease_expiry(s, self.engine.wall_clock)
        now = self.engine.now()
        seconds = self.max_sleep
        if due is not None:
            seconds = min(seconds, (due - now).total_seconds())
            if idle_since is not None and due <= idle_since:
                seconds = max(seconds, min(IDLE_FLOOR, self.max_sleep))
        if lease_end is not None:
            wait = (lease_end - self.engine.wall_clock.now()).total_seconds() + LEASE_GRACE
            seconds = min(seconds, wait)
        seconds = max(0.0, seconds)
        with self._lock:
            self._wake_at = now + timedelta(seconds=seconds)
        return seconds

    def run_forever(self) -> None:
        """Loop until SIGTERM/SIGINT (main thread) or `stop()`."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop())
        listener = None
        if self.listen:
            listener = threading.Thread(
                target=self._listen_loop, name=f"timer-listen:{self.name}", daemon=True
            )
            listener.start()
        log.info(
            "worker %s started (batch %d, max sleep %ss, %s)",
            self.name,
            self.batch,
            self.max_sleep,
            "listening for notifications" if self.listen else "polling",
        )
        while not self._stop.is_set():
            with self._lock:
                self._wake_at = None  # awake: every notice counts until the next sleep is planned
            started = self.engine.now()
            fired = 0
            try:
                fired = self.run_once(mail=time.monotonic() >= self._next_mail)
                if fired:
                    log.info("fired timers on %d instance(s)", fired)
            except Exception:  # noqa: BLE001 - a worker must survive a bad pass (e.g. DB restart)
                log.exception("worker pass failed; retrying")
            # Clear before reading the next due time: a timer committed after this read notifies.
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                seconds = self.sleep_seconds(idle_since=None if fired else started)
            except Exception:  # noqa: BLE001 - the database may be down; try again shortly
                log.exception("could not read the next due time")
                seconds = self.max_sleep
            self._wake.wait(seconds)
        if listener is not None:
            listener.join(timeout=5)
        log.info("worker %s stopped at %s", self.name, datetime.now(UTC).isoformat())

    def _listen_loop(self) -> None:
        """Wake the worker on each `NOTIFY pathfinder_timers`; reconnect after a failure."""
        import psycopg

        conninfo = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {TIMER_CHANNEL}")
                    self.listening.set()
                    self._wake.set()  # notifications may have been missed while disconnected
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._on_notify(note.payload)
            except psycopg.Error as exc:
                log.warning("timer notifications unavailable (%s); retrying in 5 s", exc)
            finally:
                self.listening.clear()
            self._stop.wait(5)

    def _on_notify(self, payload: str) -> None:
        try:
            due = datetime.fromisoformat(payload)
        except ValueError:
            self.wake()
            return
        self.notice(due if due.tzinfo else due.replace(tzinfo=UTC))
