"""Repeatable rows that the case gives a form, with some of their fields read-only.

A form's array of objects may say where its rows come from (form keyword ``x-rows-from``)::

    "indicator_values": {
      "type": "array",
      "x-rows-from": {
        "variable": "workplan_in_force.actions",
        "fields": {"workplan_indicator": "indicator", "baseline": "baseline_value"}
      },
      "items": {"properties": {"workplan_indicator": {"readOnly": true, ...}, ...}}
    }

``variable`` is a case variable (a dotted path into the instance's variables) holding a list of
objects; ``fields`` maps each row field to the key it takes from the source row. The form then
offers exactly one row per source row (none to add or remove), and the fields marked
``readOnly`` always hold the source's value: the server puts them back on submit, whatever was
posted. The annual report uses it to offer the indicators of the workplan in force, with their
baselines and targets, so the country enters only what it reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["given_rows", "read_only_fields", "with_given_rows"]


def _lookup(variables: Mapping[str, Any], dotted: str) -> Any:
    value: Any = variables
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def read_only_fields(items: Mapping[str, Any]) -> set[str]:
    """The row fields marked ``readOnly`` in an array's ``items`` schema."""
    props = items.get("properties") or {}
    return {k for k, v in props.items() if isinstance(v, Mapping) and v.get("readOnly")}


def given_rows(schema: Mapping[str, Any], variables: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Field name -> the rows the case gives it, for each top-level ``x-rows-from`` array.

    A source row becomes a row with the mapped fields that have a value (a missing baseline
    stays blank rather than failing the form's type). A source that is not a list gives none.
    """
    out: dict[str, list[Any]] = {}
    for name, prop in (schema.get("properties") or {}).items():
        rule = prop.get("x-rows-from") if isinstance(prop, Mapping) else None
        if not isinstance(rule, Mapping) or not isinstance(rule.get("variable"), str):
            continue
        source = _lookup(variables, rule["variable"])
        fields = rule.get("fields") or {}
        rows = []
        for item in source if isinstance(source, list) else []:
            if not isinstance(item, Mapping):
                continue
            row = {field: item[key] for field, key in fields.items() if item.get(key) is not None}
            if row:
                rows.append(row)
        out[str(name)] = rows
    return out


def with_given_rows(
    schema: Mapping[str, Any], data: Mapping[str, Any], variables: Mapping[str, Any]
) -> dict[str, Any]:
    """`data` with each ``x-rows-from`` array made of the given rows: as many as the case gives,
    each keeping what was entered in its other fields, its read-only fields from the case."""
    out = dict(data)
    props = schema.get("properties") or {}
    for name, rows in given_rows(schema, variables).items():
        if not rows:
            continue
        locked = read_only_fields(props[name].get("items") or {})
        posted = out.get(name)
        entered: list[Any] = posted if isinstance(posted, list) else []
        merged = []
        for i, given in enumerate(rows):
            row = dict(entered[i]) if i < len(entered) and isinstance(entered[i], Mapping) else {}
            for field, value in given.items():
                if field in locked or row.get(field) in (None, ""):
                    row[field] = value
            merged.append(row)
        out[name] = merged
    return out
