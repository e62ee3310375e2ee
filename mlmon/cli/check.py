"""``mlmon check``: evaluate alert rules; exit 1 when alerts fire."""

from __future__ import annotations

import os
from contextlib import ExitStack
from enum import Enum
from pathlib import Path
from datetime import datetime
from typing import NamedTuple, Optional

import typer
from rich.console import Console

from mlmon.cli.app import app
from mlmon.cli.common import (
    BASELINE_OPTION,
    EXIT_GATE,
    EXIT_OK,
    LABEL_FIELD_OPTION,
    LABEL_ID_OPTION,
    LABELS_OPTION,
    LOGS_ARGUMENT,
    MAPPING_OPTION,
    PRESET_OPTION,
    TIMEZONE_OPTION,
    MAX_FIELDS_OPTION,
    MAX_LINE_OPTION,
    MAX_SEGMENTS_OPTION,
    NOW_OPTION,
    POSITIVE_OPTION,
    PREDICTION_OPTION,
    PRICES_OPTION,
    RANGE_OPTION,
    SCORE_OPTION,
    SINCE_OPTION,
    STORE_OPTION,
    STRICT_OPTION,
    TASK_OPTION,
    UNTIL_OPTION,
    Task,
    baseline_and_labels,
    emit,
    guard_outputs,
    handle_errors,
    inputs_mapping,
    log_inputs,
    parse_now,
    print_warnings,
    stderr_console,
    window_spec,
)
from mlmon.errors import UsageError


class CheckFormat(str, Enum):
    table = "table"
    json = "json"
    junit = "junit"
    markdown = "markdown"
    github = "github"
    prometheus = "prometheus"


class Severity(str, Enum):
    info = "info"
    warning = "warning"
    critical = "critical"


