"""print() in a script goes to the `pathfinder.scripts` log, never to standard output."""

from __future__ import annotations

import logging

from engine import Engine
from tests.fixtures.bpmn_files import bpmn, flow

PRINTING = bpmn(
    "printing",
    '<bpmn:startEvent id="s" />'
    + '<bpmn:scriptTask id="say" name="Say hello"><bpmn:script>total = 2 + 3\nprint("total is", total)</bpmn:script></bpmn:scriptTask>'
    + '<bpmn:endEvent id="e" />'
    + flow("f1", "s", "say")
    + flow("f2", "say", "e"),
)


def test_print_is_logged_not_written_to_stdout(engine: Engine, actors, caplog, capsys) -> None:
    engine.deploy({"printing.bpmn": PRINTING}, {}, "olu")
    with caplog.at_level(logging.INFO, logger="pathfinder.scripts"):
        instance = engine.start("printing", {}, actors["admin"])
    assert instance.status == "completed"
    assert instance.data["total"] == 5
    assert any("total is 5" in r.getMessage() for r in caplog.records)
    assert "total is" not in capsys.readouterr().out
