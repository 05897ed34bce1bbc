"""Signed checkpoints of every chain head catch a chain rewritten consistently in the database."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine import Engine, EngineError, Settings, VirtualClock
from engine.runtime.worker import Worker
from engine.store.models import AuditEvent, OutboxMessage
from tests.fixtures.tamper import rewrite_chain


@pytest.fixture
def signed(settings: Settings, clock: VirtualClock, tmp_path: Path) -> Engine:
    keyed = dataclasses.replace(
        settings, checkpoint_key=tmp_path / "keys" / "checkpoint.pem", audit_mailbox="audit@x.org"
    )
    return Engine.from_settings(keyed, clock)


@pytest.fixture
def finished(signed: Engine, review_bundle, actors) -> int:
    signed.deploy(*review_bundle, actor="olu")
    inst = signed.start("review", {"country": "NPL"}, actors["country"])
    [fill] = signed.ready_tasks(inst.id)
    signed.complete(fill.id, {"title": "Roadmap", "amount": 3}, actors["country"])
    [decide] = signed.ready_tasks(inst.id)
    signed.complete(decide.id, {"approved": True}, actors["secretariat"])
    return inst.id


def test_checkpoint_lists_every_head_and_verifies(signed: Engine, finished: int) -> None:
    path = signed.checkpoints.write(actor="cli")
    document = json.loads(path.read_text())
    chains = {c["chain"]: c for c in document["chains"]}
    assert set(chains) == {"system", f"instance:{finished}"}
    assert chains[f"instance:{finished}"]["count"] == len(signed.history(finished))
    assert (signed.settings.checkpoint_key.stat().st_mode & 0o777) == 0o600
    report, chain_reports = signed.checkpoints.verify(document)
    assert report.intact, report.message
    assert all(r.intact for r in chain_reports)
    # More events after the checkpoint only extend it.
    signed.checkpoints.write(actor="cli")
    assert signed.checkpoints.verify(document)[0].intact


def test_a_consistently_rewritten_chain_is_caught_by_the_checkpoint(
    signed: Engine, finished: int
) -> None:
    document = json.loads(signed.checkpoints.write().read_text())
    rewrite_chain(signed.sessions, finished, {"title": "Roadmap", "amount": 300})

    assert all(r.intact for r in signed.verify()), "the rewrite is consistent on its own"
    report, _ = signed.checkpoints.verify(document)
    assert not report.intact
    [rewritten] = report.rewritten
    assert rewritten.chain == f"instance:{finished}"
    assert "rewritten" in rewritten.problem


def test_a_changed_checkpoint_file_is_refused(signed: Engine, finished: int) -> None:
    document = json.loads(signed.checkpoints.write().read_text())
    document["chains"][1]["head"] = "f" * 64
    report, _ = signed.checkpoints.verify(document)
    assert not report.intact and "signature does not match" in (report.problem or "")


def test_checkpoint_is_recorded_and_mailed_to_the_auditors(signed: Engine, finished: int) -> None:
    path = signed.checkpoints.write(actor="cli")
    with signed.session() as s:
        [mail] = s.execute(
            select(OutboxMessage).where(OutboxMessage.kind == "checkpoint")
        ).scalars()
        [event] = s.execute(
            select(AuditEvent).where(AuditEvent.kind == "checkpoint_written")
        ).scalars()
    assert mail.to_address == "audit@x.org" and path.read_text() in mail.body_text
    assert event.data["file"] == path.name and event.actor == "cli"


def test_worker_writes_a_checkpoint_each_interval(
    signed: Engine, finished: int, clock: VirtualClock
) -> None:
    worker = Worker(signed, listen=False)
    worker.run_once()
    assert len(signed.checkpoints.listing()) == 1
    clock.advance(timedelta(hours=23))
    worker._next_housekeeping = 0.0
    worker.run_once()
    assert len(signed.checkpoints.listing()) == 1
    clock.advance(timedelta(hours=2))
    worker._next_housekeeping = 0.0
    worker.run_once()
    assert len(signed.checkpoints.listing()) == 2


def test_without_a_key_no_checkpoint_is_written(engine: Engine) -> None:
    assert not engine.checkpoints.due()
    with pytest.raises(EngineError, match="PATHFINDER_CHECKPOINT_KEY"):
        engine.checkpoints.write()


def test_checkpoints_after_a_day_use_their_own_file(signed: Engine, clock: VirtualClock) -> None:
    first = signed.checkpoints.write()
    clock.advance(timedelta(days=1))
    assert signed.checkpoints.write() != first
