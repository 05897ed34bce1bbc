"""What the engine's paged, filtered admin lists share: a case-insensitive text filter and one
page of a query turned into read types (so no row leaves the session)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Select, func
from sqlalchemy.orm import Session, sessionmaker

from engine.records.queries import Page, paginate

T = TypeVar("T")


def contains(column: Any, needle: str) -> Any:
    """`needle in column`, ignoring case (NULL counts as empty; `%` and `_` are literal)."""
    return func.lower(func.coalesce(column, "")).contains(needle.lower(), autoescape=True)


def read_page(
    sessions: sessionmaker[Session], query: Select[Any], number: int, view: Callable[[Any], T]
) -> Page[T]:
    """Page `number` of `query`, each row turned into its read type by `view`."""
    with sessions() as s:
        page = paginate(s, query, number)
        items = [view(row) for row in page.items]
        return Page(items, page.total, page.page, page.per_page, page.total_capped)
