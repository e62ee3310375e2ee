"""The expression language compiled to Polars.

The grammar, the parser and the checks live in :mod:`mlmon.exprparse` (which imports no
Polars, for serving code); this module re-exports them and compiles a parsed tree to a
Polars expression. :mod:`mlmon.expr_eval` evaluates the same tree in plain Python with
the same meaning, and a property test keeps the two in agreement.
"""

from __future__ import annotations

import polars as pl

from mlmon.exprparse import (  # noqa: F401  (re-exported: mlmon.expr is the language's public name)
    COMPARISONS,
    FUNCTIONS,
    MAX_DEPTH,
    MAX_NAME_PARTS,
    MAX_NESTING,
    MAX_TOKENS,
    Binary,
    Call,
    ExprError,
    ListLit,
    Literal,
    Measure,
    Name,
    Node,
    Token,
    Unary,
    check_types,
    first_comparison,
    is_boolean,
    measure,
    names,
    parse,
    unparse,
)

# --- compilation to Polars ----------------------------------------------------------


def _is_text(node: Node, schema: dict[str, pl.DataType]) -> bool:
    if isinstance(node, Name):
        return schema.get(node.name) in (pl.String, pl.Utf8)
    return isinstance(node, Literal) and isinstance(node.value, str)


def _literal_value(node: Node) -> object:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Unary) and node.op == "-" and isinstance(node.operand, Literal) and isinstance(node.operand.value, (int, float)) and not isinstance(node.operand.value, bool):
        return -node.operand.value
    raise ExprError("a list may hold only plain values: numbers, strings, true, false, null", node.col)


def compile_expr(node: Node, schema: dict[str, pl.DataType]) -> pl.Expr:
    """A Polars boolean (or value) expression for ``node`` over a frame with ``schema``.

    Logic is three-valued, as in SQL: a comparison with a missing value (null, or NaN
    from 0/0) is unknown, ``not`` of unknown is unknown, and a condition that ends
    unknown counts as false. Division by zero is unknown too. Text columns compared
    with numbers, or used in arithmetic, are read as numbers.
    """
    check_types(node, schema)
    expr = _compile(node, schema)
    return expr.fill_null(False) if is_boolean(node, schema) else expr


def compile_value(node: Node, schema: dict[str, pl.DataType]) -> pl.Expr:
    """A numeric expression (for an alert's reported value); NaN becomes null."""
    return _numeric(node, schema).cast(pl.Float64).fill_nan(None)


def _numeric(n: Node, schema: dict[str, pl.DataType]) -> pl.Expr:
    expr = _compile(n, schema)
    if _is_text(n, schema) and not isinstance(n, Literal):
        return expr.cast(pl.Float64, strict=False)
    return expr


def _compile(n: Node, schema: dict[str, pl.DataType]) -> pl.Expr:
    if isinstance(n, Literal):
        return pl.lit(n.value)
    if isinstance(n, Name):
        return pl.col(n.name)
    if isinstance(n, Call):
        args = [_numeric(a, schema) for a in n.args]
        if n.func == "abs":
            return args[0].abs()
        return pl.min_horizontal(args) if n.func == "min" else pl.max_horizontal(args)
    if isinstance(n, Unary):
        if n.op == "not":
            return ~_compile(n.operand, schema)
        return -_numeric(n.operand, schema)
    if isinstance(n, ListLit):
        raise ExprError("a list can only follow 'in'", n.col)
    assert isinstance(n, Binary)
    if n.op in ("and", "or"):
        left, right = _compile(n.left, schema), _compile(n.right, schema)
        return left & right if n.op == "and" else left | right  # Kleene logic on nulls
    if n.op in ("in", "not in"):
        return _membership(n, schema)
    if n.op in ("==", "!="):
        for a, b in ((n.left, n.right), (n.right, n.left)):
            if isinstance(b, Literal) and b.value is None:
                return _compile(a, schema).is_null() if n.op == "==" else _compile(a, schema).is_not_null()
    if n.op in COMPARISONS:
        left, right = _operands(n.left, n.right, schema)
        return {
            "==": left == right, "!=": left != right, "<": left < right,
            "<=": left <= right, ">": left > right, ">=": left >= right,
        }[n.op]
    left, right = _numeric(n.left, schema), _numeric(n.right, schema)
    if n.op == "+":
        return left + right
    if n.op == "-":
        return left - right
    if n.op == "*":
        return left * right
    if n.op == "/":
        return pl.when(right != 0).then(left.cast(pl.Float64) / right)
    return pl.when(right != 0).then(left % right)


def _operands(left: Node, right: Node, schema: dict[str, pl.DataType]) -> tuple[pl.Expr, pl.Expr]:
    """Both sides of a comparison, as text when either side is a string literal, else as numbers (NaN as null)."""
    if _is_text(left, schema) and _is_text(right, schema):
        return _compile(left, schema), _compile(right, schema)
    for a, b in ((left, right), (right, left)):
        if isinstance(b, Literal) and isinstance(b.value, str):
            pair = (_compile(a, schema).cast(pl.String), _compile(b, schema))
            return pair if a is left else (pair[1], pair[0])
    if any(isinstance(x, Literal) and isinstance(x.value, bool) for x in (left, right)):
        return _compile(left, schema), _compile(right, schema)
    return (_numeric(left, schema).cast(pl.Float64).fill_nan(None),
            _numeric(right, schema).cast(pl.Float64).fill_nan(None))


def _membership(n: Binary, schema: dict[str, pl.DataType]) -> pl.Expr:
    if not isinstance(n.right, ListLit):
        raise ExprError(f"'{n.op}' needs a list, e.g. [\"a\", \"b\"]", n.right.col)
    values = [_literal_value(item) for item in n.right.items]
    present = [v for v in values if v is not None]
    left = _compile(n.left, schema)
    if present and all(isinstance(v, str) for v in present):
        left, options = left.cast(pl.String), present
    elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        left, options = _numeric(n.left, schema).cast(pl.Float64).fill_nan(None), [float(v) for v in present]
    else:
        left, options = left.cast(pl.String), [str(v).lower() if isinstance(v, bool) else str(v) for v in present]
    test = left.is_in(options)
    if None in values:
        test = test | left.is_null()
    else:
        test = pl.when(left.is_not_null()).then(test)  # unknown for a missing value, as ==
    return ~test if n.op == "not in" else test
