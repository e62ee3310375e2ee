"""Windowed metrics computed as the records are read, a chunk at a time, equal to computing them at the end.

Exact percentiles need every latency of a window, so a window's rows (only the columns
its metrics read) are held until it is closed: when a chunk's earliest record lies in a
later window. A closed window is aggregated once, and its rows go to a spill file on
disk. A late record for a closed window (logs out of time order) reopens it: its rows
come back from the spill, in their order, and it is aggregated again. So the table is
that of :func:`mlmon.metrics.windows.compute_metrics` over all the records, while
memory holds the open windows' rows, one row of aggregates per closed window and
segment, and the distinct segments.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime

import polars as pl

from mlmon.metrics.catalog import RECORD_METRICS, Metric
from mlmon.metrics.windows import (WINDOW_END, WINDOW_START, MetricTable, SegmentLimitError, WindowSpec,
                                   aggregate_windows, all_windows, full_windows, select_range, window_floor,
                                   with_throughput)


#: Open rows held before windows are closed: a few chunks' worth (about 70 bytes a row).
HOLD_ROWS = 250_000


class WindowedMetrics:
    """Add the records frame by frame (:meth:`add`), in the order read; then :meth:`table`.

    Use it as a context manager: leaving it removes the spill files.
    """

    def __init__(self, spec: WindowSpec, schema: dict[str, pl.DataType],
                 metrics: tuple[Metric, ...] = RECORD_METRICS, hold_rows: int = HOLD_ROWS):
        if spec.every is None:
            raise ValueError("windowed metrics need a window length (spec.every)")
        self.spec = full_windows(spec)
        self._by = list(spec.by)
        # A metric whose column the records lack (a frame without ``hotfix``) has no value to aggregate.
        metrics = tuple(m for m in metrics if m.needs is None or m.needs in schema)
        self._metrics = metrics
        self._aggs = [m.expr().alias(m.name) for m in metrics if m.expr is not None]
        roots = {root for agg in self._aggs for root in agg.meta.root_names()}
        self._columns = [WINDOW_START, *self._by, *(c for c in schema if c in roots and c not in self._by)]
        self._empty = pl.DataFrame(schema=schema).lazy().pipe(self._rows).collect()
        self._hold_rows = hold_rows
        self._held = 0
        self._needs = {m.needs for m in metrics if m.needs}
        self._present: set[str] = set()
        self._segments = self._empty.select(self._by).clear()
        self._over = False  # more segments than allowed: only counting them from then on
        self._open: list[pl.DataFrame] = []
        self._closed: list[pl.DataFrame] = []  # the aggregates of closed windows
        self._closed_below: datetime | None = None  # every window before it is closed, but the reopened ones
        self._reopened: set[datetime] = set()
        self._spill_dir: tempfile.TemporaryDirectory | None = None
        #: Spill files in order, each with the windows taken back out of it.
        self._spills: list[tuple[str, set[datetime]]] = []

    def __enter__(self) -> "WindowedMetrics":
        return self

    def __exit__(self, *exc) -> None:
        if self._spill_dir is not None:
            self._spill_dir.cleanup()
            self._spill_dir = None

    def _rows(self, records: pl.LazyFrame) -> pl.LazyFrame:
        """The records in range, each with its window's start and only the columns the metrics read."""
        every, anchor = self.spec.every, self.spec.anchor
        assert every is not None
        windowed = select_range(records, self.spec).with_columns(
            window_floor(pl.col("ts"), every, anchor).alias(WINDOW_START))
        return windowed.select(self._columns)

    def add(self, records: pl.DataFrame) -> None:
        """Take the next records read (a frame with the schema given at the start)."""
        rows = self._rows(records.lazy()).collect()
        if not rows.height:
            return
        self._present |= {n for n in self._needs if n in rows.columns and rows.get_column(n).is_not_null().any()}
        if self._over:  # no metric will be computed: only the segments are counted, for the error
            self._count_segments(rows.select(self._by).unique())
            return
        first = rows.get_column(WINDOW_START).min()
        if self._closed_below is not None and first < self._closed_below:
            self._reopen(rows)
        self._open.append(rows)
        self._held += rows.height
        if self._held > self._hold_rows:  # closing costs a plan and a file each time: not every chunk
            self._close_before(first)
            self._held = sum(frame.height for frame in self._open)

    def _count_segments(self, segments: pl.DataFrame) -> None:
        """Keep count of the distinct segments (the ``by`` columns of aggregates, or of rows)."""
        limit = self.spec.max_segments
        if not self._by or limit is None:
            return
        self._segments = pl.concat([self._segments, segments.select(self._by)]).unique()
        if self._segments.height > limit and not self._over:
            self._over = True
            # No metric will be computed: hold nothing more but the segments.
            self._segments = pl.concat([self._segments, *(rows.select(self._by) for rows in self._open)]).unique()
            self._open, self._closed = [], []

    def _close_before(self, bound: datetime | None) -> None:
        """Aggregate the open windows that start before ``bound`` (None: all of them) and spill their rows."""
        if not self._open:
            return
        rows = pl.concat(self._open) if len(self._open) > 1 else self._open[0]
        closing = rows if bound is None else rows.filter(pl.col(WINDOW_START) < bound)
        self._open = [] if bound is None else [rows.filter(pl.col(WINDOW_START) >= bound)]
        if bound is not None and (self._closed_below is None or bound > self._closed_below):
            self._closed_below = bound
        if not closing.height:
            return
        self._closed.append(aggregate_windows(closing.lazy(), self._by, self._aggs))
        self._count_segments(self._closed[-1])
        if bound is None or self._over:
            return  # the end: nothing can reopen
        self._reopened -= set(closing.get_column(WINDOW_START).unique().to_list())
        if self._spill_dir is None:
            self._spill_dir = tempfile.TemporaryDirectory(prefix="mlmon-windows-")
        path = os.path.join(self._spill_dir.name, f"{len(self._spills)}.arrow")
        closing.write_ipc(path, compression="lz4")  # about 14 bytes a row here instead of 72, for little CPU
        self._spills.append((path, set()))

    def _reopen(self, rows: pl.DataFrame) -> None:
        """Open again the closed windows that ``rows`` (late records) fall in: their rows back, their aggregates out."""
        assert self._closed_below is not None
        late = rows.filter(pl.col(WINDOW_START) < self._closed_below).get_column(WINDOW_START).unique().to_list()
        windows = set(late) - self._reopened
        if not windows:
            return
        back = []
        for path, taken in self._spills:
            wanted = windows - taken
            if wanted:
                back.append(pl.scan_ipc(path).filter(pl.col(WINDOW_START).is_in(list(wanted))).collect())
                taken |= wanted
        self._open = [*back, *self._open]
        if self._closed:
            kept = pl.concat(self._closed)
            self._closed = [kept.filter(~pl.col(WINDOW_START).is_in(list(windows)))]
        self._reopened |= windows

    def table(self) -> MetricTable:
        """Every metric for every window and segment: the table :func:`compute_metrics` gives for all the records."""
        self._close_before(None)
        if self._over:
            raise SegmentLimitError(self.spec.by, self._segments.height, self.spec.max_segments or 0)
        agg = pl.concat(self._closed) if self._closed else aggregate_windows(self._empty.lazy(), self._by, self._aggs)
        chosen = [m for m in self._metrics if m.needs is None or m.needs in self._present]
        names = [m.name for m in chosen]
        frame = with_throughput(all_windows(agg, self.spec), self.spec)
        return MetricTable(frame.select(WINDOW_START, WINDOW_END, *self._by, *names), self.spec, names)
