"""Turn raw text fields into typed canonical columns, and name what is wrong with a record.

Decoding reads every projected leaf as text (numbers included), so one pass can
both type the values and find the ones of the wrong type, all as expressions.
"""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl

from mlmon.logs.arrays import with_compact_arrays
from mlmon.logs.mapping import LATENCY_UNITS, Mapping

REASON = "_reason"
UTC = "UTC"
TS_TYPE = pl.Datetime("us", UTC)

#: The times a record may carry: the years 1 to 9999 that Python's datetimes hold, since every
#: command turns some times into them (window bounds, JSON, table headers, replay, rule state).
#: A line outside is bad ("ts out of range"), so no later step has to care.
TS_MIN = datetime(1, 1, 1, tzinfo=timezone.utc)
TS_MAX = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone.utc)
_MIN_US = -62_135_596_800_000_000  # TS_MIN and TS_MAX in microseconds since the epoch
_MAX_US = 253_402_300_799_999_999
#: An epoch number is converted only below this many microseconds: 64-bit products past it wrap
#: around silently (and land anywhere), and anything that large is far outside the years anyway.
_SAFE_US = 2.0**62
#: Text whose year has five digits or more (``10000-06-01``): a time, but not one in range.
_LONG_YEAR = r"^\s*[+-]?\d{5,}-\d"

_ISO_AWARE = "%Y-%m-%dT%H:%M:%S%.f%#z"
_ISO_MORE = [  # tried only on values the common form did not parse
    ("%Y-%m-%d %H:%M:%S%.f%#z", True),
    ("%Y-%m-%dT%H:%M:%S%.f", False),
    ("%Y-%m-%d %H:%M:%S%.f", False),
    ("%Y-%m-%dT%H:%M%#z", True),
    ("%Y-%m-%dT%H:%M", False),
    ("%Y-%m-%d", False),
]
#: Microseconds per unit of an epoch number.
_EPOCH_US = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 0.001}

NUMBER_FIELDS = ("latency_ms", "cpu_percent", "memory_mb", "tokens_in", "tokens_out", "tokens_total", "cost", "ttft_ms")
#: The fields whose values can make a line bad: every read checks them, whatever else it asks for,
#: so that whether a line is bad never depends on the command.
CHECKED_FIELDS = ("ts", "status", "error", *NUMBER_FIELDS)
#: ``error`` values that mean no error, as the reader gives them: "", false and 0 (null too).
NO_ERROR = ["", "false", "0"]
STRING_FIELDS = ("request_id", "model", "model_version", "endpoint", "hotfix")


