"""Tampering made directly in the database (an UPDATE, a DELETE, an INSERT) is detected and the
event named, by the history page's Verify integrity and by `pathfinder audit verify`; an exported
file verifies offline with `pathfinder audit verify --file` and fails after a one-byte change."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import text

from cli.main import main as cli
from engine import Actor, Engine, VirtualClock
from engine.records import history
from engine.store.models import AuditEvent
from tests.engine.records.test_audit import country_with_two_reviews
from tests.processes.driver import Pathfinder
from tests.web.conftest import Web
from web.pages import audit as audit_views


@pytest.fixture
def auditor(app: Flask, login: Callable[[str], Web]) -> Web:
    if "audit" not in app.blueprints:
        app.register_blueprint(audit_views.bp)
    return login("aud")


@pytest.fixture
def nepal(deployed: Engine, clock: VirtualClock, users: dict[str, Actor]) -> Pathfinder:
    return country_with_two_reviews(deployed, clock, deploy=False)


def _verify_cli(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["audit", "verify", *args], env={"DATABASE_URL": database_url}, catch_exceptions=False
    )


def _web_verdict(web: Web, instance_id: int) -> dict:
    response = web.get(
        f"/audit/instances/{instance_id}/verify", headers={"Accept": "application/json"}
    )
    assert response.status_code == 200
    return response.json


def _decision(engine: Engine, instance_id: int) -> AuditEvent:
    """The GCG's decision on the first annual review (what a forger would want to change)."""
    return next(
        e
        for e in engine.history(instance_id)
        if e.kind == "task_completed" and e.element_id == "decide_annual_review"
    )


def test_untouched_history_is_intact_everywhere(
    auditor: Web, nepal: Pathfinder, database_url: str
) -> None:
    count = nepal.instance().audit_count
    assert _web_verdict(auditor, nepal.id)["message"] == f"intact, {count} events"
    result = _verify_cli(database_url, "--instance", str(nepal.id))
    assert result.exit_code == 0, result.output
    assert f"instance:{nepal.id}: intact, {count} events" in result.output
    whole = _verify_cli(database_url)
    assert whole.exit_code == 0 and "intact, " in whole.output


def test_an_update_is_detected_and_named(
    auditor: Web, nepal: Pathfinder, deployed: Engine, database_url: str
) -> None:
    target = _decision(deployed, nepal.id)
    forged = {
        **target.data,
        "submitted": {**target.data["submitted"], "substantial_progress": True},
    }
    with deployed.sessions.begin() as s:
        s.execute(
            text("UPDATE audit_events SET data = :d WHERE id = :id"),
            {"d": json.dumps(forged), "id": target.id},
        )

    verdict = _web_verdict(auditor, nepal.id)
    assert (verdict["intact"], verdict["seq"]) == (False, target.seq)
    assert (
        "altered" in verdict["message"]
        and f"event #{target.seq} (task completed" in (verdict["message"])
    )
    page = auditor.html(f"/audit/instances/{nepal.id}/verify")
    assert f"NOT intact: event #{target.seq}" in page and 'data-intact="0"' in page

    result = _verify_cli(database_url, "--instance", str(nepal.id))
    assert result.exit_code == 1
    assert f"BROKEN at event #{target.seq} (id {target.id})" in result.output
    assert "altered" in result.output
    everything = _verify_cli(database_url)
    assert everything.exit_code == 1 and f"event #{target.seq}" in everything.output


def test_a_delete_is_detected_and_named(
    auditor: Web, nepal: Pathfinder, deployed: Engine, database_url: str
) -> None:
    target = _decision(deployed, nepal.id)
    with deployed.sessions.begin() as s:
        s.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": target.id})

    verdict = _web_verdict(auditor, nepal.id)
    # Named by the gap: the event found where the removed one should be.
    assert (verdict["intact"], verdict["seq"]) == (False, target.seq + 1)
    assert f"expected event #{target.seq} but found #{target.seq + 1}" in verdict["message"]
    assert "removed" in verdict["message"]
    result = _verify_cli(database_url, "--instance", str(nepal.id))
    assert result.exit_code == 1
    assert f"expected event #{target.seq} but found #{target.seq + 1}" in result.output


def test_removing_the_newest_events_is_detected(
    auditor: Web, nepal: Pathfinder, deployed: Engine, database_url: str
) -> None:
    count = nepal.instance().audit_count
    with deployed.sessions.begin() as s:
        s.execute(
            text("DELETE FROM audit_events WHERE chain = :c AND seq > :n"),
            {"c": f"instance:{nepal.id}", "n": count - 3},
        )
    verdict = _web_verdict(auditor, nepal.id)
    assert (verdict["intact"], verdict["seq"]) == (False, count - 2)
    assert "newest events were removed" in verdict["message"]
    assert _verify_cli(database_url, "--instance", str(nepal.id)).exit_code == 1


