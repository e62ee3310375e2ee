"""The expression language evaluated in plain Python over one request, for serving.

:func:`compile_py` turns a parsed tree (:mod:`mlmon.exprparse`) into a Python function of
one record, with the meaning :func:`mlmon.expr.compile_expr` gives it in Polars:

- Logic is three-valued: a comparison with a missing value (None, an absent key, NaN) is
  unknown (None), ``not`` of unknown is unknown, ``and``/``or`` follow Kleene's tables, and
  a condition that ends unknown counts as false. Division or ``%`` by zero is unknown.
- Two texts compare as text. A text literal compares with anything else as text
  (``3`` reads ``"3"``, ``2.5e-7`` reads ``"2.5e-7"``, true reads ``"true"``, as Polars
  writes them). Otherwise both sides are numbers: text is read as a number, or unknown
  when it is not one; true and false are 1 and 0.
- ``x == null`` is true exactly when x is missing.

Polars types a column, Python a value: here the type of each value decides. A record whose
fields keep one type each (as a log's columns do) gets the same answer from both, which
``tests/test_expr_eval_property.py`` checks on generated expressions and records. One
difference remains: ``min``/``max`` over a missing float or text field and integers gives
an integer here, a float in Polars; it shows only when that result is compared with text.

A record is a dict: ``input.a.b`` reads ``record["input"]["a"]["b"]``, ``model`` reads
``record["model"]``. Lists and objects read as their compact JSON text.

This module imports no Polars, typer or rich: it runs inside the model server.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable
from typing import Any

from mlmon.exprparse import (
    Binary,
    Call,
    ExprError,
    ListLit,
    Literal,
    Name,
    Node,
    Unary,
    check_types,
    is_boolean,
)

Record = dict[str, Any]
Fn = Callable[[Record], Any]

_INF = math.inf


def compile_py(node: Node) -> Callable[[Record], bool]:
    """A function of one record: True when the condition ``node`` holds, False when it fails or is unknown.

    ``node`` must pass :func:`check_types` without a schema (as ``--where`` and ``when`` do).
    """
    check_types(node)
    fn = _compile(node)
    if is_boolean(node):
        return lambda record: fn(record) is True
    return fn


def evaluate(node: Node, record: Record) -> Any:
    """The value of ``node`` over ``record`` (a condition gives True or False; a value None when unknown)."""
    return compile_py(node)(record)


# --- values -------------------------------------------------------------------------


def number(value: Any) -> int | float | None:
    """``value`` read as a number, as Polars casts text to Float64: no spaces or ``_``; ``inf``, ``nan`` allowed."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        if not value.isascii() or "_" in value or value != value.strip() or not value:
            return None
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _float(value: Any) -> float | None:
    """A comparison's number: text read, true/false as 1/0, NaN as unknown."""
    if isinstance(value, bool):
        return float(value)
    n = number(value)
    if n is None:
        return None
    n = float(n)
    return None if math.isnan(n) else n


def float_text(x: float) -> str:
    """``x`` as Polars writes a Float64 as text: shortest digits, scientific below 1e-5 and from 1e16."""
    if math.isnan(x):
        return "NaN"
    if x in (_INF, -_INF):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "-0.0" if math.copysign(1, x) < 0 else "0.0"
    sign = "-" if x < 0 else ""
    mantissa, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    # the position of the first significant digit: 10**e <= |x| < 10**(e+1)
    e = int(exp or 0) + len(whole) - 1 - (len(whole + frac) - len((whole + frac).lstrip("0")))
    digits = digits.rstrip("0") or "0"
    if e < -5 or e >= 16:
        tail = "." + digits[1:] if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{tail}e{'+' if e > 0 else ''}{e}"
    if e < 0:
        return f"{sign}0.{'0' * (-e - 1)}{digits}"
    whole = digits[: e + 1].ljust(e + 1, "0")
    return f"{sign}{whole}.{digits[e + 1:] or '0'}"


