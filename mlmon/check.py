"""``mlmon check``'s core: read logs, evaluate the rules, decide the gate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Sequence

from mlmon.baseline.load import BaselineSpec
from mlmon.errors import ConfigError
from mlmon.logs.field_limit import MAX_FIELDS
from mlmon.logs.mapping import Mapping
from mlmon.logs.reader import DEFAULT_MAX_LINE_BYTES, LogData, Progress, announce
from mlmon.metrics.llm import Prices
from mlmon.metrics.model_quality import LabelSpec
from mlmon.safetext import printable
from mlmon.report import SECRET_SEGMENT_HINT, Analysis, prepare, secret_segment_problem
from mlmon.rules.evaluate import Alert, CheckResult, evaluate_rules, record_fields
from mlmon.rules.inputs import require_computed, require_inputs
from mlmon.rules.model import SEVERITIES, RuleSet
from mlmon.rules.mute import mute
from mlmon.rules.pending import PriorState
from mlmon.rules.silences import Silence
from mlmon.timeparse import format_duration


@dataclass
class Gate:
    """Which alerts count against ``fail_on``: any firing in any window of the range."""

    fail_on: str = "warning"

    def counts(self, alert: Alert) -> bool:
        """At or above ``fail_on``, and not muted (silenced or inhibited)."""
        return SEVERITIES.index(alert.severity) >= SEVERITIES.index(self.fail_on) and not alert.muted

    def fired(self, result: CheckResult) -> bool:
        return any(self.counts(a) for a in result.alerts)


@dataclass
class RuleRun:
    """A rules file to judge over records read once by the caller: ``check``'s own run, or ``report --rules``.

    ``since`` and ``until`` bound the range judged; ``anchor`` is the evaluation time the rules' windows end at
    (see :func:`evaluation_anchor`; None keeps epoch-aligned windows, CI mode). ``silences`` active at ``now``
    and the rules file's ``inhibit:`` mark alerts as muted (see :func:`mlmon.rules.mute.mute`). ``prior`` is the
    progress saved by the previous run (``--state``, see :mod:`mlmon.rules.pending`). ``range_text`` is the range
    as the command line gave it (``--since 3m``): a run that gives it and no ``prior`` is the whole of the rules'
    history, so a rule whose ``for`` is longer than the range could never fire."""

    ruleset: RuleSet
    now: datetime
    since: datetime | None = None
    until: datetime | None = None
    anchor: datetime | None = None
    max_segments: int | None = None
    silences: Sequence[Silence] = ()
    prior: PriorState | None = None
    range_text: str | None = None

    @property
    def fields(self) -> list[str]:
        """Every record field the rules read."""
        return record_fields(self.ruleset)

    def refuse(self, mapping: Mapping, *, baseline: bool, labels: bool) -> None:
        """Before reading: ConfigError for a rule that names a drift or quality metric the run cannot compute
        (no ``baseline`` or ``labels``), whose window is longer than an anchored range, whose ``for`` cannot
        fit the range, or whose ``by`` the mapping makes secret, since such a rule could never fire or would
        print a secret."""
        ruleset = self.ruleset
        require_inputs(ruleset, baseline=baseline, labels=labels)
        refuse_windowless_rules(ruleset, self.since, self.until, self.anchor)
        refuse_secret_segments(ruleset, mapping)
        if self.prior is None and self.range_text is not None and self.since is not None and self.until is not None:
            refuse_unreachable_for(ruleset, self.until - self.since, self.range_text)

    def judge(self, analysis: Analysis, progress: Progress | None = None) -> CheckResult:
        """Every rule over ``analysis``'s records, the alerts muted as they should be; no I/O. ConfigError for a
        rule over a metric the analysis did not compute; UsageError when a rule's ``by`` makes more than
        ``max_segments`` segments."""
        require_computed(self.ruleset, analysis.extras, analysis.labels)
        announce(progress, "evaluating rules")
        result = evaluate_rules(analysis.records, self.ruleset, self.since, self.until, self.now, analysis.extras,
                                self.max_segments, anchor=self.anchor, prior=self.prior)
        return mute(result, self.silences, self.ruleset.inhibit, self.now)


def run_check(
    inputs: Sequence[str],
    ruleset: RuleSet,
    *,
    mapping: Mapping,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    baseline: BaselineSpec | None = None,
    labels: LabelSpec | None = None,
    max_segments: int | None = None,
    strict: bool = False,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    progress: Progress | None = None,
    max_fields: int = MAX_FIELDS,
    silences: Sequence[Silence] = (),
    anchor: datetime | None = None,
    prior: PriorState | None = None,
    range_text: str | None = None,
    prices: Prices | None = None,
) -> tuple[CheckResult, LogData]:
    """Evaluate ``ruleset`` over the logs, refusing first (before reading them) what :meth:`RuleRun.refuse`
    refuses; ``max_fields`` bounds the fields decoded; the other arguments are :class:`RuleRun`'s.
    (``mlmon rules test`` evaluates ranges that grow from its start, and gives neither ``prior`` nor
    ``range_text``.) ``prices`` gives a cost to records that log tokens and no cost (README "LLM metrics")."""
    run = RuleRun(ruleset, now, since, until, anchor, max_segments, silences, prior, range_text)
    run.refuse(mapping, baseline=baseline is not None, labels=labels is not None)
    analysis = prepare(inputs, mapping=mapping, fields=run.fields, baseline=baseline, labels=labels,
                       strict=strict, max_line_bytes=max_line_bytes, progress=progress, max_fields=max_fields,
                       prices=prices)
    return run.judge(analysis, progress), analysis.data


def evaluation_anchor(now: datetime, until: datetime | None, *, cron: bool) -> datetime | None:
    """The time a check's windows are anchored at: ``until`` if given, else ``now``; None in CI mode.

    ``cron`` is true when the run names its range or clock (``--since``, ``--until`` or ``--now``): the
    windows then end at that time, each a full ``every`` long, as Prometheus's ``[1h]`` range ends at its
    evaluation. Without them (CI over a finished log) windows stay aligned to the epoch, as in ``report``.
    """
    if not cron:
        return None
    return until if until is not None else now


def refuse_windowless_rules(ruleset: RuleSet, since: datetime | None, until: datetime | None,
                            anchor: datetime | None) -> None:
    """Raise ConfigError, listing each rule's ``every`` line, when windows are anchored and the range from
    ``since`` to ``until`` is shorter than the rule's window: no whole window fits, so it could never fire."""
    if anchor is None or since is None or until is None:
        return
    span = until - since
    problems = [f'{rule.every_position}: rule "{printable(rule.name)}": every {format_duration(rule.every)} is longer '
                f'than the range of {format_duration(span)}, so no whole window is judged and the rule can never fire'
                for rule in ruleset.rules if rule.every > span]
    if problems:
        n = len(problems)
        raise ConfigError(f"rules file {ruleset.path} has {n} rule{'s' if n != 1 else ''} with a window longer than "
                          f"the range", "Use a longer --since, or a shorter 'every' for these rules.", details=problems)