def _forge(engine: Engine, instance_id: int, seq: int, prev_hash: str) -> dict:
    """An event a forger would insert: well-formed, and hashed like a real one."""
    fields = {
        "chain": f"instance:{instance_id}",
        "seq": seq,
        "instance_id": instance_id,
        "process_version_id": engine.instance(instance_id).process_version_id,
        "kind": "task_completed",
        "at": "2029-09-20T09:00:00.000000+00:00",
        "actor": "sam",
        "country": "NPL",
        "element_id": "decide_annual_review",
        "element_name": "Decide the annual review",
        "data": {"submitted": {"substantial_progress": False}},
        "prev_hash": prev_hash,
    }
    fields["hash"] = history.event_hash(fields)
    return fields


def _insert(engine: Engine, fields: dict) -> None:
    with engine.sessions.begin() as s:
        s.execute(
            text(
                "INSERT INTO audit_events (chain, seq, instance_id, process_version_id, kind, at, "
                "actor, country, element_id, element_name, data, prev_hash, hash) VALUES (:chain, "
                ":seq, :instance_id, :process_version_id, :kind, :at, :actor, :country, "
                ":element_id, :element_name, :data, :prev_hash, :hash)"
            ),
            {**fields, "at": "2029-09-20 09:00:00.000000", "data": json.dumps(fields["data"])},
        )


def test_an_insert_in_the_middle_is_detected_and_named(
    auditor: Web, nepal: Pathfinder, deployed: Engine, database_url: str
) -> None:
    target = _decision(deployed, nepal.id)
    chain = f"instance:{nepal.id}"
    with deployed.sessions.begin() as s:
        # Make room at the decision's place (two steps: seq is unique per chain).
        s.execute(
            text("UPDATE audit_events SET seq = -seq - 1 WHERE chain = :c AND seq >= :n"),
            {"c": chain, "n": target.seq},
        )
        s.execute(
            text("UPDATE audit_events SET seq = -seq WHERE chain = :c AND seq < 0"), {"c": chain}
        )
    _insert(deployed, _forge(deployed, nepal.id, target.seq, target.prev_hash))

    verdict = _web_verdict(auditor, nepal.id)
    assert verdict["intact"] is False
    # The forged event links well to its predecessor; the genuine one after it does not.
    assert verdict["seq"] == target.seq + 1 and "inserted" in verdict["message"]
    result = _verify_cli(database_url, "--instance", str(nepal.id))
    assert result.exit_code == 1
    assert f"BROKEN at event #{target.seq + 1}" in result.output and "inserted" in result.output


def test_an_insert_at_the_end_is_detected(
    auditor: Web, nepal: Pathfinder, deployed: Engine, database_url: str
) -> None:
    row = nepal.instance()
    _insert(deployed, _forge(deployed, nepal.id, row.audit_count + 1, row.audit_head))

    verdict = _web_verdict(auditor, nepal.id)
    assert verdict["intact"] is False
    assert (
        f"should hold {row.audit_count} events but holds {row.audit_count + 1}"
        in (verdict["message"])
    )
    assert "events were appended" in verdict["message"]
    result = _verify_cli(database_url, "--instance", str(nepal.id))
    assert result.exit_code == 1 and "events were appended" in result.output


def test_an_insert_at_the_end_names_the_first_appended_event(
    auditor: Web, nepal: Pathfinder, deployed: Engine
) -> None:
    row = nepal.instance()
    _insert(deployed, _forge(deployed, nepal.id, row.audit_count + 1, row.audit_head))
    assert _web_verdict(auditor, nepal.id)["seq"] == row.audit_count + 1


def test_exported_file_verifies_offline_and_fails_after_a_one_byte_change(
    auditor: Web, nepal: Pathfinder, tmp_path: Path
) -> None:
    export = tmp_path / "export.json"
    export.write_bytes(auditor.get(f"/audit/instances/{nepal.id}/export.json").data)
    # Offline: no database at all.
    offline = {"DATABASE_URL": f"sqlite:///{tmp_path / 'absent' / 'none.db'}"}
    ok = CliRunner().invoke(cli, ["audit", "verify", "--file", str(export)], env=offline)
    count = nepal.instance().audit_count
    assert ok.exit_code == 0, ok.output
    assert f"instance:{nepal.id}: intact, {count} events" in ok.output

    original = export.read_bytes()
    at = original.index(b'"substantial_progress": false') + len(b'"substantial_progress": f')
    changed = original[:at] + b"e" + original[at + 1 :]  # false -> feise: one byte
    assert (
        len(changed) == len(original)
        and sum(a != b for a, b in zip(changed, original, strict=True)) == 1
    )
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(changed)
    bad = CliRunner().invoke(cli, ["audit", "verify", "--file", str(tampered)], env=offline)
    assert bad.exit_code != 0
    assert "BROKEN" in bad.output or "not a Pathfinder export" in bad.output

    # A one-byte change that keeps the JSON valid is named precisely.
    decision = original.index(b'"substantial_progress": false')
    flipped = original[:decision] + original[decision:].replace(b'"sam"', b'"sim"', 1)
    tampered.write_bytes(flipped)
    bad = CliRunner().invoke(cli, ["audit", "verify", "--file", str(tampered)], env=offline)
    assert bad.exit_code == 1
    assert "content does not match its hash: altered" in bad.output
