"""Driving the demo: the users created, and each country's case run on a virtual clock.

`seed(settings)` drives the deployed pathfinder process on a virtual clock that starts a few
years back and stops at the real now, completing whichever user tasks become ready with
realistic form data, so the timeline dates look real. Re-running it adds nothing new.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from engine.bpmn.forms import field_errors, load_form
from engine.bpmn.given_rows import with_given_rows
from engine.clock import VirtualClock
from engine.config import Settings
from engine.core import Engine
from engine.demo.cast import COUNTRIES, DELAYS, DEMO_LOCALES, DEMO_USERS, PROCESS, Country
from engine.demo.payloads import (
    PAYLOADS,
    _sample,
    reached,
    synthesize,
)
from engine.errors import EngineError
from engine.people.access import Actor, role_for_lane
from engine.people.accounts import actor_for, create_user
from engine.store.db import transaction
from engine.store.models import HumanTask, Instance, ProcessModel, TimerJob, User


def _delay(element_id: str) -> timedelta:
    return timedelta(days=DELAYS.get(element_id, 7), hours=len(element_id) % 7)


class _Driver:
    """Drives one country's case on the virtual clock until its stop task or the real now."""

    def __init__(
        self, engine: Engine, clock: VirtualClock, actors: dict[str, Actor], end: datetime
    ) -> None:
        self.engine, self.clock, self.actors, self.end = engine, clock, actors, end

    def _actor(self, lane: str | None, country: str, lane_roles: dict[str, str]) -> Actor:
        role = role_for_lane(lane, lane_roles) or "secretariat"
        admin = next(a for a in self.actors.values() if a.is_admin)
        if role == "country":
            mine = [a for a in self.actors.values() if a.has("country") and a.country == country]
            return mine[0] if mine else admin
        return next((a for a in self.actors.values() if role in a.roles), admin)

    def _next_timer(self, instance_id: int) -> datetime | None:
        with self.engine.session() as s:
            return s.execute(
                select(func.min(TimerJob.due_at)).where(TimerJob.instance_id == instance_id)
            ).scalar()

    def wait_until(self, instance_id: int, target: datetime) -> bool:
        """Move the clock to `target`, firing due timers on the way; False past the real now."""
        last: datetime | None = None
        while (due := self._next_timer(instance_id)) is not None and due <= min(target, self.end):
            # A minute past the due time: a timer is not due at exactly its due instant.
            step = (
                due + timedelta(minutes=1) if due != last else self.clock.now() + timedelta(hours=1)
            )
            self.clock.set(max(step, self.clock.now()))
            self.engine.fire_due_timers()
            last = due
        if target > self.end:
            return False
        self.clock.set(max(target, self.clock.now()))
        return True

    def run(self, c: Country, instance_id: int) -> Iterator[str]:
        done: dict[str, int] = {}
        with self.engine.session() as s:
            model = s.get(ProcessModel, PROCESS)
            lane_roles = dict(model.lane_roles or {}) if model else {}
        for _ in range(1000):
            inst = self.engine.instance(instance_id)
            if inst.status != "running":
                return
            tasks = self.engine.ready_tasks(instance_id)
            if c.stop_at and any(t.element_id == c.stop_at for t in tasks):
                return
            stalled = [t for t in tasks if t.element_id == c.closed_when_stalled_at]
            if stalled:
                yield from self._close_stalled(c, instance_id, stalled[0])
                return
            if not c.sends_reports:  # the report's due date passes; the review goes on without
                tasks = [t for t in tasks if t.element_id != "submit_annual_progress_report"]
            if not c.documents_progress:  # on hold, it waits for the next review instead
                tasks = [t for t in tasks if t.element_id != "document_progress"]
            if not tasks:
                due = self._next_timer(instance_id)
                if due is None or not self.wait_until(instance_id, due):
                    return
                continue
            task = min(tasks, key=lambda t: t.created_at + _delay(t.element_id))
            due = self._next_timer(instance_id)
            if due is not None and due < task.created_at + _delay(task.element_id):
                # A timer comes first (an anniversary opens the annual report): fire it, then
                # choose again, so a long side task does not let the report's due date pass.
                if not self.wait_until(instance_id, due):
                    return
                continue
            if not self.wait_until(instance_id, task.created_at + _delay(task.element_id)):
                return
            if task.id not in {t.id for t in self.engine.ready_tasks(instance_id)}:
                continue  # a timer or message in the meantime closed it
            data = self._payload(c, task, done.get(task.element_id, 0), inst)
            try:
                self.engine.complete(task.id, data, self._actor(task.lane, c.iso, lane_roles))
            except EngineError as err:
                yield f"  {c.iso}: could not complete '{task.name}': {err.message}"
                return
            done[task.element_id] = done.get(task.element_id, 0) + 1
            if task.element_id == "invite_to_gcg_meeting" and c.meeting_postponed:
                yield from self._postpone_meeting(c, instance_id)

    def _close_stalled(self, c: Country, instance_id: int, task: HumanTask) -> Iterator[str]:
        if not self.wait_until(instance_id, task.created_at + timedelta(days=365)):
            return
        payload = {
            "reason": "No workshop report and no answer to three reminders in a year.",
            "letter_date": self.clock.now().date().isoformat(),
        }
        secretariat = next(a for a in self.actors.values() if "secretariat" in a.roles)
        try:
            self.engine.instances.send_message(instance_id, "case_closure", payload, secretariat)
        except EngineError as err:
            yield f"  {c.iso}: could not close the stalled case: {err.message}"

    def _postpone_meeting(self, c: Country, instance_id: int) -> Iterator[str]:
        data = self.engine.instance(instance_id).data or {}
        later = date.fromisoformat(str(data["gcg_meeting_date"])) + timedelta(days=30)
        payload = {
            "gcg_meeting_date": later.isoformat(),
            "reason": "The GCG meeting was postponed.",
        }
        secretariat = next(a for a in self.actors.values() if "secretariat" in a.roles)
        try:
            self.engine.instances.send_message(
                instance_id, "gcg_meeting_rescheduled", payload, secretariat
            )
        except EngineError as err:
            yield f"  {c.iso}: could not reschedule the GCG meeting: {err.message}"

    def _payload(self, c: Country, task: HumanTask, n: int, inst: Instance) -> dict[str, Any]:
        today = self.clock.now().date()
        maker = PAYLOADS.get(task.element_id)
        data = maker(c, today, n) if maker else {}
        variables = self.engine.instance(inst.id).data or {}
        if task.element_id == "submit_annual_progress_report":
            workplan = variables.get("workplan_in_force") or {}
            data["indicator_values"] = reached(workplan.get("actions"), n + 1)
        with self.engine.session() as s:
            version = s.get(Instance, inst.id).process_version  # type: ignore[union-attr]
            form = load_form(version.forms, task.form_file, task.ui_form_file)
        if form is not None:  # the rows the case gives (workplan indicators) as the form has them
            data = with_given_rows(form.schema, data, variables)
        if form is not None and field_errors(form.schema, data):
            # The diagram or the form changed since this payload was written: fill the gaps.
            data = {**synthesize(form.schema, today), **data}
            props = form.schema.get("properties") or {}
            for path in field_errors(form.schema, data):
                key = path.split(".")[0]
                if key in props:
                    data[key] = _sample(props[key], today)
        return data


