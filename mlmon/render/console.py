"""Consoles that render into a string, for every text table mlmon prints (report, check, replay)."""

from __future__ import annotations

import io
import re

from rich.console import Console

#: Outside a terminal, a console this wide never wraps: a line is as long as it needs.
UNWRAPPED = 1_000_000


def text_console(width: int, color: bool, wrap: bool = True) -> tuple[Console, io.StringIO]:
    """A console writing into the returned buffer: ``width`` columns wide and wrapping when ``wrap`` (a
    terminal's case), else never wrapping; ANSI colour only with ``color``. Text is never read as markup."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width if wrap else UNWRAPPED, force_terminal=color, no_color=not color,
                      highlight=False, markup=False, emoji=False, soft_wrap=not wrap)
    return console, buffer


def rendered(buffer: io.StringIO) -> str:
    """What was printed into ``buffer``, without the spaces rich pads the last column with."""
    return re.sub(r"[ \t]+$", "", buffer.getvalue(), flags=re.M)
