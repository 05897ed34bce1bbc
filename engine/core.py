"""`Engine`: the one object the CLI, the worker, the web app and tests drive.

Each public method is one transaction. Collaborators (session factory, clock, script engine) are
passed in; nothing here reads globals.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from engine.bpmn import deployments
from engine.bpmn.deployments import DeployResult
from engine.bpmn.parsing import ModelLimits
from engine.bpmn.processes import Processes
from engine.bpmn.sandbox import shared_pool
from engine.bpmn.scripting import make_script_engine
from engine.bpmn.serialization import SpecCache
from engine.clock import Clock, SystemClock, VirtualClock
from engine.config import Settings
from engine.errors import EngineError, NotFound
from engine.i18n import translation_files
from engine.mail.mailer import MailConfig
from engine.mail.outbox import Outbox
from engine.people.access import SYSTEM, Actor
from engine.people.handles import AdminHandles, People, Tokens
from engine.records import attachments, history
from engine.records.attachments import AttachmentInfo, FileProblem
from engine.records.checkpoint_handle import Checkpoints
from engine.records.handles import Audit, Submissions
from engine.records.history import ChainReport
from engine.records.reads import TaskView
from engine.runtime import execution, timers
from engine.runtime.instance_handle import Instances
from engine.runtime.task_handle import Tasks
from engine.states import REACHED_KINDS, TaskState
from engine.store.db import check_writable, make_engine, make_session_factory
from engine.store.models import AuditEvent, HumanTask, Instance
from engine.transactions import as_engine_error as as_engine_error
from engine.transactions import transaction


def upgrade_database(url: str, revision: str = "head") -> str | None:
    """Migrate the database at `url` to `revision` (Alembic); returns the revision now."""
    from engine.store.migrate import current, upgrade

    upgrade(url, revision)
    return current(url)


def database_revision(url: str) -> str | None:
    """The Alembic revision of the database at `url` (None when it was never migrated)."""
    from engine.store.migrate import current

    return current(url)


def seed_demo(settings: Settings) -> Iterator[str]:
    """Create the demo users and countries (`make run`); yields what it did."""
    from engine.demo import seed

    return seed(settings)


EventSubscriber = Callable[[Session, Sequence[AuditEvent]], None]
"""Hears of the audit events a flush records, inside that flush (see `Engine.subscribers`)."""


class Engine(AdminHandles):
    """Deploy, start, run and inspect process instances."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock | None = None,
        *,
        settings: Settings | None = None,
        wall_clock: Clock | None = None,
        subscribers: Sequence[EventSubscriber] | None = None,
    ) -> None:
        """Wire the engine: `sessions` opens database sessions; `clock` is the one clock the
        procedure runs on (instances, timers, due dates, audit times; a `VirtualClock` in tests
        and simulations); `wall_clock` is the real time that leases and credentials expire on;
        `subscribers` hear of every recorded audit event (default: none; the mail those events
        owe is queued by the outbox worker after commit, `notifications.queue_due`)."""
        self.sessions = sessions
        self._settings = settings or Settings()
        self.clock: Clock = clock or SystemClock()
        self.wall_clock: Clock = wall_clock or SystemClock()
        self.runtime = execution.Runtime(
            clock=self.clock,
            script_engine=make_script_engine(
                self.clock,
                time_limit=self.settings.script_time_limit,
                pool=(
                    shared_pool(self.settings.script_processes, self.settings.script_memory_mb)
                    if self.settings.script_processes > 0
                    else None
                ),
            ),
            specs=SpecCache(),
            max_call_depth=self.settings.max_call_depth,
            max_steps=self.settings.max_engine_steps,
            max_seconds=self.settings.engine_run_seconds,
            max_timer_catch_up=self.settings.max_timer_catch_up,
            min_timer_period=self.settings.min_timer_period,
        )
        self.files: attachments.Store = attachments.LocalStore(
            self.settings.var_dir / "attachments"
        )
        """Where uploaded documents are stored (content-addressed by SHA-256)."""
        self.mail = MailConfig.from_settings(self.settings, self.wall_clock)
        """Mail settings (links, sender, SMTP, leases on the wall clock)."""
        self.subscribers: list[EventSubscriber] = (
            list(subscribers) if subscribers is not None else []
        )
        """Called with the audit events each flush records, in that flush (so what they
        write commits or rolls back with the events). One `Engine` per session factory."""
        # The listener holds the engine weakly: SQLAlchemy's event registry would otherwise keep
        # a dropped engine, and its pooled database connections, alive for good.
        publish = weakref.WeakMethod(self._publish)

        def _on_flush(session: Session, context: Any, instances: Any) -> None:
            method = publish()
            if method is not None:
                method(session, context, instances)

        event.listen(self.sessions, "before_flush", _on_flush)
        tell = weakref.WeakMethod(self._tell)

        def _on_events(session: Session, events: Sequence[AuditEvent]) -> None:
            method = tell()
            if method is not None:
                method(session, events)

        self.runtime.on_events = _on_events
        self.people = People(self)
        """User accounts: look-ups and password sign-in (`engine.handles.People`)."""
        self.tokens = Tokens(self)
        """API bearer tokens (`engine.handles.Tokens`)."""
        self.outbox = Outbox(self)
        """Queued e-mail and mail settings (`engine.outbox.Outbox`)."""
        self.processes = Processes(self)
        """Deployed process models (`engine.processes.Processes`)."""
        # Handles on the runtime and the records: each gets only the collaborators it uses.
        self.tasks = Tasks(self.sessions, self.runtime, self.clock, self.settings, self.files)
        """Human tasks: inbox, task page, claim, drafts, uploads, completion (upload and draft
        limits from the settings given now: assigning `settings` rebinds it)."""
        self.instances = Instances(self.sessions, self.runtime, self.clock)
        """Process instances: lists, case pages, start and management."""
        self.audit = Audit(self.sessions)
        """The audit trail: event pages, timeline, replay, checks, exports."""
        self.submissions = Submissions(self.sessions)
        """What each completed task submitted."""
        self.checkpoints = Checkpoints(self.sessions, self.clock, self.settings)
        """Signed checkpoints of every chain head."""
        self.retry_policy = timers.RetryPolicy(
            max_attempts=self.settings.timer_max_attempts,
            backoff_seconds=self.settings.timer_backoff_seconds,
            lease_seconds=self.settings.timer_lease_seconds,
            lease_clock=self.wall_clock,
        )

    @property
    def settings(self) -> Settings:
        """The settings the engine runs with."""
        return self._settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        """Run with other settings: the handles that read limits from them are rebound."""
        self._settings = value
        self.tasks = Tasks(self.sessions, self.runtime, self.clock, value, self.files)
        self.checkpoints = Checkpoints(self.sessions, self.clock, value)

    def _publish(self, session: Session, _context: Any, _instances: Any) -> None:
        self._tell(session, [o for o in session.new if isinstance(o, AuditEvent)])

    def _tell(self, session: Session, events: Sequence[AuditEvent]) -> None:
        if events:
            for subscriber in self.subscribers:
                subscriber(session, events)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> Engine:
        """An engine on the database `settings.database_url` names (already migrated)."""
        return cls(
            make_session_factory(make_engine(settings.database_url)), clock, settings=settings
        )

    @classmethod
    def for_tests(cls, db_path: Path | str, clock: Clock | None = None, **settings: Any) -> Engine:
        """An engine on a fresh, migrated SQLite file (or the URL given)."""
        from engine.store.migrate import upgrade

        url = str(db_path) if "://" in str(db_path) else f"sqlite:///{db_path}"
        upgrade(url)
        return cls.from_settings(Settings(database_url=url, **settings), clock)

    def now(self) -> datetime:
        """The engine clock's current time."""
        return self.clock.now()

    def warm_scripts(self) -> int:
        """Start the script sandbox's processes now, so that the first script after start-up
        does not wait for them; returns how many are ready (0 when scripts run in-process)."""
        pool = getattr(self.runtime.script_engine.environment, "pool", None)
        return pool.warm() if pool is not None else 0

    def check_writable(self) -> None:
        """Raise unless the database accepts a write within `settings.readyz_timeout` seconds
        (for readiness checks; nothing is written)."""
        bind = self.sessions.kw["bind"]
        check_writable(bind, self.settings.readyz_timeout)

    @property
    def model_limits(self) -> ModelLimits:
        """The deploy-time limits from the settings (timer periods, script sizes)."""
        return ModelLimits(
            min_timer_period=self.settings.min_timer_period,
            max_script_chars=self.settings.max_script_chars,
        )

    def session(self) -> Session:
        """A read session (the caller closes it)."""
        return self.sessions()

    # -- deployments -------------------------------------------------------------------------

    def deploy(
        self,
        files: Mapping[str, bytes],
        forms: Mapping[str, bytes] | None = None,
        actor: str = "system",
    ) -> list[DeployResult]:
        """Validate and store process models; raises `ValidationFailed` listing every problem."""
        with transaction(self.sessions) as s:
            return deployments.deploy(s, files, forms, actor, self.now(), self.model_limits)

    def deploy_directory(
        self, processes: Path, forms: Path, actor: str = "system"
    ) -> list[DeployResult]:
        """Deploy every BPMN/DMN file of a folder with the forms they reference."""
        files = {
            p.name: p.read_bytes()
            for p in sorted(processes.iterdir())
            if p.suffix in (".bpmn", ".dmn")
        }
        form_files = (
            {p.name: p.read_bytes() for p in sorted(forms.glob("*.json"))} if forms.is_dir() else {}
        )
        return self.deploy(files, {**form_files, **translation_files(processes, forms)}, actor)

    # -- instances ---------------------------------------------------------------------------

    def start(
        self,
        process_key: str,
        data: Mapping[str, Any] | None = None,
        actor: Actor = SYSTEM,
        version: int | None = None,
    ) -> Instance:
        """`instances.start` (kept here: most callers start instances)."""
        return self.instances.start(process_key, data, actor, version)

    def instance(self, instance_id: int) -> Instance:
        """The instance row (`NotFound` when there is none); no permission check."""
        with self.sessions() as s:
            row = s.get(Instance, instance_id)
            if row is None:
                raise NotFound(f"Instance {instance_id} does not exist.")
            return row

    def ready_tasks(self, instance_id: int | None = None) -> list[HumanTask]:
        """Open human tasks (of one instance, or all), oldest first."""
        with self.sessions() as s:
            q = select(HumanTask).where(HumanTask.state == TaskState.READY)
            if instance_id is not None:
                q = q.where(HumanTask.instance_id == instance_id)
            return list(s.execute(q.order_by(HumanTask.created_at, HumanTask.id)).scalars())

    def complete(
        self,
        task_id: str,
        data: Mapping[str, Any],
        actor: Actor,
        *,
        expected_version: int | None = None,
    ) -> Instance:
        """`tasks.complete`, answering with the instance row (kept here: most callers
        complete tasks)."""
        return self.tasks.complete(task_id, data, actor, expected_version=expected_version)[0]

    # -- attachments -------------------------------------------------------------------------

    def open_attachment(self, attachment_id: str, actor: Actor) -> tuple[AttachmentInfo, BinaryIO]:
        """An attachment the actor may see and its content for reading (the caller closes it);
        `NotFound` for anything else, including another country's documents."""
        with self.sessions() as s:
            info, _instance = attachments.lookup(s, attachment_id, actor)
        try:
            return info, self.files.open(info.sha256)
        except FileNotFoundError as exc:
            raise NotFound(
                f"The file of attachment {attachment_id} is missing from storage."
            ) from exc

    def verify_attachments(self, instance_id: int | None = None) -> list[FileProblem]:
        """Recompute each recorded document's SHA-256 on storage; every mismatch or gap."""
        with self.sessions() as s:
            return attachments.verify_attachments(s, self.files, instance_id)

    def remove_stale_uploads(self) -> int:
        """Delete uploads never attached to a submitted form after `upload_max_age_days`
        (recorded on the system chain), and their files unless another record shares them."""
        older_than = self.now() - timedelta(days=self.settings.upload_max_age_days)
        with transaction(self.sessions) as s:
            shas = attachments.remove_stale_uploads(s, older_than=older_than, now=self.now())
        with self.sessions() as s:
            for sha in attachments.unreferenced(s, shas):
                self.files.remove(sha)
        return len(shas)

    def claim(self, task_id: str, actor: Actor, assignee: str | None = None) -> TaskView:
        """`tasks.claim` (kept here: many callers claim tasks)."""
        return self.tasks.claim(task_id, actor, assignee)

    # -- timers ------------------------------------------------------------------------------

    def fire_due_timers(self, *, owner: str = "engine", batch: int = 100) -> int:
        """Fire every timer due at the clock's now; returns how many instances ran."""
        return timers.fire_due_timers(
            self.sessions, self.runtime, owner=owner, batch=batch, policy=self.retry_policy
        )

    def advance_clock(self, target: datetime, *, max_steps: int = 10_000) -> int:
        """Move a virtual clock to `target`, stopping at each timer due on the way and firing it,
        so timers that fired timers schedule (next year's review) fall due on their own date.
        Returns how many instance runs fired timers."""
        clock = self.clock
        if not isinstance(clock, VirtualClock):
            raise EngineError("Only a virtual (simulated) clock can be moved.")
        fired = 0
        previous: datetime | None = None
        for _ in range(max_steps):
            with self.sessions() as session:
                due = timers.next_due(session, self.wall_clock)
            if due is None or due > target or (previous is not None and due <= previous):
                break
            previous = due
            if due > clock.now():
                clock.set(due)
            fired += self.fire_due_timers(owner="simulation")
        if target > clock.now():
            clock.set(target)
        return fired + self.fire_due_timers(owner="simulation")

    # -- history -----------------------------------------------------------------------------

    def history(self, instance_id: int) -> list[AuditEvent]:
        """The instance's audit events, oldest first."""
        with self.sessions() as s:
            return list(
                s.execute(
                    select(AuditEvent)
                    .where(AuditEvent.instance_id == instance_id)
                    .order_by(AuditEvent.seq)
                ).scalars()
            )

    def reached_elements(self, instance_id: int) -> set[str]:
        """Flow node ids this instance reached (completed, or became ready/waiting)."""
        return {
            e.element_id
            for e in self.history(instance_id)
            if e.element_id and e.kind in REACHED_KINDS
        }

    def verify(self, instance_id: int | None = None) -> Sequence[ChainReport]:
        """Check the hash chain of one instance, or of every chain."""
        with self.sessions() as s:
            if instance_id is None:
                return history.verify_all(s)
            return [history.verify_instance(s, instance_id)]
