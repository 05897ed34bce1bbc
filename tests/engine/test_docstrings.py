"""Every public engine name says what it is: modules, classes, functions and methods."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "engine"


def undocumented(path: Path) -> list[str]:
    """Public definitions of one module without a docstring, as `module:Name.method`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = path.relative_to(ENGINE.parent).with_suffix("").as_posix().replace("/", ".")
    missing = [name] if ast.get_docstring(tree) is None else []

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            if node.name.startswith("_"):
                continue
            if ast.get_docstring(node) is None:
                missing.append(f"{name}:{prefix}{node.name}")
            if isinstance(node, ast.ClassDef):
                visit(node.body, f"{prefix}{node.name}.")

    visit(tree.body, "")
    return missing


def test_every_public_engine_name_has_a_docstring() -> None:
    paths = [p for p in sorted(ENGINE.rglob("*.py")) if not p.name.startswith("_")]
    missing = [m for p in paths for m in undocumented(p)]
    assert missing == [], f"{len(missing)} public engine names without a docstring: {missing}"
