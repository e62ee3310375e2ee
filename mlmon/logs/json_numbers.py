"""Numbers in request and response JSON text that Polars' JSON reader cannot take as they come.

* **Integers of 39 digits or more.** The log reader hands an object back as text, and writes
  a float such as ``1e39`` as its 40 digits; Polars' JSON parser holds integers in 128 bits
  and refuses such a number (``InvalidNumber``), which would stop the whole decode. They are
  written back as floats (``1e+39``): a big number is still a number. Only the rows that may
  hold one are rewritten, in Python, token by token, so that text inside strings is never touched.
* **NaN and infinities written as text** (``"NaN"``, ``"-Infinity"``, ``"inf"``: what some
  writers emit, since JSON has no such numbers). Among numbers they do not make a field text:
  schema inference looks past them, and the statistics count them as type violations.
"""

from __future__ import annotations

import math
import re

import polars as pl

#: Fewer digits always fit Polars' 128-bit integers (whose largest has 39 digits).
_LONG = 39
#: A number can only start after one of these (and white space): a row without such a run has none.
_MAY_HOLD_LONG = rf"[:\[,][ \t\n\r]*-?[0-9]{{{_LONG}}}"
#: JSON tokens that matter here: a whole string (kept as it is), or a long integer (rewritten).
#: (A number is matched from its first digit and never backed into: linear on any text.)
_TOKEN = re.compile(rf'"[^"\\]*(?:\\.[^"\\]*)*"|(?<![0-9.eE+-])(-?[0-9]{{{_LONG},}}+)(?![.eE])')

#: Text that Polars casts to NaN or an infinity (case does not matter).
NON_FINITE_TEXT = r"(?i:[+-]?(?:nan|inf|infinity))"
_NON_FINITE_VALUE = rf'(:[ \t\n\r]*)"{NON_FINITE_TEXT}"'


def long_integers_as_floats(objects: pl.Series) -> pl.Series:
    """``objects`` (JSON text) with every integer of 39 digits or more written as a float."""
    rows = objects.to_frame("t").lazy().select(pl.col("t").str.contains(_MAY_HOLD_LONG).fill_null(False)) \
        .collect(engine="streaming").to_series().arg_true()
    if not rows.len():
        return objects
    fixed = pl.Series([_TOKEN.sub(_as_float, text) for text in objects.gather(rows).to_list()], dtype=pl.String)
    return objects.clone().scatter(rows, fixed)


def _as_float(match: re.Match) -> str:
    digits = match.group(1)
    if digits is None:
        return match.group(0)  # a string
    value = float(digits)
    # Past the largest float (the reader refuses such lines, but to be safe): text, like "Infinity".
    return repr(value) if math.isfinite(value) else ('"-Infinity"' if value < 0 else '"Infinity"')


def has_non_finite_text(objects: pl.Series) -> bool:
    """Whether some object holds a value written as text that reads as NaN or an infinity."""
    return bool(objects.str.contains(_NON_FINITE_VALUE).any())


def without_non_finite_text(objects: pl.Series) -> pl.Series:
    """``objects`` with such values made ``null``: what their field would be without them.

    Only used to infer a schema. A quote in a string is escaped, so ``: "NaN"`` cannot
    start inside one.
    """
    return objects.str.replace_all(_NON_FINITE_VALUE, "${1}null")
