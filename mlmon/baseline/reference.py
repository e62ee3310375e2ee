"""A reference distribution per field, from raw data or from a saved profile.

Raw data keeps every numeric value (sorted), so KS and Wasserstein are exact; a profile
keeps 10 quantile bins plus 1,001 quantiles, so they are close approximations. A value
of a numeric field that is not a finite number (NaN, an infinity) is a type violation:
counted, and left out of every statistic.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from mlmon import __version__
from mlmon.atomic import write_text_atomic
from mlmon.errors import ConfigError
from mlmon.logs.fields import io_field_names, is_numeric
from mlmon.redact import is_secret_path, redact_columns
from mlmon.safetext import json_safe
from mlmon.timeparse import iso

PROFILE_FORMAT = "mlmon-profile"
PROFILE_VERSION = 1
PSI_BINS = 10
PROFILE_QUANTILES = 1001
#: A text field with more distinct values than this (ids, free text) is not compared for drift.
MAX_CATEGORIES = 200


@dataclass
class FieldReference:
    name: str
    kind: str  # "numeric", "categorical", or "identifier" (too many distinct values to compare)
    count: int  # non-null values
    nulls: int
    #: numeric: the sorted values (raw) or 1,001 quantiles (profile)
    values: pl.Series | None = None
    exact: bool = True
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    std: float | None = None  # population standard deviation (ddof 0)
    #: numeric: inner edges of the 10 quantile bins and the share of values in each bin
    edges: list[float] = field(default_factory=list)
    bin_counts: list[int] = field(default_factory=list)
    #: categorical: value -> count
    frequencies: dict[str, int] = field(default_factory=dict)
    #: numeric: values that are not finite numbers (NaN, infinities), left out of the statistics
    violations: int = 0

    @property
    def null_rate(self) -> float:
        total = self.count + self.nulls + self.violations
        return self.nulls / total if total else 0.0


@dataclass
class Reference:
    rows: int
    fields: dict[str, FieldReference]
    source: dict[str, Any] = field(default_factory=dict)
    #: Fields of the reference data left out by the bound on fields (see mlmon.logs.field_limit).
    fields_left_out: int = 0


def bin_index(values: pl.Series, edges: list[float]) -> pl.Series:
    """Which of the len(edges)+1 bins each value falls in: bins are (-inf, e1], (e1, e2], ..., (ek, inf)."""
    return pl.Series(edges, dtype=pl.Float64).search_sorted(values.cast(pl.Float64), side="left")


def finite_values(series: pl.Series) -> pl.Series:
    """The values of ``series`` that are finite numbers, as floats: text, nulls, NaN and infinities left out."""
    values = series.cast(pl.Float64, strict=False)
    return values.filter(values.is_finite())


def finite_or_none(value: float | None) -> float | None:
    """``value``, or None when it is not finite (a mean or a distance of numbers near the largest float)."""
    return value if value is not None and math.isfinite(value) else None


def quantiles(values: pl.Series, qs: list[float]) -> list[float]:
    """The linear-interpolation quantiles of sorted finite ``values``; where the interpolation
    overflows (neighbours near the largest floats, of opposite signs), the lower neighbour."""
    linear = values.quantile(qs, interpolation="linear")
    if all(math.isfinite(q) for q in linear):
        return linear
    lower = values.quantile(qs, interpolation="lower")
    return [a if math.isfinite(a) else b for a, b in zip(linear, lower)]


def _numeric_reference(name: str, series: pl.Series) -> FieldReference:
    values = finite_values(series).sort()
    present = series.len() - series.null_count()
    ref = FieldReference(name, "numeric", values.len(), series.null_count(), values, True,
                         violations=present - values.len())
    if values.len():
        ref.minimum, ref.maximum = values[0], values[-1]
        ref.mean = finite_or_none(values.mean())
        ref.std = finite_or_none(values.std(ddof=0))
        ref.edges = quantiles(values, [i / PSI_BINS for i in range(1, PSI_BINS)])
        idx = bin_index(values, ref.edges)
        counts = idx.value_counts()
        by_bin = dict(zip(counts[idx.name].to_list(), counts["count"].to_list()))
        ref.bin_counts = [int(by_bin.get(i, 0)) for i in range(PSI_BINS)]
    return ref


def _categorical_reference(name: str, series: pl.Series) -> FieldReference:
    text = series.cast(pl.String)
    counts = text.drop_nulls().value_counts()
    if counts.height > MAX_CATEGORIES:
        return FieldReference(name, "identifier", int(text.len() - text.null_count()), int(text.null_count()))
    freq = dict(zip(counts[text.name].to_list(), (int(c) for c in counts["count"].to_list())))
    return FieldReference(name, "categorical", int(text.len() - text.null_count()), int(text.null_count()),
                          frequencies=dict(sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))))


def reference_from_frame(frame: pl.DataFrame, source: dict[str, Any] | None = None,
                         secret_keys: tuple[str, ...] = ()) -> Reference:
    """The reference of every ``input.*``/``output.*`` column of ``frame``.

    A field that names a secret (``input.headers.Authorization``, ``input.api_key``, or a
    key in ``secret_keys``) keeps only its counts, like an identifier: a profile is meant
    to be kept and shared, so no secret value may go into it. Secrets inside text values
    (an object read as JSON text, ``{"token": …}``) are redacted before they are counted.
    """
    frame = redact_columns(frame, io_field_names(frame), secret_keys)
    fields = {}
    for name in io_field_names(frame):
        series = frame.get_column(name)
        if series.dtype == pl.Null:
            continue
        if is_secret_path(name, secret_keys):
            fields[name] = FieldReference(name, "identifier", int(series.len() - series.null_count()),
                                          int(series.null_count()))
        elif is_numeric(series.dtype):
            fields[name] = _numeric_reference(name, series)
        else:
            fields[name] = _categorical_reference(name, series)
    return Reference(frame.height, fields, source or {})


# --- profiles -----------------------------------------------------------------------


def profile_document(reference: Reference, created: datetime) -> dict[str, Any]:
    """A compact, human-readable, versioned profile of the reference."""
    fields = {}
    for name, ref in reference.fields.items():
        doc: dict[str, Any] = {"type": ref.kind, "count": ref.count, "nulls": ref.nulls, "null_rate": ref.null_rate}
        if ref.kind == "numeric":
            points = []
            if ref.values is not None and ref.values.len():
                step = PROFILE_QUANTILES - 1
                points = quantiles(ref.values, [i / step for i in range(PROFILE_QUANTILES)]) if ref.exact \
                    else ref.values.to_list()
            doc.update({"type_violations": ref.violations, "min": ref.minimum, "max": ref.maximum, "mean": ref.mean,
                        "std": ref.std, "bins": {"edges": ref.edges, "counts": ref.bin_counts}, "quantiles": points})
        elif ref.kind == "categorical":
            doc["frequencies"] = ref.frequencies
        fields[name] = doc
    return {"format": PROFILE_FORMAT, "version": PROFILE_VERSION, "mlmon_version": __version__,
            "created_at": iso(created), "rows": reference.rows, "source": reference.source,
            "fields_left_out": reference.fields_left_out, "fields": fields}


def save_profile(reference: Reference, path: str | Path, created: datetime) -> None:
    write_text_atomic(path, json_safe(profile_text(profile_document(reference, created))) + "\n")


def profile_text(doc: dict[str, Any]) -> str:
    """The profile as JSON indented by one space, one value a line, as ``json.dumps(doc, indent=1)`` writes it.

    Every number in a profile is finite (see above): strict JSON, or a bug that says so. Indented
    JSON is written by Python's slow encoder (a thousand fields of 1,001 quantiles took seconds),
    so the lists of numbers are written by the fast one, then laid out the same way.
    """
    token = f"@mlmon-{uuid.uuid4().hex}-"
    lists: list[list] = []

    def on_one_line(values: list) -> str:
        lists.append(values)
        return f"{token}{len(lists) - 1}"

    fields = {}
    for name, f in doc["fields"].items():
        if f.get("type") == "numeric":
            bins = {"edges": on_one_line(f["bins"]["edges"]), "counts": on_one_line(f["bins"]["counts"])}
            f = {**f, "bins": bins, "quantiles": on_one_line(f["quantiles"])}
        fields[name] = f
    text = json.dumps({**doc, "fields": fields}, indent=1, ensure_ascii=False, allow_nan=False)

    def laid_out(match: re.Match) -> str:
        values = lists[int(match.group(3))]
        if not values:
            return f"{match.group(1)}{match.group(2)}[]"
        inner = "\n" + match.group(1) + " "
        items = json.dumps(values, allow_nan=False)[1:-1].replace(", ", "," + inner)
        return f"{match.group(1)}{match.group(2)}[{inner}{items}\n{match.group(1)}]"

    return re.sub(f'^( *)(.*)"{token}([0-9]+)"', laid_out, text, flags=re.MULTILINE)


def _numbers(values: list) -> bool:
    """Whether every value is a finite number: not text, not a boolean, not NaN or Infinity (which a
    profile edited by hand may hold, and strict JSON cannot). Built-ins only: fast on 1,001 quantiles."""
    if not set(map(type, values)) <= {int, float}:
        return False
    try:
        return all(map(math.isfinite, values))
    except OverflowError:  # an integer past the floats
        return False


def _number(value: Any) -> bool:
    return _numbers([value])


def _check_field(name: str, f: Any) -> None:
    """Raise ValueError when a profile's field is not consistent (counts, bins, quantiles, frequencies)."""
    if not isinstance(f, dict) or f.get("type") not in ("numeric", "categorical", "identifier"):
        raise ValueError(f"field {name!r} has no valid type")
    if not isinstance(f.get("count"), int) or not isinstance(f.get("nulls"), int):
        raise ValueError(f"field {name!r} needs whole-number count and nulls")
    if not isinstance(f.get("type_violations", 0), int):
        raise ValueError(f"field {name!r}: type_violations must be a whole number")
    if f["type"] == "numeric":
        for key in ("min", "max", "mean", "std"):
            if f.get(key) is not None and not _number(f[key]):
                raise ValueError(f"field {name!r}: {key} must be a number")
        bins = f.get("bins")
        if not isinstance(bins, dict) or not isinstance(bins.get("edges"), list) or not isinstance(bins.get("counts"), list):
            raise ValueError(f"field {name!r}: bins need edges and counts")
        if not _numbers(bins["edges"]) or not all(isinstance(c, int) for c in bins["counts"]):
            raise ValueError(f"field {name!r}: bin edges must be numbers and counts whole numbers")
        if bins["edges"] and len(bins["counts"]) != len(bins["edges"]) + 1:
            raise ValueError(f"field {name!r}: {len(bins['counts'])} bin counts for {len(bins['edges'])} edges")
        points = f.get("quantiles")
        if not isinstance(points, list) or not _numbers(points):
            raise ValueError(f"field {name!r}: quantiles must be a list of numbers")
    elif f["type"] == "categorical":
        freq = f.get("frequencies")
        if not isinstance(freq, dict) or not all(isinstance(v, int) for v in freq.values()):
            raise ValueError(f"field {name!r}: frequencies must map values to counts")


