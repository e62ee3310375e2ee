"""Write skipped bad lines to a JSONL file, secrets redacted."""

from __future__ import annotations

import contextlib
from pathlib import Path

import polars as pl

from mlmon.atomic import atomic_open
from mlmon.logs.verdict import NoGoodRecord
from mlmon.redact import redact_expr
from mlmon.safetext import json_safe


def write_rejects(rejects: pl.DataFrame, path: str | Path, extra_secret_keys: tuple[str, ...] = ()) -> None:
    """One JSON object per bad line: file, line, reason and raw text (secrets redacted)."""
    frame = rejects.select("file", "line", "reason", redact_expr(pl.col("raw"), extra_secret_keys).alias("raw"))
    text = frame.write_ndjson()
    with atomic_open(path, "w") as handle:
        handle.write(json_safe(text))  # C1 and bidi controls from the log as \\uXXXX, same values


@contextlib.contextmanager
def rejects_when_nothing_is_good(path: str | Path | None, extra_secret_keys: tuple[str, ...] = ()):
    """Around a read: when the logs hold bad lines and no good record, write them to ``path`` (if
    given) before the error goes on, since then most of all the user needs to see them; the error
    says where they are."""
    try:
        yield
    except NoGoodRecord as exc:
        if path is not None:
            write_rejects(exc.rejects, path, extra_secret_keys)
            exc.message += f"; listed in {'standard output' if str(path) == '-' else path}"
        raise
