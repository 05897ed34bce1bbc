"""Who gets which e-mail, written to the outbox in the transaction of the event that caused it.

`Notifier` is a subscriber the `Engine` is given in its constructor and calls with the audit
events each flush records: every new `task_ready`, `task_completed`, `task_assigned` or
`status_changed` event becomes outbox rows in the same flush, so a message exists exactly when its
cause was committed. `scan_due` (called by the worker
each pass) queues reminders before the due date and, once overdue, a notice to the assignee (or the
lane) plus an escalation to the Secretariat. Recipients come from `User` rows: the lane's role
(see `engine.access.role_for_lane`) and, for country users, the task's country only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from engine import i18n
from engine.clock import add_duration
from engine.mail.mailer import (
    MailConfig,
    SendReport,
    Transport,
    build_digests,
    render,
    send_pending,
)
from engine.people.access import Actor, role_for_lane
from engine.people.permissions import may_see_country
from engine.store.db import transaction
from engine.store.models import AuditEvent, HumanTask, Instance, OutboxMessage, ProcessModel, User

log = logging.getLogger("pathfinder.notifications")

STATUS_VARIABLES = frozenset({"pathfinder_status"})
"""Instance variables whose changes are mailed to the country's users."""

ESCALATION_ROLE = "secretariat"
"""Who hears about overdue tasks besides the people who should have done them."""

DECISIONS = {"accepted": "accepted", "sent_back": "sent_back"}
"""Values of a submitted `*_decision` field that tell the submitter the outcome."""


@dataclass(frozen=True)
class Notifier:
    """The event subscriber that queues mail: the `Engine` calls it with the audit events each
    flush records, in that flush (see `Engine.subscribers`)."""

    config: MailConfig
    """Mail settings: links, sender, reminder lead time."""

    def __call__(self, session: Session, events: Sequence[AuditEvent]) -> None:
        """Queue the outbox rows these new events call for."""
        queue_events(session, self.config, events)


def queue_events(session: Session, config: MailConfig, new: Iterable[AuditEvent]) -> int:
    """Turn new audit events into outbox rows in `session`; returns how many were added."""
    events = sorted((e for e in new if e.kind in _HANDLERS), key=lambda e: (e.chain, e.seq))
    if not events:
        return 0
    batch = _Batch(session, config)
    with session.no_autoflush:
        for ev in events:
            try:
                _HANDLERS[ev.kind](batch, ev)
            except Exception:  # noqa: BLE001 - a mail problem must never stop the procedure
                log.exception("could not queue mail for %s event %s#%s", ev.kind, ev.chain, ev.seq)
    return batch.added


def mail_pass(
    sessions: sessionmaker[Session],
    config: MailConfig,
    *,
    now: Callable[[], datetime],
    owner: str,
    transport: Transport | None = None,
) -> SendReport:
    """One worker pass over mail: reminders and overdue notices, digests of past days, sending.

    `now` is the engine clock; `owner` names the worker in outbox leases.
    """
    with transaction(sessions) as session:
        scan_due(session, now(), config)
    build_digests(sessions, config, now=now())
    return send_pending(sessions, config, now=now, owner=owner, transport=transport)


