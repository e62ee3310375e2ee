"""Markdown for pull-request comments and chat: a title line and one table with every metric."""

from __future__ import annotations

from mlmon.metrics.windows import WINDOW_END, WINDOW_START
from mlmon.render.escape import markdown_cell
from mlmon.render.values import format_range, format_segment, format_time, format_value, header, plural
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
    headers = (["window"] if spec.every else []) + [markdown_cell(b) for b in spec.by]
    headers += [markdown_cell(header(m)) for m in report.metrics]
    aligns = (["---"] if spec.every else []) + ["---"] * len(spec.by) + ["---:"] * len(report.metrics)
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("| " + " | ".join(aligns) + " |")
    for row in frame.iter_rows(named=True):
        cells = [format_time(row[WINDOW_START], spec.every)] if spec.every else []
        cells += [markdown_cell(format_segment(row[b])) for b in spec.by]
        cells += [format_value(m, row[m]) for m in report.metrics]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Latency in milliseconds; `err %` counts status ≥ 500 or a logged error; `4xx %` counts status 400–499.")
    if report.skipped:
        reasons = ", ".join(f"{markdown_cell(r)} {n:,}" for r, n in report.skipped_by_reason.items())
        lines.append("")
        lines.append(f"Skipped bad lines: {reasons}.")
    return "\n".join(lines) + "\n"
