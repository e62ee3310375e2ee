"""The HTML report's sections as markup: the story, the tables, drift with its distributions, model quality,
alerts and the source. Every text that can come from the logs goes through :func:`esc`."""

from __future__ import annotations

import html
from datetime import datetime

import polars as pl

from mlmon.render.alerts import alerts_headline, muted_text, progress_text
from mlmon.render.escape import printable
from mlmon.render.html_data import MIN_WORST_REQUESTS, SEGMENT, Handover, Headline, segments, with_segment
from mlmon.render.layout import column
from mlmon.render.sections import Section, windows_section
from mlmon.render.values import NONE, format_number, format_value, plural, strftime
from mlmon.report import Report
from mlmon.rules.evaluate import Alert
from mlmon.rules.evaluate import format_number as alert_number
from mlmon.timeparse import format_duration


#: The most segment changes (take-overs, starts, stops) the story tells one by one.
MAX_CHANGES_TOLD = 6


def esc(text: object) -> str:
    """Text for markup: control and bidi characters as visible escapes, then ``& < > " '`` as entities."""
    return html.escape(printable("" if text is None else str(text)), quote=True)


def _when(at: datetime | None) -> str:
    return NONE if at is None else strftime(at, "%Y-%m-%d %H:%M")


# --- the story ----------------------------------------------------------------------------------------------


def story(report: Report, head: Headline) -> str:
    """Cards of the figures that matter, and what happened in sentences."""
    cards = [_card("Requests", f"{head.requests:,}", f"in {plural(head.windows, 'window')}")]
    if head.error_rate is not None:
        cards.append(_card("Error rate", format_number(head.error_rate, "ratio") + " %",
                           f"{head.errors:,} failed (status ≥ 500 or an error)"))
    lines = [_handover(h, report) for h in head.handovers]
    told = {name for h in head.handovers for name in (h.old, h.new)}
    for change in head.changes:
        if change.segment in told:
            continue
        verb = "starts taking traffic" if change.kind == "appears" else "takes no more traffic"
        lines.append(f"<b>{esc(change.segment)}</b> {verb} at {esc(_when(change.at))} UTC.")
    if len(lines) > MAX_CHANGES_TOLD:  # segments by request id start and stop all the time: no story
        more = len(lines) - MAX_CHANGES_TOLD + 1
        lines = lines[:MAX_CHANGES_TOLD - 1] + [f"{more:,} more segments start or stop within the range (see the tables)."]
    for worst in head.worst:
        window = f"{_when(worst.start)}–{strftime(worst.end, '%H:%M')} UTC"
        if worst.metric == "error_rate" and not worst.value:
            lines.append("No request failed.")
        elif worst.metric == "error_rate":
            value = format_number(worst.value, "ratio") + " %"
            ratio = worst.value / head.error_rate if head.error_rate else None
            times = f", {ratio:.1f}× the overall {format_number(head.error_rate, 'ratio')} %" if ratio and ratio >= 1.5 else ""
            cards.append(_card("Worst error rate", value, f"{worst.segment}, {window}",
                               "bad" if ratio and ratio >= 3 else ""))
            lines.append(f"The worst error rate was <b>{esc(value)}</b> ({worst.errors:,} of {worst.requests:,} "
                         f"requests) for <b>{esc(worst.segment)}</b> in the window {esc(window)}{esc(times)}.")
        else:
            value = format_number(worst.value, "ms") + " ms"
            cards.append(_card("Worst p95 latency", value, f"{worst.segment}, {window}"))
            lines.append(f"The slowest window (p95 latency) was <b>{esc(value)}</b> for <b>{esc(worst.segment)}</b> "
                         f"in {esc(window)}.")
    if report.alerts is not None:
        fired, active = report.alerts.alerts, [a for a in report.alerts.alerts if a.active]
        cards.append(_card("Alerts", f"{len(fired)} fired", f"{len(active)} still active at the end",
                           "bad" if any(a.severity == "critical" for a in active) else ("warn" if fired else "")))
        for alert in fired:
            state = "still active" if alert.active else "resolved"
            lines.append(f'Alert <span class="sev-{esc(alert.severity)}">{esc(alert.severity)}</span> '
                         f"<b>{esc(alert.rule)}</b> on {esc(_segment(alert))}: {esc(alert.summary)} "
                         f"({esc(_fired(alert))}; {state}).")
    lines += _drift_story(report) + _quality_story(report)
    if not head.requests:
        lines.append("No requests in the selected range.")
    if report.skipped:
        lines.append(f"{esc(plural(report.skipped, 'bad log line'))} skipped (see <a href=\"#source\">Source</a>).")
    among = (f"windows of at least {head.worst_among} requests" if head.worst_among > 1
             else f"every window: none has {MIN_WORST_REQUESTS} requests")
    note = f'<p class="note">The worst windows are chosen among {esc(among)}. Times are UTC.</p>' if head.worst else ""
    return "\n".join(['<h2 id="summary">What happened</h2>', '<div class="cards">', *cards, "</div>",
                      '<ul class="story">', *(f"<li>{line}</li>" for line in lines), "</ul>", note])


