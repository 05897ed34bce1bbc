"""Model limits and the static checks of a timer's text (ISO 8601 dates, durations and cycles).

A timer may hold a literal ISO 8601 value or a Python expression; cron expressions are refused,
literal cycles that repeat too often or would owe endless catch-up are refused, and an expression
that can be read without running it is checked like a literal.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine.bpmn.restricted import validate_expression

_CRON_FIELD = r"(?:[\d*?/,\-LW#]+|[A-Z]{3}(?:-[A-Z]{3})?)"
_CRON = re.compile(rf"{_CRON_FIELD}(?:\s+{_CRON_FIELD}){{4,6}}")
_ISO_LITERAL = re.compile(r"R\d*/\S+|[+-]?P[\dYMWDTHS.,]+|\d{4}-?\d{2}-?\d{2}(?:T[\d:.,+\-Z]+)?")


def _iso_error(kind: str, value: str) -> str | None:
    """None if `value` is a valid ISO 8601 date (timeDate), duration or cycle."""
    try:
        if kind == "timeDate":
            if value.upper().startswith("P"):
                raise ValueError("a duration is not a date")
            TimerEventDefinition.parse_time_or_duration(value)
        elif kind == "timeDuration":
            if not value.upper().startswith("P"):
                raise ValueError("a duration starts with P")
            TimerEventDefinition.parse_iso_duration(value)
        else:
            TimerEventDefinition.parse_iso_recurring_interval(value)
    except Exception:  # the library raises bare Exception, ValueError, AttributeError...
        what = {"timeDate": "date/time", "timeDuration": "duration"}.get(kind, "cycle")
        return f"'{value}' is not a valid ISO 8601 {what}"
    return None


@dataclass(frozen=True)
class ModelLimits:
    """Deploy-time limits on what a model may ask of the engine (settings of the same names)."""

    min_timer_period: float = 60.0
    """Seconds: a timer cycle repeating more often is refused (`PATHFINDER_MIN_TIMER_PERIOD`)."""
    max_script_chars: int = 20_000
    """Longest script, condition or expression accepted (`PATHFINDER_MAX_SCRIPT_CHARS`)."""


def _cycle_problem(value: str, limits: ModelLimits) -> str | None:
    """Why a literal ISO 8601 cycle could not run sanely: too frequent, or endless catch-up."""
    try:
        cycles, start, duration = TimerEventDefinition.parse_iso_recurring_interval(value)
    except Exception:  # noqa: BLE001 - reported by _iso_error
        return None
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else 0.0
    if seconds < limits.min_timer_period:
        return (
            f"The cycle '{value}' repeats every {seconds:g} s; the shortest period allowed is "
            f"{limits.min_timer_period:g} s (setting PATHFINDER_MIN_TIMER_PERIOD). "
            "Use a longer period."
        )
    if cycles < 0 and start < datetime.now(UTC) - duration:
        return (
            f"The cycle '{value}' starts in the past and repeats without end, so it would owe "
            "every occurrence since its start at once. Give it a start in the future, a number "
            "of repetitions (R5/...), or leave the start out."
        )
    return None


def _timer_problem(
    kind: str, text: str, limits: ModelLimits = ModelLimits()
) -> tuple[str, str, str | None] | None:
    """(code, message, suggested fix) for a timer's text, or None when it is fine."""
    if not text:
        return "timer-empty", "The timer has no date, duration or cycle. Set one.", None
    if len(text) > limits.max_script_chars:
        return "timer-expression", _too_long("timer expression", len(text), limits), None
    cron = 'Cron expressions are not supported; use an ISO 8601 cycle such as "R/P1D".'
    if _CRON.fullmatch(text):
        return "timer-cron", f"'{text}' is a cron expression. {cron}", None
    if _ISO_LITERAL.fullmatch(text):
        invalid = _iso_error(kind, text)
        if invalid:
            return "timer-expression", f"{invalid}.", None
        if kind == "timeCycle" and (unsafe := _cycle_problem(text, limits)):
            return "timer-cycle", unsafe, None
        return (
            "timer-expression",
            f"The timer text {text} is evaluated as a Python expression, so an ISO 8601 "
            f'literal must be quoted: write "{text}".',
            f'"{text}"',
        )
    error = validate_expression(text)
    if error:
        return "timer-expression", f"The timer is not a valid expression ({error}).", None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None  # computed from data at run time; cannot be checked here
    if not isinstance(value, str):
        return "timer-expression", f"The timer {text} must give a string.", None
    if _CRON.fullmatch(value.strip()):
        return "timer-cron", f"'{value}' is a cron expression. {cron}", None
    invalid = _iso_error(kind, value.strip())
    if invalid:
        return "timer-expression", f"{invalid}.", None
    if kind == "timeCycle" and (unsafe := _cycle_problem(value.strip(), limits)):
        return "timer-cycle", unsafe, None
    return None


def _too_long(what: str, size: int, limits: ModelLimits) -> str:
    return (
        f"The {what} is {size:,} characters long; the longest allowed is "
        f"{limits.max_script_chars:,} (setting PATHFINDER_MAX_SCRIPT_CHARS). Shorten it."
    )
