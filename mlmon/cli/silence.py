"""``mlmon silence``: add, list and expire silences kept beside a ``check --state`` file."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from mlmon.cli.app import command_group
from mlmon.cli.common import NOW_OPTION, emit, handle_errors, parse_now
from mlmon.errors import UsageError

silence_app = command_group(
    "silence", "Silence alerts for a while, as Alertmanager's silences: matching alerts are shown, marked, "
    "but send nothing and do not fail the check. Kept in STATE.silences.json beside 'check --state STATE'.",
    "mlmon silence add --state state.json --match model=churn --match severity=warning --for 2h --comment deploy",
    "mlmon silence list --state state.json",
    "mlmon silence expire --state state.json 0b6c3c1e-…")

STATE_OPTION = typer.Option(..., "--state", help="The state file of 'mlmon check --state'; silences live in FILE.silences.json.",
                            show_default=False)


class ListFormat(str, Enum):
    table = "table"
    json = "json"


@silence_app.command(
    "add",
    epilog="Examples:\n\n"
    "  mlmon silence add --state state.json --match model=churn --match severity=warning --for 2h --comment deploy\n\n"
    "  mlmon silence add --state state.json --match 'alertname=~\"slow-.*\"' --start 2026-11-27T22:00Z --until 2026-11-28T02:00Z",
)
@handle_errors
def silence_add(
    state: Path = STATE_OPTION,
    match: Optional[list[str]] = typer.Option(None, "--match", help="A matcher on the alert's labels (alertname, severity, segment fields, rule labels): name=value, name!=value, name=~regex, name!~regex. Repeatable: all must match.", show_default=False),
    duration: Optional[str] = typer.Option(None, "--for", help="How long the silence lasts from its start, e.g. 2h or 1d."),
    until: Optional[str] = typer.Option(None, "--until", help="When the silence ends: an ISO time (instead of --for)."),
    start: Optional[str] = typer.Option(None, "--start", help="When the silence starts: an ISO time (default: now)."),
    comment: str = typer.Option("", "--comment", help="Why, for the people who will see it."),
    author: str = typer.Option("", "--author", help="Who added it (default: $USER, else the login name, else 'unknown')."),
    now: Optional[str] = NOW_OPTION,
) -> None:
    """Add a silence and print its id."""
    from mlmon.rules.silences import add_silence, end_after, new_silence
    from mlmon.timeparse import parse_duration, parse_instant

    clock = parse_now(now)
    if not match:
        raise UsageError("mlmon silence add needs at least one --match", "Add one, e.g. --match model=churn --match severity=warning.")
    if (duration is None) == (until is None):
        raise UsageError("give either --for or --until", "Say how long the silence lasts, e.g. --for 2h.")
    starts = parse_instant(start, what="--start") if start else clock
    ends = end_after(starts, parse_duration(duration, what="--for")) if duration else parse_instant(until, what="--until")
    silence = new_silence(match, starts_at=starts, ends_at=ends, now=clock, comment=comment,
                          created_by=author or _login_name())
    add_silence(state, silence, clock)
    typer.echo(silence.id)


def _login_name() -> str:
    """``$USER``; without it, the login name the system knows (getpass), else ``unknown``."""
    import getpass
    import os

    name = os.environ.get("USER", "")
    if not name:
        try:
            name = getpass.getuser()
        except Exception:  # no such variable and no password-database entry for this uid
            name = ""
    return name or "unknown"


@silence_app.command("list", epilog="Examples:\n\n  mlmon silence list --state state.json --all --format json")
@handle_errors
def silence_list(
    state: Path = STATE_OPTION,
    everything: bool = typer.Option(False, "--all", help="Include expired silences (kept 5 days after they end)."),
    fmt: ListFormat = typer.Option(ListFormat.table, "--format", "-f", help="Output format."),
    now: Optional[str] = NOW_OPTION,
) -> None:
    """List active and pending silences (with --all, expired ones too)."""
    from mlmon.render.silences import render_silences_table
    from mlmon.rules.silences import list_silences

    clock = parse_now(now)
    silences = list_silences(state, clock, everything)
    if fmt == ListFormat.json:
        from mlmon.safetext import json_safe

        doc = {"silences": [s.to_dict(clock) for s in silences]}
        emit(json_safe(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n", None)
        return
    emit(render_silences_table(silences, clock), None)


@silence_app.command("expire", epilog="Examples:\n\n  mlmon silence expire --state state.json 0b6c3c1e-…")
@handle_errors
def silence_expire(
    silence_id: str = typer.Argument(..., metavar="ID", help="The id 'silence add' printed ('silence list' shows them).", show_default=False),
    state: Path = STATE_OPTION,
    now: Optional[str] = NOW_OPTION,
) -> None:
    """End a silence now."""
    from mlmon.rules.silences import expire_silence
    from mlmon.timeparse import iso

    clock = parse_now(now)
    silence = expire_silence(state, silence_id, clock)
    typer.echo(f"{silence.id} expired at {iso(silence.ends_at)}")
