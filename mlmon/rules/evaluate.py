"""Evaluate rules over metric windows: pure functions of the records, the rules and the range.

Each rule's metrics come from the same ``compute_metrics`` that ``mlmon report`` uses.
A rule's windows, per segment and in time order, run through a small state machine
(inactive → pending → firing, with ``for`` and ``keep_firing_for``) as Prometheus does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from itertools import accumulate
from typing import Any, Sequence

import polars as pl

from mlmon.errors import UsageError
from mlmon.expr import compile_expr, compile_value, measure
from mlmon.metrics.operational import RECORD_FIELDS
from mlmon.metrics.table import Extras, metric_table
from mlmon.metrics.windows import WINDOW_END, WINDOW_START, SegmentLimitError, WindowSpec
from mlmon.numbers import machine_number
from mlmon.render.escape import printable
from mlmon.rules.identity import alert_labels, fingerprint
from mlmon.rules.model import Rule, RuleSet
from mlmon.rules.template import render
from mlmon.timeparse import iso
from mlmon.where import apply_where, where_fields

INACTIVE, PENDING, FIRING, IGNORED = "inactive", "pending", "firing", "ignored"


def run_states(breaches: Sequence[bool | None], for_windows: int = 1, keep_firing_for: int = 0) -> list[str]:
    """The state after each window. ``None`` is a window with too little traffic: it changes nothing.

    A breach makes the rule pending; ``for_windows`` consecutive breaches make it firing.
    Once firing, it stays firing for ``keep_firing_for`` windows without a breach.
    """
    out: list[str] = []
    run = hold = 0
    firing = False
    for breach in breaches:
        if breach is None:
            out.append(IGNORED)
        elif breach:
            run += 1
            if firing or run >= for_windows:
                firing, hold = True, keep_firing_for
            out.append(FIRING if firing else PENDING)
        else:
            run = 0
            if firing and hold > 0:
                hold -= 1
                out.append(FIRING)
            else:
                firing = False
                out.append(INACTIVE)
    return out


@dataclass
class Alert:
    """A rule that fired for one segment, at least once in the range."""

    rule: str
    severity: str
    segment: dict[str, Any]
    value: float | None
    active: bool
    first_window: datetime
    last_window: datetime
    windows_firing: int
    summary: str
    labels: dict[str, str] = field(default_factory=dict)
    description: str = ""
    #: The rule's annotations rendered from the worst window (``summary`` and ``description`` among them when given).
    annotations: dict[str, str] = field(default_factory=dict)
    #: Ids of the silences that mute this alert, and fingerprints of the alerts that inhibit it: such an alert
    #: is shown, marked, but sends nothing.
    silenced_by: list[str] = field(default_factory=list)
    inhibited_by: list[str] = field(default_factory=list)

    @property
    def muted(self) -> bool:
        """Silenced or inhibited: shown, but neither counted by the gate nor notified."""
        return bool(self.silenced_by or self.inhibited_by)

    @property
    def key(self) -> str:
        parts = ",".join(f"{k}={v}" for k, v in sorted(self.segment.items()))
        return f"{self.rule}{{{parts}}}"

    @property
    def all_labels(self) -> dict[str, str]:
        """alertname, severity, the segment values and the rule's labels (see :mod:`mlmon.rules.identity`)."""
        return alert_labels(self.rule, self.severity, self.segment, self.labels)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.all_labels)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "segment": self.segment,
            "value": machine_number(self.value),
            "active": self.active,
            "first_window": iso(self.first_window),
            "last_window": iso(self.last_window),
            "windows_firing": self.windows_firing,
            "summary": self.summary,
            "labels": self.labels,
            "annotations": self.annotations,
            "silenced_by": list(self.silenced_by),
            "inhibited_by": list(self.inhibited_by),
        }


@dataclass
class RuleOutcome:
    """Every window of one rule: segment, window, value, breach and state."""

    rule: Rule
    windows: pl.DataFrame
    alerts: list[Alert]


@dataclass
class CheckResult:
    outcomes: list[RuleOutcome]
    generated_at: datetime | None = None

    @property
    def alerts(self) -> list[Alert]:
        return [a for o in self.outcomes for a in o.alerts]

    @property
    def rules_evaluated(self) -> int:
        return len(self.outcomes)


def record_fields(ruleset: RuleSet) -> list[str]:
    """Every record column the rules need."""
    fields = list(RECORD_FIELDS)
    for rule in ruleset.rules:
        fields.extend(rule.by)
        fields.extend(where_fields(rule.where))
    return list(dict.fromkeys(fields))


