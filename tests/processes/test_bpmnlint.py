"""The bundled diagrams pass bpmnlint's recommended rules (exceptions: .bpmnlintrc, justified in
docs/pathfinder-process.md)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BPMNLINT = ROOT / "node_modules" / ".bin" / "bpmnlint"


@pytest.mark.skipif(
    not BPMNLINT.exists() or not shutil.which("node"),
    reason="bpmnlint not installed (run `npm ci`)",
)
@pytest.mark.parametrize(
    "diagram", sorted((ROOT / "processes").glob("*.bpmn")), ids=lambda p: p.name
)
def test_bpmnlint_recommended_rules_pass(diagram: Path) -> None:
    result = subprocess.run(
        [str(BPMNLINT), str(diagram)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
