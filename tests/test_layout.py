"""The layout stays readable: no module under `engine/`, `web/` or `cli/` over 400 lines.

A module that grows past the limit is split by responsibility (issue 17). `ALLOWED` lists the
modules still over it, each with the most lines it may have; like the DEBT list of
`tests/test_layering.py` it only shrinks: an entry cannot grow, and an entry whose module got
under the limit (or was removed) must be deleted.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "web", "cli")
LIMIT = 400

ALLOWED: dict[str, int] = {}
"""Modules still over the limit, with their line count when they were listed (only shrinks)."""


def line_counts(root: Path = ROOT) -> dict[str, int]:
    """Lines of every Python module of the packages, by path relative to `root`."""
    return {
        path.relative_to(root).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for package in PACKAGES
        for path in sorted((root / package).rglob("*.py"))
    }


def too_long(counts: dict[str, int], allowed: dict[str, int]) -> dict[str, int]:
    """Modules over the limit that are not allowed to be, or longer than their allowance."""
    return {
        path: lines
        for path, lines in counts.items()
        if lines > LIMIT and lines > allowed.get(path, LIMIT)
    }


def paid_off(counts: dict[str, int], allowed: dict[str, int]) -> list[str]:
    """Allowance entries no longer needed: the module is within the limit, or gone."""
    return sorted(path for path in allowed if counts.get(path, 0) <= LIMIT)


def test_no_module_over_the_limit() -> None:
    over = too_long(line_counts(), ALLOWED)
    assert not over, (
        f"split these modules by responsibility (at most {LIMIT} lines each), or shrink them "
        f"back under their allowance in ALLOWED: {over}"
    )


def test_the_allowance_only_shrinks() -> None:
    done = paid_off(line_counts(), ALLOWED)
    assert not done, f"these modules are within {LIMIT} lines now: remove them from ALLOWED: {done}"


def test_the_check_itself_catches_each_kind(tmp_path: Path) -> None:
    (tmp_path / "engine" / "bpmn").mkdir(parents=True)
    (tmp_path / "web").mkdir()
    (tmp_path / "cli").mkdir()
    (tmp_path / "engine" / "bpmn" / "long.py").write_text("x = 1\n" * 401)
    (tmp_path / "engine" / "short.py").write_text("x = 1\n" * 400)
    (tmp_path / "web" / "listed.py").write_text("x = 1\n" * 450)
    (tmp_path / "cli" / "grew.py").write_text("x = 1\n" * 420)
    counts = line_counts(tmp_path)
    assert counts["engine/short.py"] == 400
    allowed = {"web/listed.py": 450, "cli/grew.py": 410, "engine/short.py": 500, "cli/gone.py": 900}
    assert too_long(counts, allowed) == {"engine/bpmn/long.py": 401, "cli/grew.py": 420}
    assert paid_off(counts, allowed) == ["cli/gone.py", "engine/short.py"]
