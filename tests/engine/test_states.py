"""Statuses and event kinds are enums whose members are the stored strings."""

from __future__ import annotations

import re
from pathlib import Path

from engine import EventKind, InstanceStatus

ENGINE = Path(__file__).resolve().parents[2] / "engine"
RECORDED = re.compile(r"(?:\.record|_audit|audit)\(\s*(?:[a-z_]+,\s*)?\"([a-z_]+)\"", re.S)


def test_every_event_kind_the_engine_records_is_an_event_kind() -> None:
    found = {
        kind
        for path in ENGINE.rglob("*.py")
        for kind in RECORDED.findall(path.read_text(encoding="utf-8"))
    }
    assert len(found) > 20
    assert sorted(found - {k.value for k in EventKind}) == []


def test_members_are_the_stored_strings() -> None:
    assert InstanceStatus.RUNNING == "running" and f"{InstanceStatus.ERROR}" == "error"
    assert EventKind("task_completed") is EventKind.TASK_COMPLETED
