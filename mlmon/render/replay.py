"""The replay summary for people: counts, latency before and after, resources, and the first diffs."""

from __future__ import annotations

import json

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from mlmon.numbers import json_data, machine_numbers
from mlmon.redact import redact_obj, redact_text
from mlmon.render.console import rendered, text_console
from mlmon.render.escape import json_safe, printable
from mlmon.render.values import format_number
from mlmon.replay.compare import side_by_side
from mlmon.replay.output import (failed_before_first_again, gate_fired, gate_rates, logged_error, shown_error,
                                 summary_document)
from mlmon.replay.run import ERROR, FAILED_BEFORE, MATCH, MISMATCH, OUTCOMES, TIMEOUT, Outcome, ReplayRun

#: Innermost frames of a model's traceback shown under each error; ``--output`` keeps more.
SHOWN_FRAMES = 3


#: Parts of the summary that hold logged and answered values rather than figures.
DATA_KEYS = ("mismatches", "errors", "failed_before")


def render_replay_json(run: ReplayRun, fail_over: float, show: int, include_failed: bool = False) -> str:
    document = summary_document(run, fail_over, show, include_failed)
    # Figures are rounded as every machine format rounds them; answers and diffs are data, kept whole.
    document = {key: json_data(value) if key in DATA_KEYS else machine_numbers(value) for key, value in document.items()}
    text = json.dumps(document, indent=2, ensure_ascii=False, default=str, allow_nan=False)
    return json_safe(text) + "\n"


def render_replay_table(run: ReplayRun, fail_over: float, show: int, width: int = 100, color: bool = False,
                        include_failed: bool = False, wrap: bool = True) -> str:
    """The summary for people: ``width`` columns, wrapping to fit them with ``wrap`` (a terminal), else unwrapped."""
    console, buffer = text_console(width, color, wrap)
    total = len(run.outcomes)
    failed = gate_fired(run, fail_over, include_failed)
    head = Text("FAILED" if failed else "OK", style="bold red" if failed else "bold green")
    head.append(f": replayed {total:,} request{'s' if total != 1 else ''} against {printable(run.target)} "
                f"in {run.seconds:.2f}s ({format_number(run.throughput_rps, 'requests/s')} req/s)")
    parts = [head]
    counts = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for col in ("outcome", "requests", "share %"):
        counts.add_column(col, justify="left" if col == "outcome" else "right")
    styles = {MATCH: "green", MISMATCH: "red", ERROR: "red", TIMEOUT: "yellow", FAILED_BEFORE: "yellow"}
    for outcome in OUTCOMES:
        n = run.count(outcome)
        counts.add_row(Text(outcome, style=styles[outcome] if n else ""), f"{n:,}", f"{(n / total * 100 if total else 0):.2f}")
    parts.append(counts)
    lat = run.latencies()
    latency = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for col in ("latency ms", "p50", "p95", "p99"):
        latency.add_column(col, justify="left" if col == "latency ms" else "right")
    for name in ("logged", "replayed"):
        latency.add_row(name, *(format_number(lat[name][p], "ms") for p in ("p50", "p95", "p99")))
    parts.append(latency)
    res = run.resources
    if res.samples:
        samples = f"{res.samples:,} sample{'' if res.samples == 1 else 's'}"
        cpu_mean, cpu_max = (format_number(v, "%") for v in (res.cpu_percent_mean, res.cpu_percent_max))
        parts.append(Text(f"target resources: CPU mean {cpu_mean}%, max {cpu_max}%, "
                          f"peak memory {format_number(res.memory_mb_max, 'MB')} MB ({samples})"))
    if run.quality is not None:
        from mlmon.render.replay_quality import quality_parts

        parts.extend(quality_parts(run.quality))
    if run.skipped_without_request:
        n = run.skipped_without_request
        words = "logged record had no request body and was" if n == 1 else "logged records had no request body and were"
        parts.append(Text(f"{n:,} {words} skipped.", style="yellow"))
    if run.interrupted:
        parts.append(Text(f"Interrupted (Ctrl-C): {run.not_replayed:,} chosen requests were not replayed.", style="yellow"))
    if run.count(FAILED_BEFORE):
        parts.append(Text(_failed_before_line(run, include_failed), style="yellow"))
    keys = run.secret_keys
    shown = [o for o in run.outcomes if o.outcome == MISMATCH][:show]
    for o in shown:
        parts.append(Text(f"mismatch: request {printable(str(o.record.get('request_id')))}", style="bold"))
        diff = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        for col in ("field", "logged", "replayed"):
            diff.add_column(col, overflow="fold")
        for path, logged, replayed in side_by_side(o.diffs, secret_keys=keys):
            diff.add_row(Text(printable(path)), Text(printable(_redacted(logged, keys))),
                         Text(printable(_redacted(replayed, keys))))
        parts.append(diff)
    errors = [o for o in run.outcomes if o.outcome in (ERROR, TIMEOUT)][:show]
    for o in errors:
        parts.append(Text(f"{o.outcome}: request {printable(str(o.record.get('request_id')))}: "
                          f"{printable(shown_error(o.reply.error, keys) or '')}", style="red"))
        parts.extend(_traceback(o, keys))
    before = failed_before_first_again(run)[:show]
    for o in before:
        parts.append(Text(f"{FAILED_BEFORE}: request {printable(str(o.record.get('request_id')))}, logged "
                          f"{_logged_failure(o, keys)}: {_now(o, keys)}", style="yellow"))
        parts.extend(_traceback(o, keys))
    nouns = {MISMATCH: ("mismatch", "mismatches"), FAILED_BEFORE: ("request", "requests")}
    more = [f"{n:,} more {nouns[outcome][n != 1]}{' that failed before' if outcome == FAILED_BEFORE else ''}"
            for outcome, listed in ((MISMATCH, shown), (FAILED_BEFORE, before))
            if (n := run.count(outcome) - len(listed)) > 0]
    if more:
        parts.append(Text(f"{' and '.join(more)}; --output FILE writes every result.", style="dim"))
    console.print(Group(*parts))
    return rendered(buffer)


