"""Rule unit tests, as ``promtool test rules``: given input windows, the alerts expected at each evaluation time.

A test gives its input either as metric values per window and segment (``windows:``), judged by
the same code as ``mlmon check`` (:func:`mlmon.rules.evaluate.judge_table`), or as a small log
(``logs:``), run through the real pipeline as ``mlmon check LOG --since START --now T`` would.
At each evaluation time ``T`` the rules see the windows that end at or before ``T``, and the
alerts then active (firing in the latest window, or pending) must be exactly the expected ones.

An alert is named by its rule (``alertname``) and its labels: the alert's labels as silences
and routes see them (:mod:`mlmon.rules.identity`) without ``alertname``, that is ``severity``,
the segment values and the rule's own labels. The file format is read by :mod:`mlmon.rules.testload`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from mlmon.expr import compile_expr, names
from mlmon.logs.normalize import TS_TYPE
from mlmon.metrics.windows import WINDOW_END, WINDOW_START
from mlmon.safetext import printable
from mlmon.rules.evaluate import (
    FIRING,
    IGNORED,
    PENDING,
    RuleOutcome,
    default_summary,
    judge_table,
    render_annotations,
)
from mlmon.rules.identity import ALERTNAME, alert_labels
from mlmon.rules.model import Rule, RuleSet

STATES = (FIRING, PENDING)
#: Metrics that count requests: whole numbers, typed as ``check`` computes them.
COUNT_METRICS = ("request_count", "error_count", "hotfix_count")


@dataclass(frozen=True)
class Series:
    """Metric values of one segment, one per window from the test's start; ``None`` is a missing value."""

    segment: dict[str, str]
    every: timedelta
    values: dict[str, list[float | None]]
    where: str = ""

    @property
    def length(self) -> int:
        return max((len(v) for v in self.values.values()), default=0)


@dataclass(frozen=True)
class ExpectedAlert:
    alertname: str
    labels: dict[str, str]
    state: str = FIRING
    #: Compared key by key when given; None compares none.
    annotations: dict[str, str] | None = None
    where: str = ""
    #: ``file:line:col`` of ``state`` and of each ``annotations.KEY``, for the differences they cause.
    spots: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Expectation:
    """The alerts expected at one evaluation time (of one rule, when ``alertname`` is given)."""

    at: datetime
    at_text: str
    expect: tuple[ExpectedAlert, ...]
    alertname: str | None = None
    where: str = ""


@dataclass(frozen=True)
class TestCase:
    name: str
    start: datetime
    expectations: tuple[Expectation, ...]
    series: tuple[Series, ...] = ()
    #: Log files for the real pipeline, instead of ``series``.
    logs: tuple[str, ...] = ()
    mapping: str | None = None
    where: str = ""
    preset: str = "auto"
    #: With ``logs``: the prices file (``--prices``).
    prices: str | None = None


@dataclass(frozen=True)
class TestFile:
    path: str
    ruleset: RuleSet
    tests: tuple[TestCase, ...]


@dataclass(frozen=True)
class ActiveAlert:
    """An alert active at an evaluation time: firing in the latest window, or pending."""

    alertname: str
    labels: dict[str, str]
    state: str
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return self.alertname, tuple(sorted(self.labels.items()))


@dataclass(frozen=True)
class Difference:
    """One way the alerts at an evaluation time differ from the expected ones."""

    kind: str  # missing | unexpected | state | annotation
    where: str
    at: str
    time: datetime
    alert: ActiveAlert | ExpectedAlert
    message: str
    #: The state of the alert found: None for a missing one.
    found_state: str | None = None


@dataclass
class TestResult:
    test: TestCase
    differences: list[Difference]

    @property
    def passed(self) -> bool:
        return not self.differences


def alert_name(alertname: str, labels: dict[str, str]) -> str:
    """``rule{name="value",...}``, labels sorted, as Prometheus writes a series; text made printable."""
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return printable(f"{alertname}{{{inner}}}")


# --- input windows as metric tables -------------------------------------------------------------------


def metric_frame(rule: Rule, series: tuple[Series, ...], start: datetime, at: datetime) -> pl.DataFrame:
    """The metric table ``rule`` reads at ``at``: the windows of the series with its ``every`` and exactly its
    ``by`` fields that end at or before ``at``; its ``where`` applied when it names only those fields."""
    mine = [s for s in series if s.every == rule.every and set(s.segment) == set(rule.by)]
    metrics = list(dict.fromkeys(["request_count", *(m for s in mine for m in s.values)]))
    columns: dict[str, list] = {WINDOW_START: [], WINDOW_END: [], **{b: [] for b in rule.by}, **{m: [] for m in metrics}}
    for s in mine:
        for i in range(s.length):
            end = start + (i + 1) * s.every
            if end > at:
                break
            columns[WINDOW_START].append(start + i * s.every)
            columns[WINDOW_END].append(end)
            for b in rule.by:
                columns[b].append(s.segment[b])
            for m in metrics:
                values = s.values.get(m, [])
                columns[m].append(values[i] if i < len(values) else None)
    schema = {WINDOW_START: TS_TYPE, WINDOW_END: TS_TYPE, **{b: pl.String for b in rule.by},
              **{m: pl.Int64 if m in COUNT_METRICS else pl.Float64 for m in metrics}}
    frame = pl.DataFrame(columns, schema=schema)
    if rule.where is not None and where_applies(rule):
        frame = frame.filter(compile_expr(rule.where, dict(frame.schema)))
    return frame


