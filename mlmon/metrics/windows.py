"""Compute metrics per time window and segment: one lazy plan over the records frame."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

import polars as pl

from mlmon.errors import UsageError
from mlmon.logs.normalize import TS_MAX, TS_MIN, TS_TYPE
from mlmon.metrics.catalog import RECORD_METRICS, Metric
from mlmon.timeparse import format_duration, iso

WINDOW_START = "window_start"
WINDOW_END = "window_end"
_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class WindowSpec:
    """How to cut the records: window length (None: one window), segments, and time range.

    ``max_segments`` caps the distinct values of the ``by`` fields in the range (None: no cap).
    ``anchor`` sets the windows' phase: they are ``[anchor + k*every, anchor + (k+1)*every)``
    for every whole k (None: the Unix epoch, so windows start at whole multiples of ``every``).
    With an anchor, a leading window that starts before ``since`` (cut by it) is dropped, not
    judged on part of its data: ``mlmon check`` anchors at its evaluation time, so that the
    latest window ends at it and every window it judges is a full ``every`` long.
    ``extra_segments`` (values in ``by`` order) get windows over the whole range even without
    records, empty ones as any window without traffic: segments an alert state still watches.
    """

    every: timedelta | None = None
    by: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    max_segments: int | None = None
    anchor: datetime | None = None
    extra_segments: tuple[tuple[Any, ...], ...] = ()

    def __post_init__(self) -> None:
        # Any time zone means the same instant; the frame's times are UTC.
        for name in ("since", "until", "anchor"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is not None:
                object.__setattr__(self, name, value.astimezone(timezone.utc))


@dataclass
class MetricTable:
    """One row per window and segment: window_start, window_end, the segment fields, the metrics."""

    frame: pl.DataFrame
    spec: WindowSpec
    metrics: list[str] = field(default_factory=list)


def _aligned(ts: pl.Expr, every: timedelta, anchor: datetime | None = None) -> pl.Expr:
    """The latest ``anchor + k*every`` (k a whole number) at or before ``ts``, in UTC; anchor None is the epoch."""
    step = every // _US
    if anchor is None:
        return pl.from_epoch((ts.dt.epoch("us") // step) * step, time_unit="us").dt.replace_time_zone("UTC")
    # Floor division rounds down, before the anchor too; years 1 to 9999 in µs stay far from int64's limits.
    base = _epoch_us(anchor) % step
    return pl.from_epoch(((ts.dt.epoch("us") - base) // step) * step + base,
                         time_unit="us").dt.replace_time_zone("UTC")


def _epoch_us(value: datetime) -> int:
    """Microseconds from the Unix epoch to ``value`` (an aware datetime)."""
    return (value - datetime(1970, 1, 1, tzinfo=timezone.utc)) // _US


def window_floor(ts: pl.Expr, every: timedelta, anchor: datetime | None = None) -> pl.Expr:
    """The start of ``ts``'s window: ``anchor + k*every`` (None: whole multiples of ``every`` since the Unix
    epoch), in UTC.

    Windows are cut at the times records may carry (TS_MIN to TS_MAX, the years 1 to 9999):
    the first window of time starts at TS_MIN, so that every window bound has a Python datetime.
    """
    return _aligned(ts, every, anchor).clip(lower_bound=pl.lit(TS_MIN, TS_TYPE))


def window_end(start: pl.Expr, every: timedelta, anchor: datetime | None = None) -> pl.Expr:
    """The end of the window that starts at ``start`` (see :func:`window_floor`), at most TS_MAX."""
    return (_aligned(start, every, anchor) + every).clip(upper_bound=pl.lit(TS_MAX, TS_TYPE))


def _floor(value: datetime, every: timedelta, anchor: datetime | None = None) -> datetime:
    """:func:`window_floor` of one time."""
    origin = datetime(1970, 1, 1, tzinfo=value.tzinfo) if anchor is None else anchor
    try:
        return origin + ((value - origin) // every) * every
    except OverflowError:  # the window would start before year 1
        return TS_MIN


def full_windows(spec: WindowSpec) -> WindowSpec:
    """``spec`` without the leading window that ``since`` cuts, when it has an anchor: ``since`` moves up to
    the start of the first whole window, so the records before it (a window that starts before ``since``)
    are not judged. Without an anchor, or with nothing cut, ``spec`` itself."""
    if spec.anchor is None or spec.since is None or spec.every is None:
        return spec
    # The first anchor + k*every at or after since: never before year 1, even when the window before it is.
    k = -((spec.anchor - spec.since) // spec.every)
    try:
        start = spec.anchor + k * spec.every
    except OverflowError:  # no whole window starts before year 9999 ends
        start = TS_MAX
    return spec if start == spec.since else replace(spec, since=start)


def select_range(records: pl.LazyFrame, spec: WindowSpec) -> pl.LazyFrame:
    """Records with since <= ts < until."""
    if spec.since is not None:
        records = records.filter(pl.col("ts") >= spec.since)
    if spec.until is not None:
        records = records.filter(pl.col("ts") < spec.until)
    return records


def applicable(metrics: tuple[Metric, ...], records: pl.DataFrame) -> list[Metric]:
    """The metrics the data can support: a resource metric needs at least one logged value."""
    needs = sorted({m.needs for m in metrics if m.needs})
    present = set()
    if needs and records.height:
        have = [n for n in needs if n in records.columns]
        if have:
            row = records.select(pl.col(n).is_not_null().any() for n in have).row(0)
            present = {n for n, ok in zip(have, row) if ok}
    return [m for m in metrics if m.needs is None or m.needs in present]


def compute_metrics(
    records: pl.DataFrame,
    spec: WindowSpec,
    metrics: tuple[Metric, ...] = RECORD_METRICS,
    extra: list[pl.Expr] | tuple[pl.Expr, ...] = (),
) -> MetricTable:
    """Every metric for every window and segment of ``spec``; pure, no I/O.

    ``extra`` are more named aggregations (e.g. model quality) computed in the same plan.
    With an anchor, a leading window cut by ``since`` is left out (see :func:`full_windows`).
    """
    spec = full_windows(spec)
    selected = select_range(records.lazy(), spec).collect()
    check_segment_count(selected, spec)
    chosen = applicable(metrics, selected)
    aggs = [m.expr().alias(m.name) for m in chosen if m.expr is not None] + list(extra)
    by = list(spec.by)
    if spec.every is None:
        frame = _whole_range(selected, by, aggs)
    else:
        frame = _windowed(selected, spec, by, aggs)
    names = [m.name for m in chosen] + [e.meta.output_name() for e in extra]
    frame = with_throughput(frame, spec).select(WINDOW_START, WINDOW_END, *by, *names)
    return MetricTable(frame, spec, names)


def _whole_range(selected: pl.DataFrame, by: list[str], aggs: list[pl.Expr]) -> pl.DataFrame:
    start, end = (selected.get_column("ts").min(), selected.get_column("ts").max()) if selected.height else (None, None)
    lf = selected.lazy()
    if by:
        frame = lf.group_by(by).agg(aggs).sort(by, nulls_last=True).collect(engine="streaming")
    else:
        frame = lf.select(aggs).collect(engine="streaming")
    frame = frame.with_columns(
        pl.lit(start, pl.Datetime("us", "UTC")).alias(WINDOW_START),
        pl.lit(end, pl.Datetime("us", "UTC")).alias(WINDOW_END),
    )
    if not by and not selected.height:
        frame = frame.with_columns(pl.lit(0, pl.Int64).alias(c) for c in ("request_count", "error_count"))
    return frame


def _windowed(selected: pl.DataFrame, spec: WindowSpec, by: list[str], aggs: list[pl.Expr]) -> pl.DataFrame:
    assert spec.every is not None
    windowed = selected.lazy().with_columns(window_floor(pl.col("ts"), spec.every, spec.anchor).alias(WINDOW_START))
    return all_windows(aggregate_windows(windowed, by, aggs), spec)


def aggregate_windows(windowed: pl.LazyFrame, by: list[str], aggs: list[pl.Expr]) -> pl.DataFrame:
    """``aggs`` per window and segment of records that carry their WINDOW_START: the windows with traffic."""
    # The groups are aggregated in parallel (and the in-memory engine may round sums differently).
    return windowed.group_by([WINDOW_START, *by]).agg(aggs).collect(engine="streaming")


def all_windows(agg: pl.DataFrame, spec: WindowSpec) -> pl.DataFrame:
    """The windows with traffic (``agg``, from :func:`aggregate_windows`) and those without, sorted,
    with their WINDOW_END."""
    every, anchor, by = spec.every, spec.anchor, list(spec.by)
    assert every is not None
    keys = [WINDOW_START, *by]
    # Windows with no traffic are reported too (request_count 0): silence is news. A segment's
    # windows run from its first window to the end of the range; without segments, the whole range.
    lo = pl.lit(_floor(spec.since, every, anchor), pl.Datetime("us", "UTC")) if spec.since and not by else pl.col(WINDOW_START).min()
    last = spec.until - _US if spec.until else None
    if last is not None:
        hi = pl.lit(_floor(last, every, anchor), pl.Datetime("us", "UTC"))
    else:  # the range ends with the last record of any segment
        hi = pl.lit(agg.get_column(WINDOW_START).max(), pl.Datetime("us", "UTC"))
    if by:
        ranges = agg.group_by(by).agg(lo.alias("_lo"), hi.alias("_hi"))
    elif agg.height or (spec.since and spec.until):
        ranges = agg.select(lo.alias("_lo"), hi.alias("_hi")) if agg.height else pl.DataFrame(
            {"_lo": [_floor(spec.since, every, anchor)], "_hi": [_floor(last, every, anchor)]},
            schema={"_lo": pl.Datetime("us", "UTC"), "_hi": pl.Datetime("us", "UTC")},
        )
    else:
        ranges = pl.DataFrame(schema={"_lo": pl.Datetime("us", "UTC"), "_hi": pl.Datetime("us", "UTC")})
    if by and spec.extra_segments:
        ranges = _with_extra_segments(ranges, agg, spec, hi)
    _check_window_count(ranges, every)
    grid = (
        ranges.filter(pl.col("_lo") <= pl.col("_hi"))
        # From the aligned start: a first window cut at TS_MIN does not start on the windows' grid.
        .with_columns(pl.datetime_ranges(_aligned(pl.col("_lo"), every, anchor), "_hi", interval=every).alias(WINDOW_START))
        .explode(WINDOW_START)
        .with_columns(window_floor(pl.col(WINDOW_START), every, anchor))
        .drop("_lo", "_hi")
    )
    frame = grid.join(agg, on=keys, how="left", nulls_equal=True)
    counts = [c for c in ("request_count", "error_count", "hotfix_count") if c in frame.columns]
    return (
        frame.with_columns(pl.col(c).fill_null(0) for c in counts)
        .with_columns(window_end(pl.col(WINDOW_START), every, anchor).alias(WINDOW_END))
        .sort(keys, nulls_last=True)
    )


def _with_extra_segments(ranges: pl.DataFrame, agg: pl.DataFrame, spec: WindowSpec, hi: pl.Expr) -> pl.DataFrame:
    """``ranges`` (one row per segment: ``_lo``, ``_hi``) with each of ``spec.extra_segments`` running over
    the whole range: from ``--since`` (else the range's first window) to the range's last window."""
    by = list(spec.by)
    assert spec.every is not None
    bounds = agg.select(pl.col(WINDOW_START).min().alias("_lo"), hi.alias("_hi"))
    if spec.since is not None:
        bounds = bounds.with_columns(pl.lit(_floor(spec.since, spec.every, spec.anchor), pl.Datetime("us", "UTC")).alias("_lo"))
    lo_value, hi_value = bounds.row(0)
    if hi_value is None:  # no records and no end: no range to cover
        return ranges
    schema = {name: agg.schema[name] for name in by}
    # A value the segment's column cannot hold now (its type changed) names no segment of this run.
    rows = [values for values in spec.extra_segments
            if all(_fits(value, schema[name]) for name, value in zip(by, values))]
    extra = pl.DataFrame(rows, schema=schema, orient="row")
    extra = extra.with_columns(pl.lit(lo_value if lo_value is not None else hi_value, pl.Datetime("us", "UTC")).alias("_lo"),
                               pl.lit(hi_value, pl.Datetime("us", "UTC")).alias("_hi"))
    return (pl.concat([ranges.select(*by, "_lo", "_hi"), extra])
            .group_by(by, maintain_order=True).agg(pl.col("_lo").min(), pl.col("_hi").max()))


def _fits(value: Any, dtype: pl.DataType) -> bool:
    """Whether a column of ``dtype`` holds ``value`` as it is (None fits any)."""
    if value is None:
        return True
    try:
        return pl.Series([value], dtype=dtype, strict=True)[0] == value
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
        return False


class SegmentLimitError(UsageError):
    """The ``by`` fields make more segments than ``WindowSpec.max_segments``."""

    def __init__(self, by: tuple[str, ...], count: int, limit: int):
        super().__init__(f"--by {','.join(by)} makes {count:,} segments, more than --max-segments {limit:,}",
                         "Segment by fewer fields, filter with --where, or raise --max-segments.")
        self.by, self.count, self.limit = by, count, limit


def check_segment_count(selected: pl.DataFrame, spec: WindowSpec) -> None:
    """Refuse more segments than the cap before any metric is computed: a field with a value per request
    (request_id) would otherwise make a row per request and window, nearly all of them zero-filled."""
    if not spec.by or spec.max_segments is None or selected.height <= spec.max_segments:
        return
    count = selected.select(pl.struct(list(spec.by)).n_unique()).item()
    if count > spec.max_segments:
        raise SegmentLimitError(spec.by, count, spec.max_segments)


#: The most windows (over all segments) a report may hold. One stray timestamp from 1970
#: with --every 1m would otherwise ask for tens of millions of rows, and the memory for them.
MAX_WINDOWS = 1_000_000


def _check_window_count(ranges: pl.DataFrame, every: timedelta) -> None:
    if not ranges.height:
        return
    step = every // _US
    counts = ranges.select(
        ((pl.col("_hi").dt.epoch("us") - pl.col("_lo").dt.epoch("us")) // step + 1).clip(lower_bound=0).sum().alias("n"),
        pl.col("_lo").min().alias("lo"),
        pl.col("_hi").max().alias("hi"),
    ).row(0, named=True)
    if counts["n"] > MAX_WINDOWS:
        try:
            end = iso(counts["hi"] + every)
        except OverflowError:  # the last window ends after year 9999
            end = "9999-12-31T23:59:59.999999Z"
        raise UsageError(
            f"{counts['n']:,} windows of {format_duration(every)} from {iso(counts['lo'])} to "
            f"{end} are more than the {MAX_WINDOWS:,} a report may hold",
            "Narrow the range with --since/--until, or use a longer --every; a stray old or future timestamp "
            "in the logs also widens it.",
        )


def with_throughput(frame: pl.DataFrame, spec: WindowSpec) -> pl.DataFrame:
    start, end = pl.col(WINDOW_START), pl.col(WINDOW_END)
    if spec.every is not None:
        # A window cut by --since/--until counts only the part inside the range.
        if spec.since is not None:
            start = pl.max_horizontal(start, pl.lit(spec.since, pl.Datetime("us", "UTC")))
        if spec.until is not None:
            end = pl.min_horizontal(end, pl.lit(spec.until, pl.Datetime("us", "UTC")))
    seconds = (end - start).dt.total_microseconds() / 1e6
    count = pl.col("request_count") if "request_count" in frame.columns else pl.lit(None)
    return frame.with_columns(pl.when(seconds > 0).then(count / seconds).alias("throughput_rps"))
