"""``mlmon rules``: validate rules files and print their JSON Schema."""

from __future__ import annotations

from pathlib import Path

import typer

from mlmon.cli.app import app
from mlmon.cli.common import EXIT_ERROR, handle_errors, stderr_console

rules_app = typer.Typer(
    help="Work with rules files: validate them, print their JSON Schema.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(rules_app, name="rules", epilog="Examples:\n\n  mlmon rules validate rules.yaml\n\n  mlmon rules schema > rules.schema.json")


@rules_app.command(
    "validate",
    epilog="Examples:\n\n  mlmon rules validate rules.example.yaml",
)
@handle_errors
def rules_validate(
    files: list[Path] = typer.Argument(..., metavar="FILE...", help="Rules files to check.", show_default=False),
) -> None:
    """Check rules files (keys, expressions, annotation templates) and list every problem as file:line:col: rule "name": message (exit 2 on problems)."""
    from mlmon.errors import ConfigError
    from mlmon.rules.load import load_rules

    failed = False
    for path in files:
        try:
            ruleset = load_rules(path)
        except ConfigError as exc:
            failed = True
            err = stderr_console()
            for line in exc.details:
                err.print(line)
            err.print(f"mlmon: error: {exc}")
            continue
        typer.echo(f"{path}: {len(ruleset.rules)} rule{'s' if len(ruleset.rules) != 1 else ''}, no problems")
    if failed:
        raise typer.Exit(EXIT_ERROR)


@rules_app.command("schema", epilog="Examples:\n\n  mlmon rules schema > rules.schema.json")
@handle_errors
def rules_schema() -> None:
    """Print the JSON Schema of a rules file, for editors that autocomplete YAML."""
    import json

    from mlmon.rules.model import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))
