"""Renderers for ``mlmon check``: table, json, junit, markdown and GitHub annotations."""

from __future__ import annotations

import json

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from mlmon.check import Gate
from mlmon.numbers import machine_numbers
from mlmon.render.console import rendered, text_console
from mlmon.render.escape import json_safe, markdown_cell, printable
from mlmon.render.values import strftime
from mlmon.rules.evaluate import Alert, CheckResult, format_number
from mlmon.timeparse import iso


def _segment_text(alert: Alert) -> str:
    if not alert.segment:
        return "(all)"
    return ", ".join(f"{k}={'(none)' if v is None else v}" for k, v in alert.segment.items())


def progress_text(alert: Alert) -> str:
    """A pending alert's progress towards ``for``: ``2/5 windows``."""
    return f"{alert.pending_windows}/{alert.for_windows} window{'s' if alert.for_windows != 1 else ''}"


def muted_text(alert: Alert) -> str:
    """``silenced``, ``inhibited``, ``silenced, inhibited`` or an empty string."""
    return ", ".join(word for word, by in (("silenced", alert.silenced_by), ("inhibited", alert.inhibited_by)) if by)


def _muted_detail(alert: Alert, names: dict[str, str] | None = None) -> str:
    """``silenced by ID; inhibited by RULE{SEGMENT}``: why an alert sends nothing. ``names`` maps
    fingerprints to alert keys; a fingerprint not in it is shown as it is."""
    names = names or {}
    inhibitors = [names.get(fp, fp) for fp in alert.inhibited_by]
    parts = [f"{word} by {', '.join(by)}" for word, by in (("silenced", alert.silenced_by),
                                                              ("inhibited", inhibitors)) if by]
    return "; ".join(parts) + "; sends nothing and does not count for the gate"


def _details(alert: Alert) -> list[tuple[str, str]]:
    """The annotations shown under an alert's summary (the summary itself is shown already), each printable."""
    return [(printable(name), printable(text)) for name, text in alert.annotations.items() if name != "summary"]


def check_document(result: CheckResult, gate: Gate, transitions: list | None = None) -> dict:
    """The stable ``--format json`` document of ``mlmon check``; ``transitions`` (notices) only with ``--state``."""
    document = {
        "status": "firing" if gate.fired(result) else "ok",
        "fail_on": gate.fail_on,
        "generated_at": iso(result.generated_at),
        "rules_evaluated": result.rules_evaluated,
        "alerts": [a.to_dict() for a in result.alerts],
        "pending": [a.to_dict() for a in result.pending],
    }
    if transitions is not None:
        document["transitions"] = [t.transition() for t in transitions]
    return document


def render_check_json(result: CheckResult, gate: Gate, transitions: list | None = None) -> str:
    document = machine_numbers(check_document(result, gate, transitions))
    return json_safe(json.dumps(document, indent=2, ensure_ascii=False, default=str, allow_nan=False)) + "\n"


def render_check_table(result: CheckResult, gate: Gate, width: int = 100, color: bool = False,
                       wrap: bool = True) -> str:
    """The alerts for people: ``width`` columns, wrapping to fit them with ``wrap`` (a terminal), else unwrapped."""
    console, buffer = text_console(width, color, wrap)
    status = "FIRING" if gate.fired(result) else "OK"
    head = Text(f"{status}: ", style="bold red" if status == "FIRING" else "bold green")
    head.append(alerts_headline(result, f" (gate: {gate.fail_on} and above)"))
    console.print(Group(head, *alert_renderables(result)))
    return rendered(buffer)


def alerts_headline(result: CheckResult, gate_text: str = "") -> str:
    """``3 alerts from 4 rules`` (then ``gate_text``), and how many are muted."""
    alerts = result.alerts
    muted = sum(a.muted for a in alerts)
    return (f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''} from {result.rules_evaluated} rule"
            f"{'s' if result.rules_evaluated != 1 else ''}{gate_text}{f', {muted} muted' if muted else ''}")


def alerts_title(report) -> str:
    """The heading of the alerts of ``report --rules``: how many, from which file, and that ``check`` gates."""
    return (f"Alerts: {alerts_headline(report.alerts)} in {report.rules_file} "
            f"(the report exits 0 whatever fires; mlmon check is the gate)")