def reference_from_profile(doc: dict[str, Any], name: str) -> Reference:
    if not isinstance(doc, dict) or doc.get("format") != PROFILE_FORMAT:
        raise ConfigError(f"{name} is not an mlmon baseline profile", "Create one with 'mlmon baseline save'.")
    if doc.get("version") != PROFILE_VERSION:
        kind = "an unversioned profile" if doc.get("version") is None else f"a profile of version {doc.get('version')}"
        raise ConfigError(f"{name} is {kind}; this mlmon reads version {PROFILE_VERSION}",
                          "Save the baseline again with this version of mlmon.")
    fields = {}
    try:
        if not isinstance(doc.get("fields"), dict) or not isinstance(doc.get("rows", 0), int):
            raise TypeError("'fields' must be a mapping and 'rows' a whole number")
        for fname, f in doc["fields"].items():
            _check_field(fname, f)
            if f["type"] == "numeric":
                q = pl.Series(f.get("quantiles") or [], dtype=pl.Float64)
                fields[fname] = FieldReference(
                    fname, "numeric", int(f["count"]), int(f["nulls"]), q, False, f.get("min"), f.get("max"),
                    f.get("mean"), f.get("std"), list(f["bins"]["edges"]), [int(c) for c in f["bins"]["counts"]],
                    violations=int(f.get("type_violations", 0)),
                )
            elif f["type"] == "categorical":
                fields[fname] = FieldReference(fname, "categorical", int(f["count"]), int(f["nulls"]),
                                               frequencies={str(k): int(v) for k, v in f["frequencies"].items()})
            else:
                fields[fname] = FieldReference(fname, "identifier", int(f["count"]), int(f["nulls"]))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"baseline profile {name} is damaged ({type(exc).__name__}: {exc})",
                          "Save it again with 'mlmon baseline save'.") from None
    left_out = doc.get("fields_left_out", 0)
    return Reference(int(doc.get("rows", 0)), fields, doc.get("source") or {},
                     left_out if isinstance(left_out, int) and not isinstance(left_out, bool) else 0)