def where_applies(rule: Rule) -> bool:
    """Whether a rule's ``where`` can be judged from given metric values: it names only the rule's ``by`` fields."""
    return rule.where is None or {n.name for n in names(rule.where)} <= set(rule.by)


# --- the alerts active at an evaluation time -----------------------------------------------------------


def active_alerts(outcome: RuleOutcome) -> list[ActiveAlert]:
    """The alerts of one rule active at the end of its windows: firing in the latest window, or pending there."""
    rule = outcome.rule
    out = [ActiveAlert(a.rule, _without_name(a.all_labels), FIRING, {"summary": a.summary, **a.annotations})
           for a in outcome.alerts if a.active]
    frame = outcome.windows
    if not frame.height:
        return out
    latest = frame[WINDOW_START].max()
    segments: dict[tuple, list[dict[str, Any]]] = {}
    for row in frame.iter_rows(named=True):
        segments.setdefault(tuple(row[b] for b in rule.by), []).append(row)
    for rows in segments.values():
        considered = [r for r in rows if r["state"] != IGNORED]
        # As an alert is active: pending in its latest judged window, and that segment still has the latest window.
        if considered and considered[-1]["state"] == PENDING and rows[-1][WINDOW_START] == latest:
            row = considered[-1]
            segment = {b: row[b] for b in rule.by}
            labels = alert_labels(rule.name, rule.severity, segment, rule.labels)
            value = row.get("_value")
            annotations = {"summary": default_summary(rule, value), **render_annotations(rule, row, value)}
            out.append(ActiveAlert(rule.name, _without_name(labels), PENDING, annotations))
    return out


def _without_name(labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k != ALERTNAME}


def alerts_from_windows(ruleset: RuleSet, test: TestCase, at: datetime) -> list[ActiveAlert]:
    """The alerts active at ``at`` over the test's given windows."""
    out: list[ActiveAlert] = []
    for rule in ruleset.rules:
        frame = metric_frame(rule, test.series, test.start, at)
        out.extend(active_alerts(judge_table(frame, [rule])[0]))
    return out


def alerts_from_logs(ruleset: RuleSet, test: TestCase, at: datetime) -> list[ActiveAlert]:
    """The alerts active at ``at`` over the test's logs, as ``mlmon check LOGS --since START --now AT`` finds them."""
    from mlmon.check import run_check
    from mlmon.logs.presets import choose_mapping

    from mlmon.metrics.llm import load_prices

    mapping = choose_mapping(list(test.logs), test.mapping, test.preset).mapping
    result, _ = run_check(list(test.logs), ruleset, mapping=mapping, now=at, since=test.start, until=at, anchor=at,
                          prices=load_prices(test.prices))
    return [a for outcome in result.outcomes for a in active_alerts(outcome)]


# --- comparing ----------------------------------------------------------------------------------------


def compare(test: TestCase, expectation: Expectation, actual: list[ActiveAlert]) -> list[Difference]:
    """Every difference between the alerts active at an evaluation time and the expected ones."""
    if expectation.alertname is not None:
        actual = [a for a in actual if a.alertname == expectation.alertname]
    prefix = f'test "{printable(test.name)}": at {printable(expectation.at_text)}: '
    by_key: dict[tuple, list[ActiveAlert]] = {}
    for alert in actual:
        by_key.setdefault(alert.key, []).append(alert)
    out: list[Difference] = []

    def add(kind: str, where: str, alert, message: str, found: ActiveAlert | None = None) -> None:
        out.append(Difference(kind, where, expectation.at_text, expectation.at, alert, prefix + message,
                              found.state if found else None))

    for exp in expectation.expect:
        key = (exp.alertname, tuple(sorted(exp.labels.items())))
        name = alert_name(exp.alertname, exp.labels)
        if not by_key.get(key):
            add("missing", exp.where, exp, f"missing alert {name} ({exp.state})")
            continue
        got = by_key[key].pop(0)
        if got.state != exp.state:
            add("state", exp.spots.get("state", exp.where), exp, f"{name} is {got.state}, expected {exp.state}", got)
        for ann, text in (exp.annotations or {}).items():
            have, where = got.annotations.get(ann), exp.spots.get(f"annotations.{ann}", exp.where)
            if have is None or (have == "" and text != ""):
                add("annotation", where, exp, f"{name} has no annotation {printable(ann)!r}, expected {printable(text)!r}", got)
            elif have != text:
                add("annotation", where, exp, f"{name}: {printable(ann)} is {printable(have)!r}, expected {printable(text)!r}", got)
    for left in by_key.values():
        for got in left:
            add("unexpected", expectation.where, got, f"unexpected alert {alert_name(got.alertname, got.labels)} ({got.state})", got)
    return out


def run_test(ruleset: RuleSet, test: TestCase) -> TestResult:
    """One test: the alerts at each of its evaluation times against the expected ones."""
    find = alerts_from_logs if test.logs else alerts_from_windows
    differences: list[Difference] = []
    for expectation in test.expectations:
        differences.extend(compare(test, expectation, find(ruleset, test, expectation.at)))
    return TestResult(test, differences)


def run_tests(testfile: TestFile) -> list[TestResult]:
    return [run_test(testfile.ruleset, test) for test in testfile.tests]

