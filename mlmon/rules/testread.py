"""What reading a rule test file shares: a reader that collects every problem at ``file:line:col``."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from mlmon.errors import UsageError
from mlmon.logs.normalize import TS_MAX
from mlmon.safetext import printable
from mlmon.timeparse import is_duration, parse_duration, parse_instant
from mlmon.yamlfile import Located, did_you_mean


class Reader:
    """Walks a test file's document, collecting every problem."""

    def __init__(self, doc: Located):
        self.doc = doc
        self.base = Path(doc.path).parent
        self.problems: list[str] = []

    def add(self, keys: tuple, message: str, test: str | None = None) -> None:
        prefix = f'test "{printable(test)}": ' if test else ""
        self.problems.append(f"{self.doc.where(*keys)}: {prefix}{message}")

    def mapping(self, keys: tuple, value: Any, allowed: tuple[str, ...], what: str, test: str | None = None) -> bool:
        """Whether ``value`` is a mapping; its unknown keys are problems."""
        if not isinstance(value, dict):
            self.add(keys, f"{what} must be a mapping of keys such as {', '.join(allowed[:3])}", test)
            return False
        for key in value:
            if key not in allowed:
                self.add(keys + (key,), f"unknown key {key!r}{did_you_mean(str(key), allowed)}", test)
        return True

    def duration(self, keys: tuple, value: Any, test: str | None) -> timedelta | None:
        try:
            if isinstance(value, str) and is_duration(value):
                return parse_duration(value, what=str(keys[-1]))
        except UsageError as exc:
            self.add(keys, str(exc), test)
            return None
        self.add(keys, f"{keys[-1]} {value!r} is not a duration such as 5m or 1h", test)
        return None

    def instant(self, keys: tuple, value: Any, test: str | None, what: str = "an ISO time") -> datetime | None:
        if isinstance(value, datetime):
            return value.replace(tzinfo=value.tzinfo or timezone.utc).astimezone(timezone.utc)
        if isinstance(value, date):
            return datetime.combine(value, time(), timezone.utc)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:  # Unix seconds, as promtool's start_timestamp
                return datetime.fromtimestamp(value, timezone.utc)
            except (OverflowError, OSError, ValueError):
                pass
        if isinstance(value, str):
            try:
                return parse_instant(value, what=str(keys[-1]))
            except UsageError:
                pass
        self.add(keys, f"{keys[-1]} {value!r} is not {what} such as 2026-01-01T00:00:00Z", test)
        return None

    def path(self, keys: tuple, value: Any, what: str, test: str | None = None) -> str | None:
        """A file named relative to the test file; a problem when it is not a readable file."""
        if not isinstance(value, str) or not value.strip():
            self.add(keys, f"{keys[-1]} must be a file name", test)
            return None
        path = self.base / value
        if not path.is_file():
            self.add(keys, f"{what} {str(path)!r} does not exist", test)
            return None
        return str(path)


def later(start: datetime, offset: timedelta) -> datetime | None:
    """``start + offset``, or None past the last time a record may carry."""
    try:
        end = start + offset
    except OverflowError:
        return None
    return end if end <= TS_MAX else None


def text_value(value: Any) -> str:
    """A label or segment value as alerts carry it: text; true/false as YAML writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)
