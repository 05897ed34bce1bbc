"""PostgreSQL: the engine's psycopg cursor describes a result's columns only when asked, and
describes them as psycopg does: the same names and types, None for a statement without rows,
and still the result it was read from after the cursor ran another statement."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine as SAEngine
from sqlalchemy import text

from engine.store.db import make_engine
from engine.store.pg import Cursor

QUERY = "SELECT 1 AS n, 'a'::text AS word, '{}'::json AS doc, now() AS at"


@pytest.fixture
def bind(database_url: str) -> Iterator[SAEngine]:
    if not database_url.startswith("postgresql"):
        pytest.skip("psycopg's cursor")
    bind = make_engine(database_url)
    yield bind
    bind.dispose()


def test_columns_are_described_as_psycopg_describes_them(bind: SAEngine) -> None:
    with bind.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        ours = raw.cursor()
        theirs = psycopg.Cursor(raw)
        assert isinstance(ours, Cursor)
        for cursor in (ours, theirs):
            cursor.execute(QUERY)
        mine, psycopgs = ours.description, theirs.description
        assert mine is not None and psycopgs is not None
        ours.execute("SELECT 2 AS other")  # what was read before describes the first result
        assert len(mine) == len(psycopgs) == 4
        assert [tuple(c) for c in mine] == [tuple(c) for c in psycopgs]
        assert [c.name for c in mine[1:3]] == ["word", "doc"] and mine[-1].name == "at"
        with pytest.raises(IndexError):
            mine[4]
        ours.execute("SET LOCAL work_mem = '4MB'")
        assert ours.description is None
        ours.execute("SELECT WHERE false")  # rows (none) of no columns: described, empty
        assert ours.description is not None and len(ours.description) == 0
        conn.rollback()


def test_results_read_through_sqlalchemy_keep_their_column_names(bind: SAEngine) -> None:
    with bind.connect() as conn:
        row = conn.execute(text(QUERY)).mappings().one()
        assert list(row) == ["n", "word", "doc", "at"] and row["word"] == "a"
        assert row["doc"] == {}
