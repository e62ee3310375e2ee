"""What the dashboard shows, kept current: a tailer feeding the windows, and a snapshot of them per segment.

:class:`Feed` is safe to use from two threads (a reader and a drawer): each call holds its lock.
Rules are evaluated by ``mlmon check``'s :func:`~mlmon.rules.evaluate.evaluate_rules`, and drift is
``mlmon report``'s :func:`~mlmon.metrics.whole_range.drift_by_field`, both over the visible range.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

import polars as pl

from mlmon.baseline.load import BaselineSpec
from mlmon.errors import MlmonError
from mlmon.live.state import SEGMENT_BY, LiveWindows
from mlmon.live.tail import Batch
from mlmon.logs.mapping import RAW_REQUEST, RAW_RESPONSE, Mapping
from mlmon.logs.verdict import reason_counts
from mlmon.metrics.operational import RECORD_FIELDS, is_error
from mlmon.redact import redact_columns
from mlmon.timeparse import utc_now

#: Error messages listed, the most frequent first.
TOP_ERRORS = 10


@dataclass
class Snapshot:
    """One frame's data: the visible windows' metrics for a segment (None: all), and the panels beside them."""

    source: str
    every: timedelta
    windows: int
    segment: tuple | None
    #: Every (model, version) in the visible range, to pick from.
    segments: list[tuple]
    #: One row per visible window (report's columns: window_start, window_end, metric names).
    series: pl.DataFrame
    #: The latest window's metrics per model and version.
    by_segment: pl.DataFrame
    #: (message, count) of the errors in the visible range, the most frequent first.
    errors: list[tuple[str, int]]
    records: int
    skipped: int
    skipped_by_reason: dict[str, int]
    refreshed_at: datetime | None
    #: With --rules: firing and pending alerts (mlmon.rules.evaluate.Alert), else None.
    firing: list[Any] | None = None
    pending: list[Any] | None = None
    #: With --baseline: drift_by_field's rows, else None.
    drift: pl.DataFrame | None = None
    #: What went wrong on the last refresh (shown, then retried), and notes from reading.
    problem: str | None = None
    notes: list[str] = field(default_factory=list)


class Feed:
    """Reads with a tailer (``make_tailer(fields, span)``) on each :meth:`poll`, keeps the windows; :meth:`snapshot`
    gives a frame's data."""

    def __init__(self, make_tailer: Callable[[list[str], timedelta], Any], *, every: timedelta, windows: int, source: str,
                 mapping: Mapping, ruleset=None, baseline: BaselineSpec | None = None, patterns: list[str] = (),
                 clock: Callable[[], datetime] = utc_now, max_segments: int = 1000, prices=None):
        self._make_tailer = make_tailer
        #: --prices: the cost of records that log tokens and no cost, as report and check give it.
        self.prices = prices
        self.source, self.mapping, self.ruleset, self.clock = source, mapping, ruleset, clock
        self.baseline, self.patterns, self.max_segments = baseline, list(patterns), max_segments
        self.reference = None
        keep: list[str] = ["error", "status"]
        if ruleset is not None:
            from mlmon.rules.evaluate import record_fields

            keep += record_fields(ruleset)
        fields = list(dict.fromkeys([*RECORD_FIELDS, *SEGMENT_BY, *keep, *(prices.fields if prices else ())]))
        if baseline is not None:
            fields += ["request_id", RAW_REQUEST, RAW_RESPONSE]
        self.fields = fields
        self.tailer = make_tailer(fields, every * windows)
        self.state = LiveWindows(every, windows, self._schema(), keep)
        self._lock = threading.RLock()
        self.records = 0
        self.skipped_by_reason: dict[str, int] = {}
        self.refreshed_at: datetime | None = None
        self.problem: str | None = None
        self.notes: list[str] = []
        self._cache: dict[tuple, Any] = {}

    def _schema(self) -> dict[str, pl.DataType]:
        return dict(getattr(self.tailer, "schema", None) or {})

    @property
    def every(self) -> timedelta:
        return self.state.every

    def poll(self) -> Batch:
        """Read what the logs gained and fold it into the windows, chunk by chunk as it is decoded.
        MlmonError propagates (the caller shows it)."""
        with self._lock:
            batch = self.tailer.read(self.state.start, self._add)
            self._take(batch)
            self.refreshed_at = self.clock()
            self.problem = None
            return batch

    def _add(self, records: pl.DataFrame) -> None:
        """New records into the windows: with the baseline's fields decoded, and secrets in text redacted."""
        if not records.height:
            return
        self.records += records.height
        if self.prices is not None:
            from mlmon.metrics.llm import with_cost

            records = with_cost(records, self.prices)
        start = self.state.start
        if start is not None:  # older than the screen's first window: no use (and most of a first read)
            records = records.filter(pl.col("ts") >= start)
            if not records.height:
                return
        if self.baseline is not None:
            records = self._with_reference_fields(records)
        texts = [c for c in ("error", *SEGMENT_BY) if c in records.columns and records.schema[c] == pl.String]
        records = redact_columns(records, [*texts, *self._io_columns(records)], self.mapping.redact)
        self.state.add(records)

    def _take(self, batch: Batch) -> None:
        """The rest of a read: a reset, records not passed to ``_add`` yet, bad lines, notes; then the metrics."""
        if batch.reset:
            self.state.clear()
            self.records = 0
        self._add(batch.records)
        if batch.skipped_by_reason is not None:
            self.skipped_by_reason = dict(batch.skipped_by_reason)
        elif batch.rejects.height:
            for reason, count in reason_counts(batch.rejects).items():
                self.skipped_by_reason[reason] = self.skipped_by_reason.get(reason, 0) + count
        self.notes = list(batch.notes) or self.notes
        if self.state.update() or batch.reset:
            self._cache.clear()

    def _io_columns(self, records: pl.DataFrame) -> list[str]:
        return [c for c in records.columns if c.startswith(("input.", "output.")) and records.schema[c] == pl.String]

    def _with_reference_fields(self, records: pl.DataFrame) -> pl.DataFrame:
        """The records with the baseline's fields decoded from the request and response (the reference is loaded
        with the first records, which supply the output names as report's do)."""
        from mlmon.logs.field_limit import FieldLimit
        from mlmon.logs.fields import with_io_fields

        if self.reference is None:
            from mlmon.baseline.load import load_reference

            current = with_io_fields(records, FieldLimit())
            self.reference = load_reference(self.baseline, mapping=self.mapping, current=current, logs=self.patterns)
            self.state = _with_keep(self.state, list(self.reference.fields), self._schema())
        decoded = with_io_fields(records, FieldLimit(0, frozenset(self.reference.fields)))
        for name in self.reference.fields:  # a field no record carries yet is still a (null) column
            if name not in decoded.columns:
                decoded = decoded.with_columns(pl.lit(None, pl.String).alias(name))
        return decoded.drop([c for c in (RAW_REQUEST, RAW_RESPONSE) if c in decoded.columns])

    def set_every(self, every: timedelta) -> None:
        """Windows of ``every`` from now on. Shorter: the rows on screen are cut again. Longer: the range on
        screen grows past the rows kept, so the logs are read again from their start, once."""
        with self._lock:
            if every < self.state.every:
                self.state.regroup(every)
            else:
                self.tailer = self._make_tailer(self.fields, every * self.state.windows)
                self.state = LiveWindows(every, self.state.windows, self._schema(), self.state.keep)
                self.records, self.skipped_by_reason = 0, {}
                self._take(self.tailer.read(None, self._add))
            self.state.update()
            self._cache.clear()

    def snapshot(self, segment: tuple | None = None) -> Snapshot:
        """The frame's data for ``segment`` ((model, version); None: all)."""
        with self._lock:
            state = self.state
            segments = state.segment_keys()
            rows = state.rows(segment)
            snap = Snapshot(
                source=self.source, every=state.every, windows=state.windows, segment=segment, segments=segments,
                series=state.series(segment), by_segment=state.segments(), errors=_top_errors(rows),
                records=self.records, skipped=sum(self.skipped_by_reason.values()),
                skipped_by_reason=dict(sorted(self.skipped_by_reason.items(), key=lambda kv: (-kv[1], kv[0]))),
                refreshed_at=self.refreshed_at, problem=self.problem, notes=list(self.notes))
            if self.ruleset is not None:
                snap.firing, snap.pending = self._cached(("rules", segment), lambda: self._alerts(rows))
            if self.reference is not None:
                snap.drift = self._cached(("drift", segment), lambda: self._drift(rows))
            elif self.baseline is not None:
                snap.drift = pl.DataFrame()
            return snap

    def _cached(self, key: tuple, compute: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def _alerts(self, rows: pl.DataFrame) -> tuple[list, list]:
        from mlmon.rules.evaluate import evaluate_rules

        if not rows.height:
            return [], []
        result = evaluate_rules(rows, self.ruleset, self.state.start, None, self.clock(),
                                max_segments=self.max_segments)
        firing = [a for a in result.alerts if a.active]
        return firing, list(result.pending)

    def _drift(self, rows: pl.DataFrame) -> pl.DataFrame:
        from mlmon.metrics.whole_range import drift_by_field

        return drift_by_field(rows, self.reference, [])

    def problem_seen(self, exc: MlmonError) -> None:
        """A refresh failed (a file vanished mid-rotation, a store being rewritten): say so, keep what is shown."""
        with self._lock:
            self.problem = str(exc)


def _with_keep(state: LiveWindows, more: list[str], schema: dict[str, pl.DataType]) -> LiveWindows:
    """A new, empty state that also keeps ``more`` columns (read as text when the tailer does not type them)."""
    schema = {**{name: pl.String() for name in more}, **schema}
    return LiveWindows(state.every, state.windows, schema, [*state.keep, *more])


def _top_errors(rows: pl.DataFrame) -> list[tuple[str, int]]:
    """The error messages of the rows (a server error without one: ``HTTP <status>``), grouped and counted."""
    if not rows.height:
        return []
    message = pl.coalesce(pl.col("error"), pl.lit("HTTP ") + pl.col("status").cast(pl.String),
                          pl.lit("(no message)")).alias("message")
    top = (rows.lazy().filter(is_error()).group_by(message).len()
           .sort(["len", "message"], descending=[True, False]).head(TOP_ERRORS).collect())
    return [(m, n) for m, n in top.iter_rows()]
