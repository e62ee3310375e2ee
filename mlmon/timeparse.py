"""Durations ("5m", "1h30m") and points in time ("2026-11-27T10:00Z", "24h" ago)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from mlmon.errors import UsageError

_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
#: The longest duration taken anywhere (windows, ranges, intervals): longer ones are typos.
MAX_DURATION = timedelta(days=36_525)
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$")


def parse_duration(text: str, *, what: str = "duration", zero: bool = False) -> timedelta:
    """Parse ``5m``, ``1h``, ``1h30m``, ``7d`` (and ``0`` or ``0s`` with ``zero``); raise UsageError otherwise."""
    cleaned = text.strip().lower().replace(" ", "")
    if zero and cleaned == "0":
        return timedelta(0)
    if not _DURATION.match(cleaned):
        raise UsageError(
            f"{what} {text!r} is not a duration",
            "Use a number and a unit, such as 30s, 5m, 1h, 1d or 1h30m.",
        )
    seconds = sum(float(n) * _UNITS[u].total_seconds() for n, u in _PART.findall(cleaned))
    if seconds > MAX_DURATION.total_seconds():
        raise UsageError(f"{what} {text!r} is too long", f"The longest duration mlmon takes is "
                         f"{MAX_DURATION.days:,}d (about 100 years).")
    total = timedelta(seconds=seconds)
    if total < timedelta(0) or (total == timedelta(0) and not zero):
        raise UsageError(f"{what} {text!r} must be longer than zero", "Use e.g. 5m or 1h.")
    return total


def format_duration(delta: timedelta) -> str:
    """The shortest ``1h30m``-style spelling of a duration."""
    us = int(delta / timedelta(microseconds=1))
    out = []
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000), ("ms", 1000)):
        if us >= size:
            out.append(f"{us // size}{unit}")
            us %= size
    return "".join(out) or f"{us}us"


def is_duration(text: str) -> bool:
    return bool(_DURATION.match(text.strip().lower().replace(" ", "")))


def parse_instant(text: str, *, what: str = "time", durations: bool = False) -> datetime:
    """Parse an ISO-8601 time; a naive one is taken as UTC. Returns an aware UTC datetime.

    ``durations`` says the option takes durations too, for the error message.
    """
    raw = text.strip()
    iso = raw[:-1] + "+00:00" if raw[-1:] in ("z", "Z") else raw
    try:
        value = datetime.fromisoformat(iso)
    except ValueError:
        if durations:
            raise UsageError(
                f"{what} {text!r} is neither an ISO time nor a duration",
                "Use e.g. 2026-11-27T10:00:00Z, 2026-11-27, or a duration back from now such as 24h or 7d.",
            ) from None
        raise UsageError(f"{what} {text!r} is not an ISO time", "Use e.g. 2026-11-27T10:00:00Z or 2026-11-27.") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def parse_time(text: str, now: datetime, *, what: str = "time") -> datetime:
    """An ISO time, ``now``, or a duration counted back from ``now`` (``24h`` means 24 hours ago)."""
    stripped = text.strip()
    if stripped.lower() == "now":
        return now
    if is_duration(stripped):
        try:
            return now - parse_duration(stripped, what=what)
        except OverflowError:
            raise UsageError(f"{what} {text!r} back from {iso(now)} is before the year 1",
                             "Use a shorter duration or a later --now.") from None
    return parse_instant(stripped, what=what, durations=True)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(value: datetime | None) -> str | None:
    """``2026-11-27T10:00:00Z``, with fractional seconds only when present."""
    if value is None:
        return None
    value = value.astimezone(timezone.utc)
    text = f"{value.year:04d}-{value:%m-%dT%H:%M:%S}"  # %Y does not pad years before 1000
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"
