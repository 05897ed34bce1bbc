"""Who gets which e-mail, queued by the outbox worker after the event that caused it committed.

Every `task_ready`, `task_completed`, `task_assigned` or `status_changed` event owes mail. The
transaction that records it writes nothing for mail: the instance's chain head moves past its
`mailed_seq`, and that is the mark "mail due" (so a task completion does not read users, lanes
and earlier completions while it holds the instance's lock). `queue_due` (the first step of the
worker's `mail_pass`) turns those events into outbox rows and moves `mailed_seq` on, in one
transaction, so each event's mail is queued once. `scan_due` queues reminders before the due
date and, once overdue, a notice to the assignee (or the lane) plus an escalation to the
Secretariat. Recipients come from `User` rows: the lane's role (see `engine.access.role_for_lane`)
and, for country users, the task's country only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, case, or_, select, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import add_duration
from engine.errors import Conflict
from engine.mail.mailer import (
    MailConfig,
    SendReport,
    Transport,
    build_digests,
    send_pending,
)
from engine.mail.recipients import Batch, name_of
from engine.records.history import chain_for
from engine.store.db import transaction
from engine.store.models import AuditEvent, HumanTask, Instance, User

log = logging.getLogger("pathfinder.notifications")

STATUS_VARIABLES = frozenset({"pathfinder_status"})
"""Instance variables whose changes are mailed to the country's users."""

ESCALATION_ROLE = "secretariat"
"""Who hears about overdue tasks besides the people who should have done them."""

DECISIONS = {"accepted": "accepted", "sent_back": "sent_back"}
"""Values of a submitted `*_decision` field that tell the submitter the outcome."""


def queue_events(session: Session, config: MailConfig, new: Iterable[AuditEvent]) -> int:
    """Turn new audit events into outbox rows in `session`; returns how many were added."""
    events = sorted((e for e in new if e.kind in _HANDLERS), key=lambda e: (e.chain, e.seq))
    if not events:
        return 0
    batch = Batch(session, config)
    with session.no_autoflush:
        for ev in events:
            try:
                _HANDLERS[ev.kind](batch, ev)
            except Exception:  # noqa: BLE001 - a mail problem must never stop the procedure
                log.exception("could not queue mail for %s event %s#%s", ev.kind, ev.chain, ev.seq)
    return batch.added


QUEUE_BATCH = 100
"""Instances whose owed mail one `queue_due` transaction handles at most."""


def queue_due(sessions: sessionmaker[Session], config: MailConfig) -> int:
    """Queue the mail owed by events committed since the last pass; returns rows added.

    One transaction per batch of instances: the owed events are read, their mail queued, and
    each instance's `mailed_seq` moved on by a conditional update, so two workers never queue an
    event twice (the loser's transaction rolls back; its rows would clash on `dedupe_key` too).
    """
    added = 0
    for _ in range(1000):  # bounded: each round moves `mailed_seq` of up to QUEUE_BATCH rows on
        with transaction(sessions) as session:
            owed = session.execute(
                select(Instance.id, Instance.mailed_seq, Instance.audit_count)
                .where(Instance.audit_count > Instance.mailed_seq)
                .order_by(Instance.id)
                .limit(QUEUE_BATCH)
            ).all()
            if not owed:
                break
            events = session.execute(
                select(AuditEvent).where(
                    AuditEvent.kind.in_(_HANDLERS),
                    or_(
                        *(
                            and_(
                                AuditEvent.chain == chain_for(iid),
                                AuditEvent.seq > mailed,
                                AuditEvent.seq <= count,
                            )
                            for iid, mailed, count in owed
                        )
                    ),
                )
            ).scalars()
            added += queue_events(session, config, list(events))
            _move_mailed(session, owed)
        if len(owed) < QUEUE_BATCH:
            break
    return added


def _move_mailed(session: Session, owed: Sequence[Row[int, int, int]]) -> None:
    """Move each instance's `mailed_seq` from what was read to its chain head as read, in one
    UPDATE; `Conflict` (the caller's transaction rolls back) when another worker moved one of
    them meanwhile."""
    moved = session.execute(
        update(Instance)
        .where(tuple_(Instance.id, Instance.mailed_seq).in_([(i, m) for i, m, _ in owed]))
        .values(mailed_seq=case({i: c for i, _, c in owed}, value=Instance.id))
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != len(owed):  # type: ignore[attr-defined]
        raise Conflict("Another worker queued this mail first.")


def mail_pass(
    sessions: sessionmaker[Session],
    config: MailConfig,
    *,
    now: Callable[[], datetime],
    owner: str,
    transport: Transport | None = None,
) -> SendReport:
    """One worker pass over mail: the mail events owe, reminders and overdue notices, digests of
    past days, sending.

    `now` is the engine clock; `owner` names the worker in outbox leases.
    """
    try:
        queue_due(sessions, config)
    except Conflict:
        log.info("another worker is queueing the same mail; left to it")
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
    batch = Batch(session, config)
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
                    context = {**context, "assignees": [name_of(u) for u in people]}
                    key = f"escalation:{ht.id}:{user.id}"
                    batch.queue(user, "escalation", key, context, ht.instance_id, ht.id, now)
    return batch.added


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


def _submission_before(batch: Batch, review: AuditEvent) -> AuditEvent | None:
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


def _on_task_ready(batch: Batch, ev: AuditEvent) -> None:
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


def _on_task_completed(batch: Batch, ev: AuditEvent) -> None:
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


def _on_task_assigned(batch: Batch, ev: AuditEvent) -> None:
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


def _on_status_changed(batch: Batch, ev: AuditEvent) -> None:
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


def _country_users(batch: Batch, country: str) -> Iterable[User]:
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
