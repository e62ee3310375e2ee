"""``mlmon mapping show``: print a mapping file to copy and adapt."""

from __future__ import annotations

from typing import Optional

import typer

from mlmon.cli.app import command_group
from mlmon.cli.common import emit, handle_errors

mapping_app = command_group(
    "mapping", "Work with mapping files, which say where your records hold each field (README 'Field mapping').",
    "mlmon mapping show > mapping.yaml", "mlmon mapping show --preset sagemaker")

SHOW_EPILOG = """Examples:

  mlmon mapping show > my_mapping.yaml

  mlmon mapping show --preset kserve > kserve.yaml

  mlmon report LOGS --mapping my_mapping.yaml
"""


@mapping_app.command("show", epilog=SHOW_EPILOG)
@handle_errors
def mapping_show(
    preset: Optional[str] = typer.Option(None, "--preset", metavar="NAME",
                                         help="Print this preset's mapping file instead of mlmon's own shape."),
) -> None:
    """Print a mapping as YAML: mlmon's own record shape, commented, or a preset's file (unknown preset: exit 2, listing them)."""
    from mlmon.mapping_text import mapping_text

    emit(mapping_text(preset), None)
