"""The pure-Python evaluator (mlmon.expr_eval) and the Polars compilation (mlmon.expr) agree.

Hypothesis generates expressions of the whole grammar and records whose fields keep one
type each, as a log's columns do (with missing values), and checks that every record gets
the same answer from both back ends. Expressions Polars refuses (ExprError) are skipped.
"""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mlmon.expr import ExprError, compile_expr, is_boolean, parse
from mlmon.expr_eval import _compile, compile_py

SCHEMA = {"input.i": pl.Int64, "input.f": pl.Float64, "input.s": pl.String, "input.b": pl.Boolean,
          "model": pl.String, "input.u.n": pl.Float64}
TEXTS = ["", "a", "B", "1", "2.5", "-3", "1e3", "nan", "inf", "true", "DE", "x y", "10", "0.1", " 1", "-0.5", "0.000025", "1e+20", "3.0", "1e-6"]
FLOATS = [0.0, 0.5, -2.5, 1e-6, 2.5e-5, 3.0, 1e20, 1e16, 123.25, -7.75]

# --- records ----------------------------------------------------------------------------

_VALUES = {
    "input.i": st.integers(-30, 30),
    "input.f": st.sampled_from(FLOATS + [float("nan")] * 3),
    "input.s": st.sampled_from(TEXTS),
    "input.b": st.booleans(),
    "model": st.sampled_from(["v1", "v2", "1"]),
    "input.u.n": st.sampled_from([0.5, -1.0, 3.0, float("nan")]),  # a nested field: {"input": {"u": {"n": ...}}}
}


@st.composite
def records(draw) -> list[dict]:
    rows = []
    for _ in range(draw(st.integers(3, 10))):
        row = {}
        for name, values in _VALUES.items():
            kind = draw(st.sampled_from(["value", "value", "value", "none", "absent"]))
            if kind != "absent":
                row[name] = draw(values) if kind == "value" else None
        rows.append(row)
    return rows


def nested(row: dict) -> dict:
    out: dict = {}
    for name, value in row.items():
        parts = name.split(".")
        target = out
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return out


# --- expressions (as text) ----------------------------------------------------------

_names = st.sampled_from(["input.i", "input.f", "input.s", "input.u.n"])
_num_leaf = st.one_of(
    _names, _names, _names,
    st.integers(0, 20).map(str),
    st.sampled_from(["0.5", "2.5", "1e-6", "2.5e-5", "1e20", "0.0", "3.0"]),
    st.integers(1, 20).map(lambda n: f"-{n}"),
)


def _num(leaf, minmax: bool):
    def extend(inner):
        parts = [
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "%"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            inner.map(lambda x: f"abs({x})"),
            inner.map(lambda x: f"-({x})"),
        ]
        if minmax:
            parts.append(st.tuples(st.sampled_from(["min", "max"]), st.lists(inner, min_size=1, max_size=3))
                         .map(lambda t: f"{t[0]}({', '.join(t[1])})"))
        return st.one_of(*parts)
    return st.recursive(leaf, extend, max_leaves=4)


numbers = _num(_num_leaf, True)
plain_numbers = _num(_num_leaf, False)  # compared with text: min/max over a missing field is typed apart
text_lit = st.sampled_from(TEXTS).map(lambda t: '"' + t + '"')
_cmp = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
_list_item = st.one_of(text_lit, st.integers(-5, 20).map(str), st.sampled_from(["2.5", "null", "true", "false", "1e3"]))

_literal = st.one_of(text_lit, st.integers(-20, 20).map(str), st.sampled_from(["2.5", "-0.5", "1e20", "2.5e-5"]))
_any_name = st.sampled_from(["input.i", "input.f", "input.s", "input.b", "model", "input.u.n"])
_comparisons = st.one_of(
    st.tuples(_any_name, _cmp, _literal).map(" ".join),  # the shape most conditions take
    st.tuples(_literal, _cmp, _any_name).map(" ".join),
    st.tuples(numbers, _cmp, numbers).map(" ".join),
    st.tuples(st.sampled_from(["input.s", "model"]), _cmp, st.sampled_from(["input.s", "model"])).map(" ".join),
    st.tuples(st.one_of(plain_numbers, st.sampled_from(["model", "input.b"])), _cmp, text_lit).map(" ".join),
    st.tuples(text_lit, _cmp, plain_numbers).map(" ".join),
    st.tuples(st.sampled_from(["input.b", "input.i", "input.f", "input.s", "(input.i > 2)"]),
              st.sampled_from(["==", "!="]), st.sampled_from(["true", "false"])).map(" ".join),
    st.tuples(st.sampled_from(["input.b", "input.i", "input.f", "input.s", "model", "(input.i / 0)", "(input.s + 0)"]),
              st.sampled_from(["==", "!="]), st.just("null")).map(" ".join),
    st.tuples(st.one_of(plain_numbers, st.sampled_from(["input.b", "model"])), st.sampled_from(["in", "not in"]),
              st.lists(_list_item, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]")).map(" ".join),
    st.sampled_from(["input.b", "true", "false"]),
)


def _conditions():
    def extend(inner):
        return st.one_of(
            st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            inner.map(lambda c: f"not ({c})"),
        )
    return st.recursive(_comparisons, extend, max_leaves=5)


conditions = _conditions()


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b and type(a) is type(b)


def _polars(text: str, rows: list[dict]) -> list:
    node = parse(text)
    frame = pl.DataFrame([{k: r.get(k) for k in SCHEMA} for r in rows], schema=SCHEMA)
    try:
        expr = compile_expr(node, SCHEMA)
        return frame.with_columns(expr.alias("__v"))["__v"].to_list()  # with_columns broadcasts a constant
    except ExprError:
        assume(False)
    except pl.exceptions.PolarsError:  # what Polars cannot type (text literal arithmetic) is no contract
        assume(False)
    raise AssertionError("unreachable")


_SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                            HealthCheck.filter_too_much])


