"""Write skipped bad lines to a JSONL file, secrets redacted."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from mlmon.atomic import atomic_open
from mlmon.redact import redact_expr
from mlmon.render.escape import json_safe


def write_rejects(rejects: pl.DataFrame, path: str | Path, extra_secret_keys: tuple[str, ...] = ()) -> None:
    """One JSON object per bad line: file, line, reason and raw text (secrets redacted)."""
    frame = rejects.select("file", "line", "reason", redact_expr(pl.col("raw"), extra_secret_keys).alias("raw"))
    text = frame.write_ndjson()
    with atomic_open(path, "w") as handle:
        handle.write(json_safe(text))  # C1 and bidi controls from the log as \\uXXXX, same values