def text(value: Any) -> str | None:
    """``value`` as text, as Polars casts it to String."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return float_text(value)
    return None


def _field(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return value


# --- compilation to Python closures -------------------------------------------------


def _compile(n: Node) -> Fn:
    if isinstance(n, Literal):
        value = n.value
        return lambda r: value
    if isinstance(n, Name):
        return _lookup(n.name)
    if isinstance(n, Call):
        return _call(n)
    if isinstance(n, Unary):
        return _not(_compile(n.operand)) if n.op == "not" else _negate(_arith_operand(n.operand))
    if isinstance(n, ListLit):
        raise ExprError("a list can only follow 'in'", n.col)
    assert isinstance(n, Binary)
    if n.op in ("and", "or"):
        return _logic(n.op, _compile(n.left), _compile(n.right))
    if n.op in ("in", "not in"):
        return _membership(n)
    if n.op in ("==", "!="):
        for a, b in ((n.left, n.right), (n.right, n.left)):
            if isinstance(b, Literal) and b.value is None:
                fa, want = _compile(a), n.op == "=="
                return lambda r: (_present(fa(r))) is not want
    if n.op in ("==", "!=", "<", "<=", ">", ">="):
        return _comparison(n)
    return _arithmetic(n.op, _arith_operand(n.left), _arith_operand(n.right))


def _present(value: Any) -> bool:
    return value is not None


def _lookup(name: str) -> Fn:
    parts = tuple(name.split("."))
    if len(parts) == 2:  # input.x, the common case, without a loop
        first, second = parts

        def get2(record: Record) -> Any:
            value = record.get(first)
            if not isinstance(value, dict):
                return None
            value = value.get(second)
            return _field(value) if isinstance(value, (dict, list)) else value

        return get2

    def get(record: Record) -> Any:
        value: Any = record
        for part in parts:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return _field(value)

    return get


def _not(fn: Fn) -> Fn:
    def not_(r: Record) -> bool | None:
        v = fn(r)
        return False if v is True else True if v is False else None

    return not_


def _logic(op: str, left: Fn, right: Fn) -> Fn:
    """Kleene's ``and``/``or``: ``stop`` (False for and, True for or) decides alone; else unknown wins."""
    stop = op == "or"
    other = not stop

    # Anything but True and False (a text field, a number) is unknown here, as Polars refuses it.
    def logic(r: Record) -> bool | None:
        a = left(r)
        if a is stop:
            return stop
        b = right(r)
        if b is stop:
            return stop
        return other if a is other and b is other else None

    return logic


def _arith_operand(n: Node) -> Fn:
    """A number for arithmetic: text read as a number; true/false unknown (Polars refuses them there)."""
    fn = _compile(n)
    return lambda r: number(fn(r))


def _negate(fn: Fn) -> Fn:
    def neg(r: Record) -> Any:
        v = fn(r)
        return None if v is None else -v

    return neg


def _arithmetic(op: str, left: Fn, right: Fn) -> Fn:
    def arith(r: Record) -> Any:
        a, b = left(r), right(r)
        if a is None or b is None:
            return None
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if b == 0:
            return None
        if op == "/":
            return float(a) / b
        if isinstance(a, int) and isinstance(b, int):
            return a % b
        return a - b * math.floor(a / b) if math.isfinite(a / b) else math.nan  # as Polars: floored, NaN past inf

    return arith


def _call(n: Call) -> Fn:
    args = [_arith_operand(a) for a in n.args]
    if n.func == "abs":
        (arg,) = args
        return lambda r: None if (v := arg(r)) is None else abs(v)
    pick = min if n.func == "min" else max

    def horizontal(r: Record) -> Any:
        # as Polars' min_horizontal/max_horizontal: nulls are skipped, NaN counts only when all are NaN
        values = [v for v in (a(r) for a in args) if v is not None]
        if not values:
            return None
        numbers = [v for v in values if not math.isnan(v)]
        if not numbers:
            return math.nan
        best = pick(numbers)
        return float(best) if any(isinstance(v, float) for v in values) else best

    return horizontal