def evaluate_rules(
    records: pl.DataFrame,
    ruleset: RuleSet,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
    extras: Extras | None = None,
    max_segments: int | None = None,
    anchor: datetime | None = None,
) -> CheckResult:
    """Evaluate every rule over every window of the range; no I/O.

    ``anchor`` is the evaluation time windows are anchored at (see ``WindowSpec.anchor``): each rule's
    windows end at it, and a leading window cut by ``since`` is not judged. None: epoch-aligned windows.

    Rules that share ``where``, ``every`` and ``by`` share one metric table, and their
    conditions are computed over it in one pass: a file of thousands of rules costs
    little more than the distinct tables it asks for.
    UsageError when a rule's ``by`` makes more than ``max_segments`` segments.
    """
    groups: dict[tuple, list[Rule]] = {}
    for rule in ruleset.rules:
        groups.setdefault((rule.where_text, rule.every, rule.by), []).append(rule)
    outcomes: dict[int, RuleOutcome] = {}
    for rules in groups.values():
        frame = _rule_table(records, rules[0], since, until, extras, max_segments, anchor)
        for rule, outcome in zip(rules, _judge(frame, rules)):
            outcomes[id(rule)] = outcome
    return CheckResult([outcomes[id(rule)] for rule in ruleset.rules], now)


def evaluate_rule(
    records: pl.DataFrame,
    rule: Rule,
    since: datetime | None,
    until: datetime | None,
    extras: Extras | None = None,
    max_segments: int | None = None,
    anchor: datetime | None = None,
) -> RuleOutcome:
    """One rule's windows, states and alerts (see :func:`evaluate_rules`)."""
    return _judge(_rule_table(records, rule, since, until, extras, max_segments, anchor), [rule])[0]


def judge_table(frame: pl.DataFrame, rules: Sequence[Rule]) -> list[RuleOutcome]:
    """Each rule's outcome over a metric table given as it is (window_start, window_end, the ``by`` fields, metrics;
    a metric it lacks counts as null), judged by the same code as ``check``. The rules share ``every`` and ``by``."""
    return _judge(frame, list(rules))


def _rule_table(records: pl.DataFrame, rule: Rule, since, until, extras: Extras | None,
                max_segments: int | None, anchor: datetime | None = None) -> pl.DataFrame:
    """The metric table a rule reads: its ``where``, its windows (anchored at ``anchor``) and its segments."""
    selected = apply_where(records, rule.where)
    spec = WindowSpec(every=rule.every, by=rule.by, since=since, until=until, max_segments=max_segments,
                      anchor=anchor)
    try:
        return metric_table(selected, spec, extras).frame
    except SegmentLimitError as exc:
        name, by = printable(rule.name), ", ".join(exc.by)
        raise UsageError(f'rule "{name}": by {by} makes {exc.count:,} segments, more than --max-segments {exc.limit:,}',
                         "Segment the rule by fewer fields, narrow it with 'where', or raise --max-segments.") from None


#: Rules whose conditions are computed in one Polars pass: wide enough to amortize it, small enough to plan fast.
_BATCH = 256


def _judge(frame: pl.DataFrame, rules: list[Rule]) -> list[RuleOutcome]:
    """Each rule's outcome over ``frame``, a metric table all of ``rules`` share (same where, every and by)."""
    by = list(rules[0].by)
    schema = dict(frame.schema)
    missing = sorted({n for rule in rules for n in _metric_names(rule)} - set(schema))
    if missing:  # e.g. cpu metrics when the logs carry no cpu_percent
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias(n) for n in missing)
        schema = dict(frame.schema)
    base, bounds = _segments_in_time_order(frame, by)
    last_window = base[WINDOW_START].max() if base.height else None
    starts = base[WINDOW_START].to_list()
    outcomes = []
    for first in range(0, len(rules), _BATCH):
        batch = rules[first:first + _BATCH]
        reported = [measure(rule.expr) for rule in batch]
        judged = base.select(
            expr
            for i, (rule, shown) in enumerate(zip(batch, reported))
            for expr in (
                pl.when(pl.col("request_count") >= rule.min_requests).then(compile_expr(rule.expr, schema))
                .alias(f"_breach{i}"),
                (compile_value(shown.node, schema) if shown is not None else pl.lit(None, pl.Float64))
                .alias(f"_value{i}"),
            )
        )
        for i, (rule, shown) in enumerate(zip(batch, reported)):
            breach, value = judged[f"_breach{i}"], judged[f"_value{i}"]
            breaches, values = breach.to_list(), value.to_list()
            states: list[str] = []
            alerts: list[Alert] = []
            for lo, hi in bounds:
                segment_states = run_states(breaches[lo:hi], rule.for_windows, rule.keep_firing_for)
                states += segment_states
                alert = _alert(rule, base, lo, segment_states, values[lo:hi], starts[lo:hi],
                               shown.larger_is_worse if shown else True, last_window)
                if alert is not None:
                    alerts.append(alert)
            windows = base.with_columns(breach.alias("_breach"), value.alias("_value"),
                                        pl.Series("state", states, pl.String))
            outcomes.append(RuleOutcome(rule, windows, alerts))
    return outcomes


