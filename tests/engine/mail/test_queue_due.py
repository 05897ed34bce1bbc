"""The outbox worker's queueing pass: each instance's owed mail queued once, its `mailed_seq`
moved on for a whole batch in one statement, and nothing queued when another worker was first."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from sqlalchemy import select

from engine import SYSTEM, Engine
from engine.errors import Conflict
from engine.mail.mailer import MailConfig
from engine.mail.notifications import _move_mailed
from engine.store.db import transaction
from engine.store.models import Instance, OutboxMessage
from tests.engine.mail.test_notifications import mail, people, smtp
from tests.fixtures.statements import Statements

__all__ = ["mail", "people", "smtp"]  # fixtures shared with the end-to-end mail tests


def _start(engine: Engine, countries: list[str]) -> list[int]:
    return [engine.start("notify_demo", {"country": c}, SYSTEM).id for c in countries]


def _marks(engine: Engine, ids: list[int]) -> list[tuple[int, int]]:
    with engine.session() as s:
        rows = s.execute(
            select(Instance.mailed_seq, Instance.audit_count)
            .where(Instance.id.in_(ids))
            .order_by(Instance.id)
        )
        return [(m, c) for m, c in rows]


def test_a_batch_of_instances_is_marked_mailed_in_one_update(
    engine: Engine,
    mail: MailConfig,
    people: dict[str, str],
    count_statements: Callable[[], AbstractContextManager[Statements]],
) -> None:
    ids = _start(engine, ["NPL", "KEN", "IND"])
    assert all(mailed < count for mailed, count in _marks(engine, ids))
    with count_statements() as seen:
        added = engine.outbox.queue_due()
    assert added == 3  # the new task to Nepal's two focal points and Kenya's one (none in India)
    updates = [q for q in seen if q.startswith("UPDATE instances")]
    assert len(updates) == 1, seen.report()
    assert all(mailed == count for mailed, count in _marks(engine, ids))
    assert engine.outbox.queue_due() == 0  # queued once


def test_a_batch_another_worker_moved_on_first_is_refused_whole(
    engine: Engine, mail: MailConfig, people: dict[str, str]
) -> None:
    ids = _start(engine, ["NPL", "KEN"])
    with engine.session() as s:
        owed = s.execute(
            select(Instance.id, Instance.mailed_seq, Instance.audit_count)
            .where(Instance.id.in_(ids))
            .order_by(Instance.id)
        ).all()
    engine.outbox.queue_due()  # the other worker, first
    with pytest.raises(Conflict), transaction(engine.sessions) as s:
        _move_mailed(s, owed)
    assert all(mailed == count for mailed, count in _marks(engine, ids))
    with engine.session() as s:
        assert len(s.execute(select(OutboxMessage)).all()) == 3  # the first worker's, once