def _is_text_literal(n: Node) -> bool:
    return isinstance(n, Literal) and isinstance(n.value, str)


def _is_bool_literal(n: Node) -> bool:
    return isinstance(n, Literal) and isinstance(n.value, bool)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _constant_side(n: Binary) -> tuple[Node, Any, str] | None:
    """(the other side, the constant, the operator with the constant on the right) for ``x op 3`` or ``"a" op x``."""
    for other, const, op in ((n.left, n.right, n.op), (n.right, n.left, _FLIP[n.op])):
        if isinstance(const, Literal) and isinstance(const.value, (str, int, float)) and not isinstance(const.value, bool) \
                and not isinstance(other, Literal):
            return other, const.value, op
    return None


def _against_constant(other: Node, const: Any, op: str) -> Fn:
    """``x op constant``, the shape of most conditions, with the constant converted once."""
    fn, cmp = _compile(other), _COMPARE[op]
    if isinstance(const, str):
        def as_text(r: Record) -> bool | None:
            a = fn(r)
            if type(a) is not str:
                a = text(a)
                if a is None:
                    return None
            return cmp(a, const)
        return as_text
    c = float(const)

    def as_number(r: Record) -> bool | None:
        a = fn(r)
        if type(a) is float:
            return None if a != a else cmp(a, c)  # noqa: PLR0124  (NaN is unknown; faster than math.isnan)
        x = float(a) if type(a) is int else _float(a)
        return None if x is None else cmp(x, c)
    return as_number


def _comparison(n: Binary) -> Fn:
    constant = _constant_side(n)
    if constant is not None:
        return _against_constant(*constant)
    left, right, cmp = _compile(n.left), _compile(n.right), _COMPARE[n.op]
    if _is_text_literal(n.left) or _is_text_literal(n.right):
        def as_text(r: Record) -> bool | None:
            a, b = text(left(r)), text(right(r))
            return None if a is None or b is None else cmp(a, b)
        return as_text
    if _is_bool_literal(n.left) or _is_bool_literal(n.right):
        def as_is(r: Record) -> bool | None:
            a, b = left(r), right(r)
            if a is None or b is None:
                return None
            if isinstance(a, str) or isinstance(b, str):  # Polars compares a text column with true as "true"
                a, b = text(a), text(b)
            return cmp(a, b)
        return as_is

    def values(r: Record) -> bool | None:
        a, b = left(r), right(r)
        if isinstance(a, str) and isinstance(b, str):
            return cmp(a, b)
        x, y = _float(a), _float(b)
        return None if x is None or y is None else cmp(x, y)
    return values


def _list_value(node: Node) -> Any:
    if isinstance(node, Literal):
        return node.value
    if (isinstance(node, Unary) and node.op == "-" and isinstance(node.operand, Literal)
            and isinstance(node.operand.value, (int, float)) and not isinstance(node.operand.value, bool)):
        return -node.operand.value
    raise ExprError("a list may hold only plain values: numbers, strings, true, false, null", node.col)


def _membership(n: Binary) -> Fn:
    if not isinstance(n.right, ListLit):
        raise ExprError(f"'{n.op}' needs a list, e.g. [\"a\", \"b\"]", n.right.col)
    values = [_list_value(item) for item in n.right.items]
    present = [v for v in values if v is not None]
    left = _compile(n.left)
    convert: Callable[[Any], Any]
    options: frozenset | set
    if present and all(isinstance(v, str) for v in present):
        convert, options = text, frozenset(present)
    elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        convert, options = _float, frozenset(float(v) for v in present)
    else:
        convert = text
        options = frozenset(str(v).lower() if isinstance(v, bool) else str(v) for v in present)
    null_matches, negate = None in values, n.op == "not in"

    def member(r: Record) -> bool | None:
        v = convert(left(r))
        if v is None:
            found = True if null_matches else None
        else:
            found = v in options
        return None if found is None else found is not negate

    return member
