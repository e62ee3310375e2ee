import json
"""The expression language is bounded: deep or long expressions are clean errors (exit 2), never a RecursionError.

Limits (mlmon/expr.py): MAX_NESTING levels of parentheses, brackets, calls, ``not`` and unary
``-``; a tree at most MAX_DEPTH operations deep; MAX_TOKENS tokens. Chains of ``and`` / ``or``
are balanced trees, so thousands of joined conditions work.
"""

import sys
from datetime import UTC, datetime

import polars as pl
import pytest
from conftest import record, write_jsonl
from typer.testing import CliRunner

from mlmon.cli import app
from mlmon.errors import ConfigError
from mlmon.expr import (
    MAX_DEPTH,
    MAX_NESTING,
    MAX_TOKENS,
    ExprError,
    compile_expr,
    measure,
    names,
    parse,
    unparse,
)
from mlmon.rules.evaluate import evaluate_rule
from mlmon.rules.load import rules_from_text

runner = CliRunner()

TOO_DEEP = [
    # what, text, column of the token that goes one level too deep
    ("parentheses", "(" * 150 + "error_rate" + ")" * 150 + " > 0", MAX_NESTING + 1),
    ("calls", "min(" * 300 + "error_rate" + ")" * 300 + " > 0", 4 * MAX_NESTING + 4),
    ("not", "not " * 2000 + "error_rate > 0", 4 * MAX_NESTING + 1),
    ("unary minus", "-" * 2000 + "error_rate > 0", MAX_NESTING + 1),
    ("lists", "error_rate in " + "[" * 500 + "]" * 500, 14 + MAX_NESTING + 1),
]


@pytest.mark.parametrize("what,text,col", TOO_DEEP, ids=[t[0] for t in TOO_DEEP])
def test_deep_nesting_is_an_expression_error_at_its_column(what, text, col):
    with pytest.raises(ExprError) as info:
        parse(text)
    assert "nested too deeply" in str(info.value)
    assert info.value.col == col


def test_nesting_up_to_the_limit_parses_and_compiles():
    text = "(" * MAX_NESTING + "error_rate" + ")" * MAX_NESTING + " > 0"
    assert unparse(parse(text)) == "(error_rate > 0)"
    calls = "max(" * MAX_NESTING + "error_rate" + ")" * MAX_NESTING + " > 0"
    compile_expr(parse(calls), {"error_rate": pl.Float64})


def test_a_long_arithmetic_chain_is_refused_not_a_recursion_error():
    text = " + ".join(["error_rate"] * 300) + " > 0"
    with pytest.raises(ExprError) as info:
        parse(text)
    assert f"more than {MAX_DEPTH} operations inside each other" in str(info.value)
    parse(" + ".join(["error_rate"] * (MAX_DEPTH - 2)) + " > 0")  # just within


def test_too_many_tokens_is_refused():
    text = "x in [" + ", ".join(["1"] * MAX_TOKENS) + "]"
    with pytest.raises(ExprError, match=f"more than {MAX_TOKENS:,} names"):
        parse(text)


def test_three_thousand_conditions_joined_by_and_work():
    text = " and ".join(f"error_rate > {i / 10000}" for i in range(3000))
    tree = parse(text)
    assert len(names(tree)) == 3000
    assert [n.col for n in names(tree)][:2] == [1, 22]  # in order, left to right
    assert unparse(measure(tree).node) == "error_rate"
    frame = pl.DataFrame({"error_rate": [0.5, 0.1, None]})
    assert frame.select(compile_expr(tree, dict(frame.schema))).to_series().to_list() == [True, False, False]
    either = parse(" or ".join(f"error_rate > {i / 10000}" for i in range(3000)))
    assert frame.select(compile_expr(either, dict(frame.schema))).to_series().to_list() == [True, True, False]


