"""The traceability table of docs/pathfinder-process.md names only elements and tests that exist."""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "pathfinder-process.md"
BPMN = ROOT / "processes" / "pathfinder.bpmn"


def _rows() -> list[list[str]]:
    text = DOC.read_text()
    table = text[text.index("## Traceability") : text.index("## Coverage")]
    rows = [line.split(" | ") for line in table.splitlines() if re.match(r"\| \d+[a-z]? \|", line)]
    return [[cell.strip(" |") for cell in row] for row in rows]


def test_the_table_has_a_row_for_each_clause_and_footnote() -> None:
    rows = _rows()
    assert len(rows) >= 30
    clauses = " ".join(row[1] for row in rows)
    for footnote in ("Footnote 1", "Footnote 2", "Footnote 3"):
        assert footnote in clauses
    assert "gatherings of pathfinder countries" in clauses
    for row in rows:  # a row without a test says why (context, not modelled)
        assert row[3] != "—" or any(w in row[2] for w in ("context", "not ")), row[0]


def test_every_element_id_and_test_named_exists() -> None:
    root = etree.parse(str(BPMN)).getroot()
    ids = {str(i) for i in root.xpath("//@id")}
    forms = " ".join(p.read_text() for p in (ROOT / "forms").glob("*.schema.json"))
    tests = " ".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    for row in _rows():
        for name in re.findall(r"`([^`]+)`", row[2]):
            if not name.isidentifier():
                continue  # a value such as "P60D" or an expression
            assert name in ids or f'"{name}"' in forms or name in {"country", "default"}, (
                row[0],
                name,
            )
        for test in re.findall(r"`(test_\w+)`", row[3]):
            assert f"def {test}(" in tests, (row[0], test)
