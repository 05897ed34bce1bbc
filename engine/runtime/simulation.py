"""Try a diagram before deploying it: run it on a virtual clock in a throwaway database.

A `Simulation` deploys the (edited) files into a fresh SQLite file of its own, starts one
instance, and drives it with the real engine (same sandbox, timers, due dates and form
validation as production) while nothing touches the real database. Tasks are completed with a
valid sample generated from their form's JSON Schema (`engine.bpmn.form_samples`) or data given,
and time jumps forward by days, months or years, firing each timer at its own due date on the
way.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine.bpmn.form_samples import (
    sample_data,
)
from engine.bpmn.forms import load_form
from engine.bpmn.parsing import ValidationFailed, parse_bundle
from engine.clock import VirtualClock
from engine.config import Settings
from engine.core import Engine
from engine.errors import EngineError, NotFound
from engine.people.access import Actor
from engine.runtime.timers import next_due
from engine.store.db import Base, make_engine, make_session_factory
from engine.store.models import AuditEvent, HumanTask, Instance, TimerJob

SIMULATOR = Actor("simulator", ["admin"])
"""Who acts in a simulation: an admin, so every lane's tasks can be completed."""

MAX_TIMER_STEPS = 5_000
"""Timer due dates visited in one jump before giving up (guards against a runaway cycle)."""


@dataclass
class Simulation:
    """One diagram running in its own throwaway database on its own virtual clock."""

    token: str
    owner: str
    engine: Engine
    clock: VirtualClock
    directory: Path
    process_key: str
    instance_id: int
    actions: list[str] = field(default_factory=list)
    """What the person did, in order ("completed 'Review'", "skipped 1 year")."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _forms(self) -> dict[str, str]:
        with self.engine.session() as s:
            row = s.get(Instance, self.instance_id)
            return dict(row.process_version.forms) if row is not None else {}

    def ready_tasks(self) -> list[HumanTask]:
        """The simulated instance's open tasks."""
        return self.engine.ready_tasks(self.instance_id)

    def sample_for(self, task: HumanTask) -> dict[str, Any]:
        """Generated data for a task's form (empty for a task without a form)."""
        form = load_form(self._forms(), task.form_file, task.ui_form_file)
        return sample_data(form.schema, self.clock.now().date()) if form else {}

    def complete(self, task_id: str, data: Mapping[str, Any] | None = None) -> None:
        """Complete a ready task with `data`, or with generated sample data."""
        task = next((t for t in self.ready_tasks() if t.id == task_id), None)
        if task is None:
            raise NotFound("That task is not ready in this simulation.", task_id=task_id)
        payload = dict(data) if data is not None else self.sample_for(task)
        self.engine.complete(task_id, payload, SIMULATOR)
        self.actions.append(f"{_stamp(self.clock)} completed '{task.name}'")

    def advance(self, *, days: int = 0, months: int = 0, years: int = 0) -> int:
        """Jump forward, firing each timer at its own due date; returns timers fired."""
        if min(days, months, years) < 0:
            raise EngineError("Time only moves forward in a simulation.")
        probe = VirtualClock(self.clock.now())
        target = probe.advance(days=days, months=months, years=years)
        fired = 0
        for _ in range(MAX_TIMER_STEPS):
            with self.engine.session() as s:
                due = next_due(s, self.engine.wall_clock)
            if due is None or due > target:
                break
            if due > self.clock.now():
                self.clock.set(due)
            ran = self.engine.fire_due_timers(owner="simulation")
            fired += ran
            if ran == 0:
                break
        if target > self.clock.now():
            self.clock.set(target)
        fired += self.engine.fire_due_timers(owner="simulation")
        what = ", ".join(
            f"{n} {unit}{'s' if n != 1 else ''}"
            for n, unit in ((years, "year"), (months, "month"), (days, "day"))
            if n
        )
        self.actions.append(f"{_stamp(self.clock)} skipped {what or 'nothing'}")
        return fired

    def snapshot(self) -> dict[str, Any]:
        """Everything the page shows: time, status, ready tasks, waiting timers, data, events."""
        with self.engine.session() as s:
            row = s.get(Instance, self.instance_id)
            if row is None:
                raise NotFound("The simulated instance is gone.")
            timers = s.execute(
                select(TimerJob)
                .where(TimerJob.instance_id == self.instance_id)
                .order_by(TimerJob.due_at)
            ).scalars()
            events = s.execute(
                select(AuditEvent)
                .where(AuditEvent.instance_id == self.instance_id)
                .order_by(AuditEvent.seq)
            ).scalars()
            snapshot: dict[str, Any] = {
                "token": self.token,
                "process_key": self.process_key,
                "now": self.clock.now().isoformat(),
                "status": row.status,
                "stage": row.stage,
                "error": row.error_message,
                "error_element_id": row.error_element_id,
                "data": row.data,
                "timers": [
                    {"element_id": t.element_id, "kind": t.kind, "due_at": t.due_at.isoformat()}
                    for t in timers
                ],
                "events": [
                    {
                        "at": e.at.isoformat(),
                        "kind": e.kind,
                        "element_id": e.element_id,
                        "element_name": e.element_name,
                    }
                    for e in events
                ],
                "actions": list(self.actions),
            }
        snapshot["tasks"] = [
            {
                "id": t.id,
                "element_id": t.element_id,
                "name": t.name,
                "lane": t.lane,
                "form": t.form_file,
                "due_at": t.due_at.isoformat() if t.due_at else None,
                "sample": self.sample_for(t),
            }
            for t in self.ready_tasks()
        ]
        return snapshot

    def close(self) -> None:
        """Drop the throwaway database."""
        self.engine.sessions.kw["bind"].dispose()
        shutil.rmtree(self.directory, ignore_errors=True)


