"""Plain-text tables whose cost is linear in the rows they print.

A report by request id can have hundreds of thousands of rows. Laying them out with rich's
``Table`` (which measures, pads and renders every cell as an object) took minutes, so the
rows are built here instead: each column's values are formatted once per distinct value,
and padded and joined by Polars. The look is the one rich's ``SIMPLE_HEAD`` tables have:
headers, a rule, columns three spaces apart, numbers right-aligned.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable

import polars as pl
from rich.cells import cell_len, chop_cells

GAP = "   "  # a space of padding either side of a one-space separator


@dataclass
class Column:
    """One column: its header and, per row, the cell's text and its width in terminal cells."""

    key: str
    head: str
    cells: pl.DataFrame  # "text" (String) and "width" (Int64), one row per table row
    right: bool = False  # numbers: right-aligned, never folded

    @cached_property
    def width(self) -> int:
        return max(cell_len(self.head), self.cells.get_column("width").max() or 0)


def column(key: str, head: str, values: pl.Series, show: Callable[[Any], str], right: bool = False) -> Column:
    """A column of ``show(value)`` for each value: ``show`` runs once per distinct value, not per row."""
    distinct = values.unique(maintain_order=True)
    texts = pl.Series([show(v) for v in distinct.to_list()], dtype=pl.String)
    # numbers are ASCII (and "–"): one cell per character; text from logs may hold wide characters
    widths = (texts.str.len_chars().cast(pl.Int64) if right
              else pl.Series([cell_len(t) for t in texts.to_list()], dtype=pl.Int64))
    lookup = pl.DataFrame({"value": distinct, "text": texts, "width": widths})
    cells = (values.rename("value").to_frame()
             .join(lookup, on="value", how="left", nulls_equal=True, maintain_order="left")
             .select("text", "width"))
    return Column(key, head, cells, right)


def table_width(columns: list[Column]) -> int:
    return sum(c.width for c in columns) + len(GAP) * (len(columns) - 1) if columns else 0


def fit(columns: list[Column], width: int, always: set[str], priority: list[str]) -> list[Column]:
    """The columns ``always`` shown, plus the others, in ``priority`` order, while the table fits ``width``;
    in their original order."""
    chosen = {c.key for c in columns if c.key in always}
    by_key = {c.key: c for c in columns}
    for key in priority:
        if key in by_key and key not in chosen:
            if table_width([c for c in columns if c.key in chosen | {key}]) <= width:
                chosen.add(key)
    return [c for c in columns if c.key in chosen]


def lay_out(columns: list[Column], fold_to: int | None = None, spans: pl.Series | None = None,
            span_after: int = 0) -> tuple[list[str], list[str]]:
    """The table's lines: the header's (ending with the rule), and one per row (trailing spaces dropped).

    ``spans``, when given, holds per row either null or a text that replaces every cell after the
    first ``span_after`` columns (a line such as "no requests until …"). With ``fold_to``, a table
    wider than that folds its text columns (never numbers) onto more lines, as a terminal needs;
    without it, a line is as long as it needs.
    """
    widths = [c.width for c in columns]
    span_width = 0
    if spans is not None and spans.null_count() < spans.len():
        span_width = table_width(columns[:span_after]) + len(GAP) + (spans.str.len_chars().max() or 0)
    if fold_to is not None and max(table_width(columns), span_width) > fold_to:
        return _folded(columns, _shrink(columns, widths, fold_to), spans, span_after, fold_to)
    head = GAP.join(_pad_text(c.head, w, c.right) for c, w in zip(columns, widths)).rstrip()
    lines = [head, "─" * table_width(columns)]
    if not columns or not columns[0].cells.height:
        return lines, []
    frame = pl.concat([c.cells.rename({"text": f"t{i}", "width": f"w{i}"}) for i, c in enumerate(columns)],
                      how="horizontal")
    padded = [_padded(i, c.right, w) for i, (c, w) in enumerate(zip(columns, widths))]
    row = pl.concat_str(padded, separator=GAP)
    if spans is not None:
        frame = frame.with_columns(spans.alias("span"))
        prefix = pl.concat_str(padded[:span_after], separator=GAP)
        row = pl.when(pl.col("span").is_null()).then(row).otherwise(pl.concat_str(prefix, pl.lit(GAP), pl.col("span")))
    body = frame.select(row.str.strip_chars_end(" ").alias("line")).get_column("line")
    return lines, body.to_list()


def _padded(i: int, right: bool, width: int) -> pl.Expr:
    """Column ``i``'s cells padded to ``width`` terminal cells (a wide character takes two, but is one char)."""
    text, cells = pl.col(f"t{i}"), pl.col(f"w{i}")
    length = pl.lit(width) - cells + text.str.len_chars()
    return text.str.pad_start(length) if right else text.str.pad_end(length)


def _pad_text(text: str, width: int, right: bool) -> str:
    fill = " " * max(0, width - cell_len(text))
    return fill + text if right else text + fill


def _shrink(columns: list[Column], widths: list[int], target: int) -> list[int]:
    """Widths that fit ``target``: the widest text column narrowed first, one cell at a time, the rightmost
    of equals first (the leftmost names the row), to one cell at least."""
    widths = list(widths)
    excess = table_width(columns) - target
    text = [i for i, c in enumerate(columns) if not c.right]
    while excess > 0:
        narrowable = [i for i in text if widths[i] > 1]
        if not narrowable:
            break
        widest = max(narrowable, key=lambda i: (widths[i], i))
        widths[widest] -= 1
        excess -= 1
    return widths


def _fold(text: str, width: int) -> list[str]:
    """``text`` in lines of ``width`` cells: broken at spaces, and words longer than a line cut."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        joined = f"{line} {word}" if line else word
        if cell_len(joined) <= width:
            line = joined
            continue
        if line:
            lines.append(line)
        pieces = chop_cells(word, width) or [""]
        lines += pieces[:-1]
        line = pieces[-1]
    return lines + [line]


def _folded(columns: list[Column], widths: list[int], spans: pl.Series | None, span_after: int,
            fold_to: int) -> tuple[list[str], list[str]]:
    """Lines of a table whose text columns fold onto more lines (row by row: a narrow terminal's case)."""

    def row_lines(cells: list[str], bottom: bool = False) -> list[str]:
        parts = [[t] if c.right else _fold(t, w) for c, t, w in zip(columns, cells, widths)]
        height = max(len(p) for p in parts)
        if bottom:  # headers sit on the rule
            parts = [[""] * (height - len(p)) + p for p in parts]
        return [GAP.join(_pad_text(p[i] if i < len(p) else "", w, c.right) for c, p, w in zip(columns, parts, widths))
                .rstrip() for i in range(height)]

    head = row_lines([c.head for c in columns], bottom=True)
    head.append("─" * (sum(widths) + len(GAP) * (len(columns) - 1)))
    lines: list[str] = []
    texts = [c.cells.get_column("text").to_list() for c in columns]
    span_list = spans.to_list() if spans is not None else [None] * len(texts[0])
    for i, span in enumerate(span_list):
        cells = [t[i] for t in texts]
        if span is None:
            lines += row_lines(cells)
            continue
        first = row_lines(cells[:span_after])
        indent = sum(widths[:span_after]) + len(GAP) * span_after
        room = max(1, fold_to - indent)
        folded = _fold(span, room)
        for j in range(max(len(first), len(folded))):
            left = first[j] if j < len(first) else ""
            right = folded[j] if j < len(folded) else ""
            lines.append((_pad_text(left, indent - len(GAP), False) + GAP + right).rstrip() if right else left)
    return head, lines
