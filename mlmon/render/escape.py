"""Escaping for renderers: :mod:`mlmon.safetext`'s, plus Markdown table cells."""

from __future__ import annotations

import re

from mlmon.safetext import UNSAFE_PATTERN_RUST, json_safe, printable

__all__ = ["UNSAFE_PATTERN_RUST", "json_safe", "markdown_cell", "printable"]


def markdown_cell(text: str) -> str:
    """A value safe inside a Markdown table cell."""
    return re.sub(r"([\\|`*\[\]<>])", r"\\\1", printable(text))