def scan_due(session: Session, now: datetime, config: MailConfig) -> int:
    """Queue reminders and overdue notices (with escalation) for open tasks; returns rows added.

    Each task's `reminder_sent_at` / `overdue_sent_at` is set by a conditional update, so two
    workers scanning at once queue each notice once.
    """
    soon = add_duration(now, config.reminder_before)
    rows = session.execute(
        select(HumanTask)
        .join(Instance, Instance.id == HumanTask.instance_id)
        .where(
            HumanTask.state == "ready",
            HumanTask.due_at.is_not(None),
            Instance.status == "running",
            or_(
                and_(HumanTask.overdue_sent_at.is_(None), HumanTask.due_at <= now),
                and_(
                    HumanTask.reminder_sent_at.is_(None),
                    HumanTask.due_at > now,
                    HumanTask.due_at <= soon,
                ),
            ),
        )
        .order_by(HumanTask.due_at)
    ).scalars()
    batch = _Batch(session, config)
    for ht in list(rows):
        assert ht.due_at is not None
        overdue = ht.due_at <= now
        flag = HumanTask.overdue_sent_at if overdue else HumanTask.reminder_sent_at
        won = session.execute(
            update(HumanTask)
            .where(HumanTask.id == ht.id, flag.is_(None))
            .values({flag: now})
            .execution_options(synchronize_session=False)
        )
        if won.rowcount != 1:  # type: ignore[attr-defined]
            continue
        people = batch.assignees(ht)
        context = batch.task_context(ht.instance_id, ht.id, ht.name, ht.lane, ht.due_at)
        kind = "overdue" if overdue else "reminder"
        for user in people:
            batch.queue(
                user, kind, f"{kind}:{ht.id}:{user.id}", context, ht.instance_id, ht.id, now
            )
        if overdue:
            told = {u.id for u in people}
            for user in batch.with_role(ESCALATION_ROLE, None):
                if user.id not in told:
                    context = {**context, "assignees": [_name(u) for u in people]}
                    key = f"escalation:{ht.id}:{user.id}"
                    batch.queue(user, "escalation", key, context, ht.instance_id, ht.id, now)
    return batch.added


# -- the batch: users, recipients, rendering ---------------------------------------------------


def _name(user: User) -> str:
    return user.display_name or user.username


@dataclass
class _Batch:
    """One flush's (or one scan's) worth of queueing, with the user list loaded once."""

    session: Session
    config: MailConfig
    added: int = 0
    _users: list[User] | None = None
    _keys: set[str] = field(default_factory=set)
    _completions: dict[int, list[AuditEvent]] = field(default_factory=dict)
    _names: dict[tuple[int, str], dict[str, str]] = field(default_factory=dict)

    def localized(
        self, context: Mapping[str, Any], instance_id: int | None, locale: str | None
    ) -> dict[str, Any]:
        """`context` with the task, step and lane names in `locale`, from the translations
        deployed with the instance's process version (English ones stay when there are none)."""
        out = dict(context)
        if instance_id is None or locale not in i18n.TRANSLATED:
            return out
        key = (instance_id, str(locale))
        if key not in self._names:
            instance = self.session.get(Instance, instance_id)
            version = instance.process_version if instance else None
            self._names[key] = (
                i18n.names(version.forms or {}, version.files or {}, version.process_key, key[1])[1]
                if version is not None
                else {}
            )
        names = self._names[key]
        for name in ("task_name", "reviewer_step", "lane"):
            value = out.get(name)
            if isinstance(value, str) and value in names:
                out[name] = names[value]
        return out

    @property
    def users(self) -> list[User]:
        """Active users with an e-mail address who have not switched mail off."""
        if self._users is None:
            self._users = list(
                self.session.execute(
                    select(User)
                    .where(User.active.is_(True), User.email.is_not(None), User.notify != "none")
                    .order_by(User.id)
                ).scalars()
            )
        return [u for u in self._users if u.email]

    def by_username(self, username: str | None) -> User | None:
        return next((u for u in self.users if u.username == username), None)

    def with_role(self, role: str, country: str | None) -> list[User]:
        """Users holding `role` who may see `country` (country users: their own only)."""
        return [
            u
            for u in self.users
            if role in (u.roles or [])
            and may_see_country(Actor(u.username, u.roles or (), u.country), country)
        ]

    def lane_users(self, instance_id: int, lane: str | None, country: str | None) -> list[User]:
        instance = self.session.get(Instance, instance_id)
        model = self.session.get(ProcessModel, instance.process_key) if instance else None
        role = role_for_lane(lane, model.lane_roles if model else {})
        return self.with_role(role, country) if role else []

    def assignees(self, ht: HumanTask) -> list[User]:
        """Whoever holds the task's claim, else everyone who may act in its lane."""
        if ht.claimed_by:
            user = self.by_username(ht.claimed_by)
            return [user] if user else []
        return self.lane_users(ht.instance_id, ht.lane, ht.country)

    def completions(self, instance_id: int) -> list[AuditEvent]:
        """The instance's `task_completed` events, stored and pending, in order."""
        if instance_id not in self._completions:
            stored = self.session.execute(
                select(AuditEvent)
                .where(AuditEvent.instance_id == instance_id, AuditEvent.kind == "task_completed")
                .order_by(AuditEvent.seq)
            ).scalars()
            pending = [
                o
                for o in self.session.new
                if isinstance(o, AuditEvent)
                and o.instance_id == instance_id
                and o.kind == "task_completed"
            ]
            merged = {e.seq: e for e in [*stored, *pending]}
            self._completions[instance_id] = [merged[s] for s in sorted(merged)]
        return self._completions[instance_id]

    def task_context(
        self,
        instance_id: int,
        task_id: str,
        name: str | None,
        lane: str | None,
        due_at: datetime | str | None,
    ) -> dict[str, Any]:
        instance = self.session.get(Instance, instance_id)
        if isinstance(due_at, str):
            due_at = datetime.fromisoformat(due_at)
        return {
            "task_name": name or "a task",
            "task_link": self.config.task_link(task_id),
            "lane": lane,
            "due_at": due_at,
            "instance_label": (instance.label if instance else None) or f"#{instance_id}",
            "country": instance.country if instance else None,
            "instance_link": self.config.link(f"instances/{instance_id}"),
        }

    def queue(
        self,
        user: User,
        kind: str,
        key: str,
        context: Mapping[str, Any],
        instance_id: int | None,
        task_id: str | None,
        at: datetime,
    ) -> None:
        """Render and add one message (immediate, or held for the user's daily digest)."""
        if key in self._keys or user.notify == "none" or not user.email:
            return
        self._keys.add(key)
        rendered = render(
            kind,
            {
                **self.localized(context, instance_id, user.locale),
                "recipient": _name(user),
                "settings_link": self.config.link("notifications/settings"),
                "unsubscribe_link": self.config.unsubscribe_link(user.id),
            },
            locale=user.locale,
        )
        digest = user.notify == "digest"
        self.session.add(
            OutboxMessage(
                dedupe_key=key[:200],
                user_id=user.id,
                to_address=user.email,
                kind=kind,
                subject=rendered.subject,
                body_text=rendered.text,
                body_html=rendered.html,
                instance_id=instance_id,
                task_id=task_id,
                state="digest" if digest else "pending",
                digest_date=at.date().isoformat() if digest else None,
                attempts=0,
                created_at=at,
            )
        )
        self.added += 1