def _ensure_users(engine: Engine, now: datetime) -> Iterator[str]:
    with transaction(engine.sessions) as s:
        existing = set(s.execute(select(User.username)).scalars())
        for username, password, roles, country, name in DEMO_USERS:
            if username in existing:
                continue
            create_user(
                s,
                username,
                password,
                roles,
                now=now,
                country=country,
                display_name=name,
                email=f"{username}@pathfinder.example.org",
                locale=DEMO_LOCALES.get(username),
            )
            where = f" {country}" if country else ""
            yield f"user {username} ({', '.join(roles)}{where}) password {password}"


def seed(settings: Settings, *, now: datetime | None = None) -> Iterator[str]:
    """Create the demo users and countries (skipping any that exist); yields what it did."""
    end = now or datetime.now(UTC)
    earliest = min(c.start for c in COUNTRIES if c.start)
    clock = VirtualClock(datetime(earliest.year, earliest.month, earliest.day, 9, tzinfo=UTC))
    engine = Engine.from_settings(settings, clock)
    yield from _ensure_users(engine, end)
    with engine.session() as s:
        if s.get(ProcessModel, PROCESS) is None:
            yield f"process '{PROCESS}' is not deployed; run `pathfinder deploy --bundled` first"
            return
        users = {u.username: actor_for(u) for u in s.execute(select(User)).scalars()}
        started = set(
            s.execute(select(Instance.country).where(Instance.process_key == PROCESS)).scalars()
        )
    driver = _Driver(engine, clock, users, end)
    for c in COUNTRIES:
        begin = c.start or (end - timedelta(days=3)).date()
        if c.iso in started or begin > end.date():
            continue
        clock.set(datetime(begin.year, begin.month, begin.day, 9, tzinfo=UTC))
        inst = engine.start(
            PROCESS, {"country": c.iso, "country_name": c.name}, users["secretariat"]
        )
        yield from driver.run(c, inst.id)
        final = engine.instance(inst.id)
        waiting = ", ".join(t.name for t in engine.ready_tasks(inst.id)) or "a date"
        status = (final.data or {}).get("pathfinder_status", "")
        yield f"{c.name} ({c.iso}): stage {final.stage}, {status}; waiting for {waiting}"


def drive(
    engine: Engine,
    clock: VirtualClock,
    instance_id: int,
    *,
    stop_at: str | None,
    actors: dict[str, Actor],
    end: datetime | None = None,
) -> list[str]:
    """Advance one pathfinder case with the demo payloads until `stop_at` is ready (for tests
    and simulations). Country tasks are done by `fp.<iso>` if present, else by an admin."""
    iso = engine.instance(instance_id).country or "NPL"
    known = {c.iso: c for c in COUNTRIES}
    country = known.get(iso) or Country(
        iso, iso, "Africa", "Hon. Minister", "Ministry of Labour", "Senior Official", None
    )
    country = Country(**{**country.__dict__, "stop_at": stop_at})
    driver = _Driver(engine, clock, actors, end or clock.now() + timedelta(days=3650))
    return list(driver.run(country, instance_id))
