"""The input windows of a rule test: series of metric values per segment, in promtool's expanding notation."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from mlmon.errors import UsageError
from mlmon.safetext import printable
from mlmon.report import check_segment_fields
from mlmon.rules.load import is_field_metric, known_metrics
from mlmon.rules.model import Rule, RuleSet
from mlmon.rules.testfile import COUNT_METRICS, Series
from mlmon.rules.testread import Reader, text_value
from mlmon.rules.testschema import SERIES_FIELDS, names_of
from mlmon.yamlfile import did_you_mean

SERIES_KEYS = names_of(SERIES_FIELDS)
#: The most windows one series may give: tests are small, and a typo such as '1x100000000' is not.
MAX_WINDOWS = 10_000
#: The largest count a series may give: Int64, as ``check`` counts, holds it exactly.
MAX_COUNT = 2**53
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_TOKEN = re.compile(rf"(?P<a>_|{_NUMBER})(?:(?P<op>[-+])(?P<b>{_NUMBER[5:]}))?(?:x(?P<n>\d+))?")

def expand_values(text: str) -> tuple[list[float | None], int | None, str | None]:
    """Values in promtool's expanding notation, separated by spaces: ``a``, ``_`` (missing), ``a+bxn`` (a, then n
    more, each b larger), ``a-bxn``, ``axn`` (a, n+1 times), ``_xn`` (n missing). Returns the values, or the
    1-based column of the first bad token and why."""
    out: list[float | None] = []
    for match in re.finditer(r"\S+", text):
        token = match.group()
        m = _TOKEN.fullmatch(token)
        if m is None or (m["op"] and (m["a"] == "_" or m["n"] is None)):
            why = ("'stale' has no meaning for windows; write _ for a missing value" if token == "stale" else
                   f"{token!r} is not a value: write a number, _, a+bxn, a-bxn or axn")
            return [], match.start() + 1, why
        n = int(m["n"]) if m["n"] is not None else None
        if len(out) + (n or 0) + 1 > MAX_WINDOWS:
            return [], match.start() + 1, f"more than {MAX_WINDOWS:,} windows"
        if m["a"] == "_":
            out.extend([None] * (n if n is not None else 1))
            continue
        a = float(m["a"])
        step = float(m["b"] or 0) * (-1 if m["op"] == "-" else 1)
        out.extend(a + i * step for i in range((n or 0) + 1))
    return out, None, None


def series_list(read: Reader, keys: tuple, value: Any, every: timedelta, ruleset: RuleSet | None,
                 test: str) -> tuple[Series, ...]:
    if not isinstance(value, list) or not value:
        read.add(keys, "'windows' must be a list of series: segment, values", test)
        return ()
    out: list[Series] = []
    seen: dict[tuple, str] = {}
    for i, item in enumerate(value):
        series = _series(read, keys + (i,), item, every, test)
        if series is None:
            continue
        ident = (series.every, tuple(sorted(series.segment.items())))
        if ident in seen:
            read.add(keys + (i,), f"this segment and every are given twice (first at {seen[ident]})", test)
        seen[ident] = read.doc.where(*keys, i)
        if ruleset is not None and not any(_reads(rule, series) for rule in ruleset.rules):
            by = ", ".join(sorted(series.segment)) or "nothing"
            read.add(keys + (i,), f"no rule reads this series: none has every {spell(series.every)} and by {by}", test)
        out.append(series)
    return tuple(out)


def _reads(rule: Rule, series: Series) -> bool:
    return rule.every == series.every and set(rule.by) == set(series.segment)


def spell(delta: timedelta) -> str:
    from mlmon.timeparse import format_duration

    return format_duration(delta)


def _series(read: Reader, keys: tuple, item: Any, every: timedelta, test: str) -> Series | None:
    if not read.mapping(keys, item, SERIES_KEYS, "a series", test):
        return None
    before = len(read.problems)
    segment_value = item.get("segment") or {}
    segment: dict[str, str] = {}
    if not isinstance(segment_value, dict):
        read.add(keys + ("segment",), "'segment' must map segment fields to values, e.g. {model: churn}", test)
    else:
        try:
            check_segment_fields([str(k) for k in segment_value])
        except UsageError as exc:
            read.add(keys + ("segment",), str(exc), test)
        for k, v in segment_value.items():
            if isinstance(v, (dict, list)) or v is None:
                read.add(keys + ("segment", k), f"segment value {k!r} must be text or a number", test)
            segment[str(k)] = text_value(v)
    if "every" in item:
        every = read.duration(keys + ("every",), item["every"], test)
    values = _values(read, keys + ("values",), item.get("values"), test)
    if len(read.problems) > before or every is None or values is None:
        return None
    return Series(segment, every, values, read.doc.where(*keys))


def _values(read: Reader, keys: tuple, value: Any, test: str) -> dict[str, list] | None:
    if not isinstance(value, dict) or not value:
        read.add(keys, "each series needs 'values': metric names, each with one value per window", test)
        return None
    known = known_metrics()
    out: dict[str, list] = {}
    for metric, raw in value.items():
        metric = str(metric)
        if metric not in known and not is_field_metric(metric):
            read.add(keys + (metric,), f"unknown metric {metric!r}{did_you_mean(metric, known)}", test)
            continue
        numbers = _numbers(read, keys + (metric,), raw, test)
        if numbers is None:
            continue
        if any(v is not None and v != v for v in numbers):
            read.add(keys + (metric,), f"{metric}: NaN is no value a metric takes; write _ for a missing one", test)
            continue
        if metric in COUNT_METRICS and any(v is not None and not (0 <= v <= MAX_COUNT and v.is_integer())
                                           for v in numbers):
            read.add(keys + (metric,), f"{metric} counts requests: whole numbers from 0 to {MAX_COUNT:,}", test)
            continue
        out[metric] = [int(v) if v is not None and metric in COUNT_METRICS else v for v in numbers]
    if "request_count" not in value:
        read.add(keys, "values need request_count: a window is judged only when request_count >= the rule's "
                       "min_requests", test)
    lengths = {len(v) for v in out.values()}
    if len(lengths) > 1:
        read.add(keys, f"the metrics give different numbers of windows ({', '.join(map(str, sorted(lengths)))}); "
                       f"write _ for a missing value", test)
    return out if len(out) == len(value) and len(lengths) <= 1 else None


def _numbers(read: Reader, keys: tuple, raw: Any, test: str) -> list[float | None] | None:
    try:
        return _given_numbers(read, keys, raw, test)
    except OverflowError:  # a whole number of hundreds of digits
        read.add(keys, f"{keys[-1]} has a number too large for a metric", test)
        return None


def _given_numbers(read: Reader, keys: tuple, raw: Any, test: str) -> list[float | None] | None:
    if isinstance(raw, str):
        values, col, why = expand_values(raw)
        if col is not None:
            read.problems.append(f"{read.doc.where_in_value(keys, col)}: test \"{printable(test)}\": {keys[-1]}: {why}")
            return None
    elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
        values = [float(raw)]
    elif isinstance(raw, list) and all(v is None or isinstance(v, (int, float)) and not isinstance(v, bool)
                                       or v == "_" for v in raw):
        values = [None if v is None or v == "_" else float(v) for v in raw]
        if len(values) > MAX_WINDOWS:
            read.add(keys, f"more than {MAX_WINDOWS:,} windows", test)
            return None
    else:
        read.add(keys, f"{keys[-1]} must be a list of numbers (null or _ for missing) or a string such as "
                       f"'600x2 _ 1+1x3'", test)
        return None
    if not values:
        read.add(keys, f"{keys[-1]} gives no value", test)
        return None
    return values