def alert_renderables(result: CheckResult) -> list:
    """The alerts' table, each alert's summary and annotations, and the pending ones, for a terminal table
    (``check``'s, and ``report --rules``'s Alerts section)."""
    alerts = result.alerts
    muted = sum(a.muted for a in alerts)
    names = {a.fingerprint: a.key for a in alerts} if muted else {}
    parts: list = []
    if alerts:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        for col, justify in (("rule", "left"), ("severity", "left"), ("segment", "left"), ("value", "right"),
                             ("windows", "right"), ("active", "left")):
            table.add_column(col, justify=justify, overflow="fold")
        if muted:
            table.add_column("muted", overflow="fold")
        for a in alerts:
            sev_style = {"critical": "bold red", "warning": "yellow"}.get(a.severity, "")
            segment = "/".join("(none)" if v is None else str(v) for v in a.segment.values()) or "(all)"
            table.add_row(
                Text(printable(a.rule)), Text(a.severity, style=sev_style), Text(printable(segment)),
                Text(format_number(a.value)), Text(str(a.windows_firing)), Text("yes" if a.active else "no"),
                *([Text(muted_text(a))] if muted else []),
            )
        parts.append(table)
        for a in alerts:
            span = strftime(a.first_window, "%Y-%m-%d %H:%M")
            if a.last_window != a.first_window:
                span += " → " + strftime(a.last_window, "%Y-%m-%d %H:%M")
            parts.append(Text(f"- {printable(a.rule)} [{printable(_segment_text(a))}]: {printable(a.summary)}"))
            parts.append(Text(f"  fired {span} UTC", style="dim"))
            if a.muted:
                parts.append(Text(f"  {printable(_muted_detail(a, names))}", style="dim"))
            parts.extend(Text(f"  {name}: {text}", style="dim") for name, text in _details(a))
    if result.pending:
        n = len(result.pending)
        parts.append(Text(f"PENDING: {n} alert{'s' if n != 1 else ''} (breaching, not yet for its rule's 'for'; "
                          f"not counted by the gate)", style="bold yellow"))
        for a in result.pending:
            parts.append(Text(f"- {printable(a.rule)} [{printable(_segment_text(a))}]: {progress_text(a)} since "
                              f"{strftime(a.active_at, '%Y-%m-%d %H:%M')} UTC: {printable(a.summary)}"))
    return parts


def render_check_markdown(result: CheckResult, gate: Gate) -> str:
    icon = "🔴" if gate.fired(result) else "🟢"
    lines = [f"## {icon} mlmon check: {'firing' if gate.fired(result) else 'ok'}", ""]
    lines.append(alerts_headline(result, f" (gate: {gate.fail_on} and above)") + ".")
    return "\n".join(lines + alert_markdown_lines(result)) + "\n"


def alert_markdown_lines(result: CheckResult) -> list[str]:
    """The alerts' Markdown table, their annotations and the pending ones (``check``'s, and ``report --rules``'s)."""
    alerts = result.alerts
    lines: list[str] = []
    if alerts:
        lines += ["", "| rule | severity | segment | value | windows | first | last | active | summary |",
                  "| --- | --- | --- | ---: | ---: | --- | --- | --- | --- |"]
        for a in alerts:
            lines.append(
                f"| {markdown_cell(a.rule)} | {a.severity} | {markdown_cell(_segment_text(a))} | {format_number(a.value)} "
                f"| {a.windows_firing} | {iso(a.first_window)} | {iso(a.last_window)} "
                f"| {'yes' if a.active else 'no'}{f' ({muted_text(a)})' if a.muted else ''} "
                f"| {markdown_cell(a.summary)} |"
            )
        notes = [(a, _details(a)) for a in alerts if _details(a)]
        if notes:
            lines += ["", "Annotations:", ""]
            for a, details in notes:
                lines.append(f"- {markdown_cell(a.rule)} [{markdown_cell(_segment_text(a))}]: "
                             + "; ".join(f"{markdown_cell(name)}: {markdown_cell(text)}" for name, text in details))
    if result.pending:
        n = len(result.pending)
        lines += ["", "### Pending", "", f"{n} alert{'s' if n != 1 else ''} breaching, not yet for its rule's `for` "
                  f"(not counted by the gate).", "",
                  "| rule | severity | segment | value | progress | active since | summary |",
                  "| --- | --- | --- | ---: | ---: | --- | --- |"]
        for a in result.pending:
            lines.append(f"| {markdown_cell(a.rule)} | {a.severity} | {markdown_cell(_segment_text(a))} "
                         f"| {format_number(a.value)} | {progress_text(a)} | {iso(a.active_at)} "
                         f"| {markdown_cell(a.summary)} |")
    return lines


