"""``mlmon ingest``: append the new lines of the logs to a Parquet store."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from mlmon.cli.app import app
from mlmon.cli.common import (
    LOGS_HELP,
    MAPPING_OPTION,
    PRESET_OPTION,
    TIMEZONE_OPTION,
    MAX_LINE_OPTION,
    REJECTS_OPTION,
    STRICT_OPTION,
    WAIT_OPTION,
    emit,
    guard_outputs,
    inputs_mapping,
    handle_errors,
    is_stdout,
    one_stdout,
    print_warnings,
    stderr_console,
)



class IngestFormat(str, Enum):
    text = "text"
    json = "json"


@app.command(
    epilog="Examples:\n\n"
    "  mlmon ingest /var/log/model/ --store /var/lib/mlmon/store\n\n"
    "  mlmon ingest 'logs/*.jsonl*' --store store/ --dedup request_id --rejects rejects.jsonl\n\n"
    "  mlmon report --store store/ --since 3h --every 10m --by model",
)
@handle_errors
def ingest(
    logs: list[str] = typer.Argument(..., metavar="LOGS...", help=LOGS_HELP.replace(", or - for stdin", ", or s3://bucket/key URLs (an object, or the log objects under a prefix; needs the s3 extra)").replace(" Or give --store DIR instead.", ""), show_default=False),
    store: str = typer.Option(..., "--store", metavar="DIR", help="The store: a directory, or s3://bucket/prefix (needs the s3 extra); created when missing or empty, appended to otherwise.", show_default=False),
    mapping: Optional[Path] = MAPPING_OPTION,
    preset: str = PRESET_OPTION,
    timezone: Optional[str] = TIMEZONE_OPTION,
    rejects: Optional[Path] = REJECTS_OPTION,
    strict: bool = STRICT_OPTION,
    max_line_bytes: int = MAX_LINE_OPTION,
    dedup: Optional[str] = typer.Option(None, "--dedup", help="request_id: leave out records whose request id this run, or the store within --dedup-window of their time, holds already (a retried request logged twice)."),
    dedup_window: str = typer.Option("1d", "--dedup-window", help="How far before and after the new records' times --dedup looks for their ids in the store."),
    pair_wait: str = typer.Option("10m", "--pair-wait", help="With a mapping that pairs events (the kserve, seldon and azureml presets): how long a request or response waits in the store for its partner, counted back from the newest event read, before it is a record alone (a request without its response then counts as failed). 0 pairs only what one run reads, as report does."),
    wait: float = WAIT_OPTION,
    fmt: IngestFormat = typer.Option(IngestFormat.text, "--format", "-f", help="text: the one-line summary on stderr; json: the summary as a document on stdout (for scripts)."),
) -> None:
    """Read what is new in the logs into a store of Parquet files, partitioned by UTC date, for every command's --store.

    Each file's offset is kept: a run reads only complete lines added since the last one (a last line \
without its newline waits for the next run). Rotated files (renamed, or compressed to .gz) are \
recognized by their identity and first bytes and never read twice; a truncated file is read again from \
its start. A run adds all it read or nothing: killed at any moment, the next run neither loses nor \
duplicates a line. Paired events (a request and its response logged apart) are joined across runs: one \
whose partner is not read yet waits in the store (--pair-wait). Bad lines are skipped and counted as in 'report'. Exit codes: 0 done, 2 a usage or \
input error, or the store locked by another run for longer than --wait (nothing is committed then).
    """
    from mlmon.rejects import rejects_when_nothing_is_good, write_rejects
    from mlmon.render.progress import ReadProgress
    from mlmon.store.ingest import IngestOptions
    from mlmon.store.ingest import ingest as run_ingest
    from mlmon.timeparse import parse_duration

    if dedup is not None and dedup != "request_id":
        from mlmon.errors import UsageError

        raise UsageError(f"--dedup takes request_id, not {dedup!r}", "Use --dedup request_id, or leave it out.")
    one_stdout({"the JSON summary": fmt == IngestFormat.json, "--rejects": is_stdout(rejects)})
    guard_outputs(logs, {"--rejects": rejects}, mapping)
    the_mapping = inputs_mapping(logs, mapping, preset, timezone)
    options = IngestOptions(mapping=the_mapping, strict=strict, max_line_bytes=max_line_bytes, dedup=dedup,
                            dedup_window=parse_duration(dedup_window, what="--dedup-window"), wait_s=wait,
                            pair_wait=parse_duration(pair_wait, what="--pair-wait", zero=True))
    with ReadProgress() as progress, rejects_when_nothing_is_good(rejects, the_mapping.redact):
        options.progress = progress
        summary = run_ingest(logs, store, options)
    if rejects is not None:
        write_rejects(summary.rejects, rejects, the_mapping.redact)
    print_warnings(summary.warnings, summary.notes)
    if fmt == IngestFormat.json:
        emit(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False) + "\n", None)
    else:
        line = f"mlmon: {summary.line()}"
        if summary.skipped:
            line += f"; bad lines listed in {rejects}" if rejects else "; use --rejects FILE to list the bad lines"
        stderr_console().print(line)
