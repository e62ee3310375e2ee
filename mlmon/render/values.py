"""How numbers and times read in human output (tables, markdown)."""

from __future__ import annotations

from datetime import datetime, timedelta

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


def format_value(name: str, value) -> str:
    """A metric value for people: percentages for ratios, one decimal for ms, and so on."""
    if value is None:
        return NONE
    unit = metric_unit(name)
    if unit == "requests":
        return f"{int(value):,}"
    if unit == "ratio":
        return f"{value * 100:.2f}"
    if unit == "requests/s":
        return f"{value:.3f}" if value < 10 else f"{value:,.1f}"
    if unit in ("ms", "%", "MB"):
        return f"{value:,.1f}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_segment(value) -> str:
    if value is None:
        return "(none)"
    return str(value)


def format_time(value: datetime | None, every: timedelta | None) -> str:
    """A window start, as short as the window length allows."""
    if value is None:
        return NONE
    if every is not None and every % timedelta(days=1) == timedelta(0):
        return value.strftime("%Y-%m-%d")
    if every is not None and every % timedelta(minutes=1) == timedelta(0):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.strftime("%Y-%m-%d %H:%M:%S")


def format_range(start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return "no records"
    return f"{start.strftime('%Y-%m-%d %H:%M:%S')} → {end.strftime('%Y-%m-%d %H:%M:%S')} UTC"
