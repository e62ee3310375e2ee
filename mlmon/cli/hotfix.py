"""``mlmon hotfix``: check hot-fix files before ops switch them on."""

from __future__ import annotations

from pathlib import Path

import typer

from mlmon.cli.app import command_group
from mlmon.cli.common import EXIT_ERROR, handle_errors, stderr_console

hotfix_app = command_group("hotfix", "Work with hot-fix files (answers given without the model; README 'Hot fixes').",
                           "mlmon hotfix validate hotfix.yaml", "mlmon replay LOGS --hotfix hotfix.yaml")

VALIDATE_EPILOG = """Examples:

  mlmon hotfix validate hotfix.example.yaml

  mlmon hotfix validate hotfix.yaml && cp hotfix.yaml /etc/model/hotfix.yaml

A hot-fix file lists rules; the first enabled one whose condition holds answers:

  rules:
    - name: block-test-country
      when: input.country == "XX"
      respond: {churn: false, score: 0.0}
    - name: huge-amounts
      when: input.amount > 1e6
      fallback: scorers.rules:score
      enabled: false
"""


@hotfix_app.command("validate", epilog=VALIDATE_EPILOG)
@handle_errors
def hotfix_validate(
    files: list[Path] = typer.Argument(..., metavar="FILE...", show_default=False, help="Hot-fix files (YAML)."),
) -> None:
    """Check hot-fix files (keys, conditions, respond or fallback); list every problem as file:line:col: message (exit 2 on problems)."""
    from mlmon.errors import ConfigError
    from mlmon.hotfix.config import load_hotfixes

    failed = False
    for path in files:
        try:
            verdict = load_hotfixes(path).summary()
        except ConfigError as exc:
            failed = True
            err = stderr_console()
            for line in exc.details:
                err.print(line, markup=False, highlight=False)
            err.print(f"mlmon: error: {exc}", markup=False, highlight=False)
            continue
        typer.echo(verdict)
    if failed:
        raise typer.Exit(EXIT_ERROR)


@hotfix_app.command("schema", epilog="Examples:\n\n  mlmon hotfix schema > hotfix.schema.json\n\n"
                    "  # yaml-language-server: $schema=hotfix.schema.json   (first line of hotfix.yaml)")
@handle_errors
def hotfix_schema() -> None:
    """Print the JSON Schema of a hot-fix file, for editors that autocomplete YAML."""
    import json

    from mlmon.hotfix.schema import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


def print_preview(logs, mapping, selection, previewer, fmt: str, strict: bool) -> None:
    """``mlmon replay --hotfix FILE`` without a target: the preview alone, nothing sent."""
    from rich.console import Console

    from mlmon.cli.common import emit, print_reading
    from mlmon.render.hotfix_preview import render_preview_json, render_preview_table
    from mlmon.render.progress import ReadProgress
    from mlmon.replay.hotfix_preview import preview_hotfixes

    with ReadProgress(delay=1.0) as progress:
        preview = preview_hotfixes(logs, mapping, selection, previewer, strict=strict, progress=progress,
                                   on_read=print_reading)
    if fmt == "json":
        text = render_preview_json(preview, mapping.redact)
    else:
        console = Console(highlight=False, markup=False, emoji=False)
        text = render_preview_table(preview, width=console.width, color=console.is_terminal and not console.no_color,
                                    wrap=console.is_terminal, secret_keys=mapping.redact)
    emit(text, None)


def add_preview(text: str, preview, fmt: str, secret_keys: tuple[str, ...]) -> str:
    """A replay summary (table or JSON) with the hot-fix preview added."""
    from mlmon.render.hotfix_preview import render_preview_table, with_preview_json

    if fmt == "json":
        return with_preview_json(text, preview, secret_keys)
    return text + "\n" + render_preview_table(preview, secret_keys=secret_keys)
