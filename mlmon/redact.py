"""Hide secrets in text and columns mlmon writes: the Polars side of :mod:`mlmon.redaction`.

The patterns, the rules for which keys name secrets and the pure-Python functions live in
:mod:`mlmon.redaction` (which serving code imports without Polars); they are re-exported here,
so ``from mlmon.redact import redact_text`` keeps working.
"""

from __future__ import annotations

import polars as pl

from mlmon.redaction import (  # noqa: F401  (re-exported: the old import paths keep working)
    REDACTED,
    _keys,
    _patterns,
    _triggers,
    is_secret_key,
    is_secret_path,
    may_hold_secret,
    redact_obj,
    redact_text,
    redact_url,
    secret_key_in,
)


def redact_expr(text: pl.Expr, extra_keys: tuple[str, ...] = ()) -> pl.Expr:
    """A Polars expression that redacts secret values in text (see the module's docstring)."""
    for pattern, replacement, _ in _patterns(_keys(extra_keys), rust=True):
        text = text.str.replace_all(pattern, replacement)
    return text


def redact_columns(frame: pl.DataFrame, columns, extra_keys: tuple[str, ...] = ()) -> pl.DataFrame:
    """``frame`` with the text values of ``columns`` redacted, so that no secret inside a value
    (``{"token": "…"}`` read as JSON text, ``Authorization: …`` in a message) is kept.

    One vectorized scan per column finds the values that hold a trigger word; only their distinct
    values go through the patterns, so clean text and repeated values cost little.
    """
    triggers = _triggers(extra_keys)
    for name in dict.fromkeys(columns):
        if name not in frame.columns or frame.schema[name] != pl.String:
            continue
        series = frame.get_column(name)
        suspects = series.filter(series.str.contains_any(triggers, ascii_case_insensitive=True)).unique()
        if not suspects.len():
            continue
        redacted = suspects.to_frame().select(redact_expr(pl.col(name), extra_keys)).to_series()
        changed = suspects != redacted
        if changed.any():
            frame = frame.with_columns(series.replace(suspects.filter(changed), redacted.filter(changed)))
    return frame