def _handover(h: Handover, report: Report) -> str:
    """``At T, new replaced old: p95 latency went from 104 ms to 206 ms (2.0×), errors from 0.31 % to 0.67 %.``"""
    every = format_duration(report.table.spec.every)
    parts = []
    for name, (before, after), show in (("p95 latency", h.p95_ms, lambda v: format_number(v, "ms") + " ms"),
                                        ("the error rate", h.error_rate,
                                         lambda v: format_number(v, "ratio") + " %")):
        if before is None or after is None:
            continue
        times = f" ({after / before:.1f}×)" if before and (after / before >= 1.5 or after / before <= 0.67) else ""
        parts.append(f"{name} went from {esc(show(before))} to <b>{esc(show(after))}</b>{esc(times)}")
    said = f": {'; '.join(parts)}" if parts else ""
    return (f"At {esc(_when(h.at))} UTC <b>{esc(h.new)}</b> took over from <b>{esc(h.old)}</b>{said} "
            f'<span class="note">(p95: the median of the {esc(every)} windows; error rate over all their '
            "requests)</span>.")


def _card(key: str, value: str, detail: str, tone: str = "") -> str:
    return (f'<div class="{"card " + tone if tone else "card"}"><div class="k">{esc(key)}</div><div class="v">{esc(value)}</div>'
            f'<div class="d">{esc(detail)}</div></div>')


def _drift_story(report: Report) -> list[str]:
    frame = report.drift_by_field
    if frame is None or not frame.height:
        return []
    drifted = with_segment(frame, report.segments).filter(pl.col("drifted"))
    fields = frame.get_column("field").n_unique()
    if not drifted.height:
        return [f"No field drifted from the baseline ({plural(fields, 'field')} compared)."]
    per = drifted.group_by(SEGMENT, maintain_order=True).agg(pl.col("field"))
    return [f"Drift from the baseline in <b>{esc(row[SEGMENT])}</b>: " + ", ".join(f"<code>{esc(f)}</code>" for f in
            row["field"]) + f" ({len(row['field'])} of {fields} fields)." for row in per.iter_rows(named=True)]


def _quality_story(report: Report) -> list[str]:
    frame = report.quality_by_segment
    metric = next((m for m in ("accuracy", "mae") if frame is not None and m in frame.columns), None)
    if metric is None or not frame.height:
        return []
    labelled = with_segment(frame, report.segments).filter(pl.col(metric).is_not_null())
    if not labelled.height:
        return []
    row = labelled.sort(metric, descending=metric == "mae").row(0, named=True)
    word = "Lowest accuracy" if metric == "accuracy" else "Highest mean absolute error"
    shown = format_value(metric, row[metric]) + (" %" if metric == "accuracy" else "")
    return [f"{word}: <b>{esc(shown)}</b> for <b>{esc(row[SEGMENT])}</b> (of its labelled requests)."]


# --- tables -------------------------------------------------------------------------------------------------


