"""The audit chain: every change recorded; tampering in the database detected and named."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from engine import Engine
from engine.records import history
from engine.records.history import Recorder, verify_export
from engine.store.models import AuditEvent, Instance
from tests.fixtures.statements import Statements


@pytest.fixture
def finished(engine: Engine, review_bundle, actors):
    engine.deploy(*review_bundle, actor="olu")
    inst = engine.start("review", {"country": "NPL"}, actors["country"])
    [fill] = engine.ready_tasks(inst.id)
    engine.complete(fill.id, {"title": "Roadmap", "amount": 3}, actors["country"])
    [decide] = engine.ready_tasks(inst.id)
    engine.complete(decide.id, {"approved": True}, actors["secretariat"])
    return inst.id


def test_events_record_who_did_what(engine: Engine, finished: int) -> None:
    events = engine.history(finished)
    completed = [
        (e.element_id, e.actor, e.data["submitted"]) for e in events if e.kind == "task_completed"
    ]
    assert completed == [
        ("fill", "nima", {"title": "Roadmap", "amount": 3}),
        ("decide", "sam", {"approved": True}),
    ]
    [decision] = [e for e in events if e.kind == "gateway_decision"]
    assert decision.element_id == "approved_gw"
    assert decision.data["values"] == {"approved": True}
    assert decision.data["chosen"] == ["mark"]
    assert [e.kind for e in events][0] == "instance_started"
    assert [e.kind for e in events][-1] == "instance_completed"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


def test_intact_chain_verifies(engine: Engine, finished: int) -> None:
    [report] = engine.verify(finished)
    assert report.intact and report.events == len(engine.history(finished))
    assert all(r.intact for r in engine.verify())


def test_edited_event_is_named(engine: Engine, finished: int) -> None:
    target = [e for e in engine.history(finished) if e.kind == "task_completed"][1]
    with engine.sessions.begin() as s:
        s.execute(
            text("UPDATE audit_events SET data = :d WHERE id = :id"),
            {"d": json.dumps({**target.data, "submitted": {"approved": False}}), "id": target.id},
        )
    [report] = engine.verify(finished)
    assert not report.intact
    assert report.first_broken["seq"] == target.seq
    assert "altered" in report.first_broken["problem"]


def test_deleted_event_is_named(engine: Engine, finished: int) -> None:
    target = engine.history(finished)[3]
    with engine.sessions.begin() as s:
        s.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": target.id})
    [report] = engine.verify(finished)
    assert not report.intact
    assert report.first_broken["seq"] == target.seq + 1
    assert "removed" in report.first_broken["problem"]


def test_deleted_newest_event_is_detected(engine: Engine, finished: int) -> None:
    last = engine.history(finished)[-1]
    with engine.sessions.begin() as s:
        s.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": last.id})
    [report] = engine.verify(finished)
    assert not report.intact and "removed" in report.first_broken["problem"]


def test_inserted_event_is_named(engine: Engine, finished: int) -> None:
    events = engine.history(finished)
    forged_after = events[2]
    with engine.sessions.begin() as s:
        # Shift later events up by one and slip a forged event into the gap.
        for e in reversed(events[3:]):
            s.execute(text("UPDATE audit_events SET seq = seq + 1 WHERE id = :id"), {"id": e.id})
        s.add(
            AuditEvent(
                chain=forged_after.chain,
                seq=forged_after.seq + 1,
                instance_id=finished,
                process_version_id=forged_after.process_version_id,
                kind="task_completed",
                at=forged_after.at,
                actor="mallory",
                data={"submitted": {"approved": True}},
                prev_hash=forged_after.hash,
                hash="0" * 64,
            )
        )
    [report] = engine.verify(finished)
    assert not report.intact
    assert report.first_broken["seq"] == forged_after.seq + 1


def test_the_events_of_one_flush_go_in_one_insert_each_with_its_own_id(
    engine: Engine,
    finished: int,
    count_statements: Callable[[], AbstractContextManager[Statements]],
) -> None:
    """The batched INSERT (matched by `audit_events.insert_sentinel`) gives every event object the
    id of its own row, on SQLite as on PostgreSQL, and the chain still verifies."""
    with engine.sessions.begin() as s:
        recorder = Recorder(s, s.get_one(Instance, finished), datetime(2030, 1, 1, tzinfo=UTC))
        kinds = [f"note_{n}" for n in range(7)]
        events = [recorder.record(kind, data={"n": n}) for n, kind in enumerate(kinds)]
        with count_statements() as seen:
            s.flush()
        inserts = [q for q in seen if q.startswith("INSERT INTO audit_events")]
        assert len(inserts) == 1, seen.report()
        columns = select(AuditEvent.id, AuditEvent.kind, AuditEvent.seq, AuditEvent.hash)
        stored = {  # the rows as stored, not the objects in the session
            row.id: (row.kind, row.seq, row.hash)
            for row in s.execute(columns.where(AuditEvent.kind.in_(kinds)))
        }
        assert {e.id: (e.kind, e.seq, e.hash) for e in events} == stored
    [report] = engine.verify(finished)
    assert report.intact and report.events == len(engine.history(finished))


def test_export_verifies_offline_and_detects_a_changed_byte(engine: Engine, finished: int) -> None:
    from engine.records.history import event_to_dict

    events = engine.history(finished)
    doc = {
        "chains": [
            {
                "chain": events[0].chain,
                "head": events[-1].hash,
                "count": len(events),
                "events": [event_to_dict(e) for e in events],
            }
        ]
    }
    blob = json.dumps(doc)
    assert all(r.intact for r in verify_export(json.loads(blob)))
    tampered = blob.replace('"amount": 3', '"amount": 4', 1)
    assert tampered != blob
    assert not verify_export(json.loads(tampered))[0].intact


def _event(data: dict) -> dict:
    return {
        "chain": "instance:1",
        "seq": 1,
        "kind": "task_completed",
        "at": "2027-01-01T00:00:00.000000+00:00",
        "data": data,
        "prev_hash": history.GENESIS,
    }


def test_an_internal_value_is_withheld_by_its_digest_and_the_hash_still_matches() -> None:
    data = {"task_id": "t", "submitted": {"summary": "Evidence", "notes": "Confidential"}}
    committed = history.commit(data, history.internal_paths("task_completed", data, {"notes"}))
    recorded = history.event_hash(_event(committed))
    withheld, verifiable = history.withhold(committed, {"notes"}, "task_completed")
    assert verifiable and "Confidential" not in json.dumps(withheld)
    assert withheld["commitments"] == {"submitted": {"notes": None}}  # the salt is not given out
    assert withheld["submitted"]["summary"] == "Evidence"
    assert history.event_hash(_event(withheld)) == recorded
    # a changed visible value, or a changed digest, no longer matches
    changed = {**withheld, "submitted": {**withheld["submitted"], "summary": "Other"}}
    assert history.event_hash(_event(changed)) != recorded
    forged = {**withheld, "submitted": {**withheld["submitted"], "notes": {"$sha256": "0" * 64}}}
    assert history.event_hash(_event(forged)) != recorded
    # the value itself, with another salt, gives another digest (nothing to guess from)
    other = history.commit(data, history.internal_paths("task_completed", data, {"notes"}))
    assert history.event_hash(_event(other)) != recorded


def test_events_recorded_without_commitments_hash_as_before_and_say_they_cannot_verify() -> None:
    data = {"submitted": {"summary": "Evidence", "notes": "Confidential"}}
    assert history.hashed_data(data) is data
    withheld, verifiable = history.withhold(data, {"notes"}, "task_completed")
    assert not verifiable and withheld["submitted"]["notes"] == "(internal)"
