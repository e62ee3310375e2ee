"""The expression language, the rule state machine and rule evaluation over tiny generated logs.

State-machine cases use a compact notation in the spirit of ``promtool test rules``:
one character per window, in time order.

    breaches: x breach   . no breach   _ too few requests (ignored)
    states:   p pending  F firing      . inactive            _ ignored
"""

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from conftest import record, write_jsonl
from mlmon.expr import ExprError, compile_expr, first_comparison, is_boolean, names, parse, unparse
from mlmon.logs.reader import read_logs
from mlmon.rules.evaluate import (
    FIRING, IGNORED, INACTIVE, PENDING, evaluate_rule, evaluate_rules, format_number, record_fields, run_states,
)
from mlmon.rules.load import rules_from_text

# --- parsing --------------------------------------------------------------------------

PARSES = [
    # precedence: or < and < not < comparison < + - < * / % < unary minus
    ("a or b and c", "(a or (b and c))"),
    ("a and b or c", "((a and b) or c)"),
    ("(a or b) and c", "((a or b) and c)"),
    ("not a == 1 and b", "(not (a == 1) and b)"),
    ("not not a", "not not a"),
    ("a + b * c > d - e / f", "((a + (b * c)) > (d - (e / f)))"),
    ("a % 2 == 1", "((a % 2) == 1)"),
    ("10 - 2 - 3 == 5", "(((10 - 2) - 3) == 5)"),
    ("8 / 2 / 2", "((8 / 2) / 2)"),
    ("-a * b", "(-a * b)"),
    ("-2 - -3 < - - x", "((-2 - -3) < --x)"),
    ("a > -1", "(a > -1)"),
    # lists, null, booleans, aliases; keywords in any case, names as written
    ("a in [1, 'x', 2.5]", '(a in [1, "x", 2.5])'),
    ("a not in []", "(a not in [])"),
    ("a == null or b != NONE", "((a == null) or (b != null))"),
    ("TRUE AND False", "(true and false)"),
    ("a && b || !c", "((a and b) or not c)"),
    ("Model == 'x'", '(Model == "x")'),
    # names, numbers, strings with both quotes and escapes
    ("input.country == \"DE\"", '(input.country == "DE")'),
    ("psi.income >= 1e3", "(psi.income >= 1000.0)"),
    (".5 < a", "(0.5 < a)"),
    (r"""'it\'s' == "say \"hi\"" """, r'("it\'s" == "say \"hi\"")'.replace("\\'", "'")),
    # functions
    ("abs(a - b) > max(c, 1, d) + min(e)", "(abs((a - b)) > (max(c, 1, d) + min(e)))"),
]


@pytest.mark.parametrize("text,tree", PARSES, ids=[t for t, _ in PARSES])
def test_parse(text, tree):
    assert unparse(parse(text)) == tree


def test_unparse_round_trips():
    for text, tree in PARSES:
        assert unparse(parse(unparse(parse(text)))) == tree


def test_string_escapes():
    assert parse(r"'a\'b'").value == "a'b"
    assert parse(r'"a\"b"').value == 'a"b'
    assert parse(r'"tab\there\nnewline \\ back"').value == "tab\there\nnewline \\ back"
    assert parse("'double \" inside single'").value == 'double " inside single'
    assert parse('"single \' inside double"').value == "single ' inside double"


PARSE_ERRORS = [
    # text, 1-based column, message
    ("", 1, "the expression is empty"),
    ("   ", 1, "the expression is empty"),
    ("a >", 4, "expected a value but found the end"),
    ("a > 1)", 6, "unexpected ')'"),
    ("(a > 1", 7, "expected ')' but found the end"),
    ("a = 1", 3, "use == to compare, not ="),
    ("a > 1 > 2", 7, "comparisons cannot be chained"),
    ("a < b == c", 7, "comparisons cannot be chained"),
    ("a $ 1", 3, "unexpected character '$'"),
    ("a > 'abc", 5, "unclosed string"),
    ("foo(a) > 1", 1, "unknown function 'foo'"),
    ("x > abs(a, b)", 5, "abs() takes 1 argument"),
    ("x > min()", 5, "min() takes 1 or more arguments"),
    ("a not b", 3, "unexpected 'not'"),
    ("a > 1 b", 7, "unexpected 'b'"),
    ("a in [1, 2", 11, "expected ']' but found the end"),
    ("max(a,) > 1", 7, "expected a value but found ')'"),
    ("a >= >= 1", 6, "expected a value but found '>='"),
    ("a and", 6, "expected a value but found the end"),
]


