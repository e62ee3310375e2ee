"""``mlmon inspect``: what is in my logs? Format, counts, time range, field paths, and a mapping to read them."""

from __future__ import annotations

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
    emit,
    guard_outputs,
    handle_errors,
    stderr_console,
)


class InspectFormat(str, Enum):
    table = "table"
    json = "json"


EPILOG = """Examples:

  mlmon inspect app.jsonl

  mlmon inspect logs/ --format json

  mlmon inspect app.jsonl --suggest -o mapping.yaml

  mlmon report app.jsonl --mapping mapping.yaml

The field profile comes from the first --sample records of each file (read from its head
only); the record and bad-line counts and the time range come from reading every line,
as mlmon report does. Exit codes: 0 fine, 2 usage or input error (nothing in LOGS is
JSON lines: inspect still prints what it saw).
"""


@app.command("inspect", epilog=EPILOG)
@handle_errors
def inspect(
    logs: list[str] = typer.Argument(..., metavar="LOGS...", show_default=False,
                                     help=LOGS_HELP.split(" Bad lines")[0] + " Bad lines are counted, not an error."),
    fmt: InspectFormat = typer.Option(InspectFormat.table, "--format", "-f", help="Output format."),
    sample: int = typer.Option(1000, "--sample", min=1, max=1_000_000, metavar="N",
                               help="Profile the fields of the first N JSON records of each file."),
    suggest: bool = typer.Option(False, "--suggest", help="Print only the suggested mapping YAML (or the detected "
                                 "preset's), to save with -o FILE and pass to --mapping."),
    mapping: Optional[Path] = MAPPING_OPTION,
    preset: str = PRESET_OPTION,
    timezone: Optional[str] = TIMEZONE_OPTION,
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the output to FILE (atomically) "
                                          "instead of standard output.", show_default=False),
) -> None:
    """Show what is in the logs: the format, the time range, record and bad-line counts, every field path with
    its type, null rate and examples (secrets redacted), the canonical fields found and missing, and a mapping
    to read them."""
    from mlmon.errors import InputError, UsageError
    from mlmon.inspect import inspect_logs, suggestion_text
    from mlmon.render.progress import ReadProgress

    if suggest and fmt == InspectFormat.json:
        raise UsageError("--suggest prints YAML, not JSON", "Drop --format json, or read suggested_mapping "
                         "from the JSON output.")
    guard_outputs(logs, {"--output": output}, mapping)
    with ReadProgress(delay=1.0) as progress:
        result = inspect_logs(logs, mapping, preset, timezone, sample=sample, progress=progress)
    if suggest:
        text, note = suggestion_text(result)
        if note:
            stderr_console().print(f"mlmon: note: {note}")
        if text is not None:
            emit(text, output)
    elif fmt == InspectFormat.json:
        from mlmon.render.inspect import render_inspection_json

        emit(render_inspection_json(result), output)
    else:
        from mlmon.render.inspect import render_inspection_table

        emit(render_inspection_table(result, _width(output)), output)
    if not result.usable:
        seen = "; ".join(f"{name}: {looks}" for name, looks in result.looks_like.items() if looks)
        raise InputError(f"nothing in LOGS is JSON lines ({seen})",
                         'mlmon reads one JSON object per line (README "Log records"): convert the file first.')


def _width(output: Optional[Path]) -> int:
    """The terminal's width when printing to one, else 80 columns."""
    if output is not None and str(output) != "-":
        return 80
    from rich.console import Console

    console = Console()
    return console.width if console.is_terminal else 80
