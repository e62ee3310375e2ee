"""The dashboard's panels as rich renderables, drawn from a :class:`~mlmon.live.feed.Snapshot`.

The Textual app shows them in its widgets and ``--once`` prints them; both draw the same panels.
Every text that comes from the logs (models, versions, error messages, rule labels) goes into a
``Text`` through :func:`~mlmon.safetext.printable`, never into markup. No meaning rests on colour
alone: a change reads ``▲``/``▼`` with ``worse``/``better``, a firing alert says ``FIRING``.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text

from mlmon.render.values import NONE, format_value, header, plural
from mlmon.safetext import printable
from mlmon.timeparse import format_duration

#: The headline figures: the latest window's, with its change against the window before, and their chart.
HEADLINE = ("throughput_rps", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "error_rate",
            "cpu_percent_mean", "memory_mb_mean")
#: Metrics where a rise is bad news (throughput's change is news either way).
WORSE_WHEN_UP = {"latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "error_rate", "cpu_percent_mean",
                 "memory_mb_mean"}
#: Columns of the table per model and version.
SEGMENT_COLUMNS = ("request_count", "throughput_rps", "latency_p95_ms", "error_rate")
_BARS = "▁▂▃▄▅▆▇█"
KEYS = (
    ("q, Ctrl-C", "quit (the terminal is restored)"),
    ("← → ↑ ↓, Tab", "pick a model and version (first: all); every panel shows only its records"),
    ("+ / -", "longer / shorter windows (- cuts the rows on screen again; + reads the logs again once, "
              "for the longer range)"),
    ("p", "pause / resume reading"),
    ("?", "show / hide these keys"),
)


def tone(colour: str) -> str:
    """``colour`` (made bold), or only bold under NO_COLOR: Textual would grey a colour, often too dim to read."""
    return "bold" if os.environ.get("NO_COLOR") else f"bold {colour}"


def safe(value: Any) -> Text:
    """Log text as one visible line, never read as markup."""
    return Text(NONE if value is None else printable(str(value)))


def segment_name(segment: tuple | None) -> str:
    """``churn v2``, or ``all models`` for no segment (log text escaped)."""
    if segment is None:
        return "all models"
    model, version = segment
    return printable(f"{model if model is not None else '(no model)'} {version if version is not None else '(no version)'}")


def status_line(snap, *, paused: bool = False, cut: bool = True) -> Text:
    """When the logs were read last, what is shown (filter, windows) and from where: the source last, as it
    is the part a narrow terminal may cut."""
    refreshed = snap.refreshed_at.strftime("%H:%M:%S UTC") if snap.refreshed_at else "not yet"
    text = Text(no_wrap=True, overflow="ellipsis") if cut else Text()
    if paused:
        text.append("PAUSED · ", style="bold reverse")
    if snap.problem:  # first, so a narrow terminal still shows it
        text.append(f"last refresh failed: {printable(snap.problem)} · ", style="bold")
    text.append(f"refreshed {refreshed} · {segment_name(snap.segment)} · "
                f"{format_duration(snap.every)} windows × {snap.windows} · {printable(snap.source)}")
    return text


class Spark:
    """A sparkline of ``values`` (None: a gap), the latest at the right, as wide as the room allows."""

    def __init__(self, values: Sequence[float | None], width: int | None = None):
        self.values, self.width = list(values), width

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(self.line(min(self.width or options.max_width, options.max_width)))

    def __rich_measure__(self, console, options):
        from rich.measure import Measurement

        return Measurement(1, min(len(self.values), options.max_width) or 1)

    def line(self, width: int) -> str:
        values = self.values[-width:] if width > 0 else []
        present = [v for v in values if v is not None]
        if not present:
            return " " * len(values)
        low, high = min(present), max(present)
        span = high - low
        out = []
        for v in values:
            if v is None:
                out.append(" ")
            else:
                out.append(_BARS[0 if span == 0 else min(len(_BARS) - 1, int((v - low) / span * len(_BARS)))])
        return "".join(out)


def change(name: str, latest: Any, previous: Any) -> Text:
    """The change from the previous window: ``▲ +12.0% worse``; colour repeats what the words say."""
    if latest is None or previous is None or latest != latest or previous != previous:
        return Text(NONE)
    pct = (latest - previous) / abs(previous) * 100 if previous else None
    if latest == previous or (pct is not None and abs(pct) < 0.05):
        return Text("= same")
    up = latest > previous
    arrow = "▲" if up else "▼"
    if pct is not None:
        amount = f"{pct:+.1f}%"
    else:
        amount = f"{latest - previous:+.3g}"
    text = Text(f"{arrow} {amount}")
    if name in WORSE_WHEN_UP:
        worse = up
        text.append(" worse" if worse else " better")
        if worse:
            text.stylize(tone("red"))
        elif not os.environ.get("NO_COLOR"):
            text.stylize("green")
    return text


def headline(snap) -> Table:
    """Each headline metric: the latest window's value, its change, and its chart over the visible windows."""
    series = snap.series
    rows = series.height
    table = Table(box=None, pad_edge=False, expand=True, show_edge=False, header_style="bold")
    table.add_column("metric", no_wrap=True)
    table.add_column("latest", justify="right", no_wrap=True)
    table.add_column("vs previous", no_wrap=True)
    table.add_column(f"{format_duration(snap.every)} windows, latest on the right", no_wrap=True, ratio=1)
    for name in HEADLINE:
        if name not in series.columns:
            continue
        values = series.get_column(name).to_list()
        latest = values[-1] if rows else None
        previous = values[-2] if rows > 1 else None
        table.add_row(header(name), format_value(name, latest), change(name, latest, previous), Spark(values))
    return table


