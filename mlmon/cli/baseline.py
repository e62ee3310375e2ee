"""``mlmon baseline save``: profile reference data to compare later runs against."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mlmon.cli.app import command_group
from mlmon.cli.common import (
    MAPPING_OPTION,
    PRESET_OPTION,
    TIMEZONE_OPTION,
    NOW_OPTION,
    REJECTS_OPTION,
    STORE_OPTION,
    STRICT_OPTION,
    guard_outputs,
    handle_errors,
    inputs_mapping,
    is_stdout,
    log_inputs,
    note_skipped,
    one_stdout,
    parse_now,
    print_warnings,
    stderr_console,
    window_spec,
)

baseline_app = command_group(
    "baseline", "Save a compact profile of reference data, to compare later runs against without the raw data.",
    "mlmon baseline save train.parquet -o baseline.json")


@baseline_app.command(
    "save",
    epilog="Examples:\n\n"
    "  mlmon baseline save sample_logs/churn.jsonl.gz --until 2026-11-26T14:00Z -o baseline.json\n\n"
    "  mlmon baseline save train.parquet -o baseline.json\n\n"
    "  mlmon baseline save --store /var/lib/mlmon/store --since 2026-11-01 --until 2026-11-08 -o baseline.json",
)
@handle_errors
def baseline_save(
    sources: Optional[list[str]] = typer.Argument(None, metavar="DATA...", help="Logs (files, directories, globs) or one dataset file (.parquet, .csv, .jsonl); or give --store DIR instead.", show_default=False),
    store: Optional[str] = STORE_OPTION,
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the profile (JSON, written atomically).", show_default=False),
    since: Optional[str] = typer.Option(None, "--since", help="Only records at or after this time (logs only)."),
    until: Optional[str] = typer.Option(None, "--until", help="Only records before this time (logs only)."),
    now: Optional[str] = NOW_OPTION,
    mapping: Optional[Path] = MAPPING_OPTION,
    preset: str = PRESET_OPTION,
    timezone: Optional[str] = TIMEZONE_OPTION,
    rejects: Optional[Path] = REJECTS_OPTION,
    strict: bool = STRICT_OPTION,
    max_fields: int = typer.Option(1000, "--max-fields", min=1, help="The most request fields, and as many response fields (or dataset columns), profiled: those the most records hold (ties by name). A warning says how many were left out; the profile records the number."),
) -> None:
    """Profile reference data per field (type, quantile bins, category frequencies, null rate, min/max, count).

    Secret fields (see Secrets in the README) keep only their counts; secrets inside text values are redacted.
    A value of a numeric field that is not a finite number (NaN, an infinity) is counted as a type violation
    and left out of the statistics.
    """
    from mlmon.baseline.save import save_baseline
    from mlmon.rejects import rejects_when_nothing_is_good
    from mlmon.render.values import plural

    one_stdout({"the profile": is_stdout(output), "--rejects": is_stdout(rejects)})
    clock = parse_now(now)
    spec = window_spec(None, None, since, until, clock)
    sources = log_inputs("baseline save", sources, store, mapping, spec.since, spec.until)
    guard_outputs(sources, {"-o": output, "--rejects": rejects}, mapping)
    the_mapping = inputs_mapping(sources, mapping, preset, timezone, datasets=True)  # one file may be a dataset
    with rejects_when_nothing_is_good(rejects, the_mapping.redact):
        saved = save_baseline(sources, output, mapping=the_mapping, since=spec.since, until=spec.until, now=clock,
                              strict=strict, max_fields=max_fields)
    if rejects is not None:
        from mlmon.rejects import write_rejects

        write_rejects(saved.rejects, rejects, the_mapping.redact)
    print_warnings(saved.warnings, saved.notes)
    kinds = [r.kind for r in saved.reference.fields.values()]
    where = "standard output" if str(output) == "-" else str(output)
    stderr_console().print(f"{where}: profile of {plural(saved.reference.rows, 'record')}, {plural(len(kinds), 'field')} "
               f"({kinds.count('numeric')} numeric, {kinds.count('categorical')} categorical, "
               f"{plural(kinds.count('identifier'), 'identifier')})")
    note_skipped(saved.skipped, rejects)