def section_rows(section: Section, skip: tuple[str, ...] = (), marked: pl.Series | None = None) -> pl.Series:
    """One ``<tr>`` per row of ``section``, its columns but ``skip``; ``marked`` rows get the class ``worst``.
    Each column's text is made once per distinct value (see :func:`mlmon.render.layout.column`)."""
    parts = [p for p in section.parts if p.key not in skip]
    cells = []
    for i, p in enumerate(parts):
        text = column(p.key, "", p.values, lambda v, show=p.show: esc(show(v))).cells.get_column("text")
        cells.append((pl.lit('<td class="n">' if p.right else "<td>") + text + pl.lit("</td>")).alias(f"c{i}"))
    frame = pl.select(cells) if cells else pl.DataFrame()
    row = [pl.col(f"c{i}") for i in range(len(parts))]
    if section.spans is not None:
        after = len([p for p in section.parts[:section.span_after] if p.key not in skip])
        span = pl.lit(f'<td class="span" colspan="{len(parts) - after}">') + section.spans.map_elements(
            esc, return_dtype=pl.String) + pl.lit("</td>")
        quiet = section.spans.is_not_null()
        row = [*row[:after], pl.when(quiet).then(span).otherwise(pl.concat_str(row[after:]))]
    opening = pl.lit("<tr>")
    if marked is not None:
        opening = pl.when(pl.lit(marked)).then(pl.lit('<tr class="worst">')).otherwise(opening)
    return frame.select(pl.concat_str([opening, *row, pl.lit("</tr>")]).alias("row")).get_column("row")


def table(section: Section, rows: list[str], skip: tuple[str, ...] = ()) -> str:
    """A table of ``section``'s columns but ``skip``, with these rows (from :func:`section_rows`)."""
    heads = "".join(f'<th class="n">{esc(p.head)}</th>' if p.right else f"<th>{esc(p.head)}</th>"
                    for p in section.parts if p.key not in skip)
    return "\n".join([f'<div class="wrap"><table><thead><tr>{heads}</tr></thead><tbody>', *rows,
                      "</tbody></table></div>"])


def window_tables(report: Report) -> str:
    """One table per segment, one row per window; the worst error-rate window is marked."""
    section = windows_section(report)
    if not section.rows:
        return '<h2 id="windows">Per window</h2><p>No requests in the selected range.</p>'
    by = report.segments
    keys = pl.DataFrame({p.key: p.values for p in section.parts if p.key in by}) if by else None
    labels = (with_segment(keys, by).get_column(SEGMENT) if keys is not None
              else pl.Series([None] * section.rows, dtype=pl.String).fill_null("all"))
    error = next((p.values for p in section.parts if p.key == "error_rate"), None)
    busy = next((p.values for p in section.parts if p.key == "request_count"), None)
    worst = None
    if error is not None and busy is not None:
        among = MIN_WORST_REQUESTS if (busy >= MIN_WORST_REQUESTS).any() else 1  # as the headline chooses
        eligible = error.fill_nan(None).zip_with(busy >= among,
                                                 pl.Series([None] * section.rows, dtype=pl.Float64))
        worst = eligible == eligible.max() if eligible.max() is not None else None
    marked = worst.fill_null(False) if worst is not None else pl.Series([False] * section.rows)
    rows = section_rows(section, tuple(by), marked)
    grouped = (pl.DataFrame({SEGMENT: labels, "row": rows, "worst": marked})  # one pass, however many segments
               .group_by(SEGMENT, maintain_order=True).agg("row", pl.col("worst").any()))
    per_segment = {r[SEGMENT]: r for r in grouped.iter_rows(named=True)}
    out = ['<h2 id="windows">Per window</h2>',
           '<p class="note">Every metric of each window, one table per segment. Ratios are '
           "percentages; latency in ms; err % counts status ≥ 500 or a logged error, 4xx % status 400–499. "
           "The row of the worst error rate is highlighted.</p>"]
    for i, seg in enumerate(segments(report).iter_rows(named=True)):
        mine = per_segment.get(seg[SEGMENT]) or {"row": [], "worst": False}
        title = f"{seg[SEGMENT]} · {plural(seg['requests'], 'request')}"
        out.append(f"<details{' open' if mine['worst'] or i == 0 else ''}><summary>{esc(title)}</summary>")
        out.append(table(section, mine["row"], tuple(by)))
        out.append("</details>")
    return "\n".join(out)


# --- alerts and source --------------------------------------------------------------------------------------


def _segment(alert: Alert) -> str:
    return " / ".join("(none)" if v is None else str(v) for v in alert.segment.values()) or "all"


