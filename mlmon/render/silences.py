"""``mlmon silence list``: the silences as a table for people."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich import box
from rich.table import Table
from rich.text import Text

from mlmon.render.console import rendered, text_console
from mlmon.render.escape import printable
from mlmon.rules.matchers import format_matchers
from mlmon.rules.silences import Silence
from mlmon.timeparse import iso


def render_silences_table(silences: Sequence[Silence], now: datetime, width: int = 200) -> str:
    """One row per silence: id, state at ``now``, start, end, matchers, author and comment (all escaped)."""
    if not silences:
        return "no silences\n"
    console, buffer = text_console(width, color=False, wrap=False)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for col in ("id", "state", "starts", "ends", "matchers", "created_by", "comment"):
        table.add_column(col, overflow="fold")
    for s in silences:
        table.add_row(Text(printable(s.id)), Text(s.state(now)), Text(iso(s.starts_at) or ""), Text(iso(s.ends_at) or ""),
                      Text(printable(format_matchers(s.matchers))), Text(printable(s.created_by)),
                      Text(printable(s.comment)))
    console.print(table)
    return rendered(buffer)
