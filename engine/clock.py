"""The engine's one clock, and calendar-exact ISO 8601 durations.

Everything in the engine that reads the time asks a :class:`Clock`, so a test or a simulation can
jump years in a millisecond with a :class:`VirtualClock`.

SpiffWorkflow 3.2 has no clock to inject: its timer events call ``datetime.now(UTC)``
through the module-global ``datetime`` of ``SpiffWorkflow.bpmn.specs.event_definitions.timer``,
and ``SpiffWorkflow.task`` stamps ``Task.last_state_change`` (behind ``get_tasks(updated_ts=...)``)
with ``time.time()``. Those are the only wall-clock reads in ``SpiffWorkflow/bpmn``,
``SpiffWorkflow/spiff`` and the core task code. :func:`use_clock` installs, once and on first
use, replacements for those two module-globals that read the clock of the current
``contextvars`` context, so each thread (or asyncio task) can run under its own clock, and code
outside any :func:`use_clock` block keeps the real time.

The same patch makes SpiffWorkflow's duration arithmetic calendar-exact (see
:func:`_calendar_timedelta_from_start`).
"""

from __future__ import annotations

import re
import threading
import time as _time
from calendar import monthrange
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, TypeVar

__all__ = [
    "Clock",
    "SystemClock",
    "VirtualClock",
    "add_duration",
    "parse_duration",
    "to_iso",
    "use_clock",
]


