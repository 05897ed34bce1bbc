"""The engine stands alone: importing every engine module loads neither flask nor web."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_engine_modules_do_not_import_flask_or_web() -> None:
    modules = sorted(
        ".".join(p.relative_to(ROOT / "engine").with_suffix("").parts)
        for p in (ROOT / "engine").rglob("*.py")
        if p.stem != "__init__"
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module('engine.' + m)\n"
        "bad = [m for m in sys.modules if m == 'flask' or m.startswith('flask.') or m == 'web' or m.startswith('web.')]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert len(modules) > 10
    assert out.stdout.strip() == "", f"engine imported {out.stdout.strip()}"
