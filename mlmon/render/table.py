"""The terminal table: a rich renderable that fits the console's width."""

from __future__ import annotations

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text

from mlmon.metrics.windows import WINDOW_END, WINDOW_START
from mlmon.render.escape import printable
from mlmon.render.values import format_range, format_segment, format_time, format_value, header, plural
from mlmon.report import Report
from mlmon.timeparse import format_duration

#: Which metrics to keep when the terminal is narrow, most important first.
PRIORITY = (
    "request_count",
    "error_rate",
    "drift_share",
    "accuracy",
    "latency_p95_ms",
    "latency_p50_ms",
    "latency_p99_ms",
    "throughput_rps",
    "client_error_rate",
    "latency_max_ms",
    "latency_mean_ms",
    "latency_p90_ms",
    "error_count",
    "cpu_percent_mean",
    "memory_mb_max",
    "cpu_percent_max",
    "memory_mb_mean",
)
_PAD = 3  # padding either side of a column, plus its share of the separators
REQUESTS = "request_count"


class ReportTable:
    """Renders a Report as a title, a table of the metrics that fit, and notes."""

    def __init__(self, report: Report):
        self.report = report

    def _columns(self) -> list[tuple[str, str, list[str], bool]]:
        """(key, header, cells, is_metric) for every column that could be shown."""
        frame, spec = self.report.frame, self.report.table.spec
        cols: list[tuple[str, str, list[str], bool]] = []
        if spec.every is not None:
            cols.append(("window", "window (UTC)", [format_time(v, spec.every) for v in frame[WINDOW_START]], False))
        for name in spec.by:
            cols.append((name, name, [printable(format_segment(v)) for v in frame[name]], False))
        for name in self.report.metrics:
            cols.append((name, header(name), [format_value(name, v) for v in frame[name]], True))
        # the request count first among the metrics: rates are read against it
        return sorted(cols, key=lambda c: c[3] and c[0] != REQUESTS)

    def _fit(self, cols, width: int):
        """The columns to show: the window, the segments and the request count always, then metrics that fit."""
        fixed = [c for c in cols if not c[3] or c[0] == REQUESTS]
        used = sum(_width(c) + _PAD for c in fixed)
        chosen = {c[0] for c in fixed}
        metrics = {c[0]: c for c in cols if c[3]}
        for name in PRIORITY + tuple(metrics):
            if name in metrics and name not in chosen and used + _width(metrics[name]) + _PAD <= width:
                chosen.add(name)
                used += _width(metrics[name]) + _PAD
        return [c for c in cols if c[0] in chosen]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        report, spec = self.report, self.report.table.spec
        frame = report.frame
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
        parts = [title, Text(printable(scope), style="dim")]

        cols = self._columns()
        shown = self._fit(cols, options.max_width)
        if frame.height:
            table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), show_edge=False)
            for _, head, _, is_metric in shown:
                # when even the request count does not fit, window and segment values fold onto more lines;
                # numbers never do
                table.add_column(Text(printable(head)), justify="right" if is_metric else "left",
                                 no_wrap=is_metric, overflow="fold")
            for i in range(frame.height):
                table.add_row(*(Text(c[2][i]) for c in shown))
            parts.append(table)
        else:
            parts.append(Text("No requests in the selected range."))
        hidden = sum(1 for c in cols if c[3]) - sum(1 for c in shown if c[3])
        if hidden:
            parts.append(
                Text(f"{plural(hidden, 'more metric')}: widen the terminal, "
                     "or use --format json, csv or markdown.", style="dim")
            )
        if report.skipped:
            reasons = ", ".join(f"{printable(r)} {n:,}" for r, n in report.skipped_by_reason.items())
            where = (f"Listed in {printable(report.rejects_file)}." if report.rejects_file
                     else "Use --rejects FILE to list them.")
            parts.append(Text(f"Skipped bad lines: {reasons}. {where}", style="yellow"))
        yield Group(*parts)


def _width(col) -> int:
    return max([cell_len(col[1])] + [cell_len(c) for c in col[2]])


def render_table(report: Report, width: int | None = None, color: bool = False) -> str:
    """The table as plain text (or with ANSI colour), for files and tests."""
    import io

    buffer = io.StringIO()
    console = Console(file=buffer, width=width or 100, force_terminal=color, no_color=not color, highlight=False,
                      emoji=False, markup=False, soft_wrap=False)
    console.print(ReportTable(report))
    return buffer.getvalue()