class Clock(Protocol):
    """Something that tells the time."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        """Return the real current time in UTC."""
        return datetime.now(UTC)


class VirtualClock:
    """A clock that only moves when told to; safe to share between threads."""

    def __init__(self, start: datetime | None = None) -> None:
        """Start at ``start`` (timezone-aware), or at the real current time."""
        self._lock = threading.Lock()
        self._now = _require_aware(start) if start is not None else SystemClock().now()

    def now(self) -> datetime:
        """Return the virtual time in UTC."""
        with self._lock:
            return self._now

    def advance(
        self,
        delta: timedelta | None = None,
        *,
        days: int = 0,
        seconds: float = 0,
        years: int = 0,
        months: int = 0,
    ) -> datetime:
        """Move forward and return the new time.

        Years and months are calendar-exact (applied first, same day or last day of the month),
        then ``days``, ``seconds`` and ``delta``. Raises ``ValueError`` on any negative input:
        use :meth:`set` to go back.
        """
        extra = delta or timedelta()
        if min(days, seconds, years, months) < 0 or extra < timedelta():
            raise ValueError(
                "VirtualClock.advance() cannot go backwards "
                f"(delta={delta!r}, days={days}, seconds={seconds}, years={years}, "
                f"months={months}); use set()"
            )
        with self._lock:
            moved = _add_months(self._now, years * 12 + months)
            self._now = moved + timedelta(days=days, seconds=seconds) + extra
            return self._now

    def set(self, dt: datetime) -> None:
        """Jump to ``dt`` (timezone-aware), forwards or backwards."""
        with self._lock:
            self._now = _require_aware(dt)


def to_iso(dt: datetime, *, timespec: str = "seconds") -> str:
    """Format an aware datetime as ISO 8601 in UTC, e.g. ``2027-03-15T09:00:00+00:00``.

    The fixed ``timespec`` keeps strings of one kind comparable as text.
    """
    return _require_aware(dt).isoformat(timespec=timespec)


_DURATION = re.compile(
    r"(?P<sign>-)?P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?"
    r"(?:(?P<days>\d+)D)?(?:(?P<t>T)(?:(?P<hours>\d+(?:\.\d+)?)H)?"
    r"(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)


def parse_duration(iso: str) -> tuple[int, int, int, float]:
    """Parse an ISO 8601 duration into ``(years, months, days, seconds)``.

    Accepts ``PnYnMnWnDTnHnMnS`` (weeks count as 7 days; hours, minutes and seconds may have a
    decimal fraction) and a leading ``-`` for a negative duration. Raises ``ValueError`` naming
    the text otherwise.
    """
    if not isinstance(iso, str):
        raise ValueError(f"invalid ISO 8601 duration {iso!r}: expected a string like 'P1Y'")
    text = iso.strip().upper().replace(",", ".")
    match = _DURATION.fullmatch(text)
    parts = match.groupdict() if match else {}
    units = ("years", "months", "weeks", "days", "hours", "minutes", "seconds")
    time_units = ("hours", "minutes", "seconds")
    if (
        match is None
        or not any(parts[u] for u in units)
        or (parts["t"] is not None and not any(parts[u] for u in time_units))
    ):
        raise ValueError(
            f"invalid ISO 8601 duration {iso!r}: expected something like 'P1Y', 'P3M', "
            "'P2W', 'P30D' or 'PT5M'"
        )
    sign = -1 if parts["sign"] else 1
    years, months = int(parts["years"] or 0), int(parts["months"] or 0)
    days = int(parts["weeks"] or 0) * 7 + int(parts["days"] or 0)
    seconds = (
        float(parts["hours"] or 0) * 3600
        + float(parts["minutes"] or 0) * 60
        + float(parts["seconds"] or 0)
    )
    return sign * years, sign * months, sign * days, sign * seconds


_D = TypeVar("_D", str, date, datetime)


def add_duration(value: _D, duration: str) -> _D:
    """Add an ISO 8601 duration, calendar-exact, and return the same kind of value.

    Years and months keep the calendar day, or take the last day of a shorter month
    (2024-02-29 + P1Y = 2025-02-28; Jan 31 + P1M = Feb 28 or 29). A string stays a string in the
    same form (date -> ``YYYY-MM-DD``, datetime -> ISO datetime). Adding hours, minutes or
    seconds to a date raises ``ValueError``.
    """
    years, months, days, seconds = parse_duration(duration)
    if isinstance(value, str):
        parsed = _parse_date_or_datetime(value)
        result = add_duration(parsed, duration)
        return result.isoformat()
    if isinstance(value, datetime):
        shifted = _add_months(value, years * 12 + months)
        return shifted + timedelta(days=days, seconds=seconds)
    if isinstance(value, date):
        if seconds:
            raise ValueError(
                f"cannot add the time duration {duration!r} to the date {value.isoformat()!r}; "
                "use a datetime"
            )
        return _add_months(value, years * 12 + months) + timedelta(days=days)
    raise ValueError(f"add_duration() needs a date, datetime or ISO string, not {value!r}")


def _parse_date_or_datetime(text: str) -> date | datetime:
    """Read an ISO date (``YYYY-MM-DD``) or datetime string, naming the text on failure."""
    stripped = text.strip()
    try:
        if len(stripped) == 10:
            return date.fromisoformat(stripped)
        return datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(f"invalid ISO 8601 date or datetime {text!r}") from None


_T = TypeVar("_T", date, datetime)


def _add_months(value: _T, months: int) -> _T:
    """Shift by whole months, keeping the day or clamping to the month's last day."""
    if not months:
        return value
    years_carry, month_index = divmod(value.month - 1 + months, 12)
    year, month = value.year + years_carry, month_index + 1
    if not 1 <= year <= 9999:
        raise ValueError(f"{value.isoformat()} shifted by {months} months is out of range")
    return value.replace(year=year, month=month, day=min(value.day, monthrange(year, month)[1]))


def _require_aware(dt: datetime) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got naive {dt.isoformat()!r}")
    return dt.astimezone(UTC)


# --- SpiffWorkflow patch ---------------------------------------------------------------------

_CURRENT: ContextVar[Clock | None] = ContextVar("pathfinder_clock", default=None)
_INSTALL_LOCK = threading.Lock()
_installed = False


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Make SpiffWorkflow's timers (and task timestamps) read ``clock`` in this context.

    Nests, and is per thread: a new thread starts with no clock (the real time) until it enters
    its own ``use_clock``.
    """
    _install()
    token = _CURRENT.set(clock)
    try:
        yield clock
    finally:
        _CURRENT.reset(token)


def _clock_now() -> datetime:
    """The current context's clock, or the real time, in UTC."""
    clock = _CURRENT.get()
    return clock.now() if clock is not None else datetime.now(UTC)