def _failed_before_line(run: ReplayRun, include_failed: bool) -> str:
    """How the requests that failed when logged fared now, and whether the gate counts them."""
    n = run.count(FAILED_BEFORE)
    again = sum(1 for o in run.outcomes if o.reproduced)
    if include_failed:
        mismatch, error = gate_rates(run, include_failed)
        gate = f"the gate counts them (--include-failed): mismatch rate {mismatch:.2%}, error rate {error:.2%}"
    else:
        gate = "the gate leaves them out (--include-failed counts them)"
    return (f"{n:,} request{'s' if n != 1 else ''} had failed when logged (status 400 or more, or an error): "
            f"{again:,} failed again, {n - again:,} {'is' if n - again == 1 else 'are'} answered now; {gate}.")


def _logged_failure(o: Outcome, keys: tuple[str, ...]) -> str:
    """``503 (upstream timeout)``: the logged status and error, the error cleaned as every error text."""
    status, error = o.record.get("status"), logged_error(o, keys)
    return " ".join(str(part) for part in (status, f"({error})" if error and status is not None else error) if part)


def _now(o: Outcome, keys: tuple[str, ...]) -> str:
    if o.reproduced:
        return f"failed again: {printable(shown_error(o.reply.error, keys) or '')}"
    return "answered now"


def _traceback(o: Outcome, keys: tuple[str, ...]) -> list[Text]:
    """The innermost frames of where an in-process model raised, indented under its error line."""
    if o.reply.traceback is None:
        return []
    return [Text(printable(shown_error(line, keys) or ""), style="dim") for line in o.reply.traceback.lines(SHOWN_FRAMES)]


def _redacted(text: str, keys: tuple[str, ...]) -> str:
    """``text`` with secrets hidden: as a JSON value when it parses, else as text (never as it was)."""
    try:
        return json.dumps(redact_obj(json.loads(text), keys), ensure_ascii=False)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python walks
        return redact_text(text, keys)