def window_caption(snap) -> Text:
    """The latest window's time and requests, for the headline's title."""
    if not snap.series.height:
        return Text("waiting for records")
    last = snap.series.row(-1, named=True)
    return Text(f"latest window {last['window_start']:%Y-%m-%d %H:%M}–{last['window_end']:%H:%M} UTC, "
                f"{plural(last['request_count'], 'request')} ({plural(snap.records, 'record')} read)")


class Fit:
    """A renderable made for the width it gets: ``make(width)``."""

    def __init__(self, make):
        self.make = make

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.make(options.max_width)


def segments_table(snap, selected: tuple | None = None, width: int = 100) -> Table:
    """The latest window per model and version; the one picked is marked with ``›``. Narrow: fewer columns."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=True, header_style="bold", show_edge=False,
                  padding=(0, 1, 0, 0), collapse_padding=True)
    table.add_column(" ", no_wrap=True, width=1)
    table.add_column("model version", overflow="fold", min_width=13, ratio=1)
    wanted = SEGMENT_COLUMNS if width >= 56 else SEGMENT_COLUMNS[:1] + SEGMENT_COLUMNS[2:]
    columns = [c for c in wanted if c in snap.by_segment.columns]
    for name in columns:
        table.add_column(header(name), justify="right", no_wrap=True)
    table.add_row(Text("›" if selected is None else " "), Text("(all)"), *[Text("") for _ in columns],
                  style="reverse" if selected is None else None)
    for row in snap.by_segment.iter_rows(named=True):
        key = (row["model"], row["model_version"])
        mark = key == selected
        table.add_row(Text("›" if mark else " "), Text(segment_name(key)),
                      *[Text(format_value(c, row[c])) for c in columns], style="reverse" if mark else None)
    return table


def segments_panel(snap, selected: tuple | None = None) -> Fit:
    return Fit(lambda width: segments_table(snap, selected, width))


def errors_table(snap) -> Table | Text:
    if not snap.errors:
        return Text("no errors in the windows shown")
    table = Table(box=None, pad_edge=False, expand=True, show_header=True, header_style="bold")
    table.add_column("count", justify="right", no_wrap=True)
    table.add_column("message", overflow="fold", ratio=1)
    for message, count in snap.errors:
        table.add_row(Text(f"{count:,}"), safe(message))
    return table


def skipped_text(snap) -> Text:
    if not snap.skipped:
        return Text("no bad lines skipped")
    text = Text(f"{plural(snap.skipped, 'bad line')} skipped since start:")
    for reason, count in snap.skipped_by_reason.items():
        text.append(f"\n  {count:,}  ")
        text.append(printable(reason))
    return text


def alerts_table(snap) -> Table | Text:
    """Firing, then pending alerts of --rules, as ``mlmon check`` judges them over the windows shown."""
    if snap.firing is None:
        return Text("no --rules given")
    if not snap.firing and not snap.pending:
        return Text("OK: no alert firing or pending")
    table = Table(box=None, pad_edge=False, expand=True, header_style="bold")
    table.add_column("state", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("rule / segment", overflow="fold", ratio=2)
    table.add_column("value", justify="right", no_wrap=True)
    for alert, state, style in [*[(a, "FIRING", tone("red")) for a in snap.firing],
                                *[(a, "pending", tone("yellow")) for a in snap.pending]]:
        where = ",".join(f"{k}={v}" for k, v in alert.segment.items())
        name = safe(alert.rule)
        if where:
            name.append(" " + printable(where))
        value = alert.value
        table.add_row(Text(state, style=style), safe(alert.severity), name,
                      Text(NONE if value is None else f"{value:.4g}"))
    return table


def drift_table(snap) -> Table | Text:
    """Drift and data quality per field against --baseline (report's drift_by_field), drifted first."""
    if snap.drift is None:
        return Text("no --baseline given")
    if not snap.drift.height:
        return Text("no records with the baseline's fields yet")
    table = Table(box=None, pad_edge=False, expand=True, header_style="bold")
    table.add_column("field", overflow="fold", ratio=1)
    table.add_column("drift", no_wrap=True)
    table.add_column("test", no_wrap=True)
    table.add_column("null %", justify="right", no_wrap=True)
    table.add_column("out of range %", justify="right", no_wrap=True)
    for row in snap.drift.iter_rows(named=True):
        drifted = row.get("drifted")
        verdict = Text("DRIFTED", style=tone("red")) if drifted else Text("ok" if drifted is False else "untested")
        score = row.get("score")
        test = f"{row['method']} {score:.3g}" if row.get("method") and score is not None else NONE
        table.add_row(safe(row["field"]), verdict, Text(test), Text(format_value("null_rate", row.get("null_rate"))),
                      Text(format_value("out_of_range_rate", row.get("out_of_range_rate"))))
    return table


def keys_help() -> Table:
    table = Table(box=box.SIMPLE, show_header=False, pad_edge=False)
    table.add_column(no_wrap=True, style="bold")
    table.add_column()
    for key, what in KEYS:
        table.add_row(key, what)
    return table


def titled(title: str, body, cut: bool = True) -> Group:
    """A panel's body under its title (one line, cut to fit the screen unless ``cut`` is false): a rule of
    dashes carries it, no colour needed."""
    line = Text(f"── {title} ", style="bold", no_wrap=True, overflow="ellipsis") if cut else Text(f"── {title}")
    return Group(line, body)


def frame(snap, *, paused: bool = False) -> Group:
    """The whole dashboard as one renderable: what ``--once`` prints."""
    parts = [status_line(snap, paused=paused, cut=False), Text(""),
             titled(f"Headline · {window_caption(snap).plain}", headline(snap), cut=False), Text(""),
             titled("Models and versions · latest window", segments_panel(snap, snap.segment)), Text(""),
             titled("Alerts", alerts_table(snap)) if snap.firing is not None else None,
             Text("") if snap.firing is not None else None,
             titled("Top errors · windows shown", errors_table(snap)), Text(""),
             titled("Drift and data quality · windows shown", drift_table(snap)) if snap.drift is not None else None,
             Text("") if snap.drift is not None else None,
             titled("Skipped lines", skipped_text(snap))]
    return Group(*[p for p in parts if p is not None])


def render_once(snap, width: int) -> str:
    """One frame as plain text ``width`` columns wide: no colour, no terminal codes."""
    import io

    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, force_terminal=False, highlight=False,
                      markup=False, emoji=False, legacy_windows=False)
    console.print(frame(snap))
    return "".join(line.rstrip() + "\n" for line in out.getvalue().splitlines())
