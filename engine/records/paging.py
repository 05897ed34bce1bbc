"""One page of a longer list, counted in SQL (capped where counting everything would be slow)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, literal, select
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")
U = TypeVar("U")
MAX_PER_PAGE = 100
COUNT_CAP = 1000
"""Task totals and navigation counts stop counting here ("1,000+"): counting 50,000 open tasks
on every request is what made the Secretariat's inbox slow."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a longer list."""

    items: list[T]
    total: int
    page: int
    per_page: int
    total_capped: bool = False
    """The count stopped at `total`: there are more items (and more pages) than it says."""

    @property
    def pages(self) -> int:
        """How many pages there are (at least 1)."""
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_next(self) -> bool:
        """Whether a next page exists."""
        return self.page < self.pages or self.total_capped

    @property
    def has_prev(self) -> bool:
        """Whether a previous page exists."""
        return self.page > 1

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        """The same page with each item turned into `convert(item)` (rows into read types)."""
        return Page(
            [convert(x) for x in self.items],
            self.total,
            self.page,
            self.per_page,
            self.total_capped,
        )


def _count(session: Session, query: Select[Any], limit: int | None = None) -> int:
    """How many rows `query` matches, counting at most `limit` of them."""
    rows = query.order_by(None)
    if limit is not None:
        rows = rows.with_only_columns(literal(1), maintain_column_froms=True).limit(limit)
    return int(session.execute(select(func.count()).select_from(rows.subquery())).scalar_one())


def _paginate(
    session: Session,
    query: Select[Any],
    page: int,
    per_page: int,
    cap: int | None = None,
    when_capped: Select[Any] | None = None,
    few: bool = False,
    rows: bool = False,
) -> Page[Any]:
    """One page of `query`. With `cap`, the total is counted only up to `cap` or to the end of
    this page, whichever is further (plus one row, to know whether there are more); past it the
    page is read with `when_capped` (the same rows in the same order, written for another plan).

    `few`: the query matches few rows (one instance's tasks), so the page is read first and
    counted only when it is full or empty past the first page; a shorter page ends the list,
    which gives the total without a count. `rows`: items are whole result rows (a query of
    several columns), not the first column's values."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, page)
    items = _items(session, query, page, per_page, rows) if few else None
    if items is not None and len(items) < per_page and (items or page == 1):
        return Page(items, (page - 1) * per_page + len(items), page, per_page)
    if cap is None:
        total, capped = _count(session, query), False
    else:
        known = max(cap, page * per_page)
        total = _count(session, query, known + 1)
        total, capped = min(total, known), total > known
    if capped and when_capped is not None:
        items = _items(session, when_capped, page, per_page, rows)
    elif items is None:
        items = _items(session, query, page, per_page, rows)
    return Page(items, total, page, per_page, capped)


def _items(
    session: Session, query: Select[Any], page: int, per_page: int, rows: bool = False
) -> list[Any]:
    found = session.execute(query.limit(per_page).offset((page - 1) * per_page))
    return list(found.all() if rows else found.scalars())


def paginate(session: Session, query: Select[Any], page: int, per_page: int = 50) -> Page[Any]:
    """One page of any list `query` (admin lists: the outbox, users)."""
    return _paginate(session, query, page, per_page)


def contains(column: Any, needle: str) -> Any:
    """`needle in column`, ignoring case (NULL counts as empty; `%` and `_` are literal)."""
    return func.lower(func.coalesce(column, "")).contains(needle.lower(), autoescape=True)


def read_page(
    sessions: sessionmaker[Session], query: Select[Any], number: int, view: Callable[[Any], T]
) -> Page[T]:
    """Page `number` of `query` (an admin list), each row turned into its read type by `view`
    inside the session, so no row leaves it."""
    with sessions() as s:
        return paginate(s, query, number).map(view)