def _stamp(clock: VirtualClock) -> str:
    return clock.now().date().isoformat()


def start_simulation(
    files: Mapping[str, bytes],
    forms: Mapping[str, bytes],
    *,
    owner: str,
    start: datetime | None = None,
    data: Mapping[str, Any] | None = None,
    process_key: str | None = None,
) -> Simulation:
    """Deploy `files` into a throwaway database and start one instance on a virtual clock.

    Raises `ValidationFailed` when the files would not deploy or a process could only be viewed,
    and the `EngineError`s of the start itself.
    """
    blocking = [p for p in parse_bundle(files, forms).warnings if p.severity == "error"]
    if blocking:  # it would be stored for viewing, but it cannot run
        raise ValidationFailed(blocking)
    directory = Path(tempfile.mkdtemp(prefix="pathfinder-sim-"))
    url = f"sqlite:///{directory / 'simulation.db'}"
    try:
        bind = make_engine(url)
        Base.metadata.create_all(bind)
        clock = VirtualClock(start or datetime.now(UTC).replace(microsecond=0))
        settings = Settings(database_url=url, var_dir=directory, secret_key=secrets.token_hex(16))
        engine = Engine(make_session_factory(bind), clock, settings=settings)
        results = engine.deploy(files, forms, "simulator")
        runnable = [r for r in results if r.executable]
        key = process_key or (runnable[0].process_key if runnable else results[0].process_key)
        instance = engine.start(key, data or {}, SIMULATOR)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    simulation = Simulation(
        token=secrets.token_urlsafe(16),
        owner=owner,
        engine=engine,
        clock=clock,
        directory=directory,
        process_key=key,
        instance_id=instance.id,
    )
    simulation.actions.append(f"{_stamp(clock)} started '{key}'")
    return simulation


class SimulationStore:
    """Running simulations by token, for one app process; the oldest are dropped first."""

    def __init__(self, size: int = 20, ttl: timedelta = timedelta(hours=2)) -> None:
        self._size = size
        self._ttl = ttl
        self._items: OrderedDict[str, tuple[Simulation, datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, simulation: Simulation) -> None:
        """Keep a simulation, dropping expired ones and the oldest beyond the limit."""
        dropped = []
        with self._lock:
            self._items[simulation.token] = (simulation, datetime.now(UTC))
            cutoff = datetime.now(UTC) - self._ttl
            for token, (sim, at) in list(self._items.items()):
                if at < cutoff or len(self._items) > self._size:
                    dropped.append(sim)
                    del self._items[token]
        for sim in dropped:
            sim.close()

    def get(self, token: str, owner: str) -> Simulation:
        """The owner's simulation, or NotFound (someone else's is not found either)."""
        with self._lock:
            item = self._items.get(token)
            if item is None or item[0].owner != owner:
                raise NotFound("This simulation has ended. Start a new one.")
            self._items.move_to_end(token)
            self._items[token] = (item[0], datetime.now(UTC))
            return item[0]

    def discard(self, token: str, owner: str) -> None:
        """Drop the owner's simulation with this token (and its database)."""
        with self._lock:
            item = self._items.get(token)
            if item is None or item[0].owner != owner:
                return
            del self._items[token]
        item[0].close()

    def close(self) -> None:
        """Drop every simulation (at shutdown)."""
        with self._lock:
            items = list(self._items.values())
            self._items.clear()
        for sim, _ in items:
            sim.close()


def parse_json_object(text: str | None) -> dict[str, Any] | None:
    """A JSON object typed by a person, None for blank; raises EngineError when it is not."""
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError as error:
        raise EngineError(f"The data is not valid JSON: {error}.") from None
    if not isinstance(value, dict):
        raise EngineError("The data must be a JSON object ({...}).")
    return value