# -- event handlers ----------------------------------------------------------------------------


def _decision(submitted: Any) -> tuple[str | None, str]:
    """The outcome (`accepted` / `sent_back`) in a review's submitted data, and its comments."""
    if not isinstance(submitted, Mapping):
        return None, ""
    outcome = next(
        (
            DECISIONS[v]
            for k, v in submitted.items()
            if (k == "decision" or k.endswith("_decision"))
            and isinstance(v, str)
            and v in DECISIONS
        ),
        None,
    )
    comments = "\n\n".join(
        str(v).strip()
        for k, v in submitted.items()
        if "comment" in k and isinstance(v, str) and v.strip()
    )
    return outcome, comments


def _submission_before(batch: _Batch, review: AuditEvent) -> AuditEvent | None:
    """The completion a review decided on: the latest earlier one by someone in another lane."""
    assert review.instance_id is not None
    earlier = [
        e
        for e in batch.completions(review.instance_id)
        if e.seq < review.seq and e.actor and e.actor != review.actor
    ]
    lane = (review.data or {}).get("lane")
    other_lane = [e for e in earlier if (e.data or {}).get("lane") != lane]
    candidates = other_lane or earlier
    return candidates[-1] if candidates else None


def _on_task_ready(batch: _Batch, ev: AuditEvent) -> None:
    data = ev.data or {}
    task_id, lane = data.get("task_id"), data.get("lane")
    if ev.instance_id is None or not task_id:
        return
    context = batch.task_context(ev.instance_id, task_id, ev.element_name, lane, data.get("due_at"))
    skip: set[int] = set()
    # A task that comes back after a review sent it back: tell its submitter why.
    done = [e for e in batch.completions(ev.instance_id) if e.seq < ev.seq]
    previous = next((e for e in reversed(done) if e.element_id == ev.element_id), None)
    if previous is not None:
        later = [e for e in done if e.seq > previous.seq]
        review = next(
            (e for e in reversed(later) if _decision((e.data or {}).get("submitted"))[0]), None
        )
        outcome, comments = (
            _decision((review.data or {}).get("submitted")) if review else (None, "")
        )
        submitter = batch.by_username(previous.actor)
        if review is not None and outcome == "sent_back" and submitter is not None:
            ctx = {**context, "reviewer_step": review.element_name, "comments": comments}
            key = f"sent_back:{task_id}:{submitter.id}"
            batch.queue(submitter, "sent_back", key, ctx, ev.instance_id, task_id, ev.at)
            skip.add(submitter.id)
    for user in batch.lane_users(ev.instance_id, lane, ev.country):
        if user.id not in skip:
            key = f"new_task:{task_id}:{user.id}"
            batch.queue(user, "new_task", key, context, ev.instance_id, task_id, ev.at)


