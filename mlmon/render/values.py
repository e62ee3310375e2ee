"""How numbers and times read in human output (tables, markdown)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable

from mlmon.report import metric_unit

#: Short column headers for people; JSON and CSV keep the full metric names.
SHORT_HEADERS = {
    "request_count": "requests",
    "throughput_rps": "req/s",
    "error_count": "errors",
    "error_rate": "err %",
    "client_error_rate": "4xx %",
    "latency_mean_ms": "mean ms",
    "latency_p50_ms": "p50 ms",
    "latency_p90_ms": "p90 ms",
    "latency_p95_ms": "p95 ms",
    "latency_p99_ms": "p99 ms",
    "latency_max_ms": "max ms",
    "cpu_percent_mean": "cpu %",
    "cpu_percent_max": "cpu max %",
    "memory_mb_mean": "mem MB",
    "memory_mb_max": "mem max MB",
    "drift_share": "drift %",
    "accuracy": "acc %",
    "label_coverage": "labelled %",
    "tokens_in": "tok in",
    "tokens_out": "tok out",
    "tokens_total": "tokens",
    "tokens_out_per_s": "tok/s",
    "cost_total": "cost",
    "cost_per_request": "cost/req",
    "ttft_p50_ms": "ttft p50 ms",
    "ttft_p95_ms": "ttft p95 ms",
}

NONE = "–"
#: Units whose values read as percentages: ratios are multiplied by 100, ``%`` values already are.
PERCENT_UNITS = ("ratio", "%")


def header(name: str) -> str:
    """A metric's column header for people; every column shown as a percentage says ``%``."""
    if name in SHORT_HEADERS:
        return SHORT_HEADERS[name]
    return f"{name} %" if metric_unit(name) in PERCENT_UNITS else name


def plural(count: int, noun: str) -> str:
    """``1 record``, ``2 records``, ``1,234 records``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def number_format(unit: str) -> Callable[[Any], str]:
    """How values of ``unit`` read, one format per unit in every table mlmon prints (report, check, replay):
    ratios as percentages with two decimals, ms, % and MB with one (ms below 1 with three), requests/s
    with three below 10, counts whole with separators."""
    return _FORMATS.get(unit, _plain)


def format_number(value: Any, unit: str) -> str:
    """``value`` of ``unit`` as people read it; ``–`` for no value."""
    return number_format(unit)(value)


def format_value(name: str, value: Any) -> str:
    """A metric value for people: percentages for ratios, one decimal for ms, and so on."""
    return format_number(value, metric_unit(name))


def _none(inner: Callable[[Any], str]) -> Callable[[Any], str]:
    return lambda value: NONE if value is None or value != value else inner(value)


def _ms(value: float) -> str:
    # a model called in-process answers in a fraction of a millisecond: 0.0 would say nothing
    return f"{value:.3f}" if 0 < abs(value) < 1 else f"{value:,.1f}"


def _plain_value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


_plain = _none(_plain_value)
_FORMATS: dict[str, Callable[[Any], str]] = {
    "requests": _none(lambda v: f"{int(v):,}"),
    "ratio": _none(lambda v: f"{v * 100:.2f}"),
    "requests/s": _none(lambda v: f"{v:.3f}" if v < 10 else f"{v:,.1f}"),
    "ms": _none(_ms),
    "%": _none(lambda v: f"{v:,.1f}"),
    "MB": _none(lambda v: f"{v:,.1f}"),
    "tokens": _none(lambda v: f"{v:,.0f}"),
    "tokens/s": _none(lambda v: f"{v:,.1f}"),
}


def format_segment(value) -> str:
    if value is None:
        return "(none)"
    return str(value)


def time_pattern(every: timedelta | None) -> str:
    """The strftime pattern of a window start: as short as the window length allows."""
    if every is not None and every % timedelta(days=1) == timedelta(0):
        return "%Y-%m-%d"
    if every is not None and every % timedelta(minutes=1) == timedelta(0):
        return "%Y-%m-%d %H:%M"
    return "%Y-%m-%d %H:%M:%S"


def strftime(value: datetime, pattern: str) -> str:
    """``value.strftime(pattern)`` with the year in four digits, as Polars writes it: 0001-01-01, not 1-01-01."""
    return value.strftime(pattern.replace("%Y", f"{value.year:04d}"))


def format_time(value: datetime | None, every: timedelta | None) -> str:
    """A window start, as short as the window length allows."""
    if value is None:
        return NONE
    return strftime(value, time_pattern(every))


def format_range(start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return "no records"
    return f"{strftime(start, '%Y-%m-%d %H:%M:%S')} → {strftime(end, '%Y-%m-%d %H:%M:%S')} UTC"