@pytest.mark.parametrize("text,col,message", PARSE_ERRORS, ids=[t or "empty" for t, _, _ in PARSE_ERRORS])
def test_parse_errors_point_at_the_column(text, col, message):
    with pytest.raises(ExprError) as info:
        parse(text)
    assert info.value.col == col
    assert message in str(info.value)


def test_an_expression_must_be_text():
    with pytest.raises(ExprError, match="must be a string"):
        parse(5)  # type: ignore[arg-type]


COMPILE_ERRORS = [
    ("[1, 2] == 1", 1, "a list can only follow 'in'"),
    ("a in b", 6, "'in' needs a list"),
    ("a not in 'x'", 10, "'not in' needs a list"),
    ("a in [b, 1]", 7, "a list may hold only plain values"),
]


@pytest.mark.parametrize("text,col,message", COMPILE_ERRORS, ids=[t for t, _, _ in COMPILE_ERRORS])
def test_compile_errors_point_at_the_column(text, col, message):
    with pytest.raises(ExprError) as info:
        compile_expr(parse(text), {})
    assert info.value.col == col
    assert message in str(info.value)


def test_analysis_helpers():
    tree = parse("abs(a) > 1 and b.c in [1] or not d == e")
    assert [n.name for n in names(tree)] == ["a", "b.c", "d", "e"]
    assert [n.col for n in names(tree)] == [5, 16, 34, 39]
    assert is_boolean(tree) and is_boolean(parse("true")) and is_boolean(parse("not a"))
    assert not is_boolean(parse("a + 1")) and not is_boolean(parse("abs(a)")) and not is_boolean(parse("a"))
    assert unparse(first_comparison(parse("x + 1 > 2 and y < 3")).left) == "(x + 1)"
    assert first_comparison(parse("a + 1")) is None


# --- evaluation over Polars frames, against plain Python --------------------------------

ROWS = [
    # x: float with nulls, n: int with nulls, s: numbers as text, t: labels
    {"x": 1.0, "n": 2, "s": "1.5", "t": "a"},
    {"x": None, "n": 0, "s": "x", "t": None},
    {"x": -3.0, "n": None, "s": None, "t": "b"},
    {"x": 0.0, "n": 5, "s": "10", "t": "a"},
    {"x": 2.5, "n": -2, "s": "-1", "t": 'say "hi"'},
    {"x": 7.0, "n": 3, "s": "7.0", "t": "it's"},
]
FRAME = pl.DataFrame(ROWS, schema={"x": pl.Float64, "n": pl.Int64, "s": pl.String, "t": pl.String})


def num(v):
    """Text read as a number, as mlmon does: None when it is not one."""
    if v is None:
        return None
    try:
        return float(v)
    except ValueError:
        return None


def ok(*values):
    return all(v is not None for v in values)


