"""All metrics of a window spec in one table: operational, model quality and drift.

``mlmon report`` and ``mlmon check`` both compute metrics here, so a rule sees
exactly the numbers the report shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from mlmon.baseline.reference import Reference
from mlmon.logs.reader import Progress, announce
from mlmon.metrics.drift import drift_table
from mlmon.metrics.windows import WINDOW_START, MetricTable, WindowSpec, compute_metrics, full_windows, select_range, window_floor


@dataclass
class Extras:
    """What goes beyond operational metrics: a drift reference, and label aggregations."""

    reference: Reference | None = None
    quality: list[pl.Expr] = field(default_factory=list)


def metric_table(records: pl.DataFrame, spec: WindowSpec, extras: Extras | None = None,
                 progress: Progress | None = None) -> MetricTable:
    extras = extras or Extras()
    spec = full_windows(spec)
    announce(progress, "computing metrics")
    table = compute_metrics(records, spec, extra=extras.quality)
    if extras.reference is None:
        return table
    announce(progress, "computing drift")
    current = select_range(records.lazy(), spec).collect()
    keys = list(spec.by)
    if spec.every is not None:
        current = current.with_columns(window_floor(pl.col("ts"), spec.every, spec.anchor).alias(WINDOW_START))
        keys = [WINDOW_START, *keys]
    drift = drift_table(current, extras.reference, keys)
    names = [c for c in drift.columns if c not in keys]
    if keys:
        frame = table.frame.join(drift, on=keys, how="left", nulls_equal=True)
    elif drift.height:
        frame = table.frame.join(drift, how="cross")
    else:
        frame = table.frame
    present = set(frame.columns)  # a set: a thousand fields make seven thousand drift columns
    return MetricTable(frame, spec, table.metrics + [n for n in names if n in present])
