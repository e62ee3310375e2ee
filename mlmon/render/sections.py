"""What people's formats show, in sections: the windows. The table and Markdown lay out the same
sections, each in its own way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import polars as pl

from mlmon.metrics.windows import WINDOW_START
from mlmon.render.quiet import QUIET_UNTIL, collapse_quiet_runs
from mlmon.render.values import NONE, format_segment, header, number_format, time_pattern
from mlmon.report import Report, metric_unit

REQUESTS = "request_count"
WINDOW = "window"


@dataclass
class Part:
    """A column of a section. Its header and text cells are escaped by the renderer; numbers need not be."""

    key: str
    head: str
    values: pl.Series
    show: Callable[[Any], str]
    right: bool = False  # a number: right-aligned, never folded


@dataclass
class Section:
    """A titled table: its columns, those always shown when a terminal is narrow, the order the others come in."""

    parts: list[Part]
    always: set[str]
    priority: list[str]
    #: None for the windows, which the report's title describes; else e.g. "Drift by field over the whole range".
    title: str | None = None
    #: The segment fields (``--by``) each row stands for, named in the title.
    per: list[str] = field(default_factory=list)
    #: Log text that follows the title, e.g. the positive class.
    subtitle: str | None = None
    #: Per row, null or a text replacing every cell after the first ``span_after`` ("no requests until …").
    spans: pl.Series | None = None
    span_after: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.parts[0].values.len() if self.parts else 0


def window_metrics(report: Report) -> list[str]:
    """The metrics of the windows section: every one, the request count first."""
    return sorted(report.metrics, key=lambda m: m != REQUESTS)


def windows_section(report: Report) -> Section:
    """One row per window and segment; a run of empty windows of a segment is one row (see quiet.py)."""
    spec = report.table.spec
    frame = collapse_quiet_runs(report.frame, spec)
    parts = []
    if spec.every is not None:
        parts.append(Part(WINDOW, "window (UTC)", frame[WINDOW_START].dt.strftime(time_pattern(spec.every)), _text))
    parts += _segment_parts(frame, spec.by)
    metrics = window_metrics(report)
    parts += [Part(m, header(m), frame[m], number_format(metric_unit(m)), right=True) for m in metrics]
    spans = None
    if spec.every is not None:
        until = frame[QUIET_UNTIL].dt.strftime(time_pattern(spec.every))
        spans = pl.select(pl.when(until.is_not_null()).then(pl.lit("no requests until ") + until)).to_series()
    fixed = {WINDOW, *spec.by, REQUESTS}
    return Section(parts, fixed, [m for m in _PRIORITY if m in metrics] + metrics, spans=spans,
                   span_after=len(parts) - len(metrics))


#: Which metrics of the windows table to keep when the terminal is narrow, most important first.
_PRIORITY = (
    "request_count", "error_rate", "drift_share", "accuracy", "mae", "latency_p95_ms", "latency_p50_ms",
    "latency_p99_ms", "throughput_rps", "client_error_rate", "latency_max_ms", "latency_mean_ms", "latency_p90_ms",
    "error_count", "cpu_percent_mean", "memory_mb_max", "cpu_percent_max", "memory_mb_mean",
)


def sections(report: Report) -> list[Section]:
    """Every section people's formats show, in order."""
    return [windows_section(report)]


def _segment_parts(frame: pl.DataFrame, by) -> list[Part]:
    return [Part(name, name, frame[name], format_segment) for name in by]


def _text(value: Any) -> str:
    return NONE if value is None else str(value)
