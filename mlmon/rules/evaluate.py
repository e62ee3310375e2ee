"""Evaluate rules over metric windows: pure functions of the records, the rules and the range.

Each rule's metrics come from the same ``compute_metrics`` that ``mlmon report`` uses.
A rule's windows, per segment and in time order, run through a small state machine
(inactive → pending → firing, with ``for`` and ``keep_firing_for``) as Prometheus does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import accumulate
from typing import Any, Sequence

import polars as pl

from mlmon.errors import UsageError
from mlmon.expr import compile_expr, compile_value, measure
from mlmon.metrics.catalog import RECORD_FIELDS
from mlmon.metrics.table import Extras, metric_table
from mlmon.metrics.windows import WINDOW_END, WINDOW_START, SegmentLimitError, WindowSpec
from mlmon.numbers import machine_number
from mlmon.safetext import printable
from mlmon.rules.identity import alert_labels, fingerprint
from mlmon.rules.model import Rule, RuleSet
from mlmon.rules.pending import INACTIVE  # noqa: F401 (re-exported)
from mlmon.rules.pending import FIRING, IGNORED, PENDING, PriorState, Progress, Saved, advance, carried
from mlmon.rules.template import render
from mlmon.timeparse import iso
from mlmon.where import apply_where, where_fields

_SECOND = timedelta(seconds=1)
_T0 = datetime(2000, 1, 1, tzinfo=timezone.utc)


def run_states(breaches: Sequence[bool | None], for_windows: int = 1, keep_firing_for: int = 0) -> list[str]:
    """The state after each of consecutive windows. ``None`` is a window with too little traffic: it changes nothing.

    A breach makes the rule pending; ``for_windows`` windows of breaching time make it firing.
    Once firing, it stays firing for ``keep_firing_for`` windows without a breach.
    (:func:`mlmon.rules.pending.advance` over windows of one second each.)
    """
    starts = [_T0 + i * _SECOND for i in range(len(breaches))]
    ends = [start + _SECOND for start in starts]
    return advance(starts, ends, breaches, _SECOND, for_windows, keep_firing_for)[0]


def alert_key(rule: str, segment: dict[str, Any]) -> str:
    """``rule{field=value,…}``: how the state file names an alert of one rule and segment."""
    parts = ",".join(f"{k}={v}" for k, v in sorted(segment.items()))
    return f"{rule}{{{parts}}}"


@dataclass
class Alert:
    """A rule that fired for one segment, at least once in the range; or, with ``state`` ``pending``, one
    that is pending in the latest window (``windows_firing`` 0, its progress in ``pending_windows``)."""

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
    #: ``firing``, or ``pending``: breaching, but not yet for ``for_windows`` windows of time.
    state: str = FIRING
    #: A pending alert's start (the first breaching window of its streak, maybe from an earlier run with
    #: ``--state``), its breaching windows so far and its rule's ``for``.
    active_at: datetime | None = None
    pending_windows: int = 0
    for_windows: int = 1

    @property
    def muted(self) -> bool:
        """Silenced or inhibited: shown, but neither counted by the gate nor notified."""
        return bool(self.silenced_by or self.inhibited_by)

    @property
    def key(self) -> str:
        return alert_key(self.rule, self.segment)

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
            "state": self.state,
            **({"active_at": iso(self.active_at), "pending_windows": self.pending_windows,
                "for_windows": self.for_windows} if self.state == PENDING else {}),
        }


@dataclass
class RuleOutcome:
    """Every window of one rule: segment, window, value, breach and state; its alerts, those pending in the
    latest window, and the progress of each pending or firing alert, to save for the next run."""

    rule: Rule
    windows: pl.DataFrame
    alerts: list[Alert]
    pending: list[Alert] = field(default_factory=list)
    progress: dict[str, Saved] = field(default_factory=dict)


@dataclass
class CheckResult:
    outcomes: list[RuleOutcome]
    generated_at: datetime | None = None

    @property
    def alerts(self) -> list[Alert]:
        return [a for o in self.outcomes for a in o.alerts]

    @property
    def pending(self) -> list[Alert]:
        """Alerts pending in the latest window: shown, never counted by the gate."""
        return [a for o in self.outcomes for a in o.pending]

    @property
    def progress(self) -> dict[str, Saved]:
        """Every pending or firing alert's progress, by alert key: what ``--state`` saves."""
        return {k: v for o in self.outcomes for k, v in o.progress.items()}

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
    prior: PriorState | None = None,
) -> CheckResult:
    """Evaluate every rule over every window of the range; no I/O.

    ``anchor`` is the evaluation time windows are anchored at (see ``WindowSpec.anchor``): each rule's
    windows end at it, and a leading window cut by ``since`` is not judged. None: epoch-aligned windows.

    Rules that share ``where``, ``every`` and ``by`` share one metric table, and their
    conditions are computed over it in one pass: a file of thousands of rules costs
    little more than the distinct tables it asks for.
    ``prior`` is the progress an earlier run saved (``--state``): each alert goes on from it
    (see :mod:`mlmon.rules.pending`), and a segment with a pending or firing alert in it gets
    empty windows when it has no records in the range, until it recovers.
    UsageError when a rule's ``by`` makes more than ``max_segments`` segments.
    """
    groups: dict[tuple, list[Rule]] = {}
    for rule in ruleset.rules:
        groups.setdefault((rule.where_text, rule.every, rule.by), []).append(rule)
    outcomes: dict[int, RuleOutcome] = {}
    for rules in groups.values():
        silent = _known_segments(rules, prior)
        frame = _rule_table(records, rules[0], since, until, extras, max_segments, anchor, silent)
        for rule, outcome in zip(rules, _judge(frame, rules, prior, bool(silent))):
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
    prior: PriorState | None = None,
) -> RuleOutcome:
    """One rule's windows, states and alerts (see :func:`evaluate_rules`)."""
    silent = _known_segments([rule], prior)
    table = _rule_table(records, rule, since, until, extras, max_segments, anchor, silent)
    return _judge(table, [rule], prior, bool(silent))[0]


