"""Case data on the case page and in the timeline: readable, never a Python repr."""

from __future__ import annotations

from web.pages import pretty


def test_lists_of_objects_read_like_a_submission_not_like_python() -> None:
    shown = str(pretty([{"activity": "Inspections", "budget_usd": 1200, "status": "on_track"}]))
    assert "{'" not in shown and "': " not in shown
    assert "<dt>Activity</dt><dd>Inspections</dd>" in shown
    assert "<dt>Budget USD</dt><dd>1200</dd>" in shown
    assert str(pretty(["forced_labour", "child_labour"])) == "Forced labour, Child labour"
    assert str(pretty(None)) == "—" and str(pretty(True)) == "Yes"
