"""Sample data from a form's JSON Schema: a valid answer for every field, dated on a given day.

The simulator completes tasks with these when the modeller gives no data, so a diagram can be
tried end to end before anyone writes a payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from jsonschema import Draft202012Validator


def _resolve(schema: Any, root: Mapping[str, Any]) -> Any:
    ref = schema.get("$ref") if isinstance(schema, dict) else None
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return _resolve({**target, **{k: v for k, v in schema.items() if k != "$ref"}}, root)
    return schema


def _string(schema: Mapping[str, Any], name: str, today: date) -> str:
    fmt = schema.get("format")
    later = 1 if schema.get("x-after") else 0  # must come after another date: a day later
    samples = {
        "date": (today + timedelta(days=later)).isoformat(),
        "date-time": f"{today.isoformat()}T09:00:00+00:00",
        "time": "09:00:00",
        "email": "someone@example.org",
        "uri": "https://example.org/document.pdf",
        "uri-reference": "https://example.org/document.pdf",
        "url": "https://example.org/document.pdf",
        "uuid": "00000000-0000-4000-8000-000000000000",
    }
    text = samples.get(str(fmt)) or f"Sample {name.replace('_', ' ')}".strip()
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    if len(text) < low:
        text = text + "x" * (low - len(text))
    if high is not None:
        text = text[: int(high)]
    return text


def _number(schema: Mapping[str, Any], integer: bool) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    value: float = 1
    if low is not None:
        value = max(value, float(low) + (1 if "exclusiveMinimum" in schema else 0))
    if high is not None:
        value = min(value, float(high) - (1 if "exclusiveMaximum" in schema else 0))
    return int(value) if integer else value


def sample_value(
    schema: Any, name: str = "", *, root: Any = None, today: date | None = None
) -> Any:
    """One valid value for `schema`: required fields, the first enum value, formats filled."""
    root = root if root is not None else schema
    today = today or datetime.now(UTC).date()
    schema = _resolve(schema, root)
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("oneOf", "anyOf"):
        if schema.get(key):
            return sample_value(schema[key][0], name, root=root, today=today)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None and "properties" in schema:
        kind = "object"
    if kind == "object":
        return _object(schema, root, today)
    if kind == "array":
        items = schema.get("items", {})
        count = max(int(schema.get("minItems", 1)), 1)
        enum = _resolve(items, root).get("enum") if isinstance(items, dict) else None
        if enum and schema.get("uniqueItems"):
            return list(enum[:count])
        return [sample_value(items, name, root=root, today=today) for _ in range(count)]
    if kind == "string":
        return _string(schema, name, today)
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer")
    if kind == "boolean":
        return True
    return None


def _object(schema: Mapping[str, Any], root: Any, today: date) -> dict[str, Any]:
    props: dict[str, Any] = dict(schema.get("properties") or {})
    value: dict[str, Any] = {}
    for key in schema.get("required") or []:
        value[key] = sample_value(props.get(key, {}), key, root=root, today=today)
    # Conditional requirements (`if decision is X then Y is required`), until nothing changes.
    conditionals = [s for s in schema.get("allOf") or [] if isinstance(s, dict) and "if" in s]
    if "if" in schema:
        conditionals.append(dict(schema))
    for _ in range(3):
        changed = False
        for part in conditionals:
            branch = part.get("then") if _matches(part["if"], value) else part.get("else")
            if not isinstance(branch, dict):
                continue
            extra = branch.get("properties") or {}
            branch_props = {**props, **extra}
            for key in branch.get("required") or []:
                if key not in value:
                    rule = branch_props.get(key, {})
                    value[key] = sample_value(rule, key, root=root, today=today)
                    changed = True
            for key, rule in extra.items():  # `then` may narrow a field already filled in
                if key in value and not _matches(rule, value[key]):
                    value[key] = sample_value(rule, key, root=root, today=today)
                    changed = True
        if not changed:
            break
    return value


def _matches(condition: Any, value: Any) -> bool:
    try:
        return bool(Draft202012Validator(condition).is_valid(value))
    except Exception:  # noqa: BLE001 - a condition we cannot evaluate simply does not apply
        return False


def sample_data(schema: Mapping[str, Any], today: date | None = None) -> dict[str, Any]:
    """A valid submission for a form schema (an object)."""
    value = sample_value(schema, root=schema, today=today)
    return value if isinstance(value, dict) else {}