def refuse_secret_segments(ruleset: RuleSet, mapping: Mapping) -> None:
    """Raise ConfigError, listing each rule's ``by`` line, when the mapping makes a segment field secret
    (a key under its ``redact:``, or a field read from a secret path): its values would be printed."""
    problems = [f'{rule.by_position}: rule "{rule.name}": {problem}'
                for rule in ruleset.rules for name in rule.by if (problem := secret_segment_problem(name, mapping))]
    if problems:
        n = len(problems)
        raise ConfigError(f"rules file {ruleset.path} segments by {n} secret field{'s' if n != 1 else ''}",
                          SECRET_SEGMENT_HINT, details=problems)


def refuse_unreachable_for(ruleset: RuleSet, length: timedelta, range_text: str) -> None:
    """Raise ConfigError, listing each rule's ``for`` line, when ``for`` × ``every`` is longer than the judged
    range (``length``): without a state file to carry its progress across runs, such a rule can never fire."""
    problems = [f'{rule.for_position}: rule "{printable(rule.name)}": for {rule.for_windows} window'
                f'{"s" if rule.for_windows != 1 else ""} of {format_duration(rule.every)} can never fire within '
                f'{range_text}; give --state to carry pending progress across runs, or a longer --since'
                for rule in ruleset.rules if rule.for_position and rule.every * rule.for_windows > length]
    if problems:
        n = len(problems)
        raise ConfigError(f"rules file {ruleset.path} has {n} rule{'s' if n != 1 else ''} whose 'for' can never "
                          f"fire within {range_text}",
                          "Give --state FILE, so that pending alerts carry over between runs, or a longer --since.",
                          details=problems)
