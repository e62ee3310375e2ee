"""Runs of empty windows, shown to people as one line: a retired model version does not fill a table.

JSON and CSV keep every empty window (rules need them); the table and Markdown show a run
of two or more consecutive empty windows of a segment as one row, "no requests until …".
"""

from __future__ import annotations

import polars as pl

from mlmon.metrics.windows import WINDOW_END, WINDOW_START, WindowSpec

#: The end of the quiet run a row stands for (the end of its last window), or null for an ordinary row.
QUIET_UNTIL = "_quiet_until"


def collapse_quiet_runs(frame: pl.DataFrame, spec: WindowSpec) -> pl.DataFrame:
    """``frame`` in its order, with each run of two or more consecutive windows of one segment that had no
    request replaced by the run's first row, whose QUIET_UNTIL is the run's end; QUIET_UNTIL is null elsewhere."""
    until = pl.lit(None, frame.schema[WINDOW_END]).alias(QUIET_UNTIL)
    if spec.every is None or "request_count" not in frame.columns or not frame.height:
        return frame.with_columns(until)
    by = list(spec.by)
    empty = pl.col("request_count") == 0
    same_segment = pl.all_horizontal([pl.col(k).eq_missing(pl.col(k).shift(1)) for k in by] or [pl.lit(True)])
    follows = (pl.col(WINDOW_START) == pl.col(WINDOW_END).shift(1)).fill_null(False)
    continues = (empty & empty.shift(1).fill_null(False) & same_segment & follows)
    runs = (
        frame.with_row_index("_row")
        .sort([*by, WINDOW_START], nulls_last=True)
        .with_columns(continues.not_().cum_sum().alias("_run"), continues.alias("_continues"))
        .with_columns(pl.len().over("_run").alias("_length"), pl.col(WINDOW_END).max().over("_run").alias("_end"))
    )
    quiet = empty & (pl.col("_length") >= 2)
    return (
        runs.filter(~(quiet & pl.col("_continues")))
        .with_columns(pl.when(quiet).then(pl.col("_end")).otherwise(until).alias(QUIET_UNTIL))
        .sort("_row")
        .drop("_row", "_run", "_continues", "_length", "_end")
    )
