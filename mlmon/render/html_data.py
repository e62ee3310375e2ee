"""What the HTML report shows, as data: the headline's facts and the charts' series, from the report's frame.

The page (:mod:`mlmon.render.html`) lays these out; nothing here is markup. Every value is the report's
own (the same metric per window and segment as JSON), gathered with Polars, never recomputed from records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from mlmon.metrics.windows import WINDOW_END, WINDOW_START
from mlmon.numbers import machine_number
from mlmon.report import Report, metric_unit
from mlmon.safetext import printable

#: The charts over time, in order (what users feel first): (metric, title). One line per segment in each.
CHARTS = (
    ("error_rate", "Error rate (% of requests with status ≥ 500 or an error)"),
    ("latency_p95_ms", "Latency p95 (ms)"),
    ("throughput_rps", "Throughput (requests per second)"),
    ("latency_p50_ms", "Latency p50, the median (ms)"),
    ("latency_p99_ms", "Latency p99 (ms)"),
    ("cpu_percent_mean", "CPU, mean of the logged values (%)"),
    ("memory_mb_max", "Memory, largest logged value (MB)"),
    ("tokens_out_per_s", "Completion tokens per second of latency"),
    ("cost_total", "Cost (logged, else from --prices)"),
    ("ttft_p95_ms", "Time to first token p95 (ms)"),
)
#: The most segments drawn as lines (the busiest); the tables have every one.
MAX_CHART_SEGMENTS = 10
#: A window needs this many requests to be the headline's worst: one failure of two requests is no incident.
MIN_WORST_REQUESTS = 30
SEGMENT = "_segment"
SEGMENT_ID = "_segment_id"


def with_segment(frame: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """``frame`` with each row's segment label in SEGMENT: ``churn / v2``, ``(none)`` for a missing value,
    ``all`` without --by."""
    if not by:
        return frame.with_columns(pl.lit("all").alias(SEGMENT))
    parts = [pl.col(k).cast(pl.String).fill_null("(none)") for k in by]
    return frame.with_columns(pl.concat_str(parts, separator=" / ").alias(SEGMENT))


def segments(report: Report, most: int | None = None) -> pl.DataFrame:
    """The report's segments in its order, by value (at most the ``most`` busiest): the ``by`` fields, their requests
    (``requests``), their label (SEGMENT) and their place (SEGMENT_ID, from 0)."""
    by = report.segments
    frame = report.frame
    totals = (frame.group_by(by, maintain_order=True).agg(pl.col("request_count").sum().alias("requests"))
              if by else frame.select(pl.col("request_count").sum().alias("requests")))
    totals = totals.sort(by, nulls_last=True).with_row_index("_order")
    if most is not None:
        totals = totals.sort(["requests", "_order"], descending=[True, False]).head(most).sort("_order")
    return with_segment(totals.drop("_order"), by).with_row_index(SEGMENT_ID)


@dataclass
class Worst:
    """The window and segment with the highest value of a metric, among windows with enough requests."""

    metric: str
    value: float
    segment: str
    start: datetime
    end: datetime
    requests: int
    errors: int | None = None


@dataclass
class Change:
    """A segment whose traffic starts after the range's first window, or stops before its last."""

    segment: str
    kind: str  # "appears" or "stops"
    #: The first window with requests (appears), or the end of the last one (stops).
    at: datetime


@dataclass
class Handover:
    """One segment taking over from another in the same window (a deploy: v1 stops as v2 starts), with their
    error rates (errors over requests) and median window p95 latency, the old one's before, the new one's after."""

    old: str
    new: str
    at: datetime
    error_rate: tuple[float | None, float | None]
    p95_ms: tuple[float | None, float | None]


@dataclass
class Headline:
    """What happened, for someone with a minute: the range, the traffic, the worst windows, what changed."""

    start: datetime | None
    end: datetime | None
    windows: int
    requests: int
    errors: int
    worst: list[Worst] = field(default_factory=list)
    #: The fewest requests a worst window has: MIN_WORST_REQUESTS, or 1 when no window has that many.
    worst_among: int = MIN_WORST_REQUESTS
    changes: list[Change] = field(default_factory=list)
    handovers: list[Handover] = field(default_factory=list)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


def headline(report: Report) -> Headline:
    frame = report.frame
    if not frame.height:
        return Headline(None, None, 0, 0, 0)
    sums = frame.select(pl.col("request_count").sum(), pl.col("error_count").sum(), pl.col(WINDOW_START).min(),
                        pl.col(WINDOW_END).max(), pl.col(WINDOW_START).n_unique().alias("windows")).row(0, named=True)
    labelled = with_segment(frame, report.segments)
    among = MIN_WORST_REQUESTS if frame.filter(pl.col("request_count") >= MIN_WORST_REQUESTS).height else 1
    worst = [w for w in (_worst(labelled, m, among) for m in ("error_rate", "latency_p95_ms")) if w is not None]
    changes = _changes(labelled) if report.table.spec.every else []
    return Headline(sums[WINDOW_START], sums[WINDOW_END], sums["windows"], sums["request_count"] or 0,
                    sums["error_count"] or 0, worst, among, changes, _handovers(labelled, changes))


