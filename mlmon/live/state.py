"""The windows on screen: their records' compact columns, and their metrics, kept up to date as records arrive.

Memory holds, for the last ``windows`` windows of ``every`` only, the columns the metrics (and
the panels) read, never the raw lines; older rows are dropped as the latest window moves on.
Each window's metrics are the rows of ``mlmon report --every EVERY`` (with and without ``--by
model,model_version``): the same expressions (:mod:`mlmon.metrics.operational`) aggregated by the
same :func:`~mlmon.metrics.windows.aggregate_windows`, with empty windows and throughput added by
:func:`~mlmon.metrics.windows.all_windows` and :func:`~mlmon.metrics.windows.with_throughput`.
Only windows that new records fall in are aggregated again; the others keep their finished rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Sequence

import polars as pl

from mlmon.logs.mapping import CANONICAL_FIELDS
from mlmon.logs.reader import KIND_TYPES
from mlmon.metrics.operational import OPERATIONAL_METRICS
from mlmon.metrics.windows import (WINDOW_START, WindowSpec, aggregate_windows, all_windows, window_floor,
                                   with_throughput)

#: The segments the dashboard picks from: a model and its version.
SEGMENT_BY = ("model", "model_version")
#: Kept-row chunks are merged once there are this many (one arrives per refresh).
_MERGE_CHUNKS = 32


class LiveWindows:
    """The latest ``windows`` windows of length ``every``: add records with :meth:`add`, read with :meth:`series`.

    ``schema`` is the records' (the tailer's); ``keep`` names more columns to hold for the visible
    range (a rule's fields, drift's fields), besides ``ts``, the segments and what the metrics read.
    """

    def __init__(self, every: timedelta, windows: int, schema: dict[str, pl.DataType], keep: Sequence[str] = ()):
        self.every, self.windows, self.keep = every, windows, list(keep)
        self._aggs = [m.expr().alias(m.name) for m in OPERATIONAL_METRICS if m.expr is not None]
        roots = {root for agg in self._aggs for root in agg.meta.root_names()}
        wanted = ["ts", *SEGMENT_BY, *sorted(roots), *keep]
        self.schema = {name: schema.get(name, _type_of(name)) for name in dict.fromkeys(wanted)}
        self._needs = {m.needs for m in OPERATIONAL_METRICS if m.needs}
        self.clear()

    def clear(self) -> None:
        """Forget every record and metric."""
        self._chunks: list[pl.DataFrame] = []
        self._touched: set[datetime] = set()
        self.latest: datetime | None = None  # the start of the latest window with records
        self.present: set[str] = set()
        empty = self._rows(pl.DataFrame(schema=self.schema))
        self._by_segment = aggregate_windows(empty.lazy(), list(SEGMENT_BY), self._aggs)
        self._overall = aggregate_windows(empty.lazy(), [], self._aggs)

    def regroup(self, every: timedelta) -> None:
        """Cut the kept rows into windows of ``every`` instead (a shorter window: the rows on screen suffice)."""
        rows, present = self.rows().drop(WINDOW_START), self.present
        self.every = every
        self.clear()
        self.add(rows)
        self.present = present

    @property
    def start(self) -> datetime | None:
        """The start of the first window on screen."""
        return None if self.latest is None else self.latest - (self.windows - 1) * self.every

    def _rows(self, records: pl.DataFrame) -> pl.DataFrame:
        columns = [pl.col(c).cast(t) if c in records.columns else pl.lit(None, t).alias(c) for c, t in self.schema.items()]
        rows = records.select(columns).filter(pl.col("ts").is_not_null())
        return rows.with_columns(window_floor(pl.col("ts"), self.every).alias(WINDOW_START))

    def add(self, records: pl.DataFrame) -> None:
        """Take new records (any order); windows before the visible range are dropped."""
        rows = self._rows(records)
        if not rows.height:
            return
        self.present |= {n for n in self._needs if rows.get_column(n).is_not_null().any()}
        newest = rows.get_column(WINDOW_START).max()
        if self.latest is None or newest > self.latest:
            self.latest = newest
        rows = rows.filter(pl.col(WINDOW_START) >= self.start)
        if rows.height:
            self._chunks.append(rows)
            self._touched |= set(rows.get_column(WINDOW_START).unique().to_list())
        self._prune()

    def _prune(self) -> None:
        start = self.start
        if start is None:
            return
        kept = [c.filter(pl.col(WINDOW_START) >= start) if c.get_column(WINDOW_START).min() < start else c
                for c in self._chunks]
        kept = [c for c in kept if c.height]
        self._chunks = [pl.concat(kept)] if len(kept) > _MERGE_CHUNKS else kept
        self._touched = {w for w in self._touched if w >= start}
        old = pl.col(WINDOW_START) >= start
        self._by_segment = self._by_segment.filter(old)
        self._overall = self._overall.filter(old)

    def update(self) -> int:
        """Aggregate again the windows that new records fell in; the number of such windows."""
        if not self._touched:
            return 0
        touched = sorted(self._touched)
        low = touched[0]
        rows = pl.concat([c for c in self._chunks if c.get_column(WINDOW_START).max() >= low] or [self._rows(pl.DataFrame(schema=self.schema))])
        rows = rows.lazy().filter(pl.col(WINDOW_START).is_in(touched))
        keep = ~pl.col(WINDOW_START).is_in(touched)
        self._by_segment = pl.concat([self._by_segment.filter(keep),
                                      aggregate_windows(rows, list(SEGMENT_BY), self._aggs)], how="vertical_relaxed")
        self._overall = pl.concat([self._overall.filter(keep), aggregate_windows(rows, [], self._aggs)],
                                  how="vertical_relaxed")
        self._touched = set()
        return len(touched)

    def rows(self, segment: tuple | None = None) -> pl.DataFrame:
        """The kept rows of the visible range, of one segment (``(model, version)``) or all."""
        if not self._chunks:
            return self._rows(pl.DataFrame(schema=self.schema))
        if len(self._chunks) > 1:
            self._chunks = [pl.concat(self._chunks)]
        rows = self._chunks[0]
        return rows.filter(_segment_is(segment)) if segment is not None else rows

    def metrics(self) -> list[str]:
        """The report's metric names that the records support (a resource metric needs a logged value)."""
        return [m.name for m in OPERATIONAL_METRICS if m.needs is None or m.needs in self.present]

    def spec(self) -> WindowSpec:
        """The report's window spec for the visible range (whole windows, so throughput is per full window)."""
        if self.latest is None:
            return WindowSpec(every=self.every)
        return WindowSpec(every=self.every, since=self.start, until=self.latest + self.every)

    def series(self, segment: tuple | None = None) -> pl.DataFrame:
        """One row per visible window, oldest first: window_start, window_end and the metrics (empty windows too)."""
        if segment is None:
            agg = self._overall
        else:
            agg = self._by_segment.filter(_segment_is(segment)).drop(*SEGMENT_BY)
        spec = self.spec()
        if self.latest is None:
            return agg.clear()
        frame = with_throughput(all_windows(agg, spec), spec)
        return frame.select("window_start", "window_end", *self.metrics())

    def segments(self) -> pl.DataFrame:
        """The latest window's metrics per segment, with every segment seen in the visible range (busiest first)."""
        spec = self.spec()
        if self.latest is None:
            return self._by_segment.clear()
        known = self._by_segment.select(SEGMENT_BY).unique()
        latest = self._by_segment.filter(pl.col(WINDOW_START) == self.latest)
        frame = known.join(latest, on=list(SEGMENT_BY), how="left", nulls_equal=True).with_columns(
            pl.lit(self.latest, pl.Datetime("us", "UTC")).alias(WINDOW_START),
            pl.lit(self.latest + self.every, pl.Datetime("us", "UTC")).alias("window_end"),
            pl.col("request_count").fill_null(0), pl.col("error_count").fill_null(0))
        frame = with_throughput(frame, spec)
        return frame.sort(["request_count", *SEGMENT_BY], descending=[True, False, False], nulls_last=True).select(
            *SEGMENT_BY, *self.metrics())

    def segment_keys(self) -> list[tuple]:
        """Every (model, version) seen in the visible range, sorted."""
        keys = self._by_segment.select(SEGMENT_BY).unique().sort(list(SEGMENT_BY), nulls_last=True)
        return [tuple(row) for row in keys.iter_rows()]


def _type_of(name: str) -> pl.DataType:
    """The column type a field has in the records frame (text for fields that are not canonical)."""
    kind = CANONICAL_FIELDS.get(name)
    return KIND_TYPES[kind] if kind else pl.String()


def _segment_is(segment: tuple) -> pl.Expr:
    """Rows of the segment: each field equal to its value (a missing value matches a missing one)."""
    conditions = [pl.col(name).is_null() if value is None else pl.col(name) == value
                  for name, value in zip(SEGMENT_BY, segment)]
    return pl.all_horizontal(conditions)
