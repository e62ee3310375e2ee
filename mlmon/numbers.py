"""How numbers are written in machine formats (JSON, CSV, notifications).

Floats are rounded to ``SIGNIFICANT_DIGITS`` significant digits. That removes the noise
floating-point sums and interpolations leave in the last digits (``115.23999999999985``
is written ``115.24``) and keeps every digit a measurement can mean: a double holds
15 to 17. Integers are written as they are. A value that is not finite (NaN, an
infinity) is ``null``, so that every document is strict JSON.
"""

from __future__ import annotations

import math
from typing import Any

SIGNIFICANT_DIGITS = 12


def machine_number(value: Any) -> Any:
    """``value`` as machine formats write it: floats rounded, non-finite floats None, the rest unchanged."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    return value


def machine_numbers(doc: Any) -> Any:
    """A JSON-ready document with :func:`machine_number` applied to every number in it."""
    if isinstance(doc, dict):
        return {key: machine_numbers(value) for key, value in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [machine_numbers(value) for value in doc]
    return machine_number(doc)


#: How a value that JSON cannot hold is written where it is data (an answer, a diff), not a metric.
NON_FINITE_TEXT = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def json_data(doc: Any) -> Any:
    """A document of logged or answered values, made strict JSON without changing any finite number.

    A model may answer NaN or an infinity: in a diff or a replayed response that is worth
    seeing, so it is written as the text ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``
    (never as a bare ``NaN`` literal, which strict JSON parsers refuse).
    """
    if isinstance(doc, dict):
        return {key: json_data(value) for key, value in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [json_data(value) for value in doc]
    if isinstance(doc, float) and not math.isfinite(doc):
        return NON_FINITE_TEXT[repr(doc)]
    return doc