def _handovers(frame: pl.DataFrame, changes: list[Change]) -> list[Handover]:
    """Each segment that stops where exactly one other starts, with the figures a deploy is judged by."""
    starts: dict[datetime, list[str]] = {}
    for change in changes:
        if change.kind == "appears":
            starts.setdefault(change.at, []).append(change.segment)
    pairs = [(c.segment, starts[c.at][0], c.at) for c in changes if c.kind == "stops" and len(starts.get(c.at, ())) == 1]
    if not pairs:
        return []
    figures = {row[SEGMENT]: (row["error_rate"], row["p95"]) for row in (
        frame.filter(pl.col("request_count") > 0).group_by(SEGMENT)
        .agg((pl.col("error_count").sum() / pl.col("request_count").sum()).alias("error_rate"),
             pl.col("latency_p95_ms").median().alias("p95"))
        .iter_rows(named=True))}  # one row per segment
    return [Handover(old, new, at, (figures[old][0], figures[new][0]), (figures[old][1], figures[new][1]))
            for old, new, at in pairs]


def _worst(frame: pl.DataFrame, metric: str, among: int) -> Worst | None:
    busy = frame.filter(pl.col("request_count") >= among)
    busy = busy.filter(pl.col(metric).is_not_null() & pl.col(metric).is_not_nan())
    if not busy.height:
        return None
    row = busy.sort([metric, WINDOW_START], descending=[True, False], nulls_last=True).row(0, named=True)
    return Worst(metric, row[metric], row[SEGMENT], row[WINDOW_START], row[WINDOW_END], row["request_count"],
                 row.get("error_count"))


def _changes(frame: pl.DataFrame) -> list[Change]:
    """Segments that begin or end inside the range: a deploy, a retired version, a model gone silent."""
    first, last = frame[WINDOW_START].min(), frame[WINDOW_END].max()
    active = (frame.filter(pl.col("request_count") > 0).group_by(SEGMENT, maintain_order=True)
              .agg(pl.col(WINDOW_START).min().alias("from"), pl.col(WINDOW_END).max().alias("until")))
    out = []
    for row in active.iter_rows(named=True):  # one per segment
        if row["from"] > first:
            out.append(Change(row[SEGMENT], "appears", row["from"]))
        if row["until"] < last:
            out.append(Change(row[SEGMENT], "stops", row["until"]))
    return sorted(out, key=lambda c: (c.at, c.kind != "stops"))


def chart_data(report: Report) -> dict[str, Any]:
    """The charts' data, ready for JSON: window starts in seconds since the epoch (``x``), the segments drawn
    (the busiest :data:`MAX_CHART_SEGMENTS`), and per chart one list of values per segment, aligned with ``x``
    (null where a segment has no window or no value). Values are the report's, in its units (ratios as
    fractions); the page scales ratios to percentages. ``events`` mark segments that appear, stop or take
    over from another. No charts without two windows or more."""
    frame = report.frame
    spec = report.table.spec
    if not frame.height or spec.every is None:
        return {"x": [], "segments": [], "charts": [], "events": []}
    by = report.segments
    drawn = segments(report, MAX_CHART_SEGMENTS)
    rows = frame.join(drawn.select(*by, SEGMENT_ID), on=by, how="inner", nulls_equal=True) if by \
        else frame.with_columns(pl.lit(0, pl.UInt32).alias(SEGMENT_ID))
    xs = frame.select(pl.col(WINDOW_START).unique().sort())
    if xs.height < 2:  # a chart of one point says nothing the headline does not
        return {"x": [], "segments": [], "charts": [], "events": []}
    charts = []
    for metric, title in CHARTS:
        if metric not in frame.columns:
            continue
        series = []
        for sid in range(drawn.height):
            values = rows.filter(pl.col(SEGMENT_ID) == sid).select(WINDOW_START, metric)
            column = xs.join(values, on=WINDOW_START, how="left", maintain_order="left").get_column(metric)
            series.append([machine_number(v) for v in column.to_list()])
        charts.append({"metric": metric, "title": title, "unit": metric_unit(metric),
                       "scale": 100 if metric_unit(metric) == "ratio" else 1, "series": series})
    labels = drawn.get_column(SEGMENT).to_list()
    shown = [printable(label) for label in labels]  # the legend shows control and bidi characters as escapes
    events: dict[float, list[str]] = {}
    labelled = with_segment(frame, by)
    changes = _changes(labelled)
    handovers = _handovers(labelled, changes)
    told = {(name, h.at) for h in handovers for name in (h.old, h.new)}
    for h in handovers:
        if h.old in labels or h.new in labels:
            events.setdefault(_epoch(h.at), []).append(printable(f"{h.new} replaces {h.old}"))
    for change in changes:
        if change.segment in labels and (change.segment, change.at) not in told:
            events.setdefault(_epoch(change.at), []).append(printable(f"{change.segment} {change.kind}"))
    return {"x": xs.select(pl.col(WINDOW_START).dt.epoch("s")).to_series().to_list(), "segments": shown,
            "more_segments": frame.select(by).n_unique() - drawn.height if by else 0,
            "every_s": spec.every.total_seconds(), "charts": charts,
            "events": [{"t": t, "text": ", ".join(texts)} for t, texts in events.items()]}


def _epoch(at: datetime) -> float:
    return pl.Series([at]).dt.epoch("ms")[0] / 1000