def render_check_junit(result: CheckResult, gate: Gate) -> str:
    """One testcase per rule and segment; a firing alert is a failure, a pending one a passing case with a note."""
    from xml.sax.saxutils import escape as xml_escape  # here: saxutils imports urllib.request, http and ssl
    from xml.sax.saxutils import quoteattr

    cases = []
    failures = 0
    names = {a.fingerprint: a.key for a in result.alerts}
    for outcome in result.outcomes:
        rule = outcome.rule
        by_segment = {a.key: a for a in outcome.alerts}
        pending = {a.key: a for a in outcome.pending}
        segments = outcome.windows.select(list(rule.by)).unique(maintain_order=True).iter_rows(named=True) if rule.by else [{}]
        for segment in segments:
            key = Alert(rule.name, rule.severity, segment, None, False, None, None, 0, "").key  # type: ignore[arg-type]
            name = rule.name + ("" if not segment else " [" + ", ".join(f"{k}={v}" for k, v in segment.items()) + "]")
            alert = by_segment.get(key)
            body = ""
            if alert is not None and alert.muted:
                body = f"<skipped message={quoteattr(printable(_muted_detail(alert, names)))}/>"
            elif alert is not None:
                failures += 1
                message = f"{alert.severity}: {alert.summary}"
                notes = "".join(f"\n{name}: {text}" for name, text in _details(alert))
                body = (f"<failure message={quoteattr(printable(message))} type={quoteattr(alert.severity)}>"
                        f"{xml_escape(printable(message))} (windows firing: {alert.windows_firing}, "
                        f"first {iso(alert.first_window)}, last {iso(alert.last_window)}){xml_escape(notes)}</failure>")
            if key in pending:
                note = pending[key]
                body += (f"<system-out>{xml_escape(printable(f'pending: {progress_text(note)} since {iso(note.active_at)}: '))}"
                         f"{xml_escape(printable(note.summary))}</system-out>")
            cases.append(f'    <testcase classname="mlmon.rules" name={quoteattr(printable(name))}>{body}</testcase>')
    head = (f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n  <testsuite name="mlmon check" '
            f'tests="{len(cases)}" failures="{failures}" errors="0">')
    return "\n".join([head, *cases, "  </testsuite>", "</testsuites>"]) + "\n"


def _annotation(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def render_check_github(result: CheckResult, gate: Gate) -> str:
    """GitHub Actions workflow commands: one ::error / ::warning / ::notice line per alert."""
    level = {"critical": "error", "warning": "warning", "info": "notice"}
    lines = []
    for a in result.alerts:
        title = _annotation(printable(f"{a.rule} [{_segment_text(a)}]")).replace(",", "%2C").replace(":", "%3A")
        notes = "".join(f"\n{name}: {text}" for name, text in _details(a))
        if a.muted:  # shown, but not as a failure
            title = f"{muted_text(a)}: {title}".replace(",", "%2C").replace(":", "%3A")
        lines.append(f"::{'notice' if a.muted else level[a.severity]} title={title}::{_annotation(printable(a.summary) + notes)}")
    if not lines:
        n = result.rules_evaluated
        lines.append(f"::notice title=mlmon check::no alerts from {n} rule{'s' if n != 1 else ''}")
    for a in result.pending:
        title = _annotation(printable(f"pending: {a.rule} [{_segment_text(a)}]")).replace(",", "%2C").replace(":", "%3A")
        lines.append(f"::notice title={title}::{_annotation(printable(f'{progress_text(a)}: {a.summary}'))}")
    return "\n".join(lines) + "\n"
