"""Machine formats: JSON (a stable, documented document) and CSV (one row per window and segment)."""

from __future__ import annotations

import io
import json

import polars as pl

from mlmon.metrics.windows import WINDOW_END, WINDOW_START
from mlmon.numbers import SIGNIFICANT_DIGITS, machine_numbers
from mlmon.render.escape import UNSAFE_PATTERN_RUST, json_safe, printable
from mlmon.report import Report


def render_json(report: Report) -> str:
    return json_safe(json.dumps(machine_numbers(report.to_dict()), indent=2, ensure_ascii=False, allow_nan=False)) + "\n"


def render_csv(report: Report) -> str:
    iso_z = "%Y-%m-%dT%H:%M:%S%.fZ"
    floats = pl.col(pl.Float32, pl.Float64)
    frame = report.frame.with_columns(
        pl.when(floats.is_finite()).then(floats.round_sig_figs(SIGNIFICANT_DIGITS)),  # see mlmon.numbers
        pl.col(WINDOW_START).dt.strftime(iso_z).str.replace(r"\.Z$", "Z"),
        pl.col(WINDOW_END).dt.strftime(iso_z).str.replace(r"\.Z$", "Z"),
    )
    buffer = io.StringIO()
    _no_formulas(_printable_cells(frame)).write_csv(buffer)
    return buffer.getvalue()


def write_parquet(report: Report, path) -> None:
    """One row per window and segment, as the CSV has, with typed columns (windows as UTC timestamps),
    written atomically: for BI tools (Tableau, Power BI, a spreadsheet's Parquet import)."""
    from mlmon.atomic import atomic_open

    with atomic_open(path, "wb") as handle:
        report.frame.write_parquet(handle, compression="zstd")


#: A cell starting with one of these is run as a formula by spreadsheets (CSV injection).
_FORMULA_START = r"^[=+\-@\t\r]"


def _no_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Text cells that a spreadsheet would run as a formula, prefixed with ``'``, as OWASP advises.

    A value from the logs such as ``=cmd|' /C calc'!A0`` or ``@SUM(A1)`` then shows as
    text. Numbers written as text (``-5``) are left alone.
    """
    guarded = []
    for name, dtype in frame.schema.items():
        if dtype == pl.String:
            cell = pl.col(name)
            risky = cell.str.contains(_FORMULA_START) & cell.cast(pl.Float64, strict=False).is_null()
            guarded.append(pl.when(risky).then(pl.lit("'") + cell).otherwise(cell).alias(name))
    return frame.with_columns(guarded) if guarded else frame


def _printable_cells(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with log text in its names and string cells escaped as in the table (``\\x1b``, ``\\n``)."""
    escaped = []
    for name, dtype in frame.schema.items():
        if dtype == pl.String and frame[name].str.contains(UNSAFE_PATTERN_RUST).any():
            escaped.append(pl.col(name).map_elements(printable, return_dtype=pl.String))
    if escaped:
        frame = frame.with_columns(escaped)
    names: list[str] = []
    for name in frame.columns:
        new = printable(name)
        while new in names:  # two names that only differ in what was escaped stay apart
            new += "_"
        names.append(new)
    return frame.rename(dict(zip(frame.columns, names)))
