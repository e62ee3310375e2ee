"""Machine formats: JSON (a stable, documented document) and CSV (one row per window and segment)."""

from __future__ import annotations

import io
import json

import polars as pl

from mlmon.metrics.windows import WINDOW_END, WINDOW_START
from mlmon.report import Report


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def render_csv(report: Report) -> str:
    iso_z = "%Y-%m-%dT%H:%M:%S%.fZ"
    frame = report.frame.with_columns(
        pl.col(WINDOW_START).dt.strftime(iso_z).str.replace(r"\.Z$", "Z"),
        pl.col(WINDOW_END).dt.strftime(iso_z).str.replace(r"\.Z$", "Z"),
    )
    buffer = io.StringIO()
    frame.write_csv(buffer)
    return buffer.getvalue()
