"""Read a column of JSON object texts with Polars' JSON-lines reader."""

from __future__ import annotations

import io

import polars as pl


def read_json_lines(objects: pl.Series, schema: dict | None = None, *, ignore_errors: bool = False) -> pl.DataFrame:
    """One row per text, with ``schema`` (or the schema inferred from every row).

    With ``ignore_errors``, a value that does not fit the schema is null and the rest of its row is read.
    The reader (unlike ``str.json_decode``) gives an object's or a list's JSON text for a text field.
    """
    buffer = io.BytesIO()
    objects.to_frame().write_csv(buffer, include_header=False, quote_style="never")
    buffer.seek(0)
    if schema is not None:
        return pl.read_ndjson(buffer, schema=schema, ignore_errors=ignore_errors)
    return pl.read_ndjson(buffer, infer_schema_length=None)