def _segments_in_time_order(frame: pl.DataFrame, by: list[str]) -> tuple[pl.DataFrame, list[tuple[int, int]]]:
    """``frame`` with each segment's windows together, in time order, segments in order of first appearance;
    and each segment's row range."""
    if not by:
        return frame.sort(WINDOW_START, maintain_order=True), [(0, frame.height)]
    order = (frame.with_row_index("_row").group_by(by, maintain_order=True)
             .agg(pl.col("_row").sort_by(pl.col(WINDOW_START), maintain_order=True)))
    rows = order.get_column("_row")
    sizes = rows.list.len().to_list()
    ends = list(accumulate(sizes))
    base = frame[rows.explode().to_list()] if frame.height else frame
    return base, [(end - size, end) for size, end in zip(sizes, ends)]


def _metric_names(rule: Rule) -> list[str]:
    from mlmon.expr import names

    return [n.name for n in names(rule.expr)]


def _alert(rule: Rule, base: pl.DataFrame, offset: int, states: list[str], values: list, starts: list,
           larger_is_worse: bool, last_window) -> Alert | None:
    """The alert of one segment (rows ``offset``… of ``base``), if the rule fired in any of its windows."""
    firing = [i for i, s in enumerate(states) if s == FIRING]
    if not firing:
        return None
    candidates = [i for i in firing if values[i] is not None]
    if candidates:
        pick = max if larger_is_worse else min
        worst = pick(candidates, key=lambda i: values[i])
    else:
        worst = firing[-1]
    row = base.row(offset + worst, named=True)
    segment = {name: row[name] for name in rule.by}
    # Active: firing in the latest window; a quiet (ignored) latest window keeps the state before it.
    considered = [i for i, s in enumerate(states) if s != IGNORED]
    active = bool(considered) and states[considered[-1]] == FIRING and starts[-1] == last_window
    annotations = render_annotations(rule, row, values[worst])
    return Alert(
        rule=rule.name,
        severity=rule.severity,
        segment=segment,
        value=values[worst],
        active=active,
        first_window=starts[firing[0]],
        last_window=starts[firing[-1]],
        windows_firing=len(firing),
        summary=annotations.get("summary") or default_summary(rule, values[worst]),
        labels=dict(rule.labels),
        description=annotations.get("description", ""),
        annotations=annotations,
    )


def format_number(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        if value != value:
            return "NaN"
        text = f"{value:.4f}".rstrip("0").rstrip(".")
        return text if abs(value) >= 0.001 or value == 0 else f"{value:.3g}"
    return str(value)


def default_summary(rule: Rule, value: Any) -> str:
    """The summary of a rule without one: its expression and the value."""
    return f"{rule.expr_text} (value {format_number(value)})"


def render_annotations(rule: Rule, row: dict[str, Any], value: Any) -> dict[str, str]:
    """Each of the rule's annotation templates filled from one window (``row``) and its ``value``."""
    segment = {name: row.get(name) for name in rule.by}
    labels = alert_labels(rule.name, rule.severity, segment, rule.labels)
    names = {
        "value": value,
        "rule": rule.name,
        "severity": rule.severity,
        "window_start": iso(row.get(WINDOW_START)),
        "window_end": iso(row.get(WINDOW_END)),
    }

    def lookup(name: str) -> Any:
        return names[name] if name in names else row.get(name)

    def shown(raw: Any) -> str:
        return raw if isinstance(raw, str) else format_number(raw)

    return {key: render(template, value, labels, lookup, shown) for key, template in rule.templates.items()}


def render_summary(rule: Rule, row: dict[str, Any], value: Any) -> str:
    """The rule's summary filled from one window; by default, the expression and the value."""
    return render_annotations(rule, row, value).get("summary") or default_summary(rule, value)
