"""The terminal table: a title, the windows, then drift by field and model quality, each fitting the width.

On a terminal, each table keeps the columns that fit (the window, the segments and the request count
always) and folds text that still does not; elsewhere nothing wraps: a line is as long as it needs.
"""

from __future__ import annotations

import io

from rich.console import Console, Group
from rich.text import Text

from mlmon.metrics.windows import WINDOW_END, WINDOW_START
from mlmon.render.console import rendered, text_console
from mlmon.render.escape import printable
from mlmon.render.layout import column, fit, lay_out
from mlmon.render.sections import Section, sections
from mlmon.render.values import format_range, plural
from mlmon.report import Report
from mlmon.timeparse import format_duration


def render_table(report: Report, width: int | None = None, color: bool = False, wrap: bool = True) -> str:
    """The report as text (ANSI colour with ``color``): ``width`` columns, folded to fit them with ``wrap``."""
    width = width or 100
    console, buffer = text_console(width, color, wrap)
    console.print(_title(report))
    windows, *more = sections(report)
    if windows.rows:
        hidden = _print_section(console, buffer, windows, width, wrap)
        if hidden:
            console.print(Text(f"{plural(hidden, 'more metric')}: widen the terminal, "
                               "or use --format json, csv or markdown.", style="dim"))
    else:
        console.print(Text("No requests in the selected range."))
    for section in more:
        console.print()
        title = Text(_heading(section), style="bold")
        console.print(title)
        hidden = _print_section(console, buffer, section, width, wrap)
        notes = [printable(n) for n in section.notes]
        if hidden:
            notes.insert(0, f"{plural(hidden, 'more column')}: widen the terminal, or use --format markdown.")
        for note in notes:
            console.print(Text(note, style="dim"))
    if report.alerts is not None:  # here: rules bring check's core, which a plain report does not load
        from mlmon.render.alerts import alert_renderables, alerts_title

        console.print()
        console.print(Group(Text(printable(alerts_title(report)), style="bold"), *alert_renderables(report.alerts)))
    if report.skipped:
        reasons = ", ".join(f"{printable(r)} {n:,}" for r, n in report.skipped_by_reason.items())
        where = (f"Listed in {printable(report.rejects_file)}." if report.rejects_file
                 else "Use --rejects FILE to list them.")
        console.print(Text(f"Skipped bad lines: {reasons}. {where}", style="yellow"))
    return rendered(buffer)


def _title(report: Report) -> Text:
    spec, frame = report.table.spec, report.frame
    title = Text(f"{plural(report.records, 'record')} from {plural(len(report.files), 'file')}")
    if report.skipped:
        title.append(f" · {plural(report.skipped, 'bad line')} skipped", style="yellow")
    if spec.every is None:
        first = frame[WINDOW_START][0] if frame.height else None
        last = frame[WINDOW_END][0] if frame.height else None
        scope = format_range(first, last)
    else:
        scope = f"every {format_duration(spec.every)}"
    if spec.by:
        scope += " · by " + ", ".join(spec.by)
    title.append("\n")
    title.append(printable(scope), style="dim")
    return title


def _heading(section: Section) -> str:
    text = section.title or ""
    if section.per:
        text += ", per " + ", ".join(section.per)
    if section.subtitle:
        text += " · " + section.subtitle
    return printable(text)


def _print_section(console: Console, buffer: io.StringIO, section: Section, width: int, wrap: bool) -> int:
    """Print the section's table; return how many of its columns did not fit."""
    columns = [column(p.key, printable(p.head), p.values, _escaped(p.show, p.right), p.right) for p in section.parts]
    shown = fit(columns, width, section.always, section.priority)
    span_after = sum(1 for c in shown if c.key in {p.key for p in section.parts[:section.span_after]})
    head, body = lay_out(shown, width if wrap else None, section.spans, span_after)
    for line in head[:-1]:
        console.print(Text(line, style="bold"))
    console.print(Text(head[-1]))
    if body:
        # rows go straight into the buffer: a rich Text per row made 400,000 rows take minutes
        buffer.write("\n".join(body) + "\n")
    return len(columns) - len(shown)


def _escaped(show, right: bool):
    return show if right else (lambda value: printable(show(value)))
