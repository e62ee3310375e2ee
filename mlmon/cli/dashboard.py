"""``mlmon dashboard``: a live full-screen view of the logs (or a store), or one frame as text with --once."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mlmon.cli.app import app
from mlmon.cli.common import (BASELINE_OPTION, LOGS_ARGUMENT, MAPPING_OPTION, PRESET_OPTION, TIMEZONE_OPTION, MAX_LINE_OPTION, MAX_SEGMENTS_OPTION,
                              NOW_OPTION, PRICES_OPTION, STORE_OPTION, handle_errors, log_inputs, parse_now)


@app.command(
    epilog="Keys: q or Ctrl-C quit; arrows or Tab pick a model and version (every panel shows only it); "
    "+/- longer or shorter windows (+ reads the logs again once, for the longer range); p pause; ? keys.\n\n"
    "Examples:\n\n"
    "  mlmon dashboard /var/log/model/app.jsonl\n\n"
    "  mlmon dashboard logs/ --every 5m --windows 48 --rules rules.yaml\n\n"
    "  mlmon dashboard --store /var/lib/mlmon/store --refresh 10\n\n"
    "  mlmon dashboard sample_logs/*.jsonl.gz --once --every 1h > frame.txt"
)
@handle_errors
def dashboard(
    logs: Optional[list[str]] = LOGS_ARGUMENT,
    store: Optional[str] = STORE_OPTION,
    every: str = typer.Option("1m", "--every", "-e", help="Window length, e.g. 10s, 1m, 1h (windows aligned to UTC, as report's)."),
    windows: int = typer.Option(60, "--windows", "-n", min=2, max=10_000, help="Windows shown (and kept in memory): the charts cover --windows × --every."),
    refresh: float = typer.Option(2.0, "--refresh", "-r", help="Seconds between reads of what the logs gained (at least 0.1)."),
    once: bool = typer.Option(False, "--once", help="Print one frame as plain text to stdout and exit (for cron e-mails and screenshots); works without a terminal."),
    width: Optional[int] = typer.Option(None, "--width", min=40, max=1000, help="With --once: columns of the frame (default: the terminal's or $COLUMNS, else 80)."),
    rules: Optional[Path] = typer.Option(None, "--rules", help="Rules file: show its firing and pending alerts, evaluated as 'mlmon check' does, over the windows shown."),
    baseline: Optional[Path] = BASELINE_OPTION,
    mapping: Optional[Path] = MAPPING_OPTION,
    preset: str = PRESET_OPTION,
    timezone: Optional[str] = TIMEZONE_OPTION,
    max_line_bytes: int = MAX_LINE_OPTION,
    max_segments: int = MAX_SEGMENTS_OPTION,
    prices: Optional[Path] = PRICES_OPTION,
    now: Optional[str] = NOW_OPTION,
) -> None:
    """Watch a model live: throughput, latency, errors, resources per window, per model and version, with alerts and drift."""
    from mlmon.errors import UsageError
    from mlmon.live.setup import open_feed

    if not 0.1 <= refresh <= 86400:
        raise UsageError(f"--refresh {refresh:g} is out of range", "Give 0.1 to 86400 seconds, e.g. --refresh 2.")
    if not once and not _on_a_terminal():
        raise UsageError("mlmon dashboard needs a terminal to draw in",
                         "Run it in a terminal, or give --once to print one frame as text.")
    inputs = log_inputs("dashboard", logs, store, mapping)
    if store is None:
        from mlmon.cli.common import inputs_mapping

        mapping = inputs_mapping(inputs, mapping, preset, timezone)
    else:
        from mlmon.logs.presets import refuse_for_store

        refuse_for_store(preset, timezone)
    fixed = parse_now(now) if now else None
    from mlmon.metrics.llm import load_prices

    feed = open_feed(inputs, store=store, every=every, windows=windows, mapping=mapping, rules=rules,
                     baseline=baseline, max_line_bytes=max_line_bytes, max_segments=max_segments,
                     clock=(lambda: fixed) if fixed else None, prices=load_prices(prices))
    if once:
        from mlmon.cli.common import emit
        from mlmon.render.dashboard.panels import render_once

        feed.poll()
        emit(render_once(feed.snapshot(), width or _terminal_width()), None)
        return
    from mlmon.render.dashboard.app import Dashboard

    view = Dashboard(feed, refresh_s=refresh)
    view.run()
    if view.error is not None:
        raise view.error


def _on_a_terminal() -> bool:
    import sys

    return all(stream is not None and stream.isatty() for stream in (sys.stdin, sys.stdout))


def _terminal_width() -> int:
    """The terminal's columns (or $COLUMNS); 80, as for every table, when stdout is no terminal."""
    import shutil

    return max(40, shutil.get_terminal_size((80, 24)).columns)