def judge_table(frame: pl.DataFrame, rules: Sequence[Rule]) -> list[RuleOutcome]:
    """Each rule's outcome over a metric table given as it is (window_start, window_end, the ``by`` fields, metrics;
    a metric it lacks counts as null), judged by the same code as ``check``. The rules share ``every`` and ``by``."""
    return _judge(frame, list(rules))


def _known_segments(rules: list[Rule], prior: PriorState | None) -> tuple[tuple[Any, ...], ...]:
    """The segments (values in ``by`` order) of the saved pending or firing alerts of ``rules``."""
    if prior is None or not rules[0].by:
        return ()
    by = rules[0].by
    out = {tuple(seg.get(name) for name in by) for rule in rules for seg in prior.segments(rule.name)
           if set(seg) == set(by)}
    return tuple(sorted(out, key=repr))


def _rule_table(records: pl.DataFrame, rule: Rule, since, until, extras: Extras | None,
                max_segments: int | None, anchor: datetime | None = None,
                silent: tuple[tuple[Any, ...], ...] = ()) -> pl.DataFrame:
    """The metric table a rule reads: its ``where``, its windows (anchored at ``anchor``) and its segments
    (``silent`` ones too)."""
    selected = apply_where(records, rule.where)
    spec = WindowSpec(every=rule.every, by=rule.by, since=since, until=until, max_segments=max_segments,
                      anchor=anchor, extra_segments=silent)
    try:
        return metric_table(selected, spec, extras).frame
    except SegmentLimitError as exc:
        name, by = printable(rule.name), ", ".join(exc.by)
        raise UsageError(f'rule "{name}": by {by} makes {exc.count:,} segments, more than --max-segments {exc.limit:,}',
                         "Segment the rule by fewer fields, narrow it with 'where', or raise --max-segments.") from None


#: Rules whose conditions are computed in one Polars pass: wide enough to amortize it, small enough to plan fast.
_BATCH = 256


@dataclass
class _Table:
    """A metric table ready to judge: each segment's windows together in time order (rows ``bounds[s]``)."""

    base: pl.DataFrame
    bounds: list[tuple[int, int]]
    segments: list[dict[str, Any]]
    starts: list
    ends: list
    last_window: Any
    #: Segments without a request in the range: there only for the saved alerts that watch them.
    quiet: set[int]


def _judge(frame: pl.DataFrame, rules: list[Rule], prior: PriorState | None = None,
           silent: bool = False) -> list[RuleOutcome]:
    """Each rule's outcome over ``frame``, a metric table all of ``rules`` share (same where, every and by).

    With ``silent``, the table holds empty windows for the segments of saved alerts: a rule judges such a
    segment with no records in the range only when the saved alert is its own.
    """
    by = list(rules[0].by)
    schema = dict(frame.schema)
    missing = sorted({n for rule in rules for n in _metric_names(rule)} - set(schema))
    if missing:  # e.g. cpu metrics when the logs carry no cpu_percent
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias(n) for n in missing)
        schema = dict(frame.schema)
    base, bounds = _segments_in_time_order(frame, by)
    segments = [dict(zip(by, row)) for row in base.select(by)[[lo for lo, _ in bounds]].rows()] if by and base.height \
        else [{} for _ in bounds]
    table = _Table(base, bounds, segments, base[WINDOW_START].to_list(), base[WINDOW_END].to_list(),
                   base[WINDOW_START].max() if base.height else None, _quiet_segments(base, bounds) if silent else set())
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
            outcomes.append(_outcome(rule, table, judged[f"_breach{i}"], judged[f"_value{i}"],
                                     shown.larger_is_worse if shown else True, prior))
    return outcomes


