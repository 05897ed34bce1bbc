"""Hot-path writes sent as SQL compiled once (`engine.store.prepared.execute`) store what the
Core statement stores, and statements that need more than that run as Core statements."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update

from engine import Engine
from engine.store import prepared
from engine.store.db import transaction
from engine.store.models import OutboxMessage, ProcessModel

_MODELS = cast(Table, ProcessModel.__table__)
_INSERT = insert(_MODELS).inline()
_RENAME = update(_MODELS).where(_MODELS.c.key == bindparam("model_key"))


def _row(engine: Engine, key: str) -> dict[str, Any]:
    with engine.sessions() as s:
        return dict(s.execute(select(_MODELS).where(_MODELS.c.key == key)).one()._mapping)


def test_rows_are_the_ones_core_writes(engine: Engine) -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    values = {
        "name": "N",
        "lane_roles": {"Country": "country"},
        "start_roles": [],
        "created_at": at,
    }
    with transaction(engine.sessions) as s:
        s.connection().execute(_INSERT, {"key": "by_core", **values})
        prepared.execute(s, _INSERT, {"key": "prepared", **values})
        prepared.execute(s, _INSERT, [{"key": f"many_{i}", **values} for i in range(2)])
    core = _row(engine, "by_core")
    for key in ("prepared", "many_0", "many_1"):
        assert _row(engine, key) == {**core, "key": key}
    assert core["created_at"] == at and core["lane_roles"] == {"Country": "country"}
    with transaction(engine.sessions) as s:
        done = prepared.execute(s, _RENAME, {"name": "Renamed", "model_key": "prepared"})
        none = prepared.execute(s, _RENAME, {"name": "Renamed", "model_key": "absent"})
    assert (done.rowcount, none.rowcount) == (1, 0)
    assert _row(engine, "prepared")["name"] == "Renamed"


def test_a_statement_with_a_python_default_runs_as_core(engine: Engine) -> None:
    # `attempts` has a Python-side default (0): computed per execution, so not prepared.
    statement = insert(cast(Table, OutboxMessage.__table__)).inline()
    columns = {c.key for c in OutboxMessage.__table__.c} - {"id", "attempts"}
    with engine.sessions() as s:
        found = prepared._prepare(statement, s.get_bind().dialect, frozenset(columns))
    assert found.sql is None
    with engine.sessions() as s:
        found = prepared._prepare(
            _INSERT, s.get_bind().dialect, frozenset(c.key for c in _MODELS.c)
        )
    assert found.sql is not None and found.sql.startswith("INSERT INTO process_models")