def _fired(alert: Alert) -> str:
    span = _when(alert.first_window)
    if alert.last_window != alert.first_window:
        span += f" → {_when(alert.last_window)}"
    return f"fired {span} UTC, {plural(alert.windows_firing, 'window')}"


def alerts_section(report: Report) -> str:
    result = report.alerts
    if result is None:
        return ""
    out = ['<h2 id="alerts">Alerts</h2>',
           f"<p>{esc(alerts_headline(result))} in <code>{esc(report.rules_file)}</code>, judged as "
           "<code>mlmon check</code> judges them. The report shows them; <code>mlmon check</code> is the gate.</p>"]
    if result.alerts:
        rows = []
        for a in result.alerts:
            notes = "".join(f"<br><span class=\"note\">{esc(k)}: {esc(v)}</span>" for k, v in a.annotations.items()
                            if k != "summary")
            muted = f" ({esc(muted_text(a))})" if a.muted else ""
            rows.append(f'<tr><td class="sev-{esc(a.severity)}">{esc(a.severity)}</td><td>{esc(a.rule)}</td>'
                        f'<td>{esc(_segment(a))}</td><td class="n">{esc(alert_number(a.value))}</td>'
                        f'<td class="n">{a.windows_firing:,}</td><td>{esc(_when(a.first_window))}</td>'
                        f"<td>{esc(_when(a.last_window))}</td><td>{'yes' if a.active else 'no'}{muted}</td>"
                        f"<td>{esc(a.summary)}{notes}</td></tr>")
        out.append('<div class="wrap"><table><thead><tr><th>severity</th><th>rule</th><th>segment</th>'
                   '<th class="n">worst value</th><th class="n">windows</th><th>first (UTC)</th><th>last (UTC)</th>'
                   "<th>active</th><th>summary</th></tr></thead><tbody>" + "\n".join(rows) + "</tbody></table></div>")
    if result.pending:
        rows = [f'<tr><td class="sev-{esc(a.severity)}">{esc(a.severity)}</td><td>{esc(a.rule)}</td>'
                f"<td>{esc(_segment(a))}</td><td>{esc(progress_text(a))}</td><td>{esc(_when(a.active_at))}</td>"
                f"<td>{esc(a.summary)}</td></tr>" for a in result.pending]
        out.append("<h3>Pending</h3><p class=\"note\">Breaching, not yet for as long as the rule's <code>for</code> "
                   "asks.</p><table><thead><tr><th>severity</th><th>rule</th><th>segment</th><th>progress</th>"
                   "<th>since (UTC)</th><th>summary</th></tr></thead><tbody>" + "\n".join(rows) + "</tbody></table>")
    return "\n".join(out)


def source_section(report: Report) -> str:
    items = [f"{report.records:,} records read from {plural(len(report.files), 'file')}: "
             + ", ".join(f"<code>{esc(f)}</code>" for f in report.files)]
    if report.skipped:
        reasons = ", ".join(f"{esc(reason)}: {count:,}" for reason, count in report.skipped_by_reason.items())
        where = (f"; listed in <code>{esc(report.rejects_file)}</code>" if report.rejects_file
                 else "; <code>--rejects FILE</code> lists them")
        items.append(f"{esc(plural(report.skipped, 'bad line'))} skipped, by reason: {reasons}{where}.")
    else:
        items.append("No bad lines skipped.")
    if report.where:
        items.append(f"Filter: <code>{esc(report.where)}</code>.")
    if report.baseline is not None:
        source = report.baseline.get("source") or {}
        told = "; ".join(f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in source.items())
        items.append(f"Baseline: {esc(plural(report.baseline.get('rows') or 0, 'record'))}, <code>{esc(told)}</code>.")
    if report.labels is not None:
        items.append(f"Labels: <code>{esc(report.labels.get('file'))}</code>, "
                     f"{esc(plural(report.labels.get('labels') or 0, 'label'))}, task {esc(report.labels.get('task'))}.")
    if report.rules_file is not None:
        items.append(f"Rules: <code>{esc(report.rules_file)}</code>.")
    return "\n".join(['<h2 id="source">Source</h2>', "<ul>", *(f"<li>{i}</li>" for i in items), "</ul>"])