def _epoch_us(text: pl.Expr, unit: str) -> pl.Expr:
    """Microseconds since the epoch from a number of s, ms, us or ns (``auto``: by magnitude).

    Null for text that is no finite number, and for a number too large to convert safely
    (see :data:`_SAFE_US`); :func:`parse_ts` tells those apart.
    """
    as_int = text.cast(pl.Int64, strict=False)
    as_float = text.cast(pl.Float64, strict=False)
    as_float = pl.when(as_float.is_finite()).then(as_float)
    if unit == "auto":
        size = as_float.abs()
        factor = (
            pl.when(size < 1e11).then(1_000_000.0)
            .when(size < 1e14).then(1_000.0)
            .when(size < 1e17).then(1.0)
            .otherwise(0.001)
        )
        int_us = (
            pl.when(size < 1e11).then(as_int * 1_000_000)
            .when(size < 1e14).then(as_int * 1_000)
            .when(size < 1e17).then(as_int)
            .otherwise(as_int // 1_000)
        )
    else:
        factor = pl.lit(float(_EPOCH_US[unit]))
        int_us = as_int // 1_000 if unit == "ns" else as_int * int(_EPOCH_US[unit])
    us = as_float * factor
    return pl.when(us.abs() < _SAFE_US).then(pl.coalesce(int_us, us.round(0).cast(pl.Int64, strict=False)))


def _too_far(text: pl.Expr) -> pl.Expr:
    """Whether unparsed ``ts`` text is still a time or a number (``1e300``, not ``inf``), only one beyond
    the years mlmon holds."""
    number = text.cast(pl.Float64, strict=False).is_not_null() & text.str.contains(r"^\s*[+-]?\d")
    return number | text.str.contains(_LONG_YEAR)


def _fast_utc(text: pl.Expr) -> pl.Expr:
    """``YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z``, the commonest form, parsed cheaply.

    Polars parses the fixed 19-character prefix very fast; the fraction is read as an
    integer and added as microseconds. Anything else is null here and parsed by the
    general forms instead.
    """
    size = text.str.len_bytes()
    digits = size - 21  # of the fraction, between "SS." and "Z"
    fraction = text.str.slice(20, digits).cast(pl.Int64, strict=False)
    micros = (
        pl.when(size == 20).then(pl.lit(0, pl.Int64))
        .when(digits == 3).then(fraction * 1000)
        .when(digits == 6).then(fraction)
        .when(digits == 9).then(fraction // 1000)
    )
    base = text.str.slice(0, 19).str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S", strict=False, cache=False)
    signed = text.str.slice(20, 1).is_in(["+", "-"])  # "SS.+12Z" would cast to a number
    ok = text.str.ends_with("Z") & ((size == 20) | (text.str.slice(19, 1) == ".")) & ~signed & (micros >= 0)
    return pl.when(ok).then(base.dt.epoch("us") + micros).cast(TS_TYPE)


#: A column the decoder may add: ``ts`` already parsed in its common form, inside the parallel scan.
TS_FAST = "_ts_fast"


def fast_ts_expr() -> pl.Expr:
    """The common-form parse of ``ts`` as an expression, for a decoder's own plan."""
    return _fast_utc(pl.col("ts").cast(pl.String)).alias(TS_FAST)


def parse_ts(text: pl.Series, unit: str = "auto", parsed: pl.Series | None = None, *,
             ts_format: str | None = None, timezone: str = UTC) -> tuple[pl.Series, pl.Series]:
    """UTC timestamps from ISO-8601 text (naive means UTC) or epoch numbers, and which are out of range.

    The first series holds the times between :data:`TS_MIN` and :data:`TS_MAX`, null
    elsewhere; the second is true where the text is a time or a number outside them.
    The commonest form is parsed for every value (or comes ``parsed`` already); the
    other forms only for the values it left unparsed, so logs in one format pay for
    one cheap parse. ``ts_format`` is tried first; naive times are in ``timezone``.
    """
    if ts_format is not None:
        parsed = text.to_frame("t").select(_with_format(pl.col("t"), ts_format, timezone)).to_series()
        if parsed.null_count() > text.null_count():
            common = text.to_frame("t").select(_fast_utc(pl.col("t"))).to_series()
            parsed = parsed.fill_null(common)
    ts = parsed if parsed is not None else text.to_frame("t").select(_fast_utc(pl.col("t"))).to_series()
    far = pl.Series(text.name, [False] * len(text), pl.Boolean)
    retry = (ts.is_null() & text.is_not_null()).arg_true()
    if retry.len():
        rest = text.gather(retry).to_frame("t")
        tries = [pl.col("t").str.strptime(TS_TYPE, _ISO_AWARE, strict=False)]
        for fmt, aware in _ISO_MORE:
            if aware:
                tries.append(pl.col("t").str.strptime(TS_TYPE, fmt, strict=False))
            else:
                tries.append(_naive_in(pl.col("t").str.strptime(pl.Datetime("us"), fmt, strict=False), timezone))
        tries.append(pl.from_epoch(_epoch_us(pl.col("t"), unit), time_unit="us").dt.replace_time_zone(UTC))
        found = pl.coalesce(tries)
        settled = rest.select(found.alias("ts"), (found.is_null() & _too_far(pl.col("t"))).alias("far"))
        ts = ts.scatter(retry, settled.get_column("ts"))
        far = far.scatter(retry, settled.get_column("far"))
    micros = ts.dt.epoch("us")
    outside = ((micros < _MIN_US) | (micros > _MAX_US)).fill_null(False)
    if outside.any():
        ts = ts.scatter(outside.arg_true(), None)
        far = far | outside
    return ts.alias(text.name), far.alias(text.name)


def _naive_in(naive: pl.Expr, timezone: str) -> pl.Expr:
    """Naive times read as local times of ``timezone``, in UTC (a time a clock change skips is null)."""
    if timezone == UTC:
        return naive.dt.replace_time_zone(UTC)
    local = naive.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
    return local.dt.convert_time_zone(UTC)


def _with_format(text: pl.Expr, ts_format: str, timezone: str) -> pl.Expr:
    """``text`` parsed with a strftime format: with an offset (%z) as given, else in ``timezone``."""
    if "%z" in ts_format or "%#z" in ts_format or "%:z" in ts_format:
        return text.str.strptime(TS_TYPE, ts_format, strict=False)
    return _naive_in(text.str.strptime(pl.Datetime("us"), ts_format, strict=False), timezone)


def _number(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Float64, strict=False)


def _wrong(name: str, expected: str) -> pl.Expr:
    return pl.lit(f"wrong type for {name} (expected {expected})")


def normalize(raw: pl.DataFrame, mapping: Mapping, keep: list[str] | tuple[str, ...] = ()) -> pl.DataFrame:
    """Typed canonical columns plus REASON (null for a good record).

    ``raw`` has one column per projected field, text or already numeric; columns it
    lacks are left out, except ``ts``, ``status`` and ``error``, which every record
    has after this.
    """
    names = raw.columns
    have = set(names)
    exprs: list[pl.Expr] = []
    # A reason found while decoding (malformed JSON) comes before any found here.
    reasons: list[pl.Expr] = [pl.col(REASON)] if REASON in have else []

    ts_text = pl.col("ts") if "ts" in have else pl.lit(None, pl.String)
    texts = raw.get_column("ts").cast(pl.String) if "ts" in have else pl.Series("ts", [None] * raw.height, pl.String)
    times, far = parse_ts(texts, mapping.ts_unit, raw.get_column(TS_FAST) if TS_FAST in have else None,
                          ts_format=mapping.ts_format, timezone=mapping.timezone)
    ts = pl.lit(times)
    exprs.append(ts.alias("ts"))
    reasons.append(pl.when(ts_text.is_null()).then(pl.lit("missing ts")))
    reasons.append(pl.when(pl.lit(far)).then(pl.lit("ts out of range")))
    reasons.append(pl.when(ts.is_null()).then(pl.lit("unparseable ts")))

    error = pl.col("error") if "error" in have else pl.lit(None, pl.String)
    error = pl.when(~error.is_in(NO_ERROR)).then(error)
    exprs.append(error.alias("error"))

    if "status" in have and mapping.status_map:
        # Status text (``success``) stands for its code; other text stays, to be found wrong below.
        raw = raw.with_columns(pl.col("status").cast(pl.String).replace(
            {text: str(code) for text, code in mapping.status_map.items()}))
    if "status" in have:
        num = _number("status")
        exprs.append(
            pl.when(pl.col("status").is_null())
            .then(pl.when(error.is_not_null()).then(500).otherwise(200))
            .otherwise(num.cast(pl.Int64, strict=False))
            .alias("status")
        )
        ok = num.is_not_null() & num.is_finite() & (num == num.floor()) & (num.abs() < 2.0**63)
        reasons.append(pl.when(pl.col("status").is_not_null() & ~ok).then(_wrong("status", "an integer")))
    else:
        exprs.append(pl.when(error.is_not_null()).then(500).otherwise(200).cast(pl.Int64).alias("status"))

    for name in NUMBER_FIELDS:
        if name not in have:
            continue
        num = _number(name)
        if name == "latency_ms":
            num = num * LATENCY_UNITS[mapping.latency_unit]
        ok = num.is_not_null() & num.is_finite()
        reasons.append(pl.when(pl.col(name).is_not_null() & ~ok).then(_wrong(name, "a number")))
        reasons.append(pl.when(num < 0).then(pl.lit(f"negative {name}")))
        if name != "tokens_total":
            exprs.append(num.alias(name))
    if {"tokens_in", "tokens_out"} <= have or "tokens_total" in have:
        # The total as logged, else read and written together when both are known.
        total = _number("tokens_total") if "tokens_total" in have else pl.lit(None, pl.Float64)
        both = _number("tokens_in") + _number("tokens_out") if {"tokens_in", "tokens_out"} <= have else None
        exprs.append((total if both is None else pl.coalesce(total, both)).alias("tokens_total"))

    for name in STRING_FIELDS:
        constant = mapping.constants.get(name)
        if name == "hotfix" and name in have:  # a hot fix's name; "" is no name: the model answered
            exprs.append(pl.when(pl.col(name) != "").then(pl.col(name)).alias(name))
        elif name in have:
            exprs.append(pl.coalesce(pl.col(name), pl.lit(constant)).alias(name) if constant else pl.col(name))
        elif constant:
            exprs.append(pl.lit(constant, pl.String).alias(name))

    exprs.extend(pl.col(n) for n in names if n.startswith(("input.", "output.")) or n in ("request", "response"))
    exprs.extend(pl.col(n) for n in keep)
    exprs.append(pl.coalesce(reasons).alias(REASON))
    # An array field's value is its compact JSON text, whichever parse read it (see mlmon.logs.arrays).
    io_fields = [n for n in names if n.startswith(("input.", "output."))]
    return with_compact_arrays(raw.lazy().select(exprs).collect(), io_fields)
