"""What an array-valued input or output field is: a categorical feature whose value is its compact JSON text.

``"tags": ["a", "b"]`` is the value ``["a","b"]`` of ``input.tags`` in every command: the segment
``--by`` shows, the category a baseline profile counts and drift compares, what ``--where`` and a
rule's ``by`` match, the column ``export`` writes. Two readers hand an array's text over, each in its
own spelling (the JSON scan writes ``["a", "b"]``, ``json_path_match`` writes ``["a","b"]``), so every
reading path passes its text fields through :func:`compact_arrays`, which settles on the second.
Arrays are not exploded: one request is one row.
"""

from __future__ import annotations

import polars as pl


def compact_arrays(column: pl.Series) -> pl.Series:
    """``column`` with each value that is a JSON array's text written compactly (``["a","b"]``);
    other values, and non-text columns, as they are.

    Text read for a field cannot tell an array from a string holding an array's text, so both
    are written alike. Only the rows that start with ``[`` are parsed.
    """
    if column.dtype != pl.String:
        return column
    rows = column.str.starts_with("[").fill_null(False).arg_true()
    if not rows.len():
        return column
    texts = column.gather(rows)
    # Null where the text is not JSON after all: it stays as it is.
    compact = pl.DataFrame({"t": texts}).select(pl.coalesce(pl.col("t").str.json_path_match("$"), "t")).to_series()
    return column.clone().scatter(rows, compact)


def typed_list_text(column: pl.Series) -> pl.Series:
    """A typed list column (a dataset's, read from Parquet or JSON) as each list's compact JSON text."""
    wrapped = pl.struct(pl.col(column.name).alias("v")).struct.json_encode().str.json_path_match("$.v")
    return column.to_frame().select(wrapped.alias(column.name)).to_series()


def with_compact_arrays(frame: pl.DataFrame, names) -> pl.DataFrame:
    """``frame`` with :func:`compact_arrays` applied to the text columns among ``names``."""
    fixed = [compact_arrays(frame.get_column(n)) for n in names if frame.schema[n] == pl.String]
    return frame.with_columns(fixed) if fixed else frame