EVALS = [
    # expression, what plain Python says for one row (a comparison with a null is false)
    ("x > 0 or n > 1 and t == 'a'", lambda r: (ok(r["x"]) and r["x"] > 0) or (ok(r["n"]) and r["n"] > 1 and r["t"] == "a")),
    ("(x > 0 or n > 1) and t == 'a'", lambda r: ((ok(r["x"]) and r["x"] > 0) or (ok(r["n"]) and r["n"] > 1)) and r["t"] == "a"),
    ("not x > 0", lambda r: ok(r["x"]) and not r["x"] > 0),  # not(unknown) is unknown, which is false
    ("-x + 1 > 0", lambda r: ok(r["x"]) and -r["x"] + 1 > 0),
    ("x * 2 + n >= 2", lambda r: ok(r["x"], r["n"]) and r["x"] * 2 + r["n"] >= 2),
    ("2 + 3 * 4 == 14 and 2 * 3 + 4 == 10", lambda r: True),
    ("n % 2 == 1", lambda r: ok(r["n"]) and r["n"] % 2 == 1),
    ("x % 2 == 1", lambda r: ok(r["x"]) and r["x"] % 2 == 1),
    ("abs(x) >= 2.5", lambda r: ok(r["x"]) and abs(r["x"]) >= 2.5),
    ("abs(-n) == n", lambda r: ok(r["n"]) and abs(-r["n"]) == r["n"]),
    # min/max skip nulls, as SQL's LEAST/GREATEST in PostgreSQL
    ("min(x, n) < 0.5", lambda r: min([v for v in (r["x"], r["n"]) if v is not None]) < 0.5),
    ("max(x, n, 3) == 3", lambda r: max([v for v in (r["x"], r["n"], 3) if v is not None]) == 3),
    # text columns compared with numbers are read as numbers
    ("s > 1", lambda r: ok(num(r["s"])) and num(r["s"]) > 1),
    ("s == 1.5", lambda r: num(r["s"]) == 1.5),
    ("s + 1 > n", lambda r: ok(num(r["s"]), r["n"]) and num(r["s"]) + 1 > r["n"]),
    ("x < s", lambda r: ok(r["x"], num(r["s"])) and r["x"] < num(r["s"])),
    ("s in [1.5, 10]", lambda r: num(r["s"]) in (1.5, 10)),
    ("t == 1", lambda r: False),
    # text with text
    ("t == 'a'", lambda r: r["t"] == "a"),
    ('t != "a"', lambda r: ok(r["t"]) and r["t"] != "a"),
    ("t > 'b'", lambda r: ok(r["t"]) and r["t"] > "b"),
    ("s == '10'", lambda r: r["s"] == "10"),
    ("t in ['a', \"b\"]", lambda r: r["t"] in ("a", "b")),
    ("t not in ['a']", lambda r: r["t"] is not None and r["t"] not in ("a",)),
    ('t == "say \\"hi\\""', lambda r: r["t"] == 'say "hi"'),
    ("t == 'say \"hi\"'", lambda r: r["t"] == 'say "hi"'),
    ("t == 'it\\'s'", lambda r: r["t"] == "it's"),
    ("n in [0, 5]", lambda r: r["n"] in (0, 5)),
    ("n not in [0, 5]", lambda r: r["n"] is not None and r["n"] not in (0, 5)),
    ("x in [1, 7]", lambda r: r["x"] in (1.0, 7.0)),
    ("x in [1.0, 7.0]", lambda r: r["x"] in (1.0, 7.0)),
    ("n in [-2, 0]", lambda r: r["n"] in (-2, 0)),
    ("t in []", lambda r: False),
    # null
    ("x == null", lambda r: r["x"] is None),
    ("null == t", lambda r: r["t"] is None),
    ("n != none", lambda r: r["n"] is not None),
    ("x == null or x > 5", lambda r: r["x"] is None or r["x"] > 5),
    # three-valued logic, as SQL: a comparison with a null is unknown, and so is its negation
    ("x > 0 or not x > 0", lambda r: ok(r["x"])),
    ("x != 1", lambda r: ok(r["x"]) and r["x"] != 1),
    ("not (x == 1)", lambda r: ok(r["x"]) and not r["x"] == 1),
    # division: by a non-zero number as in Python
    ("x / n > 0.4", lambda r: ok(r["x"], r["n"]) and r["n"] != 0 and r["x"] / r["n"] > 0.4),
    ("x / 2 == x * 0.5", lambda r: ok(r["x"])),
    ("true", lambda r: True),
    ("true and not false", lambda r: True),
    ("true == (x > 1)", lambda r: ok(r["x"]) and r["x"] > 1),
]

XFAIL_EVALS: dict[str, str] = {}


