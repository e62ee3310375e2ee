"""``mlmon replay``: replay logged requests against a local model and compare the answers."""

from __future__ import annotations

import contextlib
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from mlmon.cli.app import app
from mlmon.cli.common import (
    EXIT_GATE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    LABEL_FIELD_OPTION,
    LABEL_ID_OPTION,
    LABELS_OPTION,
    POSITIVE_OPTION,
    PREDICTION_OPTION,
    SCORE_OPTION,
    TASK_OPTION,
    Task,
    LOGS_ARGUMENT,
    MAPPING_OPTION,
    PRESET_OPTION,
    TIMEZONE_OPTION,
    NOW_OPTION,
    STORE_OPTION,
    STRICT_OPTION,
    emit,
    guard_outputs,
    handle_errors,
    inputs_mapping,
    log_inputs,
    parse_now,
    print_reading,
    quality_check,
    stderr_console,
    stop_signals_as_ctrl_c,
    window_spec,
)


class ReplayFormat(str, Enum):
    table = "table"
    json = "json"


@app.command(
    epilog="Examples:\n\n"
    "  mlmon replay sample_logs/churn.jsonl.gz --where 'model_version == \"v2\"' --limit 200 --model demo/model.py:churn_v1\n\n"
    "  mlmon replay logs/ --request-id 9b1d5e --target http://127.0.0.1:8000/predict -H 'X-Debug: 1'\n\n"
    "  mlmon replay logs/ --alert slow-p95 --rules rules.yaml --target http://127.0.0.1:8000/predict --serve 'python serve.py'\n\n"
    "  mlmon replay logs/ --since 1h --command './model --jsonl' --concurrency 1 --output results.jsonl\n\n"
    "  mlmon replay sample_logs/churn.jsonl.gz --where 'model_version == \"v2\"' --model demo/candidate.py:predict "
    "--labels sample_logs/labels.csv --score output.churn_probability --positive-label churn --fail-if-worse log_loss\n\n"
    "  mlmon replay sample_logs/churn.jsonl.gz --hotfix hotfix.example.yaml --since 2026-11-26T12:00:00Z"
)
@handle_errors
def replay(
    logs: Optional[list[str]] = LOGS_ARGUMENT,
    store: Optional[str] = STORE_OPTION,
    target: Optional[str] = typer.Option(None, "--target", "-t", help="POST each logged request body as JSON to this http:// or https:// URL."),
    model: Optional[str] = typer.Option(None, "--model", help="Call this Python function in-process: module:function or path/to/file.py:function. What it writes to stdout goes to stderr."),
    command: Optional[str] = typer.Option(None, "--command", help="Start CMD; write one JSON request per line to its stdin, read one JSON response per line. Its stderr is not shown; its last line says why CMD died."),
    header: Optional[list[str]] = typer.Option(None, "--header", "-H", help="Extra HTTP header 'Name: value' on one line (repeatable). Logged headers are never replayed."),
    request_id: Optional[list[str]] = typer.Option(None, "--request-id", help="Replay this request (repeatable)."),
    since: Optional[str] = typer.Option(None, "--since", help="Only requests at or after this ISO time, or this long ago (e.g. 2h)."),
    until: Optional[str] = typer.Option(None, "--until", help="Only requests before this ISO time or duration ago."),
    now: Optional[str] = NOW_OPTION,
    where: Optional[str] = typer.Option(None, "--where", "-w", help="Only requests matching this expression, e.g. 'status >= 500 and input.country == \"DE\"'."),
    limit: Optional[int] = typer.Option(None, "--limit", min=0, help="Replay at most N requests (the first N)."),
    sample: Optional[int] = typer.Option(None, "--sample", min=0, help="Replay a random sample of N requests (seeded)."),
    seed: int = typer.Option(0, "--seed", min=0, max=2**64 - 1, help="Seed of --sample: a whole number from 0 to 2^64-1; the same seed draws the same sample."),
    alert: Optional[str] = typer.Option(None, "--alert", help="Only requests in the windows where this rule fired (needs --rules)."),
    rules: Optional[Path] = typer.Option(None, "--rules", "-r", help="Rules file for --alert."),
    concurrency: int = typer.Option(1, "--concurrency", "-c", min=1, help="Requests in flight at once. 1 keeps debugging ordered and deterministic."),
    rate: Optional[float] = typer.Option(None, "--rate", min=0.001, help="Send at most this many requests per second."),
    speed: Optional[float] = typer.Option(None, "--speed", min=0.001, help="Keep the logged inter-arrival times, scaled: 1 is real time, 10 is ten times faster."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.001, help="Seconds to wait for each answer; inf waits as long as it takes."),
    rtol: float = typer.Option(1e-9, "--rtol", min=0, help="Relative tolerance when comparing numbers."),
    atol: float = typer.Option(0.0, "--atol", min=0, help="Absolute tolerance when comparing numbers."),
    ignore: Optional[list[str]] = typer.Option(None, "--ignore", help="Response field to leave out of the comparison, e.g. id or meta.ts (repeatable)."),
    fail_over: float = typer.Option(0.0, "--fail-over", min=0, max=1, help="Exit 1 when the mismatch rate or the error rate exceeds this. Requests that failed when logged (status >= 400 or an error) are outcome failed_before and left out, unless --include-failed."),
    include_failed: bool = typer.Option(False, "--include-failed", help="Count the failed_before requests in the --fail-over gate: an answer now as a mismatch, a failure now as an error (a failure with the logged status and body matches)."),
    show: int = typer.Option(5, "--show", min=0, help="Show the first N mismatches (as side-by-side diffs), errors (with the last frames of a model's traceback) and failed_before requests; the JSON says when there are more."),
    pid: Optional[int] = typer.Option(None, "--pid", help="Measure CPU and memory of this process (the server behind --target)."),
    serve: Optional[str] = typer.Option(None, "--serve", help="Start this server command, wait until --target accepts connections, stop it afterwards."),
    fmt: ReplayFormat = typer.Option(ReplayFormat.table, "--format", "-f", help="Output format of the summary."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write one JSON line per replayed request (mlmon's log shape plus 'replay')."),
    hotfix: Optional[Path] = typer.Option(None, "--hotfix", help="Preview this hot-fix file on the chosen requests: what each rule answers, in which segments, and how the answers change. Without a target nothing is sent; with one, the requests no hot fix answers are replayed."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be sent, one JSON line per request (secrets and the mapping's redact: keys redacted), and send nothing. Needs no target; with one, each line names it."),
    mapping: Optional[Path] = MAPPING_OPTION,
    preset: str = PRESET_OPTION,
    timezone: Optional[str] = TIMEZONE_OPTION,
    strict: bool = STRICT_OPTION,
    labels: Optional[Path] = LABELS_OPTION,
    label_id: str = LABEL_ID_OPTION,
    label_field: str = LABEL_FIELD_OPTION,
    prediction: str = PREDICTION_OPTION,
    score: Optional[str] = SCORE_OPTION,
    positive: Optional[str] = POSITIVE_OPTION,
    task: Task = TASK_OPTION,
    fail_if_worse: Optional[str] = typer.Option(None, "--fail-if-worse", metavar="METRIC[:TOLERANCE]", help="With --labels: exit 1 when the replayed answers are worse than the logged ones on METRIC by more than TOLERANCE (default 0), e.g. f1:0.01 or log_loss; mismatches then do not fail the run (a re-trained model answers differently), errors still do (--fail-over).", show_default=False),
) -> None:
    """Replay logged requests against a local model, compare the answers, and measure latency and resources."""
    from mlmon.render.progress import ReadProgress
    from mlmon.replay.compare import Tolerance
    from mlmon.replay.run import Pace
    from mlmon.replay.select import Selection
    from mlmon.replay.session import TargetSpec, dry_run_lines, parse_header, run_replay

    clock = parse_now(now)
    spec = window_spec(None, None, since, until, clock)
    ruleset = None
    if rules is not None:
        from mlmon.rules.load import load_rules

        ruleset = load_rules(rules)
    logs = log_inputs("replay", logs, store, mapping, spec.since, spec.until)
    guard_outputs(logs, {"--output": output}, rules, mapping, labels)
    selection = Selection(tuple(request_id or ()), spec.since, spec.until, where, limit, sample, seed, alert, ruleset)
    if where:
        from mlmon.expr import parse

        parse(where)
    quality = quality_check(labels, label_id, label_field, prediction, score, positive, task, fail_if_worse, clock)
    target_spec = TargetSpec(target, model, command, tuple(parse_header(h) for h in header or ()), pid, serve)
    pace = Pace(concurrency, rate, speed, timeout)
    the_mapping = inputs_mapping(logs, mapping, preset, timezone)
    previewer = None
    if hotfix is not None:
        from mlmon.cli.hotfix import print_preview
        from mlmon.replay.hotfix_preview import HotfixPreviewer

        previewer = HotfixPreviewer(hotfix, Tolerance(rtol, atol, tuple(ignore or ())), show)
        if not (target or model or command or dry_run):
            print_preview(logs, the_mapping, selection, previewer, fmt.value, strict)
            return
    stdout = sys.stdout
    if model and not dry_run:
        from mlmon.replay.stdio import divert_stdout

        stdout = divert_stdout()  # what the model writes to stdout goes to stderr; mlmon writes to this
    with ReadProgress(delay=1.0) as progress, stop_signals_as_ctrl_c():
        run, frame = run_replay(
            logs, mapping=the_mapping, selection=selection, target=target_spec, pace=pace,
            tolerance=Tolerance(rtol, atol, tuple(ignore or ())), dry_run=dry_run, strict=strict,
            progress=progress, on_done=lambda done, total: progress(done, total, "replayed requests"),
            on_read=print_reading, keep=previewer.take if previewer is not None else None,
        )
    if run is None:
        lines = dry_run_lines(frame, target_spec, the_mapping.redact)
        sys.stdout.write("".join(line + "\n" for line in lines))
        where = f" to {target_spec.describe()}" if target_spec.describe() else ""
        stderr_console().print(f"mlmon: dry run: {len(lines):,} request{'s' if len(lines) != 1 else ''} would be sent"
                        f"{where}; nothing was sent")
        return
    if quality is not None:
        run.quality = quality.compare(run.outcomes)
    if output is not None:
        from mlmon.replay.output import write_results

        write_results(run, output, stdout)
    from mlmon.render import replay as r
    from mlmon.replay.output import gate_fired

    # With --output -, the results take stdout and the summary moves to stderr.
    to_stderr = output is not None and str(output) == "-"
    if fmt == ReplayFormat.json:
        text = r.render_replay_json(run, fail_over, show, include_failed)
    else:
        console = stderr_console() if to_stderr else Console(file=stdout, highlight=False, markup=False, emoji=False)
        text = r.render_replay_table(run, fail_over, show, width=console.width,
                                     color=console.is_terminal and not console.no_color, include_failed=include_failed,
                                     wrap=console.is_terminal)
    if previewer is not None:
        from mlmon.cli.hotfix import add_preview

        text = add_preview(text, previewer.preview, fmt.value, the_mapping.redact)
    if to_stderr:
        with contextlib.suppress(OSError):
            sys.stderr.write(text)
    else:
        emit(text, None, stdout)
    if run.interrupted:
        done = len(run.outcomes)
        where = "the summary and --output cover them" if output is not None else "the summary covers them"
        stderr_console().print(f"mlmon: interrupted after {done:,} of {done + run.not_replayed:,} requests; {where}")
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(EXIT_GATE if gate_fired(run, fail_over, include_failed) else EXIT_OK)
