"""Whole-range summaries for people: drift per segment and field, model quality per segment.

The table and Markdown formats show these beside the per-window metrics, so that a
reader sees which fields drifted. They come from the same drift and quality code as
the per-window metrics, computed once over the whole selected range per segment.
"""

from __future__ import annotations

import polars as pl

from mlmon.baseline.reference import Reference
from mlmon.metrics.drift import drift_table, method_of, metric_name, short_name

#: The columns of :func:`drift_by_field` after the segment fields.
FIELD_COLUMNS = ("field", "type", "method", "score", "drifted", "psi", "null_rate", "out_of_range_rate")


def drift_by_field(current: pl.DataFrame, reference: Reference, by: list[str]) -> pl.DataFrame:
    """One row per segment and reference field, over all of ``current``: the field's short name, its type,
    its default test (``method``, null for identifiers) and that test's value (``score``), ``drifted``
    (true, false, or null when untested), PSI, null rate and out-of-range rate.

    Drifted rows come first, then those that did not drift, then the untested ones; within each,
    segments in the report's order, then fields in the reference's order.
    """
    wide = drift_table(current, reference, by)

    def value(metric: str, field: str) -> pl.Expr:
        name = metric_name(metric, field)
        return pl.col(name).cast(pl.Float64) if name in wide.columns else pl.lit(None, pl.Float64)

    parts = []
    for order, (field, ref) in enumerate(reference.fields.items()):
        method = method_of(ref) if ref.kind != "identifier" else None
        parts.append(wide.select(
            *by,
            pl.lit(short_name(field)).alias("field"),
            pl.lit(ref.kind).alias("type"),
            pl.lit(method, pl.String).alias("method"),
            (value(method, field) if method else pl.lit(None, pl.Float64)).alias("score"),
            (value("drifted", field) == 1).alias("drifted"),
            value("psi", field).alias("psi"),
            value("null_rate", field).alias("null_rate"),
            value("out_of_range_rate", field).alias("out_of_range_rate"),
            pl.lit(order).alias("_order"),
        ))
    if not parts:
        return pl.DataFrame(schema={**{k: current.schema[k] for k in by}, **_FIELD_SCHEMA})
    rank = pl.when(pl.col("drifted")).then(0).when(pl.col("drifted").not_()).then(1).otherwise(2)
    return pl.concat(parts).sort([rank, *by, "_order"], nulls_last=True).drop("_order")


_FIELD_SCHEMA = {"field": pl.String, "type": pl.String, "method": pl.String, "score": pl.Float64,
                 "drifted": pl.Boolean, "psi": pl.Float64, "null_rate": pl.Float64, "out_of_range_rate": pl.Float64}


def quality_by_segment(current: pl.DataFrame, quality: list[pl.Expr], by: list[str]) -> pl.DataFrame:
    """The model-quality aggregations over all of ``current``, one row per segment, in the report's order."""
    if by:
        return current.lazy().group_by(by).agg(quality).sort(by, nulls_last=True).collect()
    return current.lazy().select(quality).collect()
