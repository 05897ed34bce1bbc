"""A small pool of long-lived processes that run every script, condition and timer expression.

RestrictedPython (`engine.scripting`) decides *what* a script may do; this module decides *where*
it runs. A single built-in call (``sum(big_list_of_lists, [])``, ``str(huge)``) cannot be
interrupted from inside Python and holds the GIL, so in the server's process it froze every
request. Here each call is sent to a worker process started through a forkserver, with an address
space limit (`memory_mb`) and a CPU-time limit per call; the caller waits without holding the GIL
and, past `time_limit` plus a grace second, kills the worker and starts a fresh one.

Values cross the process boundary by pickle: task data (JSON-like) in, task data or the
expression's value out, plus the lines the script printed (logged by the caller, as before).
"""

from __future__ import annotations

import atexit
import logging
import math
import multiprocessing
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["SandboxPool", "SandboxUnavailable", "shared_pool"]

log = logging.getLogger("pathfinder.sandbox")

GRACE_SECONDS = 1.0
"""Extra wall time a worker gets past the script time limit before it is killed."""

STARTUP_SECONDS = 30.0
"""Wall time a new worker gets to start (fork, import, limits) before its first call. Kept apart
from the script's own time limit: on a loaded machine a fresh worker can take seconds to start,
and that is not the script's time."""


class SandboxUnavailable(Exception):
    """The call could not be sent to a worker (its arguments cannot be pickled)."""


def _limit_memory(memory_mb: int) -> None:
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _limit_cpu(seconds: float) -> None:
    """Let this call use at most `seconds` more CPU time (SIGXCPU ends the process after)."""
    import resource

    used = resource.getrusage(resource.RUSAGE_SELF)
    spent = used.ru_utime + used.ru_stime
    soft = int(math.ceil(spent + seconds)) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _serve(conn: Connection, memory_mb: int) -> None:
    """A worker's loop: one request, one answer, until the pipe closes."""
    from engine.bpmn import scripting

    _limit_memory(memory_mb)
    conn.send(("ready",))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        mode, source, context, external, now, time_limit = request
        _limit_cpu(time_limit + GRACE_SECONDS)
        printed: list[str] = []
        try:
            value = scripting.run_here(mode, source, context, external, now, time_limit, printed)
            answer: tuple[Any, ...] = ("ok", value, printed)
        except MemoryError:
            answer = ("memory", None, printed)
        except BaseException as err:  # noqa: BLE001 - sent back to the caller to raise there
            answer = ("error", _portable(err), printed)
        try:
            conn.send(answer)
        except MemoryError:
            conn.send(("memory", None, []))
        except Exception as err:  # noqa: BLE001 - e.g. a value that cannot be pickled
            conn.send(("error", RuntimeError(f"{type(err).__name__}: {err}"), printed))


def _portable(err: BaseException) -> BaseException:
    """`err` if it survives pickling (with its line number attached), else a plain copy."""
    import pickle
    import traceback

    lines = [f.lineno for f in traceback.extract_tb(err.__traceback__) if f.filename == "<string>"]
    if lines and not getattr(err, "lineno", None):
        err.sandbox_lineno = lines[-1]  # type: ignore[attr-defined]
    err.__traceback__ = None
    err.__context__ = err.__cause__ = None
    try:
        pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes, made one line above
    except Exception:  # noqa: BLE001 - fall back to something that pickles
        return RuntimeError(f"{type(err).__name__}: {err}")
    return err


class _Worker:
    def __init__(self, ctx: Any, memory_mb: int) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, memory_mb), daemon=True)
        self.process.start()
        child.close()
        self.ready = False

    def wait_ready(self, timeout: float) -> bool:
        """Wait for the worker's "ready" message (sent once, before its first call)."""
        if not self.ready:
            try:
                if self.conn.poll(timeout):
                    self.ready = self.conn.recv() == ("ready",)
            except (EOFError, OSError):
                return False
        return self.ready

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class SandboxPool:
    """`processes` worker processes, each limited to `memory_mb` of address space.

    Thread-safe: a caller takes an idle worker (waiting if all are busy), sends one call, and
    gives the worker back, or kills and replaces it when the call overran.
    """

    def __init__(self, processes: int = 2, memory_mb: int = 512) -> None:
        self.processes = processes
        self.memory_mb = memory_mb
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(["engine.bpmn.scripting"])
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._started = 0
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def _worker(self) -> Iterator[_Worker]:
        with self._lock:
            if self._idle.empty() and self._started < self.processes:
                self._started += 1
                self._idle.put(_Worker(self._ctx, self.memory_mb))
        worker = self._idle.get()
        healthy = False
        try:
            yield worker
            healthy = True
        finally:
            if healthy and worker.process.is_alive():
                self._idle.put(worker)
            else:
                worker.stop()
                self._idle.put(_Worker(self._ctx, self.memory_mb))

    def run(
        self,
        mode: str,
        source: str,
        context: dict[str, Any],
        external: dict[str, Any] | None,
        now: datetime,
        time_limit: float,
    ) -> tuple[str, Any, list[str]]:
        """Run one script (`mode` "exec": returns the new task data) or expression ("eval":
        its value) in a worker. Returns (outcome, value, printed lines); outcome is "ok",
        "error" (value: the exception), "memory" or "timeout"."""
        from engine.bpmn import scripting

        request = (mode, source, context, external, now, time_limit)
        with self._worker() as worker:
            if not worker.wait_ready(STARTUP_SECONDS):
                worker.process.kill()  # not healthy: the context manager replaces it
                raise scripting.ScriptTimeout(
                    f"script not run: its sandbox process did not start within "
                    f"{STARTUP_SECONDS:g} s"
                )
            try:
                worker.conn.send(request)
            except Exception as err:  # noqa: BLE001 - pickling failed: nothing was sent
                raise SandboxUnavailable(str(err)) from err
            if worker.conn.poll(time_limit + GRACE_SECONDS):
                try:
                    answer: tuple[str, Any, list[str]] = worker.conn.recv()
                    return answer
                except (EOFError, OSError):
                    worker.process.join(timeout=1)
                    raise scripting.ScriptRefused(
                        "the script ended its sandbox process (it used more CPU time or memory "
                        "than allowed)"
                    ) from None
            worker.process.kill()  # not healthy: the context manager replaces it
            raise scripting.ScriptTimeout(f"script stopped: it ran longer than {time_limit:g} s")

    def warm(self) -> int:
        """Start every worker now and wait until each is ready, so that the first script of a
        fresh server does not pay for the start-up. Returns how many workers are ready."""
        with self._lock:
            while self._started < self.processes:
                self._started += 1
                self._idle.put(_Worker(self._ctx, self.memory_mb))
        workers = []
        while True:
            try:
                workers.append(self._idle.get_nowait())
            except queue.Empty:
                break
        ready = sum(1 for w in workers if w.wait_ready(STARTUP_SECONDS))
        for worker in workers:
            self._idle.put(worker)
        return ready

    def close(self) -> None:
        """Stop every worker (they are daemons, so they also end with this process)."""
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                return


_SHARED: dict[tuple[int, int], SandboxPool] = {}
_SHARED_LOCK = threading.Lock()


def shared_pool(processes: int, memory_mb: int) -> SandboxPool:
    """One pool per (size, memory) for the whole process: engines built per request or per test
    share it instead of each starting workers. Closed at exit."""
    with _SHARED_LOCK:
        pool = _SHARED.get((processes, memory_mb))
        if pool is None:
            pool = _SHARED[(processes, memory_mb)] = SandboxPool(processes, memory_mb)
            atexit.register(pool.close)
        return pool