def _eval_params():
    for text, python in EVALS:
        marks = [pytest.mark.xfail(strict=True, reason=XFAIL_EVALS[text])] if text in XFAIL_EVALS else []
        yield pytest.param(text, python, id=text, marks=marks)


def evaluate(text, frame=FRAME):
    expr = compile_expr(parse(text), dict(frame.schema))
    out = frame.select(expr.alias("out"))["out"]
    if out.len() == 1 and frame.height != 1:
        out = pl.Series("out", [out[0]] * frame.height)
    return out.to_list()


@pytest.mark.parametrize("text,python", list(_eval_params()))
def test_evaluate_like_python(text, python):
    assert evaluate(text) == [bool(python(r)) for r in ROWS]


def test_arithmetic_values_like_python():
    assert evaluate("x * 2 + n") == [4.0, None, None, 5.0, 3.0, 17.0]
    assert evaluate("-x") == [-1.0, None, 3.0, -0.0, -2.5, -7.0]
    assert evaluate("n % 2") == [0, 0, None, 1, 0, 1]  # floored, as Python
    assert evaluate("abs(s)") == [1.5, None, None, 10.0, 1.0, 7.0]  # text read as numbers
    assert evaluate("x / n")[:1] + evaluate("x / n")[3:] == [0.5, 0.0, -1.25, 7.0 / 3]


def test_division_by_zero_gives_no_number_and_no_crash():
    frame = pl.DataFrame({"a": [0.0, 1.0, None], "b": [0, 0, 0]})
    values = evaluate("a / b", frame)
    assert values[2] is None
    assert all(v is None or v != v or v in (float("inf"), float("-inf")) for v in values)  # no Python error


def test_zero_divided_by_zero_breaches_nothing():
    frame = pl.DataFrame({"a": [0.0], "b": [0]})
    assert evaluate("a / b > 0.5", frame) == [False]
    assert evaluate("a / b >= 0", frame) == [False]


def test_nulls_in_logical_operators():
    frame = pl.DataFrame({"p": [True, None, False], "q": [None, None, True]}, schema={"p": pl.Boolean, "q": pl.Boolean})
    assert evaluate("p and q", frame) == [False, False, False]
    assert evaluate("p or q", frame) == [True, False, True]
    assert evaluate("not p", frame) == [False, False, True]  # not(unknown) stays unknown


# --- the state machine --------------------------------------------------------------

_B = {"x": True, ".": False, "_": None}
_S = {PENDING: "p", FIRING: "F", INACTIVE: ".", IGNORED: "_"}

STATES = [
    # breaches, for, keep_firing_for, states
    ("", 1, 0, ""),
    ("x", 1, 0, "F"),
    ("x.x", 1, 0, "F.F"),
    ("...", 1, 0, "..."),
    ("___", 1, 0, "___"),
    ("x.xx.x", 2, 0, "p.pF.p"),
    ("xxxx.", 3, 0, "ppFF."),
    ("xx.xx", 3, 0, "pp.pp"),
    # keep_firing_for holds firing after recovery; a breach during the hold continues firing
    ("x.x", 1, 1, "FFF"),
    ("x..x", 1, 1, "FF.F"),
    ("x...", 1, 2, "FFF."),
    ("x.x...", 1, 1, "FFFF.."),
    ("xx.x.", 2, 1, "pFFFF"),
    ("xx..x", 2, 1, "pFF.p"),
    # too few requests: changes nothing, neither the run towards `for` nor the hold
    ("x_x", 2, 0, "p_F"),
    ("x_._x", 2, 0, "p_._p"),
    ("x_.", 1, 1, "F_F"),
    ("x_._.", 1, 1, "F_F_."),
    ("_x_x_", 2, 0, "_p_F_"),
]


@pytest.mark.parametrize("breaches,for_,keep,states", STATES, ids=[f"{b or 'empty'}-for{f}-keep{k}" for b, f, k, _ in STATES])
def test_run_states(breaches, for_, keep, states):
    got = run_states([_B[c] for c in breaches], for_, keep)
    assert "".join(_S[s] for s in got) == states


# --- rules over tiny generated logs ---------------------------------------------------