def _outcome(rule: Rule, table: _Table, breach: pl.Series, value: pl.Series, larger_is_worse: bool,
             prior: PriorState | None) -> RuleOutcome:
    """One rule's states, alerts, pending alerts and progress, segment by segment, from its saved progress."""
    base = table.base
    saved = prior.of(rule.name) if prior else {}
    outcome = RuleOutcome(rule, base, [])
    states: list[str | None] = [None] * base.height
    breaches, values = breach.to_list(), value.to_list()
    seen: set[str] = set()
    for s, (lo, hi) in enumerate(table.bounds):
        segment = table.segments[s]
        key = alert_key(rule.name, segment) if saved or table.quiet else None
        if s in table.quiet and key not in saved:
            continue  # another rule's silent segment: no records for this rule to judge
        entry = saved.get(key) if saved else None
        if entry is not None:
            seen.add(key)
        segment_states, progress = advance(table.starts[lo:hi], table.ends[lo:hi], breaches[lo:hi], rule.every,
                                           rule.for_windows, rule.keep_firing_for, entry.progress if entry else None)
        states[lo:hi] = segment_states
        span = _Span(rule, base, lo, segment_states, values[lo:hi], table.starts[lo:hi], table.last_window)
        alert = span.alert(larger_is_worse)
        if alert is not None:
            outcome.alerts.append(alert)
        pending = span.pending(progress)
        if pending is not None:
            outcome.pending.append(pending)
        if progress.live:
            outcome.progress[key or alert_key(rule.name, segment)] = Saved(rule.name, segment, progress)
    outcome.progress.update(carried(prior, rule.name, rule.by, seen))
    windows = base.with_columns(breach.alias("_breach"), value.alias("_value"), pl.Series("state", states, pl.String))
    outcome.windows = windows.filter(pl.col("state").is_not_null()) if table.quiet else windows
    return outcome


def _quiet_segments(base: pl.DataFrame, bounds: list[tuple[int, int]]) -> set[int]:
    """Indexes of the segments without a request in the range (those only the saved state knows)."""
    counts = base["request_count"].to_list()
    return {s for s, (lo, hi) in enumerate(bounds) if not any(counts[lo:hi])}


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


@dataclass
class _Span:
    """One segment's windows of one rule (rows ``offset``… of ``base``) and their states."""

    rule: Rule
    base: pl.DataFrame
    offset: int
    states: list[str]
    values: list
    starts: list
    last_window: Any

    def _latest(self) -> int | None:
        """The latest judged window, if it is the latest of the range: a quiet (ignored) latest window
        keeps the state before it."""
        if not self.starts or self.starts[-1] != self.last_window:
            return None
        return next((i for i in range(len(self.states) - 1, -1, -1) if self.states[i] != IGNORED), None)

    def _make(self, at: int, value, **fields) -> Alert:
        row = self.base.row(self.offset + at, named=True)
        rule = self.rule
        annotations = render_annotations(rule, row, value)
        return Alert(rule=rule.name, severity=rule.severity, segment={name: row[name] for name in rule.by},
                     value=value, summary=annotations.get("summary") or default_summary(rule, value),
                     labels=dict(rule.labels), description=annotations.get("description", ""),
                     annotations=annotations, **fields)

    def alert(self, larger_is_worse: bool) -> Alert | None:
        """The alert of the segment, if the rule fired in any of its windows."""
        states, values = self.states, self.values
        firing = [i for i, s in enumerate(states) if s == FIRING]
        if not firing:
            return None
        candidates = [i for i in firing if values[i] is not None]
        if candidates:
            pick = max if larger_is_worse else min
            worst = pick(candidates, key=lambda i: values[i])
        else:
            worst = firing[-1]
        latest = self._latest()
        return self._make(worst, values[worst], active=latest is not None and states[latest] == FIRING,
                          first_window=self.starts[firing[0]], last_window=self.starts[firing[-1]],
                          windows_firing=len(firing))

    def pending(self, progress: Progress) -> Alert | None:
        """The segment's alert pending in the latest window, with its progress towards ``for``."""
        latest = self._latest()
        if latest is None or self.states[latest] != PENDING:
            return None
        first = latest
        while first > 0 and self.states[first - 1] in (PENDING, IGNORED):
            first -= 1
        while self.states[first] != PENDING:
            first += 1
        streak = sum(1 for s in self.states[first:latest + 1] if s == PENDING)
        return self._make(latest, self.values[latest], active=False, first_window=self.starts[first],
                          last_window=self.starts[latest], windows_firing=0, state=PENDING,
                          active_at=progress.active_at or self.starts[first],
                          pending_windows=max(progress.windows, streak) if progress.active_at else streak,
                          for_windows=self.rule.for_windows)


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
