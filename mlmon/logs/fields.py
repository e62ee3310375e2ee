"""Turn the request and response objects (JSON text) into one typed column per field.

The schema is inferred over every record, not the first few, so a key that
first appears late is kept. Nested objects become dotted names: ``input.user.age``.
"""

from __future__ import annotations

import io

import polars as pl

from mlmon.logs.mapping import INPUT_PREFIX, OUTPUT_PREFIX, RAW_REQUEST, RAW_RESPONSE

NUMERIC_TYPES = (pl.Float32, pl.Float64, pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)


def _flatten(frame: pl.DataFrame, prefix: str) -> list[pl.Series]:
    out = []
    for column in frame.columns:
        series = frame.get_column(column)
        name = prefix + column
        if isinstance(series.dtype, pl.Struct):
            out.extend(_flatten(series.struct.unnest(), name + "."))
        elif isinstance(series.dtype, (pl.List, pl.Array)):
            continue  # lists are not profiled
        else:
            out.append(series.alias(name))
    return out


def decode_objects(text: pl.Series, prefix: str) -> list[pl.Series]:
    """One column per leaf of the JSON objects in ``text`` (null or non-objects count as empty)."""
    if text.len() == 0 or text.null_count() == text.len():
        return []
    cleaned = text.to_frame("t").select(
        pl.when(pl.col("t").str.starts_with("{")).then(pl.col("t")).otherwise(pl.lit("{}"))
    )
    buffer = io.BytesIO()
    cleaned.write_csv(buffer, include_header=False, quote_style="never")
    buffer.seek(0)
    parsed = pl.read_ndjson(buffer, infer_schema_length=None)
    if parsed.height != text.len():  # cannot happen for one object per line; be safe
        return []
    return _flatten(parsed, prefix)


def with_io_fields(records: pl.DataFrame) -> pl.DataFrame:
    """``records`` plus typed ``input.*`` and ``output.*`` columns from its request/response text."""
    columns: list[pl.Series] = []
    if RAW_REQUEST in records.columns:
        columns += decode_objects(records.get_column(RAW_REQUEST), INPUT_PREFIX)
    if RAW_RESPONSE in records.columns:
        response = records.get_column(RAW_RESPONSE)
        if "status" in records.columns:
            # An error's body (e.g. {"detail": ...}) is not a model output.
            response = records.select(pl.when(pl.col("status") < 400).then(pl.col(RAW_RESPONSE))).to_series()
        columns += decode_objects(response, OUTPUT_PREFIX)
    keep = [c for c in columns if c.name not in records.columns]
    return records.with_columns(keep) if keep else records


def io_field_names(frame: pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith((INPUT_PREFIX, OUTPUT_PREFIX))]


def is_numeric(dtype: pl.DataType) -> bool:
    return dtype in NUMERIC_TYPES or isinstance(dtype, NUMERIC_TYPES)
