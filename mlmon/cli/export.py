"""``mlmon export``: the logged requests as a training-ready table (Parquet, CSV or JSON lines)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from mlmon.cli.app import app
from mlmon.cli.common import (
    LABEL_FIELD_OPTION,
    LABEL_ID_OPTION,
    LABELS_OPTION,
    LOGS_ARGUMENT,
    MAPPING_OPTION,
    PRESET_OPTION,
    TIMEZONE_OPTION,
    MAX_LINE_OPTION,
    NOW_OPTION,
    REJECTS_OPTION,
    SINCE_OPTION,
    STORE_OPTION,
    STRICT_OPTION,
    UNTIL_OPTION,
    guard_outputs,
    handle_errors,
    inputs_mapping,
    log_inputs,
    note_skipped,
    parse_now,
    print_warnings,
    stderr_console,
    stop_signals_as_ctrl_c,
    window_spec,
)


class ExportFormat(str, Enum):
    parquet = "parquet"
    csv = "csv"
    jsonl = "jsonl"


@app.command(
    epilog="Examples:\n\n"
    "  mlmon export sample_logs/*.jsonl.gz --labels sample_logs/labels.csv --where 'model == \"churn\"' -o churn.parquet\n\n"
    "  mlmon export logs/ --since 2026-11-26T14:00:00Z --until 2026-11-26T15:00:00Z --format csv -o incident.csv\n\n"
    "  mlmon export --store /var/lib/mlmon/store --since 7d --dedup request_id --format jsonl -o week.jsonl"
)
@handle_errors
def export(
    logs: Optional[list[str]] = LOGS_ARGUMENT,
    store: Optional[str] = STORE_OPTION,
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="The file to write, atomically: it appears complete or not at all. Required.", show_default=False),
    fmt: ExportFormat = typer.Option(ExportFormat.parquet, "--format", "-f", help="parquet (typed columns, times as UTC timestamps), csv or jsonl (times as ISO 8601 text). Values are written as logged: CSV cells are not guarded against spreadsheet formulas."),
    where: Optional[str] = typer.Option(None, "--where", "-w", help="Only records matching this condition over record fields, as report's --where, e.g. 'model_version == \"v2\" and input.country == \"DE\"'."),
    since: Optional[str] = SINCE_OPTION,
    until: Optional[str] = UNTIL_OPTION,
    now: Optional[str] = NOW_OPTION,
    dedup: Optional[str] = typer.Option(None, "--dedup", help="request_id: keep only the first record of each request id that passes the filters, in the order the logs are read (oldest file first, line by line).", show_default=False),
    labels: Optional[Path] = LABELS_OPTION,
    label_id: str = LABEL_ID_OPTION,
    label_field: str = LABEL_FIELD_OPTION,
    mapping: Optional[Path] = MAPPING_OPTION,
    preset: str = PRESET_OPTION,
    timezone: Optional[str] = TIMEZONE_OPTION,
    rejects: Optional[Path] = REJECTS_OPTION,
    strict: bool = STRICT_OPTION,
    max_line_bytes: int = MAX_LINE_OPTION,
) -> None:
    """Write the logged requests as a training-ready table: one row per request, typed input and output columns, labels joined."""
    from mlmon.errors import UsageError
    from mlmon.export import ExportSpec, export_logs
    from mlmon.metrics.model_quality import LabelSpec
    from mlmon.rejects import rejects_when_nothing_is_good, write_rejects
    from mlmon.render.progress import ReadProgress

    if output is None or str(output) == "-":
        raise UsageError("mlmon export needs -o FILE", "Name the file to write, e.g. -o train.parquet.")
    spec = window_spec(None, None, since, until, parse_now(now))
    inputs = log_inputs("export", logs, store, mapping, spec.since, spec.until)
    guard_outputs(inputs, {"-o": output, "--rejects": rejects}, mapping, labels)
    the_mapping = inputs_mapping(inputs, mapping, preset, timezone)
    truth = LabelSpec(str(labels), label_id, label_field) if labels is not None else None
    export_spec = ExportSpec(fmt.value, where, spec.since, spec.until, dedup, truth)
    with ReadProgress() as progress, rejects_when_nothing_is_good(rejects, the_mapping.redact), stop_signals_as_ctrl_c():
        result = export_logs(inputs, output, export_spec, mapping=the_mapping, strict=strict,
                             max_line_bytes=max_line_bytes, progress=progress)
    data = result.data
    if rejects is not None:
        write_rejects(data.rejects, rejects, the_mapping.redact)
    print_warnings([*data.warnings, *result.warnings], data.notes)
    labelled = f", {result.labelled:,} labelled" if result.labelled is not None else ""
    dropped = f"; {result.duplicates_dropped:,} duplicate request ids dropped" if dedup else ""
    stderr_console().print(f"mlmon: exported {result.rows:,} row{'s' if result.rows != 1 else ''}{labelled} "
                           f"with {len(result.columns):,} columns to {output}{dropped}")
    note_skipped(data.skipped, rejects)
