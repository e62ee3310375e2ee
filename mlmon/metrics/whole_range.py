"""Whole-range summaries for people: drift per segment and field, model quality per segment.

The table and Markdown formats show these beside the per-window metrics, so that a
reader sees which fields drifted. They come from the same drift and quality code as
the per-window metrics, computed once over the whole selected range per segment.
"""

from __future__ import annotations

import polars as pl

from mlmon.baseline.reference import Reference
from mlmon.metrics.drift import Distribution, distribution, drift_table, method_of, metric_name, short_name

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


#: The columns of :func:`distributions_by_field` after the segment fields.
DISTRIBUTION_SCHEMA = {"field": pl.String, "type": pl.String, "bucket": pl.Int64, "lower": pl.Float64,
                       "upper": pl.Float64, "category": pl.String, "others": pl.Int64, "baseline": pl.Int64,
                       "current": pl.Int64}
#: The most categories of a field shown one by one; the rest are one bucket.
MAX_SHOWN_CATEGORIES = 15


def distributions_by_field(current: pl.DataFrame, reference: Reference, by: list[str]) -> pl.DataFrame:
    """The counts drift compares, baseline beside current, one row per segment, field and bucket, over all
    of ``current``. A numeric field's buckets are the baseline's quantile bins (PSI's: ``lower`` < value <=
    ``upper``, null for an open end); a categorical field's are its ``category`` values, the
    :data:`MAX_SHOWN_CATEGORIES` with the largest share in either first, then one bucket (``category`` null)
    that adds up the ``others`` remaining. ``bucket`` numbers a field's buckets from 0. Identifiers and
    fields without values have no rows. A loop over segments, fields and buckets, never records."""
    groups = current.partition_by(by, maintain_order=True, as_dict=True) if by else {(): current}
    rows = []
    for key, group in groups.items():
        segment = dict(zip(by, key))
        for name, ref in reference.fields.items():
            column = group.get_column(name) if name in group.columns else pl.Series(name, [], pl.String)
            dist = distribution(ref, column)
            if dist is not None:
                rows += [{**segment, "field": short_name(name), "type": ref.kind, "bucket": i, **bucket}
                         for i, bucket in enumerate(_buckets(dist))]
    schema = {**{k: current.schema[k] for k in by}, **DISTRIBUTION_SCHEMA}
    return pl.DataFrame(rows, schema=schema)


def _buckets(dist: Distribution) -> list[dict]:
    if dist.edges is not None:
        bounds = [None, *dist.edges, None]
        return [{"lower": bounds[i], "upper": bounds[i + 1], "category": None, "others": 0, "baseline": b,
                 "current": c} for i, (b, c) in enumerate(zip(dist.baseline, dist.current))]
    totals = (sum(dist.baseline) or 1, sum(dist.current) or 1)
    order = sorted(range(len(dist.categories)),
                   key=lambda i: -max(dist.baseline[i] / totals[0], dist.current[i] / totals[1]))
    shown, rest = order[:MAX_SHOWN_CATEGORIES], order[MAX_SHOWN_CATEGORIES:]
    out = [{"lower": None, "upper": None, "category": dist.categories[i], "others": 0, "baseline": dist.baseline[i],
            "current": dist.current[i]} for i in shown]
    if rest:
        out.append({"lower": None, "upper": None, "category": None, "others": len(rest),
                    "baseline": sum(dist.baseline[i] for i in rest), "current": sum(dist.current[i] for i in rest)})
    return out


def quality_by_segment(current: pl.DataFrame, quality: list[pl.Expr], by: list[str]) -> pl.DataFrame:
    """The model-quality aggregations over all of ``current``, one row per segment, in the report's order."""
    if by:
        return current.lazy().group_by(by).agg(quality).sort(by, nulls_last=True).collect()
    return current.lazy().select(quality).collect()
