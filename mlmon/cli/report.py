"""``mlmon report``: metrics per window and segment, for people and machines."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from mlmon.cli.app import app
from mlmon.cli.common import (
    BASELINE_OPTION,
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
    REJECTS_OPTION,
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
    is_stdout,
    log_inputs,
    note_skipped,
    one_stdout,
    parse_now,
    print_warnings,
    window_spec,
)


class ReportFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    prometheus = "prometheus"
    parquet = "parquet"
    html = "html"


@app.command(
    epilog="Examples:\n\n"
    "  mlmon report sample_logs/*.jsonl.gz --by model,model_version\n\n"
    "  mlmon report logs/ --every 1h --by model --since 24h --format json -o report.json\n\n"
    "  mlmon report --store /var/lib/mlmon/store --since 3h --every 10m --by model\n\n"
    "  mlmon report app.log.gz --mapping my_mapping.yaml --rejects rejects.jsonl\n\n"
    "  mlmon report logs/ --where 'status >= 500 and input.country == \"DE\"' --by model_version\n\n"
    "  mlmon report sample_logs/*.jsonl.gz --every 1h --by model,model_version --rules rules.example.yaml --format html -o report.html"
)
@handle_errors
def report(
    logs: Optional[list[str]] = LOGS_ARGUMENT,
    store: Optional[str] = STORE_OPTION,
    every: Optional[str] = typer.Option(None, "--every", "-e", help="Window length, e.g. 5m, 1h, 1d. Windows are aligned to UTC (and cut at the years 1 and 9999). Default: one window for the whole range."),
    by: Optional[list[str]] = typer.Option(None, "--by", "-b", help="Segment by fields, comma-separated: model, model_version, endpoint, status, input.FIELD, output.FIELD. A secret field (input.api_key, a key under the mapping's redact:) is refused; secrets inside values are redacted."),
    where: Optional[str] = typer.Option(None, "--where", "-w", help="Only records matching this condition over record fields, as a rule's 'where', e.g. 'status >= 500 and input.country == \"DE\"'."),
    max_segments: int = MAX_SEGMENTS_OPTION,
    max_fields: int = MAX_FIELDS_OPTION,
    since: Optional[str] = SINCE_OPTION,
    until: Optional[str] = UNTIL_OPTION,
    now: Optional[str] = NOW_OPTION,
    fmt: ReportFormat = typer.Option(None, "--format", "-f", help="Output format: table (default) or markdown for people, json or csv for every metric of every window. "
                                     "For people, runs of empty windows are one line, and with --baseline or --labels drift by field and model quality follow, over the whole range per segment. "
                                     "Outside a terminal the table does not wrap. prometheus: the latest window's metrics in node_exporter's textfile format (README \"Prometheus\"). parquet (with -o FILE): one row per window and segment, typed columns, for BI tools. "
                                     "html (with -o FILE, or piped): one self-contained page that works offline: a headline, charts over time per segment, the tables, drift distributions, model quality and alerts (README \"HTML report\").", show_default=False),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the report to FILE atomically instead of stdout (- is stdout)."),
    rules: Optional[Path] = typer.Option(None, "--rules", "-r", help="Also evaluate this YAML rules file as 'mlmon check' does (same --since/--until/--now, over the records --where keeps) and show its alerts: an Alerts section in table, markdown and html, an \"alerts\" key in json, mlmon_alert_active series in prometheus; csv and parquet leave them out. The report still exits 0 when alerts fire: 'mlmon check' is the gate.", show_default=False),
    mapping: Optional[Path] = MAPPING_OPTION,
    preset: str = PRESET_OPTION,
    timezone: Optional[str] = TIMEZONE_OPTION,
    rejects: Optional[Path] = REJECTS_OPTION,
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
    prices: Optional[Path] = PRICES_OPTION,
) -> None:
    """Summarize latency, throughput, errors, resources, drift and model quality per time window and segment."""
    from mlmon.rejects import rejects_when_nothing_is_good, write_rejects
    from mlmon.render.progress import ReadProgress
    from mlmon.metrics.llm import load_prices
    from mlmon.report import build_report

    one_stdout({"the report": output is None or is_stdout(output), "--rejects": is_stdout(rejects)})
    _refuse_terminal(fmt, output)
    clock = parse_now(now)
    spec = window_spec(every, by, since, until, clock, max_segments)
    judge = _rule_run(rules, since, until, now, clock, max_segments)
    price_table = load_prices(prices)
    base, truth = baseline_and_labels(baseline, baseline_range, labels, label_id, label_field, prediction, score,
                                       positive, task, clock)
    logs = log_inputs("report", logs, store, mapping, spec.since, spec.until, base)
    guard_outputs(logs, {"-o": output, "--rejects": rejects}, mapping, baseline, labels, rules, prices)
    the_mapping = inputs_mapping(logs, mapping, preset, timezone)
    fmt = fmt or ReportFormat.table
    with ReadProgress() as progress, rejects_when_nothing_is_good(rejects, the_mapping.redact):
        result, data = build_report(
            logs, mapping=the_mapping, spec=spec, now=clock, baseline=base, labels=truth, where=where, strict=strict,
            max_line_bytes=max_line_bytes, progress=progress, rules=judge,
            summaries=fmt in (ReportFormat.table, ReportFormat.markdown, ReportFormat.html),
            distributions=fmt == ReportFormat.html, max_fields=max_fields, prices=price_table,
        )
    if rejects is not None:
        write_rejects(data.rejects, rejects, the_mapping.redact)
        result.rejects_file = str(rejects)
    print_warnings(data.warnings, data.notes)
    if fmt == ReportFormat.parquet:
        from mlmon.render.machine import write_parquet

        write_parquet(result, output)
    else:
        emit(_render(result, fmt, output), output)
    if fmt != ReportFormat.table or output is not None:
        note_skipped(result.skipped, rejects)


def _refuse_terminal(fmt: Optional["ReportFormat"], output: Optional[Path]) -> None:
    """Parquet needs a file; a page of HTML is for a file or a pipe, not for reading on a terminal."""
    from mlmon.errors import UsageError

    to_stdout = output is None or is_stdout(output)
    if fmt == ReportFormat.parquet and to_stdout:
        raise UsageError("--format parquet needs -o FILE", "Name the Parquet file to write, e.g. -o report.parquet.")
    if fmt == ReportFormat.html and to_stdout and sys.stdout is not None and sys.stdout.isatty():
        raise UsageError("--format html writes a web page, not text for a terminal",
                         "Write it to a file and open that in a browser, e.g. -o report.html.")


def _rule_run(rules: Optional[Path], since, until, now, clock, max_segments: int):
    """With --rules: the rules file, loaded and validated (every problem at once, as 'check' lists them),
    to judge over the range 'check' would judge for the same --since, --until and --now."""
    if rules is None:
        return None
    from mlmon.check import RuleRun
    from mlmon.cli.check import judged_range
    from mlmon.rules.load import load_rules

    ruleset = load_rules(rules)
    judged = judged_range(since, until, now, clock)
    return RuleRun(ruleset, clock, judged.since, judged.until, judged.anchor, max_segments, range_text=judged.text)


def _render(result, fmt: "ReportFormat", output: Optional[Path]) -> str:
    if fmt == ReportFormat.html:
        from mlmon.render.html import render_html

        return render_html(result)
    if fmt == ReportFormat.json:
        from mlmon.render.machine import render_json

        return render_json(result)
    if fmt == ReportFormat.csv:
        from mlmon.render.machine import render_csv

        return render_csv(result)
    if fmt == ReportFormat.prometheus:
        from mlmon.render.prometheus import render_report_prometheus

        return render_report_prometheus(result)
    if fmt == ReportFormat.markdown:
        from mlmon.render.markdown import render_markdown

        return render_markdown(result)
    from mlmon.render.table import render_table

    if output is not None:
        return render_table(result, width=120, color=False, wrap=False)
    console = Console(highlight=False, markup=False, emoji=False)
    return render_table(result, width=console.width, color=console.is_terminal and not console.no_color,
                        wrap=console.is_terminal)
