"""Operational metrics: traffic, errors, latency and resources, as named Polars expressions.

Each metric is declared once here, with its name, unit and meaning; the report,
the rules and the docs all use these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import polars as pl


@dataclass(frozen=True)
class Metric:
    """A metric's declaration: its name, what it means, and how to aggregate it."""

    name: str
    description: str
    unit: str
    #: An aggregation over the records of one window and segment.
    expr: Callable[[], pl.Expr] | None
    #: Present only when the logs carry this record column (e.g. cpu_percent).
    needs: str | None = None


def is_error() -> pl.Expr:
    """A server error: status ≥ 500, or an error message logged."""
    return (pl.col("status") >= 500) | pl.col("error").is_not_null()


def is_client_error() -> pl.Expr:
    return pl.col("status").is_between(400, 499)


def is_hotfix() -> pl.Expr:
    """Answered by a hot fix (README "Hot fixes"), not by the model."""
    return pl.col("hotfix").is_not_null()


def _quantile(q: float) -> Callable[[], pl.Expr]:
    # Linear interpolation between the two nearest ranks: numpy.percentile's default.
    return lambda: pl.col("latency_ms").quantile(q, interpolation="linear")


OPERATIONAL_METRICS: tuple[Metric, ...] = (
    Metric("request_count", "Requests in the window.", "requests", lambda: pl.len().cast(pl.Int64)),
    Metric(
        "throughput_rps",
        "Requests per second: request_count divided by the window's length (see README).",
        "requests/s",
        None,
    ),
    Metric("error_count", "Requests with status ≥ 500 or an error logged.", "requests", lambda: is_error().sum().cast(pl.Int64)),
    Metric("error_rate", "error_count / request_count.", "ratio", lambda: is_error().mean()),
    Metric("client_error_rate", "Share of requests with status 400–499.", "ratio", lambda: is_client_error().mean()),
    Metric("latency_mean_ms", "Mean latency.", "ms", lambda: pl.col("latency_ms").mean()),
    Metric("latency_p50_ms", "Median latency (linear interpolation, as numpy.percentile).", "ms", _quantile(0.50)),
    Metric("latency_p90_ms", "90th percentile latency.", "ms", _quantile(0.90)),
    Metric("latency_p95_ms", "95th percentile latency.", "ms", _quantile(0.95)),
    Metric("latency_p99_ms", "99th percentile latency.", "ms", _quantile(0.99)),
    Metric("latency_max_ms", "Largest latency.", "ms", lambda: pl.col("latency_ms").max()),
    Metric("cpu_percent_mean", "Mean CPU use logged with the requests.", "%", lambda: pl.col("cpu_percent").mean(), "cpu_percent"),
    Metric("cpu_percent_max", "Largest CPU use logged.", "%", lambda: pl.col("cpu_percent").max(), "cpu_percent"),
    Metric("memory_mb_mean", "Mean memory use logged with the requests.", "MB", lambda: pl.col("memory_mb").mean(), "memory_mb"),
    Metric("memory_mb_max", "Largest memory use logged.", "MB", lambda: pl.col("memory_mb").max(), "memory_mb"),
    Metric("hotfix_count", "Requests a hot fix answered instead of the model (records with a hotfix name).",
           "requests", lambda: is_hotfix().sum().cast(pl.Int64), "hotfix"),
    Metric("hotfix_rate", "hotfix_count / request_count.", "ratio", lambda: is_hotfix().mean(), "hotfix"),
)

METRICS_BY_NAME = {m.name: m for m in OPERATIONAL_METRICS}

#: Record columns the operational metrics read.
RECORD_FIELDS = ("ts", "status", "error", "latency_ms", "cpu_percent", "memory_mb", "hotfix")