def _on_task_completed(batch: _Batch, ev: AuditEvent) -> None:
    outcome, comments = _decision((ev.data or {}).get("submitted"))
    if outcome != "accepted" or ev.instance_id is None:
        return
    submission = _submission_before(batch, ev)
    submitter = batch.by_username(submission.actor) if submission else None
    if submission is None or submitter is None:
        return
    task_id = (submission.data or {}).get("task_id") or ""
    context = {
        **batch.task_context(ev.instance_id, task_id, submission.element_name, None, None),
        "reviewer_step": ev.element_name,
        "comments": comments,
    }
    key = f"accepted:{ev.chain}:{ev.seq}:{submitter.id}"
    batch.queue(submitter, "accepted", key, context, ev.instance_id, None, ev.at)


def _on_task_assigned(batch: _Batch, ev: AuditEvent) -> None:
    data = ev.data or {}
    user = batch.by_username(data.get("claimed_by"))
    task_id = data.get("task_id")
    if user is None or ev.instance_id is None or not task_id or user.username == ev.actor:
        return
    ht = batch.session.get(HumanTask, task_id)
    context = batch.task_context(
        ev.instance_id, task_id, ev.element_name, ht.lane if ht else None, ht.due_at if ht else None
    )
    context["assigned_by"] = ev.actor
    key = f"task_assigned:{ev.chain}:{ev.seq}:{user.id}"
    batch.queue(user, "task_assigned", key, context, ev.instance_id, task_id, ev.at)


def _on_status_changed(batch: _Batch, ev: AuditEvent) -> None:
    data = ev.data or {}
    if data.get("variable") not in STATUS_VARIABLES or data.get("old") is None:
        return
    if ev.instance_id is None or ev.country is None:
        return
    instance = batch.session.get(Instance, ev.instance_id)
    context = {
        "variable": str(data.get("variable")).replace("_", " "),
        "old": _label(data.get("old")),
        "new": _label(data.get("new")),
        "instance_label": (instance.label if instance else None) or ev.country,
        "country": ev.country,
        "instance_link": batch.config.link(f"instances/{ev.instance_id}"),
    }
    for user in _country_users(batch, ev.country):
        key = f"status_changed:{ev.chain}:{ev.seq}:{user.id}"
        batch.queue(user, "status_changed", key, context, ev.instance_id, None, ev.at)


def _country_users(batch: _Batch, country: str) -> Iterable[User]:
    return [u for u in batch.with_role("country", country) if u.country == country]


def N_(text: str) -> str:  # noqa: N802 - gettext's name for "mark for translation"
    """Mark a text for the message catalogs; e-mail templates translate it when shown."""
    return text


STATUS_WORDS = (
    N_("pathfinder status"),
    N_("candidate"),
    N_("pathfinder"),
    N_("on hold"),
    N_("withdrawn"),
)
"""The status words a status-change e-mail shows (`_label` of the diagram's codes)."""


def _label(value: Any) -> str:
    return "—" if value is None else str(value).replace("_", " ")


_HANDLERS = {
    "task_ready": _on_task_ready,
    "task_completed": _on_task_completed,
    "task_assigned": _on_task_assigned,
    "status_changed": _on_status_changed,
}
