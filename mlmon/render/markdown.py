"""Markdown for pull-request comments and chat: a title line, the windows, then drift by field and model quality."""

from __future__ import annotations

import polars as pl

from mlmon.metrics.windows import WINDOW_END, WINDOW_START
from mlmon.render.escape import markdown_cell
from mlmon.render.layout import column
from mlmon.render.sections import Section, sections
from mlmon.render.values import format_range, plural
from mlmon.report import Report
from mlmon.timeparse import format_duration


def render_markdown(report: Report) -> str:
    spec, frame = report.table.spec, report.frame
    lines = ["## mlmon report", ""]
    summary = f"{plural(report.records, 'record')} from {plural(len(report.files), 'file')}"
    if report.skipped:
        summary += f", {plural(report.skipped, 'bad line')} skipped"
    if spec.every is None:
        first = frame[WINDOW_START][0] if frame.height else None
        last = frame[WINDOW_END][0] if frame.height else None
        summary += f"; {format_range(first, last)}"
    else:
        summary += f"; windows of {format_duration(spec.every)} (UTC)"
    if spec.by:
        summary += "; by " + ", ".join(f"`{markdown_cell(b)}`" for b in spec.by)
    lines += [summary + ".", ""]
    if not frame.height:
        return "\n".join(lines + ["No requests in the selected range.", ""])
    windows, *more = sections(report)
    lines += _table(windows)
    lines.append("")
    lines.append("Latency in milliseconds; `err %` counts status ≥ 500 or a logged error; `4xx %` counts status 400–499.")
    for section in more:
        lines += ["", f"### {_heading(section)}", ""]
        lines += _table(section)
        for note in section.notes:
            lines += ["", markdown_cell(note)]
    if report.alerts is not None:  # here: rules bring check's core, which a plain report does not load
        from mlmon.render.alerts import alert_markdown_lines, alerts_title

        lines += ["", "### Alerts", "", markdown_cell(alerts_title(report)) + ".", *alert_markdown_lines(report.alerts)]
    if report.skipped:
        reasons = ", ".join(f"{markdown_cell(r)} {n:,}" for r, n in report.skipped_by_reason.items())
        lines.append("")
        lines.append(f"Skipped bad lines: {reasons}.")
    return "\n".join(lines) + "\n"


def _heading(section: Section) -> str:
    text = section.title or ""
    if section.per:
        text += ", per " + ", ".join(f"`{markdown_cell(b)}`" for b in section.per)
    if section.subtitle:
        text += " · " + markdown_cell(section.subtitle)
    return text


def _table(section: Section) -> list[str]:
    """A pipe table of every column; a spanning text (a quiet run) takes the first cell after the prefix."""
    parts = section.parts
    lines = ["| " + " | ".join(markdown_cell(p.head) for p in parts) + " |",
             "| " + " | ".join("---:" if p.right else "---" for p in parts) + " |"]
    cells = [column(p.key, "", p.values, p.show if p.right else (lambda v, s=p.show: markdown_cell(s(v))))
             .cells.get_column("text").alias(f"c{i}") for i, p in enumerate(parts)]
    frame = pl.DataFrame(cells)
    row = [pl.col(f"c{i}") for i in range(len(parts))]
    if section.spans is not None:
        frame = frame.with_columns(section.spans.alias("span"))
        quiet = pl.col("span").is_not_null()
        row = [*row[:section.span_after], pl.when(quiet).then(pl.col("span")).otherwise(row[section.span_after]),
               *(pl.when(quiet).then(pl.lit("")).otherwise(c) for c in row[section.span_after + 1:])]
    body = frame.select(pl.concat_str([pl.lit("| "), pl.concat_str(row, separator=" | "), pl.lit(" |")]).alias("line"))
    return lines + body.get_column("line").to_list()
