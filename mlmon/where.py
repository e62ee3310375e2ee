"""Record filters (``where``): a condition over record fields, applied to the records before any metric.

A rule's ``where`` and ``mlmon report --where`` are one filter: the same language
(:mod:`mlmon.expr`), the same fields, and the same code, so a record a rule leaves out
is left out of the report too. Logic is three-valued: a record whose condition is
unknown (a null field) does not match.
"""

from __future__ import annotations

import polars as pl

from mlmon.errors import UsageError
from mlmon.expr import ExprError, Node, compile_expr, is_boolean, names, parse
from mlmon.logs.mapping import CANONICAL_FIELDS, INPUT_PREFIX, OUTPUT_PREFIX
from mlmon.safetext import printable
from mlmon.yamlfile import did_you_mean


def is_record_field(name: str) -> bool:
    """A canonical field (``status``) or an input or output field (``input.country``)."""
    return name in CANONICAL_FIELDS or (name.startswith((INPUT_PREFIX, OUTPUT_PREFIX)) and "." in name)


def record_field_problem(name: str, option: str, instead: str) -> str | None:
    """Why the filter ``option`` cannot read ``name`` (a metric, a misspelt field), or None for a record field.

    ``instead`` says where a metric belongs.
    """
    # Imported here: rules.load, which knows every metric name (drift and labels too), imports this module.
    from mlmon.rules.load import known_metrics

    if is_record_field(name):
        return None
    if name in known_metrics():
        return f"{name!r} is a metric; {option} filters records before metrics, so {instead}"
    if name.startswith(("request.", "response.")):
        fixed = name.replace("request.", "input.", 1).replace("response.", "output.", 1)
        return f"unknown record field {name!r}; did you mean {fixed!r}?"
    return f"unknown record field {name!r}{did_you_mean(name, tuple(CANONICAL_FIELDS))}"


def parse_where(text: str, option: str = "--where") -> Node:
    """The filter ``text`` given as ``option``; UsageError naming the column of its first problem.

    It parses, names only record fields, and is a condition: what a rule's ``where`` must be.
    """
    try:
        node = parse(text)
        compile_expr(node, {})
    except ExprError as exc:
        raise UsageError(printable(f"{option} column {exc.col}: {exc.message}"), exc.hint) from None
    for name in names(node):
        problem = record_field_problem(name.name, option, "compare it in a rule's 'expr' (mlmon check)")
        if problem is not None:
            raise UsageError(printable(f"{option} column {name.col}: {problem}"),
                             "Filter on record fields: status, latency_ms, model_version, ..., input.FIELD, "
                             "output.FIELD.")
    if not is_boolean(node):
        raise UsageError(f"{option} must be a condition, such as status >= 500 or input.country == \"DE\"")
    return node


def where_fields(node: Node | None) -> list[str]:
    """The record fields a filter reads, so that the reader decodes them."""
    return list(dict.fromkeys(n.name for n in names(node))) if node is not None else []


def apply_where(records: pl.DataFrame, node: Node | None) -> pl.DataFrame:
    """The records the filter matches (all of them without one)."""
    if node is None:
        return records
    return records.filter(compile_expr(node, dict(records.schema)))