T0 = datetime(2026, 11, 27, tzinfo=timezone.utc)


def hour(h: int) -> datetime:
    return T0 + timedelta(hours=h)


def logs(tmp_path, *segments, name="x.jsonl"):
    """Records from compact series: per segment, one (requests, latency, errors) per hour, or None for silence.

    A segment is ``(fields, series)``; a bare series is churn v1.
    """
    rows = []
    for seg in segments:
        fields, series = seg if isinstance(seg, tuple) else ({}, seg)
        for h, window in enumerate(series):
            if window is None:
                continue
            count, latency, errors = window if isinstance(window, tuple) else (5, window, 0)
            for i in range(count):
                rows.append(record(
                    ts=(hour(h) + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    request_id=f"{fields}-{h}-{i}", latency_ms=float(latency),
                    status=500 if i < errors else 200, error="boom" if i < errors else None, **fields,
                ))
    return write_jsonl(tmp_path / name, rows)


def outcome(tmp_path, rules_yaml, *segments, since=None, until=None):
    ruleset = rules_from_text("rules:\n" + rules_yaml)
    data = read_logs([str(logs(tmp_path, *segments))], fields=record_fields(ruleset))
    return evaluate_rule(data.records, ruleset.rules[0], since, until)


def states_of(result):
    return "".join(_S[s] for s in result.windows["state"].to_list())


def test_pending_then_firing_then_resolved(tmp_path):
    out = outcome(tmp_path, "  - name: slow\n    expr: latency_p95_ms > 100\n    for: 2\n", [10, 200, 300, 250, 10])
    assert states_of(out) == ".pFF."
    assert out.windows["_breach"].to_list() == [False, True, True, True, False]
    [alert] = out.alerts
    assert (alert.first_window, alert.last_window) == (hour(2), hour(3))  # pending windows do not count
    assert alert.windows_firing == 2
    assert alert.value == 300.0  # the worst firing window, not the pending one
    assert alert.active is False  # resolved by the latest window
    assert alert.key == "slow{}" and alert.segment == {}
    assert alert.summary == "latency_p95_ms > 100 (value 300)"


def test_active_when_the_latest_window_fires(tmp_path):
    out = outcome(tmp_path, "  - name: slow\n    expr: latency_p95_ms > 100\n", [10, 200, 150])
    [alert] = out.alerts
    assert alert.active is True and alert.value == 200.0 and alert.windows_firing == 2
    assert (alert.first_window, alert.last_window) == (hour(1), hour(2))


def test_for_not_reached_gives_no_alert(tmp_path):
    out = outcome(tmp_path, "  - name: slow\n    expr: latency_p95_ms > 100\n    for: 2\n", [200, 10, 200])
    assert states_of(out) == "p.p"
    assert out.alerts == []


def test_keep_firing_for(tmp_path):
    rules = "  - name: slow\n    expr: latency_p95_ms > 100\n    keep_firing_for: 2\n"
    out = outcome(tmp_path, rules, [200, 10, 10, 10])
    assert states_of(out) == "FFF."
    [alert] = out.alerts
    assert alert.windows_firing == 3 and alert.last_window == hour(2) and alert.active is False
    assert alert.value == 200.0  # held windows do not breach; the worst is still the breach
    # Held at the latest window: still active.
    out = outcome(tmp_path, rules, [10, 200, 10])
    assert states_of(out) == ".FF" and out.alerts[0].active is True


def test_min_requests_ignores_quiet_windows(tmp_path):
    rules = "  - name: slow\n    expr: latency_p95_ms > 100\n    for: 2\n    min_requests: 3\n"
    out = outcome(tmp_path, rules, [(5, 200, 0), (1, 999, 0), (5, 200, 0), (5, 150, 0), (5, 10, 0)])
    assert states_of(out) == "p_FF."
    assert out.windows["_breach"].to_list() == [True, None, True, True, False]
    [alert] = out.alerts
    assert alert.value == 200.0  # the ignored 999 ms window is not a candidate
    assert alert.windows_firing == 2 and alert.first_window == hour(2)


def test_a_quiet_latest_window_keeps_the_alert_active(tmp_path):
    rules = "  - name: slow\n    expr: latency_p95_ms > 100\n    min_requests: 3\n"
    out = outcome(tmp_path, rules, [(5, 200, 0), (5, 200, 0), (1, 200, 0)])
    assert states_of(out) == "FF_"
    assert out.alerts[0].active is True


def test_worst_value_is_the_max_for_greater_than_and_the_min_for_less_than(tmp_path):
    out = outcome(tmp_path, "  - name: fast\n    expr: latency_p50_ms < 50\n", [40, 20, 30, 60])
    [alert] = out.alerts
    assert alert.value == 20.0 and alert.windows_firing == 3
    out = outcome(tmp_path, "  - name: slow\n    expr: latency_p50_ms >= 100\n", [100, 300, 250, 10])
    assert out.alerts[0].value == 300.0
    # The value is the left side of the first comparison, however it is computed.
    out = outcome(tmp_path, "  - name: r\n    expr: latency_p99_ms / latency_p50_ms > 0.5 and request_count > 0\n",
                  [100, 300])
    assert out.alerts[0].value == 1.0


def test_value_with_the_metric_on_the_right(tmp_path):
    out = outcome(tmp_path, "  - name: slow\n    expr: 100 < latency_p95_ms\n", [200, 300])
    assert out.alerts[0].value == 300.0


def test_worst_value_under_not(tmp_path):
    out = outcome(tmp_path, "  - name: slow\n    expr: not (latency_p95_ms < 100)\n", [200, 300, 10])
    assert out.alerts[0].value == 300.0


def test_first_and_last_window_and_windows_firing_with_gaps(tmp_path):
    out = outcome(tmp_path, "  - name: slow\n    expr: latency_p95_ms > 100\n", [200, 10, 200, 200, 10, 10])
    assert states_of(out) == "F.FF.."
    [alert] = out.alerts
    assert (alert.first_window, alert.last_window, alert.windows_firing) == (hour(0), hour(3), 3)


def test_summary_template_with_segment_fields_and_metric_names(tmp_path):
    rules = (
        "  - name: slow-v2\n    severity: critical\n    expr: latency_p95_ms > 100\n    by: [model, model_version]\n"
        "    labels: {team: ml}\n    description: Slow\n"
        "    summary: \"{{ model }} {{model_version}}: p95 {{ value }} ms over {{ request_count }} requests, "
        "errors {{ error_rate }} ({{ rule }}, {{ severity }}, {{ window_start }} to {{ window_end }}), "
        "p99 {{ latency_p99_ms }}, cpu {{ cpu_percent_max }}\"\n"
    )
    v1 = ({"model_version": "v1"}, [(4, 10, 0), (4, 10, 0), (4, 10, 0)])
    v2 = ({"model_version": "v2"}, [(4, 150, 1), (4, 300, 2), (4, 120, 0)])
    out = outcome(tmp_path, rules, v1, v2)
    [alert] = out.alerts
    assert alert.segment == {"model": "churn", "model_version": "v2"}
    assert alert.key == "slow-v2{model=churn,model_version=v2}"
    assert alert.summary == (
        "churn v2: p95 300 ms over 4 requests, errors 0.5 (slow-v2, critical, "
        "2026-11-27T01:00:00Z to 2026-11-27T02:00:00Z), p99 300, cpu 20"
    )
    assert alert.labels == {"team": "ml"} and alert.description == "Slow" and alert.severity == "critical"
    assert alert.to_dict() == {
        "rule": "slow-v2", "severity": "critical", "segment": {"model": "churn", "model_version": "v2"},
        "value": 300.0, "active": True, "first_window": "2026-11-27T00:00:00Z", "last_window": "2026-11-27T02:00:00Z",
        "windows_firing": 3, "summary": alert.summary, "labels": {"team": "ml"},
        "annotations": {"summary": alert.summary, "description": "Slow"}, "silenced_by": [], "inhibited_by": [],
        "state": "firing",
    }
    # Every window and segment has a state.
    assert out.windows.height == 6
    assert out.windows.filter(pl.col("model_version") == "v1")["state"].to_list() == [INACTIVE] * 3


def test_where_filters_records_before_the_metrics(tmp_path):
    rules = "  - name: v2-errors\n    expr: error_rate >= 0.5\n    where: model_version == \"v2\" and status >= 200\n"
    v1 = ({"model_version": "v1"}, [(10, 10, 0)])
    v2 = ({"model_version": "v2"}, [(2, 10, 1)])
    out = outcome(tmp_path, rules, v1, v2)
    assert out.windows["request_count"].to_list() == [2]
    assert out.alerts[0].value == 0.5


def test_segments_by_a_text_input_field(tmp_path):
    rules = "  - name: r\n    expr: latency_p95_ms > 100 and input.country != \"FR\"\n    by: [input.country]\n" \
            "    summary: \"{{ input.country }} {{ value }}\"\n"
    de = ({"request": {"country": "DE"}}, [200])
    fr = ({"request": {"country": "FR"}}, [200])
    out = outcome(tmp_path, rules, de, fr)
    assert [a.segment for a in out.alerts] == [{"input.country": "DE"}]
    assert out.alerts[0].summary == "DE 200"


def test_a_segment_that_went_quiet_is_not_active(tmp_path):
    rules = "  - name: slow\n    expr: latency_p95_ms > 100\n    by: [model_version]\n"
    v1 = ({"model_version": "v1"}, [200, 200])  # stops after two hours, still breaching
    v2 = ({"model_version": "v2"}, [10, 10, 10, 10])
    out = outcome(tmp_path, rules, v1, v2)
    [alert] = out.alerts
    assert alert.segment == {"model_version": "v1"} and alert.last_window == hour(1)
    assert alert.active is False


def test_since_and_until_cut_the_windows(tmp_path):
    rules = "  - name: slow\n    expr: latency_p95_ms > 100\n"
    out = outcome(tmp_path, rules, [200, 200, 10, 200], since=hour(1), until=hour(3))
    assert out.windows["window_start"].to_list() == [hour(1), hour(2)]
    assert states_of(out) == "F." and out.alerts[0].active is False


def test_windows_without_traffic_count_zero(tmp_path):
    out = outcome(tmp_path, "  - name: silent\n    expr: request_count == 0\n", [10, None, None, 10])
    assert out.windows["request_count"].to_list() == [5, 0, 0, 5]
    assert states_of(out) == ".FF."
    assert out.alerts[0].summary == "request_count == 0 (value 0)"


def test_a_metric_the_logs_lack_is_null_and_never_breaches(tmp_path):
    ruleset = rules_from_text("rules:\n  - name: cpu\n    expr: cpu_percent_max > 10 or cpu_percent_max == null\n")
    path = write_jsonl(tmp_path / "nocpu.jsonl", [{k: v for k, v in record().items() if k != "cpu_percent"}])
    data = read_logs([str(path)], fields=record_fields(ruleset))
    out = evaluate_rule(data.records, ruleset.rules[0], None, None)
    assert out.windows["cpu_percent_max"].to_list() == [None]
    assert out.alerts[0].value is None and out.alerts[0].summary.endswith("(value null)")


def test_no_records_no_alerts(tmp_path):
    ruleset = rules_from_text("rules:\n  - name: a\n    expr: error_rate > 0\n    by: [model]\n"
                              "  - name: b\n    expr: request_count == 0\n")
    data = read_logs([str(write_jsonl(tmp_path / "empty.jsonl", []))], fields=record_fields(ruleset))
    result = evaluate_rules(data.records, ruleset, now=T0)
    assert result.alerts == [] and result.rules_evaluated == 2 and result.generated_at == T0


def test_record_fields_cover_by_and_where():
    ruleset = rules_from_text("rules:\n  - name: a\n    expr: error_rate > 0\n    by: [model, input.plan]\n"
                              "    where: output.label == \"x\" and endpoint != \"/y\"\n")
    fields = record_fields(ruleset)
    assert {"ts", "status", "error", "latency_ms", "model", "input.plan", "output.label", "endpoint"} <= set(fields)
    assert len(fields) == len(set(fields))


@pytest.mark.parametrize("value,text", [
    (None, "null"), (0.0, "0"), (1.0, "1"), (0.02931, "0.0293"), (238.84999999999982, "238.85"),
    (0.0004, "0.0004"), (0.00004, "4e-05"), (12, "12"), (float("nan"), "NaN"), (-1.5, "-1.5"),
])
def test_format_number(value, text):
    assert format_number(value) == text


def test_many_rules_share_tables_and_each_gets_its_own_outcome(tmp_path):
    """Issue 11 item 16: rules that share where/every/by are judged together, in batches; each outcome is
    what that rule judged alone gives, and every firing alert is one a plain-Python count predicts."""
    from conftest import SAMPLE_LOGS
    from mlmon.logs.mapping import DEFAULT_MAPPING
    from mlmon.rules.evaluate import _BATCH, evaluate_rules

    n = _BATCH * 2 + 7  # several batches in the largest group
    lines = ["rules:"]
    for i in range(n):
        by = ("[model]", "[model, model_version]", "[]")[i % 3]
        where = '    where: model_version == "v2"\n' if i % 5 == 0 else ""
        lines.append(f"  - name: r{i}\n    expr: request_count > {i * 10}\n    by: {by}\n    every: 6h\n{where}"
                     f"    for: {1 + i % 3}")
    ruleset = rules_from_text("\n".join(lines) + "\n")
    data = read_logs([str(SAMPLE_LOGS / "churn.jsonl.gz")], DEFAULT_MAPPING, record_fields(ruleset))
    together = evaluate_rules(data.records, ruleset)
    alone = [evaluate_rule(data.records, rule, None, None) for rule in ruleset.rules]
    assert [o.rule.name for o in together.outcomes] == [r.name for r in ruleset.rules]
    for joint, single in zip(together.outcomes, alone):
        assert joint.alerts == single.alerts, joint.rule.name
        assert joint.windows.equals(single.windows), joint.rule.name
    # Independently, for the rules by [model] with no 'where': the 6h windows' request counts in plain Python;
    # such a rule fires when `for` windows in a row each count more than its threshold.
    import gzip
    import json
    counts: dict[str, int] = {}
    with gzip.open(SAMPLE_LOGS / "churn.jsonl.gz", "rt") as handle:
        for line in handle:
            ts = json.loads(line)["ts"]
            window = ts[:11] + f"{int(ts[11:13]) // 6 * 6:02d}"
            counts[window] = counts.get(window, 0) + 1
    series = [counts[w] for w in sorted(counts)]

    def fires(threshold: int, run: int) -> bool:
        return any(all(c > threshold for c in series[k:k + run]) for k in range(len(series) - run + 1))

    checked = [i for i in range(n) if i % 3 == 0 and i % 5]
    assert {f"r{i}" for i in checked if fires(i * 10, 1 + i % 3)} == {o.rule.name for o in together.outcomes
                                                               if o.rule.name in {f"r{i}" for i in checked} and o.alerts}
    assert 0 < sum(fires(i * 10, 1 + i % 3) for i in checked) < len(checked)  # some fire, some do not


def test_an_alert_is_named_by_its_labels_and_their_fingerprint():
    from mlmon.rules.identity import alert_labels, fingerprint

    labels = alert_labels("slow", "warning", {"model": "churn", "input.country": None}, {"team": "ml"})
    assert labels == {"alertname": "slow", "input.country": "", "model": "churn", "severity": "warning", "team": "ml"}
    assert fingerprint(labels) == fingerprint(dict(reversed(list(labels.items()))))  # order does not matter
    assert fingerprint(labels) != fingerprint({**labels, "model": "fraud"})
    import hashlib
    import json
    assert fingerprint(labels) == hashlib.sha256(json.dumps(sorted(labels.items()), separators=(",", ":")).encode()
                                                 ).hexdigest()[:16]