@_SETTINGS
@given(conditions, records())
def test_conditions_agree(text, rows):
    expected = _polars(text, rows)
    node = parse(text)
    schema_free = _compile(node)
    got = [schema_free(nested(r)) is True for r in rows]
    assert got == expected, text


@_SETTINGS
@given(numbers, records())
def test_values_agree(text, rows):
    expected = _polars(text, rows)
    fn = compile_py(parse(text))
    got = [fn(nested(r)) for r in rows]
    assert all(_same(float(g) if isinstance(e, float) and isinstance(g, int) else g, e)
               or (g is not None and e is not None and math.isclose(g, e, rel_tol=1e-12))
               for g, e in zip(got, expected)), (text, got, expected)


@pytest.mark.parametrize("text", [
    'input.country == "XX" or input.amount > 1e6',
    'input.user.tier in ["gold", "vip"] and not (input.amount < 10)',
    "model == \"v2\" and input.x == null",
])
def test_compile_py_gives_booleans(text):
    fn = compile_py(parse(text))
    assert is_boolean(parse(text))
    for record in ({}, {"input": {"country": "XX"}}, {"input": {"amount": "2e6", "user": {"tier": "vip"}}},
                   {"model": "v2", "input": {"x": None}}):
        assert fn(record) in (True, False)


# --- the conversions, value by value against Polars' casts ------------------------------

_TRICKY_FLOATS = [1.0, 0.1, 1e20, 1.5e-7, 123456789.123, 1e16, 1e15, 9.999e15, -0.0, 2.5e-5, 1e-5, 1.23e-5, 1e-6,
                  0.0001, 1.2345678901234568e17, 3e10, 5e-324, 1.7976931348623157e308, -12.5, float("inf"),
                  float("-inf"), float("nan"), 100.0, 123456.0]
_TRICKY_TEXTS = ["1", "1.", "1.5", " 1", "1 ", ".5", "1e3", "1E3", "inf", "-inf", "Inf", "infinity", "INFINITY", "NaN",
                 "nan", "+1", "1_0", "0x10", "", "-0", "1e", "e3", "-.5", "5.", "1e-3", "00012", "1e400", "\u0661", "+inf"]


def test_float_text_is_polars_cast_to_string():
    from mlmon.expr_eval import float_text

    polars = pl.Series(_TRICKY_FLOATS, dtype=pl.Float64).cast(pl.String).to_list()
    assert [float_text(x) for x in _TRICKY_FLOATS] == polars


def test_number_is_polars_cast_to_float():
    from mlmon.expr_eval import number

    polars = pl.Series(_TRICKY_TEXTS, dtype=pl.String).cast(pl.Float64, strict=False).to_list()
    assert [_same(number(t), p) or (number(t) is None and p is None) for t, p in zip(_TRICKY_TEXTS, polars)] \
        == [True] * len(polars), list(zip(_TRICKY_TEXTS, [number(t) for t in _TRICKY_TEXTS], polars))


@pytest.mark.parametrize("a", [7, -7, 7.5, -7.5, 0.3, 5.0, -5.0, float("inf")])
@pytest.mark.parametrize("b", [3, -3, 2.0, -2.0, 0.1, float("inf"), float("-inf")])
def test_modulo_is_polars_modulo(a, b):
    from mlmon.expr_eval import evaluate

    polars = pl.DataFrame({"a": [a], "b": [b]}).select(compile_expr(parse("a % b"), {"a": pl.Float64 if isinstance(a, float) else pl.Int64, "b": pl.Float64 if isinstance(b, float) else pl.Int64}))["a"].item()
    assert _same(evaluate(parse("a % b"), {"a": a, "b": b}), polars)


def test_every_field_against_every_constant():
    """``name op constant``, the shape most conditions take, on every value of every type (NaN and null too)."""
    n = max(len(TEXTS), len(FLOATS) + 2)
    columns = {
        "input.i": [*range(-3, n - 4), None][:n],
        "input.f": ([*FLOATS, float("nan"), None] * 2)[:n],
        "input.s": ([*TEXTS, None] * 2)[:n],
        "input.b": ([True, False, None] * n)[:n],
        "model": (["v1", "1", "2.5", None] * n)[:n],
        "input.u.n": ([2.5, float("nan"), None, 1.0] * n)[:n],
    }
    frame = pl.DataFrame(columns, schema=SCHEMA)
    rows = [nested({k: v[i] for k, v in columns.items()}) for i in range(n)]
    constants = ['"1"', '"2.5"', '"nan"', '"true"', '""', "1", "-3", "2.5", "1e20", "0"]
    for name in columns:
        for op in ("==", "!=", "<", "<=", ">", ">="):
            for const in constants:
                for text in (f"{name} {op} {const}", f"{const} {op} {name}"):
                    node = parse(text)
                    try:
                        expected = frame.with_columns(compile_expr(node, SCHEMA).alias("__v"))["__v"].to_list()
                    except ExprError:
                        continue
                    fn = compile_py(node)
                    assert [fn(r) for r in rows] == expected, text
