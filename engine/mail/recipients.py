"""Whom a message goes to and how it is queued: the active users with mail, the lane's role and
country, translated names, rendering, one outbox row per person and message."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import i18n
from engine.mail.mailer import MailConfig, render
from engine.people.access import Actor, role_for_lane
from engine.people.permissions import may_see_country
from engine.store.models import AuditEvent, HumanTask, Instance, OutboxMessage, ProcessModel, User


def name_of(user: User) -> str:
    """How a person is named in a message: their display name, else their username."""
    return user.display_name or user.username


@dataclass
class Batch:
    """One pass's worth of queueing (owed event mail, or one scan), with the user list loaded
    once."""

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
        """The active user with mail called `username`, if any."""
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
        """Who may act in `lane` of the instance: its role, in `country` for country users."""
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
        """What a task's message shows: its name, links, lane, due date and the case."""
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
                "recipient": name_of(user),
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
