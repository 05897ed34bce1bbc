"""The web app and the CLI talk to the engine only through its public face.

Every module under `web/` and `cli/` may import the `engine` package's own names (`engine.__all__`,
its `__init__`) and nothing else of the engine: no `engine.<module>`, no `sqlalchemy`. Imports
under `if TYPE_CHECKING:` are allowed (they never run). The twin of
`tests/engine/test_isolation.py`, which keeps Flask out of the engine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import engine

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("web", "cli")

DEBT: dict[str, set[str]] = {}
"""Imports still to move behind the public face, by file (this list only shrinks)."""


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                for sub in ast.walk(child):
                    if hasattr(sub, "lineno"):
                        lines.add(sub.lineno)
    return lines


def violations(path: Path) -> set[str]:
    """The imports of one module that go past the engine's public face."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree)
    public = set(engine.__all__)
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sqlalchemy" or alias.name.startswith("engine."):
                    found.add(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top = node.module.split(".")[0]
            if top == "sqlalchemy" or node.module.startswith("engine."):
                found.add(node.module)
            elif node.module == "engine":
                found.update(f"engine.{a.name}" for a in node.names if a.name not in public)
    return found


def _all_violations() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            found = violations(path)
            if found:
                out[path.relative_to(ROOT).as_posix()] = found
    return out


def test_web_and_cli_import_only_the_engines_public_face() -> None:
    found = _all_violations()
    new = {f: sorted(v - DEBT.get(f, set())) for f, v in found.items() if v - DEBT.get(f, set())}
    assert not new, f"import the engine's public face (`from engine import …`) instead: {new}"


def test_the_debt_list_only_shrinks() -> None:
    found = _all_violations()
    paid = {f: sorted(v - found.get(f, set())) for f, v in DEBT.items() if v - found.get(f, set())}
    assert not paid, f"these imports are gone: remove them from DEBT in this test: {paid}"


def test_the_check_itself_catches_each_kind(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "import sqlalchemy.orm\n"
        "from sqlalchemy import select\n"
        "from engine.models import User\n"
        "from engine import queries, Engine\n"
        "if TYPE_CHECKING:\n"
        "    from engine.models import Instance\n"
    )
    assert violations(module) == {"sqlalchemy.orm", "sqlalchemy", "engine.models", "engine.queries"}
