"""``mlmon rules``: validate rules files and print their JSON Schema."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from mlmon.cli.app import command_group
from mlmon.cli.common import EXIT_ERROR, EXIT_GATE, EXIT_OK, handle_errors, stderr_console
from mlmon.errors import UsageError

rules_app = command_group("rules", "Work with rules files: validate them, print their JSON Schema, run their unit tests.",
                          "mlmon rules validate rules.yaml", "mlmon rules schema > rules.schema.json",
                          "mlmon rules test rules.example.test.yaml")


@rules_app.command(
    "validate",
    epilog="Examples:\n\n  mlmon rules validate rules.example.yaml",
)
@handle_errors
def rules_validate(
    files: list[Path] = typer.Argument(..., metavar="FILE...", show_default=False,
                                       help="Rules files; notify configs (a top-level notify: only) and rule test files "
                                            "(rule_files:, tests:) are checked as what they are."),
) -> None:
    """Check rules files (keys, expressions, annotation templates, inhibit: and notify:), notify configs and rule test files; list every problem as file:line:col: message (exit 2 on problems)."""
    from mlmon.errors import ConfigError
    from mlmon.rules.validate import validate_file

    failed = False
    for path in files:
        try:
            verdict = validate_file(path)
        except ConfigError as exc:
            failed = True
            err = stderr_console()
            for line in exc.details:
                err.print(line)
            err.print(f"mlmon: error: {exc}")
            continue
        typer.echo(verdict)
    if failed:
        raise typer.Exit(EXIT_ERROR)


@rules_app.command("schema", epilog="Examples:\n\n  mlmon rules schema > rules.schema.json\n\n"
                                     "  mlmon rules schema --test > rules.test.schema.json\n\n"
                                     "  mlmon rules schema --notify > notify.schema.json")
@handle_errors
def rules_schema(
    test: bool = typer.Option(False, "--test", help="The JSON Schema of a rule test file (mlmon rules test) instead."),
    notify: bool = typer.Option(False, "--notify", help="The JSON Schema of a notify config (mlmon check --notify-config) instead."),
) -> None:
    """Print the JSON Schema of a rules file, for editors that autocomplete YAML."""
    import json

    if test and notify:
        raise UsageError("give --test or --notify, not both", "Each prints the schema of one kind of file.")
    if test:
        from mlmon.rules.testschema import json_schema
    elif notify:
        from mlmon.rules.model import notify_config_schema as json_schema
    else:
        from mlmon.rules.model import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


class TestFormat(str, Enum):
    text = "text"
    json = "json"


TEST_EPILOG = """Examples:

  mlmon rules test rules.example.test.yaml

  mlmon rules test tests/*.test.yaml --format json

A test file names its rules files and gives, per test, input windows and the alerts expected at each time:

  rule_files:
    - rules.example.yaml
  tests:
    - name: errors spike on v2
      start: 2026-01-01T00:00:00Z
      windows:
        - segment: {model: churn, model_version: v2}
          values:
            request_count: 600x2
            error_rate: 0.001 0.001 0.03
      alerts:
        - at: 3h
          expect:
            - alertname: churn-error-spike
              labels: {model: churn, model_version: v2, severity: critical, team: ml-platform}

See rules.example.test.yaml and the README for every key.
"""


@rules_app.command("test", epilog=TEST_EPILOG)
@handle_errors
def rules_test(
    files: list[Path] = typer.Argument(..., metavar="TESTFILE...", help="Rule test files (YAML).", show_default=False),
    fmt: TestFormat = typer.Option(TestFormat.text, "--format", "-f", help="Output format."),
) -> None:
    """Run rule unit tests, as promtool test rules: exit 0 when all pass, 1 when one fails, 2 for a bad file."""
    from mlmon.errors import MlmonError
    from mlmon.render.ruletest import FileOutcome, render_json, render_text
    from mlmon.rules.testfile import run_tests
    from mlmon.rules.testload import load_test_file

    outcomes = []
    for path in files:
        try:  # a bad file (or a log a test cannot read) is reported, and the other files still run
            outcomes.append(FileOutcome(str(path), run_tests(load_test_file(path))))
        except MlmonError as exc:
            err = stderr_console()
            for line in exc.details:
                err.print(line)
            err.print(f"mlmon: error: {exc}")
            outcomes.append(FileOutcome(str(path), problems=exc.details, error=str(exc)))
    typer.echo((render_json if fmt == TestFormat.json else render_text)(outcomes), nl=False)
    if any(o.error is not None for o in outcomes):
        raise typer.Exit(EXIT_ERROR)
    raise typer.Exit(EXIT_GATE if any(not r.passed for o in outcomes for r in o.results) else EXIT_OK)
