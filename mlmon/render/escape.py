"""Make text from logs harmless to print: no terminal control sequences, no markup."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters (ESC, BEL, C1 codes, ...) shown as ``\\xNN`` escapes.

    Use it with rich ``Text`` objects (which never interpret markup), not markup strings.
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def markdown_cell(text: str) -> str:
    """A value safe inside a Markdown table cell."""
    text = printable(text).replace("\n", " ").replace("\t", " ")
    return re.sub(r"([\\|`*\[\]<>])", r"\\\1", text)