class _AnyDatetime(type):
    """Keeps ``isinstance(x, datetime)`` true for plain datetimes after the swap below."""

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, datetime)


class _ClockDatetime(datetime, metaclass=_AnyDatetime):
    """Stands in for ``datetime`` inside SpiffWorkflow's timer module."""

    @classmethod
    def now(cls, tz: Any = None) -> _ClockDatetime:
        current = _clock_now()
        local = current.astimezone(tz) if tz is not None else current.astimezone()
        if tz is None:
            local = local.replace(tzinfo=None)
        return _Now.combine(local.date(), local.timetz())


class _Now(_ClockDatetime):
    """What ``datetime.now()`` returns inside the timer module: a timer is due *at* its time.

    SpiffWorkflow fires a timer when ``target < now``, so a clock set exactly to the due time
    (a simulation jumping "one year") would not fire it. Python asks the right operand for its
    reflected ``__gt__`` first when it is a subclass of the left one's type; answering ``>=``
    here makes that check inclusive without copying the library's timer code.
    """

    def __gt__(self, other: Any) -> bool:
        if isinstance(other, datetime):
            return datetime.__ge__(self, other)
        return NotImplemented


class _ClockTime:
    """Stands in for the ``time`` module inside ``SpiffWorkflow.task``."""

    def time(self) -> float:
        return _clock_now().timestamp() if _CURRENT.get() is not None else _time.time()

    def __getattr__(self, name: str) -> Any:
        return getattr(_time, name)


def _calendar_timedelta_from_start(
    parsed_duration: dict[str, float], start: datetime | None = None
) -> timedelta:
    """Calendar-exact replacement for ``TimerEventDefinition.get_timedelta_from_start``.

    The library adds the *length of the start month* for each month, so P1M from Jan 31 lands on
    Mar 2/3 instead of Feb 28/29 (and P1Y from Feb 29 on Mar 1). Duration timers, and the
    first occurrence of ``R/start/duration`` and ``R/duration`` cycles, go through here.
    Fractional years or months keep the library's approximation.
    """
    years, months = parsed_duration.get("years", 0), parsed_duration.get("months", 0)
    if int(years) != years or int(months) != months:
        return _library_from_start(dict(parsed_duration), start)  # type: ignore[no-any-return]
    rest = {k: v for k, v in parsed_duration.items() if k not in ("years", "months")}
    begin = start or _clock_now()
    return _add_months(begin, int(years) * 12 + int(months)) - begin + timedelta(**rest)


def _calendar_timedelta_from_end(parsed_duration: dict[str, float], end: datetime) -> timedelta:
    """Calendar-exact replacement for ``TimerEventDefinition.get_timedelta_from_end``."""
    years, months = parsed_duration.get("years", 0), parsed_duration.get("months", 0)
    if int(years) != years or int(months) != months:
        return _library_from_end(dict(parsed_duration), end)  # type: ignore[no-any-return]
    rest = {k: v for k, v in parsed_duration.items() if k not in ("years", "months")}
    return end - _add_months(end, -(int(years) * 12 + int(months))) + timedelta(**rest)


_library_from_start: Any = None
_library_from_end: Any = None


def _install() -> None:
    """Swap SpiffWorkflow's clock reads and duration arithmetic, once per process."""
    global _installed, _library_from_start, _library_from_end
    if _installed:
        return
    with _INSTALL_LOCK:
        if _installed:
            return
        from SpiffWorkflow import task as task_module
        from SpiffWorkflow.bpmn.specs.event_definitions import timer as timer_module

        timer_cls = timer_module.TimerEventDefinition
        _library_from_start = timer_cls.get_timedelta_from_start
        _library_from_end = timer_cls.get_timedelta_from_end
        timer_cls.get_timedelta_from_start = staticmethod(_calendar_timedelta_from_start)
        timer_cls.get_timedelta_from_end = staticmethod(_calendar_timedelta_from_end)
        timer_module.datetime = _ClockDatetime
        task_module.time = _ClockTime()
        _installed = True
