"""What people's formats show, in sections: the windows; then, with a baseline, drift by field; with
labels, model quality. The table and Markdown lay out the same sections, each in its own way.

The windows section keeps to operational metrics and the headline of drift (``drift %``) and of model
quality (``acc %``, or ``mae`` for regression): per-field metrics per window would be dozens of columns.
Those are in JSON and CSV; here, drift by field and model quality cover the whole range per segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import polars as pl

from mlmon.metrics.drift import DISTANCE_THRESHOLD, P_THRESHOLD
from mlmon.metrics.catalog import METRICS_BY_NAME
from mlmon.metrics.windows import WINDOW_START
from mlmon.render.quiet import QUIET_UNTIL, collapse_quiet_runs
from mlmon.render.values import NONE, format_segment, header, number_format, plural, time_pattern
from mlmon.report import Report, metric_unit

#: Beyond the operational metrics, the per-window metrics people see: drift's and model quality's headline.
HEADLINE = ("drift_share", "accuracy", "mae")
REQUESTS = "request_count"
WINDOW = "window"
#: The model-quality columns, in order (those the task computes).
QUALITY = ("label_coverage", "accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "mae", "rmse", "mape")


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
    """The metrics of the windows section: operational ones and the headlines, the request count first."""
    names = [m for m in report.metrics if m in METRICS_BY_NAME or m in HEADLINE]
    return sorted(names, key=lambda m: m != REQUESTS)


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
    "request_count", "error_rate", "drift_share", "accuracy", "mae", "latency_p95_ms", "cost_total", "tokens_out_per_s",
    "latency_p50_ms", "latency_p99_ms", "throughput_rps", "ttft_p95_ms", "tokens_total", "client_error_rate",
    "latency_max_ms", "latency_mean_ms", "latency_p90_ms", "error_count", "cpu_percent_mean", "memory_mb_max",
    "cpu_percent_max", "memory_mb_mean", "cost_per_request", "ttft_p50_ms", "tokens_in", "tokens_out",
)


def drift_section(report: Report) -> Section | None:
    """Per segment and field over the whole range: the test, its score, drifted or not, PSI, null and range rates."""
    frame = report.drift_by_field
    if frame is None:
        return None
    by = report.segments
    parts = _segment_parts(frame, by) + [
        Part("field", "field", frame["field"], _text),
        Part("method", "method", frame["method"], _text),
        Part("score", "score", frame["score"], number_format(""), right=True),
        Part("drifted", "drifted", frame["drifted"], _yes_no),
        Part("psi", "psi", frame["psi"], number_format(""), right=True),
        Part("null_rate", "null %", frame["null_rate"], number_format("ratio"), right=True),
        Part("out_of_range_rate", "out of range %", frame["out_of_range_rate"], number_format("ratio"), right=True),
    ]
    notes = [f"drifted: p-value < {P_THRESHOLD} (ks_pvalue, chi2_pvalue) or distance ≥ {DISTANCE_THRESHOLD} "
             f"(wasserstein_norm, js); {NONE}: not tested (identifiers, fields without values).",
             "Each window's drift and data quality per field: --format json or csv."]
    changes = (report.baseline or {}).get("schema_changes") or {}
    if changes.get("added"):
        notes.append("Fields not in the baseline: " + ", ".join(changes["added"]) + ".")
    if changes.get("removed"):
        notes.append("Baseline fields not in the logs: " + ", ".join(changes["removed"]) + ".")
    rows = (report.baseline or {}).get("rows")
    return Section(parts, {*by, "field", "drifted"}, ["score", "method", "psi", "null_rate", "out_of_range_rate"],
                   title="Drift by field over the whole range", per=by, notes=notes,
                   subtitle=None if rows is None else f"baseline of {plural(rows, 'record')}")


def quality_section(report: Report) -> Section | None:
    """Per segment over the whole range: label coverage and the task's quality metrics."""
    frame = report.quality_by_segment
    if frame is None:
        return None
    by = report.segments
    metrics = [m for m in QUALITY if m in frame.columns]
    parts = _segment_parts(frame, by) + [
        Part(m, header(m), frame[m], number_format(metric_unit(m)), right=True) for m in metrics]
    positive = (report.labels or {}).get("positive")
    return Section(parts, {*by, *metrics[:2]}, metrics, title="Model quality over the whole range", per=by,
                   subtitle=None if positive is None else f"positive class {positive}")


def sections(report: Report) -> list[Section]:
    """Every section people's formats show, in order: the windows always, the others when they have rows."""
    more = [s for s in (drift_section(report), quality_section(report)) if s is not None and s.rows]
    return [windows_section(report), *more]


def _segment_parts(frame: pl.DataFrame, by) -> list[Part]:
    return [Part(name, name, frame[name], format_segment) for name in by]


def _text(value: Any) -> str:
    return NONE if value is None else str(value)


def _yes_no(value: bool | None) -> str:
    return NONE if value is None else ("yes" if value else "no")