def test_balanced_chains_keep_three_valued_logic():
    frame = pl.DataFrame({"a": [1, 1, None, 0], "b": [1, None, None, None]})
    schema = dict(frame.schema)
    for text, want in [
        ("a > 0 and a > 0 and b > 0 and a > 0", [True, False, False, False]),
        ("a > 0 or b > 0 or a > 5 or b > 5", [True, True, False, False]),
        ("not (a > 0 and b > 0 and a > 0) and a == 1", [False, False, False, False]),
        ("not (a > 0 and b > 0 and a > 0 and a > 0) and a == 0", [False, False, False, True]),
    ]:
        assert frame.select(compile_expr(parse(text), schema)).to_series().to_list() == want, text


def test_three_terms_still_group_from_the_left():
    assert unparse(parse("a and b and c")) == "((a and b) and c)"
    assert unparse(parse("a or b or c or d")) == "((a or b) or (c or d))"


def test_limits_hold_even_when_called_deep_in_the_stack():
    depth = 0

    def nested():
        nonlocal depth
        depth += 1
        if depth < sys.getrecursionlimit() - 150:
            return nested()
        return parse("(" * MAX_NESTING + "a" + ")" * MAX_NESTING + " > 1")

    with pytest.raises(ExprError, match="nested too deeply"):
        nested()


# --- through rules files, check and replay ---------------------------------------------------------------


def rule_file(expr: str) -> str:
    return f'rules:\n  - name: d\n    expr: "{expr}"\n'


def test_rules_validate_reports_the_rule_line_and_column():
    with pytest.raises(ConfigError) as info:
        rules_from_text(rule_file("(" * 150 + "error_rate" + ")" * 150 + " > 0"), "deep.yaml")
    assert info.value.details == [(
        f'deep.yaml:3:{11 + MAX_NESTING + 1}: rule "d": expr does not parse: the expression is nested too deeply: '
        f"more than {MAX_NESTING} levels of parentheses, brackets, calls, 'not' or '-'. Simplify it."
    )]


def test_a_long_and_chain_evaluates_as_a_rule():
    ruleset = rules_from_text(rule_file(" and ".join(["error_rate > 0"] * 3000)))
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    frame = pl.DataFrame({"ts": [now], "status": [500], "latency_ms": [1.0], "error": [None]},
                         schema_overrides={"error": pl.String})
    outcome = evaluate_rule(frame, ruleset.rules[0], None, None)
    assert [a.value for a in outcome.alerts] == [1.0]


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    return str(write_jsonl(tmp_path_factory.mktemp("logs") / "x.jsonl", [record(status=500)]))


@pytest.mark.parametrize("text", [
    "(" * 150 + "error_rate" + ")" * 150 + " > 0",
    "min(" * 300 + "error_rate" + ")" * 300 + " > 0",
    " + ".join(["error_rate"] * 500) + " > 0",
], ids=["parentheses", "calls", "sum"])
@pytest.mark.parametrize("command", ["validate", "check"])
def test_validate_and_check_exit_2_with_the_line(command, text, log, tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text(rule_file(text))
    args = ["rules", "validate", str(path)] if command == "validate" else ["check", log, "--rules", str(path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert not isinstance(result.exception, RecursionError)
    assert f"{path}:3:" in result.stderr and "expr does not parse" in result.stderr


def test_check_fires_on_a_long_and_chain(log, tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text(rule_file(" and ".join(["error_rate > 0"] * 3000)))
    result = runner.invoke(app, ["check", log, "--rules", str(path), "--format", "json"])
    assert result.exit_code == 1, result.output  # it fires: the gate, not a crash
    (alert,) = json.loads(result.stdout)["alerts"]
    assert alert["state"] == "firing" and alert["value"] == 1.0  # the log's one request is a 500


@pytest.mark.parametrize("where", [
    "(" * 300 + "status" + ")" * 300 + " > 0",
    " + ".join(["status"] * 500) + " > 0",
    "not " * 3000 + "status > 0",
])
def test_replay_where_exits_2(where, log):
    result = runner.invoke(app, ["replay", log, "--dry-run", "--target", "http://127.0.0.1:9/x", "--where", where])
    assert result.exit_code == 2, result.output
    assert not isinstance(result.exception, RecursionError)
    assert "mlmon: error: the expression is" in result.stderr
