"""Parsing what clients send, within limits: ids in routes and query strings, and JSON bodies.

Integers beyond what the database stores (PostgreSQL `integer`) used to reach SQL and fail with a
500; JSON with a 5,000-digit number or 100,000 levels of nesting broke the parser. Everything here
turns such input into a 404 (a route that cannot exist) or a 400 (a malformed request).
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter, Map

DB_INT_MAX = 2**31 - 1
"""The largest id or count the database stores (PostgreSQL `integer`)."""

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects a JSON body may have."""

MAX_JSON_NUMBER_CHARS = 40
"""Longest number literal a JSON body may contain (digits, sign, point and exponent)."""

_INT = re.compile(r"-?\d{1,10}")


class BoundedIntConverter(IntegerConverter):
    """The `int` route converter, limited to what the database stores unless a rule says more.

    `/instances/99999999999999999999` then answers 404 at routing, like any id that does not exist.
    """

    def __init__(
        self,
        map: Map,  # noqa: A002 - werkzeug's parameter name
        fixed_digits: int = 0,
        min: int | None = None,  # noqa: A002
        max: int | None = None,  # noqa: A002
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits, min, DB_INT_MAX if max is None else max, signed)


def db_int(raw: Any) -> int:
    """`raw` as an int the database can store (0 to 2^31-1); ValueError otherwise.

    Usable as `request.args.get(name, type=db_int)`, which then answers None for bad input.
    """
    if isinstance(raw, bool):
        raise ValueError("not an integer")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and _INT.fullmatch(raw.strip()):
        value = int(raw.strip())
    else:
        raise ValueError("not an integer")
    if not 0 <= value <= DB_INT_MAX:
        raise ValueError("out of range")
    return value


def _number_literal(kind: type) -> Any:
    def parse(text: str) -> Any:
        if len(text) > MAX_JSON_NUMBER_CHARS:
            raise ValueError(f"a number longer than {MAX_JSON_NUMBER_CHARS} characters")
        value = kind(text)
        if kind is float and value in (float("inf"), float("-inf")):
            raise ValueError("a number out of range")
        return value

    return parse


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_depth(value: Any) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"nesting deeper than {MAX_JSON_DEPTH} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def loads_limited(text: str | bytes) -> Any:
    """`json.loads` that refuses NaN/Infinity, over-long numbers and deep nesting (ValueError)."""
    try:
        value = json.loads(
            text,
            parse_int=_number_literal(int),
            parse_float=_number_literal(float),
            parse_constant=_refuse_constant,
        )
    except RecursionError as exc:
        raise ValueError(f"nesting deeper than {MAX_JSON_DEPTH} levels") from exc
    _check_depth(value)
    return value


class LimitedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, reading with `loads_limited` (so `request.get_json()` applies the limits)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_limited(s)


def refuse_bad_json() -> None:
    """Check a JSON request body once, before any view (or webargs, which parses it again with
    the plain `json` module) reads it: malformed or out-of-limits JSON is a 400."""
    if request.is_json and request.content_length != 0 and request.method != "GET":
        try:
            request.get_json(force=True)
        except BadRequest as exc:
            raise BadRequest(
                "The JSON body is malformed or exceeds the limits (numbers up to "
                f"{MAX_JSON_NUMBER_CHARS} characters, nesting up to {MAX_JSON_DEPTH} levels, "
                "no NaN or Infinity)."
            ) from exc


def init_app(app: Flask) -> None:
    """Install the bounded `int` converter (before any route is added) and the JSON limits."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.json = LimitedJSONProvider(app)
    app.before_request(refuse_bad_json)
