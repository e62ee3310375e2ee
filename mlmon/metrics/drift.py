"""Drift and data quality per window and segment, against a reference.

Numeric fields: PSI over the reference's 10 quantile bins, the Kolmogorov–Smirnov
statistic and p-value, and the Wasserstein distance divided by the reference's
standard deviation, over the values that are finite numbers (NaN, infinities and text
count as type violations). Categorical fields: PSI over categories, the chi-square p-value,
the Jensen–Shannon distance and the share of values never seen in the reference.
Each group's values are summarized by vectorized Polars operations; Python only
loops over groups and fields, never over records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from mlmon.baseline.reference import PSI_BINS, FieldReference, Reference, bin_index, finite_or_none, finite_values
from mlmon.logs.fields import io_field_names, is_numeric
from mlmon.logs.mapping import INPUT_PREFIX
from mlmon.metrics.stats import chi2_contingency_pvalue, js_distance, kolmogorov_sf, psi

#: Reference sizes up to this use p-values (KS, chi-square < 0.05); above, distances (≥ 0.1).
SMALL_REFERENCE = 1000
P_THRESHOLD = 0.05
DISTANCE_THRESHOLD = 0.1

NUMERIC_DRIFT = ("psi", "ks", "ks_pvalue", "wasserstein_norm")
CATEGORICAL_DRIFT = ("psi", "chi2_pvalue", "js", "new_category_rate")
QUALITY = ("null_rate", "type_violation_rate", "out_of_range_rate")


def short_name(field: str) -> str:
    """The field part of a per-field metric name: ``income`` for input.income, ``output.label`` for outputs."""
    return field[len(INPUT_PREFIX):] if field.startswith(INPUT_PREFIX) else field


def metric_name(metric: str, field: str) -> str:
    return f"{metric}.{short_name(field)}"


def method_of(ref: FieldReference) -> str:
    """The default drift test of a field, following Evidently's defaults."""
    if ref.kind == "numeric":
        return "ks_pvalue" if ref.count <= SMALL_REFERENCE else "wasserstein_norm"
    return "chi2_pvalue" if ref.count <= SMALL_REFERENCE else "js"


def per_field_metric_names(reference: Reference) -> list[str]:
    names = []
    for field, ref in reference.fields.items():
        if ref.kind == "identifier":
            names.append(metric_name("null_rate", field))
            continue
        kinds = NUMERIC_DRIFT if ref.kind == "numeric" else CATEGORICAL_DRIFT
        names += [metric_name(k, field) for k in kinds]
        names += [metric_name(k, field) for k in QUALITY if ref.kind == "numeric" or k == "null_rate"]
        names.append(metric_name("drifted", field))
    return names


def _ks_and_wasserstein(ref: pl.Series, cur: pl.Series) -> tuple[float, float]:
    """The KS statistic and the Wasserstein distance of two samples, from one sort of both.

    After sorting, the running sum of +n_cur per reference value and -n_ref per current
    value, read at the last copy of each value, is n_ref·n_cur·(F_ref − F_cur) there:
    whole numbers, so exact. KS is its largest magnitude; Wasserstein integrates it.
    """
    n_r, n_c = ref.len(), cur.len()
    both = pl.DataFrame(
        {
            "v": pl.concat([ref, cur]),
            "w": pl.concat([pl.repeat(n_c, n_r, eager=True, dtype=pl.Int64), pl.repeat(-n_r, n_c, eager=True, dtype=pl.Int64)]),
        }
    )
    steps = (
        both.lazy()
        .sort("v")
        .with_columns(pl.col("w").cum_sum().alias("gap"))
        .filter(pl.col("v") != pl.col("v").shift(-1).fill_null(float("inf")))
        .select(
            pl.col("gap").abs().max().alias("d"),
            (pl.col("gap").abs().cast(pl.Float64) * (pl.col("v").shift(-1) - pl.col("v"))).sum().alias("w"),
        )
        .collect()
    )
    scale = float(n_r) * float(n_c)
    return float(steps["d"][0]) / scale, float(steps["w"][0]) / scale


def _numeric(ref: FieldReference, column: pl.Series, rows: int) -> dict[str, Any]:
    raw_present = column.len() - column.null_count()
    values = finite_values(column)
    out: dict[str, Any] = {
        "null_rate": (rows - raw_present) / rows if rows else None,
        "type_violation_rate": (raw_present - values.len()) / rows if rows else None,
    }
    if not values.len() or ref.values is None or not ref.values.len():
        return out | {k: None for k in ("psi", "ks", "ks_pvalue", "wasserstein_norm", "out_of_range_rate", "drifted")}
    current = values.sort()
    ref_total = sum(ref.bin_counts) or 1
    out["psi"] = psi([c / ref_total for c in ref.bin_counts], [c / current.len() for c in bin_counts(current, ref)])
    d, w = _ks_and_wasserstein(ref.values, current)
    out["ks"] = d
    out["ks_pvalue"] = kolmogorov_sf(d, ref.count, current.len())
    # Values near the largest floats can overflow the distance (or the reference's std): no number then.
    out["wasserstein_norm"] = finite_or_none(w / ref.std) if ref.std else None
    outside = ((current < ref.minimum) | (current > ref.maximum)).sum()
    out["out_of_range_rate"] = outside / current.len()
    out["drifted"] = _drifted(ref, out)
    return out


