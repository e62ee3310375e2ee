"""``mlmon store``: describe, compact and prune the store that ``mlmon ingest`` keeps."""

from __future__ import annotations

import json
from enum import Enum
from typing import Optional

import typer

from mlmon.cli.app import command_group
from mlmon.cli.common import NOW_OPTION, WAIT_OPTION, emit, handle_errors, parse_now, stderr_console

store_app = command_group(
    "store", "Describe, compact and prune the Parquet store that 'mlmon ingest' keeps.",
    "mlmon store info --store /var/lib/mlmon/store", "mlmon store compact --store /var/lib/mlmon/store",
    "mlmon store prune --store /var/lib/mlmon/store --older-than 90d")
STORE_DIR = typer.Option(..., "--store", metavar="DIR", help="The store's directory.", show_default=False)


class InfoFormat(str, Enum):
    table = "table"
    json = "json"


@store_app.command("info", epilog="Examples:\n\n  mlmon store info --store store/ --format json")
@handle_errors
def store_info(
    store: str = STORE_DIR,
    fmt: InfoFormat = typer.Option(InfoFormat.table, "--format", "-f", help="Output format."),
) -> None:
    """Show the sources with their offsets and counts, the time range, the partitions, the size on disk and the schema."""
    from mlmon.store.maintain import describe

    info = describe(store)
    if fmt == InfoFormat.json:
        emit(json.dumps(info, indent=2, ensure_ascii=False) + "\n", None)
        return
    from mlmon.render.store import render_store_info

    emit(render_store_info(info), None)


@store_app.command("compact", epilog="Examples:\n\n  mlmon store compact --store store/")
@handle_errors
def store_compact(
    store: str = STORE_DIR,
    target_mb: int = typer.Option(256, "--target-mb", min=1, help="Merge parts smaller than this into parts of about this size (MB on disk)."),
    wait: float = WAIT_OPTION,
    fmt: InfoFormat = typer.Option(InfoFormat.table, "--format", "-f", help="table: one line on stderr; json: the result on stdout."),
) -> None:
    """Merge each day's small parts (an ingest every five minutes makes hundreds) into a few large ones.

    Crash-safe: the merged parts are committed before the old ones are deleted, and readers are never disturbed.
    """
    from mlmon.store.maintain import compact

    done = compact(store, target_bytes=target_mb * 1024 * 1024, wait_s=wait)
    _said(done, fmt, f"compacted {done.parts_before:,} parts into {done.parts_after:,}")


@store_app.command("prune", epilog="Examples:\n\n  mlmon store prune --store store/ --older-than 90d")
@handle_errors
def store_prune(
    store: str = STORE_DIR,
    older_than: str = typer.Option(..., "--older-than", help="Remove the UTC days that ended longer ago than this, e.g. 90d (a day partly inside is kept).", show_default=False),
    now: Optional[str] = NOW_OPTION,
    wait: float = WAIT_OPTION,
    fmt: InfoFormat = typer.Option(InfoFormat.table, "--format", "-f", help="table: one line on stderr; json: the result on stdout."),
) -> None:
    """Apply retention: delete the days older than --older-than. Their lines are not ingested again from logs still on disk."""
    from mlmon.store.maintain import prune
    from mlmon.timeparse import parse_duration

    done = prune(store, parse_duration(older_than, what="--older-than"), parse_now(now), wait_s=wait)
    days = f" ({done.partitions[0]}{' to ' + done.partitions[-1] if len(done.partitions) > 1 else ''})" if done.partitions else ""
    n = len(done.partitions)
    _said(done, fmt, f"pruned {done.rows_removed:,} records in {n:,} day{'' if n == 1 else 's'}{days}")


def _said(done, fmt: InfoFormat, text: str) -> None:
    if fmt == InfoFormat.json:
        emit(json.dumps(done.to_dict(), indent=2) + "\n", None)
    else:
        stderr_console().print(f"mlmon: store: {text}")