@app.command(
    epilog="Examples:\n\n"
    "  mlmon check sample_logs/*.jsonl.gz --rules rules.example.yaml\n\n"
    "  mlmon check logs/ --rules rules.yaml --since 2h --state /var/lib/mlmon/state.json --notify https://hooks.example/x\n\n"
    "  mlmon check logs/ --rules rules.yaml --since 2h --state /var/lib/mlmon/state.json --notify-config notify.yaml\n\n"
    "  mlmon check --store /var/lib/mlmon/store --rules rules.yaml --since 3h --state /var/lib/mlmon/state.json\n\n"
    "  mlmon check test.log --rules rules.yaml --format junit -o alerts.xml"
)
@handle_errors
def check(
    logs: Optional[list[str]] = LOGS_ARGUMENT,
    store: Optional[str] = STORE_OPTION,
    rules: Path = typer.Option(..., "--rules", "-r", help="YAML rules file (see rules.example.yaml).", show_default=False),
    since: Optional[str] = SINCE_OPTION,
    until: Optional[str] = UNTIL_OPTION,
    now: Optional[str] = NOW_OPTION,
    fmt: CheckFormat = typer.Option(CheckFormat.table, "--format", "-f", help="Output format. prometheus: the alerts as mlmon_alert_active series in node_exporter's textfile format (README \"Prometheus\")."),
    fail_on: Severity = typer.Option(Severity.warning, "--fail-on", help="Exit 1 when an alert of this severity or higher fired."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the result to FILE atomically instead of stdout (- is stdout)."),
    mapping: Optional[Path] = MAPPING_OPTION,
    preset: str = PRESET_OPTION,
    timezone: Optional[str] = TIMEZONE_OPTION,
    state: Optional[Path] = typer.Option(None, "--state", help="Keep alert state in FILE between runs and report only transitions (for cron); silences from 'mlmon silence add' are read from FILE.silences.json; "
                                         "pending alerts go on toward their 'for' across runs; a --now before the run that saved FILE is refused. "
                                         "Without it, a 'for' longer than --since is refused."),
    repeat_interval: str = typer.Option("4h", "--repeat-interval", help="With --state: repeat a still-firing alert when strictly more than this has passed (and the notify: routes' default)."),
    notify: Optional[list[str]] = typer.Option(None, "--notify", help="POST each transition as JSON to URL (Alertmanager's webhook v4 plus a Slack-compatible 'text'). Repeatable."),
    notify_command: Optional[list[str]] = typer.Option(None, "--notify-command", help="Pipe each transition as JSON to the stdin of CMD, run by sh -c. Repeatable."),
    notify_config: Optional[Path] = typer.Option(None, "--notify-config", help="With --state: receivers and routes from FILE's notify: section, instead of the rules file's.", show_default=False),
    strict: bool = STRICT_OPTION,
    max_line_bytes: int = MAX_LINE_OPTION,
    baseline: Optional[Path] = BASELINE_OPTION,
    baseline_range: Optional[str] = RANGE_OPTION,
    labels: Optional[Path] = LABELS_OPTION,
    label_id: str = LABEL_ID_OPTION,
    label_field: str = LABEL_FIELD_OPTION,
    prediction: str = PREDICTION_OPTION,
    score: Optional[str] = SCORE_OPTION,
    positive: Optional[str] = POSITIVE_OPTION,
    task: Task = TASK_OPTION,
    max_segments: int = MAX_SEGMENTS_OPTION,
    max_fields: int = MAX_FIELDS_OPTION,
    prices: Optional[Path] = PRICES_OPTION,
) -> None:
    """Evaluate alert rules over the logs; exit 1 when alerts fire (a CI gate and a cron alerter).

    With --since, --until or --now (cron), each rule's windows end at --until (else --now) and are each a \
whole 'every' long; a first window cut by --since is not judged. Without them (CI), windows are aligned \
to the epoch, as in 'report', and every window of the log is judged.
    """
    from mlmon.check import Gate, run_check
    from mlmon.metrics.llm import load_prices
    from mlmon.render.progress import ReadProgress
    from mlmon.rules.load import load_rules
    from mlmon.timeparse import parse_duration

    clock = parse_now(now)
    judged = judged_range(since, until, now, clock)
    ruleset = load_rules(rules)
    price_table = load_prices(prices)
    from mlmon.notify.config import notify_setup

    routes = notify_setup(ruleset.notify, notify_config, state)
    base, truth = baseline_and_labels(baseline, baseline_range, labels, label_id, label_field, prediction, score,
                                       positive, task, clock)
    logs = log_inputs("check", logs, store, mapping, judged.since, judged.until, base)
    guard_outputs(logs, {"-o": output, "--state": state}, rules, mapping, baseline, labels, notify_config, prices)
    repeat = parse_duration(repeat_interval, what="--repeat-interval")
    if notify:  # first: a bad URL is the more specific of the two usage errors
        from mlmon.notify.receivers import check_webhook_url

        for url in notify:
            check_webhook_url(url)
    if (notify or notify_command) and state is None:
        raise UsageError("--notify and --notify-command need --state", "Notifications follow transitions, which need a state file.")
    warn = stderr_console().print
    silences = []
    if state is not None:
        from mlmon.rules.silences import silences_for_check

        silences = silences_for_check(state, warn)
    with ExitStack() as stack:
        saved = None
        if state is not None:  # held from before evaluation to the save: one run at a time goes on from it
            from mlmon.rules.pending import STATE_KEY, from_doc
            from mlmon.rules.state import locked_state

            saved = stack.enter_context(locked_state(state, warn, clock, "--now" if now else "the clock"))
        with ReadProgress() as progress:
            result, data = run_check(
                logs, ruleset, mapping=inputs_mapping(logs, mapping, preset, timezone), now=clock, since=judged.since,
                until=judged.until, baseline=base, labels=truth, max_segments=max_segments, strict=strict,
                max_line_bytes=max_line_bytes, progress=progress, max_fields=max_fields, silences=silences,
                anchor=judged.anchor, range_text=judged.text, prices=price_table,
                prior=from_doc(saved.get(STATE_KEY), warn, state) if saved is not None else None,
            )
        print_warnings(data.warnings, data.notes)
        gate = Gate(fail_on.value)
        transitions = None
        if saved is not None:
            from mlmon.rules.pending import to_doc
            from mlmon.rules.state import apply_transitions

            saved[STATE_KEY] = to_doc(result.progress)
            transitions = apply_transitions(state, result, now=clock, repeat_interval=repeat, loaded=saved,
                                            webhooks=notify or [], commands=notify_command or [], warn=warn,
                                            notify=routes)
    emit(_render_check(result, gate, fmt, output, transitions, data), output)
    if data.skipped:
        stderr_console().print(f"mlmon: skipped {data.skipped:,} bad log line{'s' if data.skipped != 1 else ''}")
    if transitions:
        from mlmon.safetext import printable

        for t in transitions:  # the key holds segment values from the logs
            stderr_console().print(f"mlmon: {t.kind}: {printable(t.alert_key)}")
    raise typer.Exit(EXIT_GATE if gate.fired(result) else EXIT_OK)


class JudgedRange(NamedTuple):
    """The range the rules judge and the time their windows end at (None: aligned to the epoch)."""

    since: Optional[datetime]
    until: Optional[datetime]
    anchor: Optional[datetime]
    #: The range as the options gave it, for messages: ``--since 3m``.
    text: str


def judged_range(since: Optional[str], until: Optional[str], now: Optional[str], clock: datetime) -> JudgedRange:
    """What ``check`` (and ``report --rules``) judge for --since, --until and --now: with any of them (cron),
    windows that end at --until, else at now, and a range up to now when --since comes alone (so that silence
    at the end shows); without them (CI), every window of the log, aligned to the epoch."""
    from mlmon.check import evaluation_anchor

    spec = window_spec(None, None, since, until or ("now" if since else None), clock)
    text = " ".join(f"{name} {value}" for name, value in (("--since", since), ("--until", until)) if value)
    return JudgedRange(spec.since, spec.until, evaluation_anchor(clock, spec.until, cron=bool(since or until or now)),
                       text)


def _render_check(result, gate, fmt: "CheckFormat", output: Optional[Path], transitions=None, data=None) -> str:
    from mlmon.render import alerts as r

    if fmt == CheckFormat.prometheus:
        from mlmon.render.prometheus import render_check_prometheus

        return render_check_prometheus(result, data)
    if fmt == CheckFormat.json:
        return r.render_check_json(result, gate, None if transitions is None else [t.notice for t in transitions])
    if fmt == CheckFormat.junit:
        return r.render_check_junit(result, gate)
    if fmt == CheckFormat.markdown:
        return r.render_check_markdown(result, gate)
    if fmt == CheckFormat.github:
        text = r.render_check_github(result, gate)
        summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary_file:
            with open(summary_file, "a", encoding="utf-8") as handle:
                handle.write(r.render_check_markdown(result, gate))
        return text
    if output is not None:
        return r.render_check_table(result, gate, width=120, wrap=False)
    console = Console(highlight=False, markup=False, emoji=False)
    return r.render_check_table(result, gate, width=console.width, color=console.is_terminal and not console.no_color,
                                wrap=console.is_terminal)