def _categorical(ref: FieldReference, column: pl.Series, rows: int) -> dict[str, Any]:
    text = column.cast(pl.String)
    present = text.drop_nulls()
    out: dict[str, Any] = {"null_rate": (rows - present.len()) / rows if rows else None}
    if not present.len() or not ref.frequencies:
        return out | {k: None for k in ("psi", "chi2_pvalue", "js", "new_category_rate", "drifted")}
    categories, r, c = category_counts(present, ref)
    current = dict(zip(categories, c))
    r_total, c_total = sum(r), sum(c)
    out["psi"] = psi([x / r_total for x in r], [x / c_total for x in c])
    out["chi2_pvalue"] = chi2_contingency_pvalue(r, c)
    out["js"] = js_distance(r, c)
    out["new_category_rate"] = sum(v for k, v in current.items() if k not in ref.frequencies) / c_total
    out["drifted"] = _drifted(ref, out)
    return out


def bin_counts(values: pl.Series, ref: FieldReference) -> list[int]:
    """How many of the finite numbers ``values`` fall in each of the reference's quantile bins (PSI's bins)."""
    idx = bin_index(values, ref.edges).value_counts()
    by_bin = dict(zip(idx[idx.columns[0]].to_list(), idx["count"].to_list()))
    return [int(by_bin.get(i, 0)) for i in range(PSI_BINS)]


def category_counts(present: pl.Series, ref: FieldReference) -> tuple[list[str], list[int], list[int]]:
    """The categories (the reference's, most frequent first, then new ones by name), and the reference's and
    the non-null text ``present``'s count of each."""
    counts = present.value_counts()
    current = dict(zip(counts[present.name].to_list(), counts["count"].to_list()))
    categories = list(ref.frequencies) + sorted(c for c in current if c not in ref.frequencies)
    return categories, [ref.frequencies.get(c, 0) for c in categories], [int(current.get(k, 0)) for k in categories]


@dataclass
class Distribution:
    """A field's baseline and current counts side by side: per PSI bin of a numeric field (``edges`` are the
    bins' inner edges, so bin i is (edges[i-1], edges[i]]), or per category (``categories``)."""

    baseline: list[int]
    current: list[int]
    edges: list[float] | None = None
    categories: list[str] | None = None


def distribution(ref: FieldReference, column: pl.Series) -> Distribution | None:
    """The counts drift compares for one field (None for an identifier, or a reference without values):
    the finite numbers per bin, or the non-null values per category."""
    if ref.kind == "numeric" and ref.bin_counts:
        return Distribution(list(ref.bin_counts), bin_counts(finite_values(column), ref), edges=list(ref.edges))
    if ref.kind == "categorical" and ref.frequencies:
        categories, base, current = category_counts(column.cast(pl.String).drop_nulls(), ref)
        return Distribution(base, current, categories=categories)
    return None


def _drifted(ref: FieldReference, values: dict[str, Any]) -> int | None:
    method = method_of(ref)
    value = values.get(method)
    if value is None or value != value:
        return None
    if method.endswith("pvalue"):
        return int(value < P_THRESHOLD)
    return int(value >= DISTANCE_THRESHOLD)


def group_metrics(group: pl.DataFrame, reference: Reference) -> dict[str, Any]:
    """Every drift and quality metric of one window and segment."""
    rows = group.height
    out: dict[str, Any] = {}
    drifted = []
    for field, ref in reference.fields.items():
        column = group.get_column(field) if field in group.columns else pl.Series(field, [None] * rows, pl.String)
        if ref.kind == "identifier":
            out[metric_name("null_rate", field)] = column.null_count() / rows if rows else None
            continue
        values = _numeric(ref, column, rows) if ref.kind == "numeric" else _categorical(ref, column, rows)
        for key, value in values.items():
            out[metric_name(key, field)] = value
        if values.get("drifted") is not None:
            drifted.append(values["drifted"])
    out["drift_share"] = sum(drifted) / len(drifted) if drifted else None
    if "request_id" in group.columns and rows:
        ids = group.get_column("request_id")
        # Most windows have no duplicate at all. Distinct 64-bit hashes say so cheaply: equal ids
        # hash alike, so as many distinct hashes as rows proves the ids distinct; else count exactly.
        repeated = 0 if ids.hash().n_unique() == rows else int(ids.is_duplicated().sum())
        out["duplicate_request_id_rate"] = repeated / rows
    else:
        out["duplicate_request_id_rate"] = None
    present = {f for f in io_field_names(group) if group.get_column(f).null_count() < rows}
    out["schema_fields_added"] = len(present - set(reference.fields))
    out["schema_fields_removed"] = len([f for f in reference.fields if f not in present]) if rows else None
    return out


@dataclass
class SchemaChanges:
    added: list[str]
    removed: list[str]


def schema_changes(current: pl.DataFrame, reference: Reference) -> SchemaChanges:
    present = {f for f in io_field_names(current) if current.get_column(f).null_count() < current.height}
    return SchemaChanges(sorted(present - set(reference.fields)), sorted(set(reference.fields) - present))


def drift_table(records: pl.DataFrame, reference: Reference, keys: list[str]) -> pl.DataFrame:
    """One row per group of ``keys`` with every drift and quality metric (a loop over groups, not records)."""
    groups = records.partition_by(keys, maintain_order=True, as_dict=True) if keys else {(): records}
    rows = []
    for key, group in groups.items():
        row = dict(zip(keys, key))
        row.update(group_metrics(group, reference))
        rows.append(row)
    if not rows:
        return pl.DataFrame(schema={k: records.schema[k] for k in keys})
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return frame.with_columns(pl.col(k).cast(records.schema[k]) for k in keys)


__all__ = ["drift_table", "group_metrics", "schema_changes", "per_field_metric_names", "metric_name", "is_numeric"]
