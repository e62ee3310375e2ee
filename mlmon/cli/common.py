"""What every command shares: the one error boundary, the shared options, and writing outputs.

A command parses its options, calls one core function, hands the result to a renderer
and returns an exit code: 0 fine, 1 the gate fired, 2 usage, config or input error.
Errors the user can fix are caught once, in ``handle_errors``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
from enum import Enum
from pathlib import Path
from typing import Callable, Optional

import typer
from rich.console import Console

from mlmon.errors import InputError, MlmonError, UsageError

EXIT_OK, EXIT_GATE, EXIT_ERROR = 0, 1, 2
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True)


def handle_errors(command: Callable) -> Callable:
    """The one error boundary: a MlmonError becomes one line on stderr and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except MlmonError as exc:
            try:
                err = stderr_console()
                for line in exc.details:
                    err.print(line)
                err.print(f"mlmon: error: {exc}")
            except OSError:
                pass  # stderr is full or closed: the exit code still says it
            raise typer.Exit(exc.exit_code) from None
        except BrokenPipeError:
            # Output piped into e.g. `head`, which closed early: not an error.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(EXIT_OK) from None
        except KeyboardInterrupt:
            stderr_console().print("mlmon: interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper


@contextlib.contextmanager
def stop_signals_as_ctrl_c():
    """SIGTERM and SIGHUP stop a replay the way Ctrl-C does: summary, --output, the children stopped.

    Replay starts its --serve and --command children in their own session, so a
    `timeout` or a closed terminal signals only mlmon, which must then stop them.
    """
    names = [n for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]
    before = {n: signal.signal(getattr(signal, n), signal.default_int_handler) for n in names}
    try:
        yield
    finally:
        for n, handler in before.items():
            signal.signal(getattr(signal, n), handler)


class Task(str, Enum):
    auto = "auto"
    classification = "classification"
    regression = "regression"


def split_fields(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or []:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def parse_now(text: str | None):
    from mlmon.timeparse import parse_instant, utc_now

    return parse_instant(text, what="--now") if text else utc_now()


def window_spec(every, by, since, until, now, max_segments=None):
    from mlmon.metrics.windows import WindowSpec
    from mlmon.report import check_segment_fields
    from mlmon.timeparse import parse_duration, parse_time

    spec = WindowSpec(
        every=parse_duration(every, what="--every") if every else None,
        by=check_segment_fields(split_fields(by)),
        since=parse_time(since, now, what="--since") if since else None,
        until=parse_time(until, now, what="--until") if until else None,
        max_segments=max_segments,
    )
    if spec.since and spec.until and spec.since >= spec.until:
        raise UsageError("--since must be earlier than --until")
    return spec


def baseline_and_labels(baseline, baseline_range, labels, label_id, label_field, prediction, score, positive, task, now):
    """The --baseline/--baseline-range and --labels options, checked and bundled."""
    from mlmon.baseline.load import BaselineSpec, parse_range
    from mlmon.metrics.model_quality import LabelSpec

    if baseline and baseline_range:
        raise UsageError("use either --baseline or --baseline-range, not both")
    base = None
    if baseline:
        base = BaselineSpec(path=str(baseline))
    elif baseline_range:
        start, end = parse_range(baseline_range, now)
        base = BaselineSpec(start=start, end=end)
    truth = None
    if not labels:
        given = [name for name, value in (("--score", score), ("--positive-label", positive)) if value is not None]
        if getattr(task, "value", task) != "auto":
            given.append("--task")
        if given:
            raise UsageError(f"{given[0]} needs --labels", "Pass the delayed ground truth with --labels FILE.")
    if labels:
        truth = LabelSpec(str(labels), label_id, label_field, prediction, score, positive, getattr(task, "value", task))
    return base, truth


def quality_check(labels, label_id, label_field, prediction, score, positive, task, fail_if_worse, now):
    """replay's --labels options and --fail-if-worse, checked (the labels read) before anything is replayed."""
    _, truth = baseline_and_labels(None, None, labels, label_id, label_field, prediction, score, positive, task, now)
    if truth is None:
        if fail_if_worse is not None:
            raise UsageError("--fail-if-worse needs --labels", "Pass the ground truth with --labels FILE.")
        return None
    from mlmon.replay.quality import QualityCheck, parse_gate

    return QualityCheck(truth, parse_gate(fail_if_worse) if fail_if_worse is not None else None)


BASELINE_HELP = "Reference data for drift: logs, a dataset (.parquet, .csv, .jsonl) or a profile from 'mlmon baseline save'."
RANGE_HELP = "Take the reference from the same logs: START..END, ISO times or durations back from now (e.g. 8d..1d)."
LABELS_HELP = "Delayed ground truth (CSV with a header row, or JSON lines, with request_id and label), joined by request id; a bad line stops the run with its number."
LOGS_HELP = ("Log files, directories (searched for *.jsonl, *.ndjson, *.log, *.json, their .gz forms and rotated "
             "siblings such as app.log.1 or app.log-20261126.gz, oldest first; regular files only), glob patterns, "
             "or - for stdin. Bad lines with not one good record are an error (exit 2).")
# Options every log-reading command shares, declared once.
LOGS_ARGUMENT = typer.Argument(None, metavar="LOGS...", help=LOGS_HELP + " Or give --store DIR instead.", show_default=False)
WAIT_OPTION = typer.Option(30.0, "--wait", min=0, help="Seconds to wait for another ingest, compact or prune on the same store before giving up (exit 2).")
STORE_OPTION = typer.Option(None, "--store", metavar="DIR", help="Read the Parquet store that 'mlmon ingest' keeps (a directory or s3://bucket/prefix) instead of LOGS: only its parts and row groups in --since/--until, and only the columns needed.", show_default=False)
SINCE_OPTION = typer.Option(None, "--since", help="Start of the range: an ISO time, or a duration back from now such as 24h or 7d.")
UNTIL_OPTION = typer.Option(None, "--until", help="End of the range (exclusive): an ISO time or a duration back from now.")
NOW_OPTION = typer.Option(None, "--now", help="Take this ISO time as now, for reproducible runs.")
MAPPING_OPTION = typer.Option(None, "--mapping", "-m", help="YAML file that maps your log schema to mlmon's fields (see README).")
PRESET_OPTION = typer.Option("auto", "--preset", "-P", metavar="NAME", help="The log format: auto (default: recognized from each file's first records, and said on stderr), mlmon (mlmon's own), or a serving platform's: sagemaker, kserve, seldon, bentoml, azureml, openai, litellm, rayserve (README \"Presets\"; 'mlmon mapping show --preset NAME' prints one).")
TIMEZONE_OPTION = typer.Option(None, "--timezone", metavar="ZONE", help="Time zone of naive log times (no Z or offset), e.g. Europe/Berlin; default UTC, or the mapping's timezone.", show_default=False)
REJECTS_OPTION = typer.Option(None, "--rejects", help="Write each skipped bad line to FILE as JSON lines: file, line, reason, raw (secrets redacted; see README \"Secrets\"), also when no line is good.")
STRICT_OPTION = typer.Option(False, "--strict", help="Fail (exit 2) on the first bad log line instead of skipping it.")
MAX_LINE_OPTION = typer.Option(1024 * 1024, "--max-line-bytes", min=1, help="Lines longer than this are skipped as bad.")

# Options shared by report and check: the same metrics, so the same ways to ask for them.
BASELINE_OPTION = typer.Option(None, "--baseline", help=BASELINE_HELP)
RANGE_OPTION = typer.Option(None, "--baseline-range", help=RANGE_HELP)
LABELS_OPTION = typer.Option(None, "--labels", help=LABELS_HELP)
LABEL_ID_OPTION = typer.Option("request_id", "--label-id", help="Column of the labels file holding the request id.")
LABEL_FIELD_OPTION = typer.Option("label", "--label-field", help="Column of the labels file holding the truth.")
PREDICTION_OPTION = typer.Option("output.label", "--prediction", help="Logged field holding the prediction.")
SCORE_OPTION = typer.Option(None, "--score", help="Logged field holding the positive class's score (for ROC AUC and log loss).")
POSITIVE_OPTION = typer.Option(None, "--positive-label", help="The positive class (default: 1/true/yes, else the rarer class, of the labels of the logged requests).")
TASK_OPTION = typer.Option("auto", "--task", help="classification, regression or auto (from the labels).")
MAX_SEGMENTS_OPTION = typer.Option(1000, "--max-segments", min=1, help="The most segments (distinct values of the segment fields) a report or rule may make; more is refused (exit 2) before anything is computed.")
PRICES_OPTION = typer.Option(None, "--prices", metavar="FILE", help="YAML prices per model (USD or any currency per 1M or 1K tokens, input and output; \"*\" for any other model) for the cost of records that log tokens and no cost: a logged cost wins. See README \"LLM metrics\".", show_default=False)
MAX_FIELDS_OPTION = typer.Option(1000, "--max-fields", min=1, help="With --baseline or --labels: the most request fields, and as many response fields, decoded and compared: those the most records hold (ties by name), besides the fields that --by, --where, the rules, the labels options and the baseline name. A warning says how many were left out.")


def emit(text: str, output: Optional[Path], stdout=None) -> None:
    """Print ``text`` (to ``stdout``, sys.stdout by default), or write it to ``output`` atomically (``-`` is stdout too)."""
    if output is None or str(output) == "-":
        stream = stdout or sys.stdout
        if stream is None:  # closed by the caller (`>&-`): nowhere to print
            return
        try:
            stream.write(text)
            stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:  # e.g. a full disk behind a redirection
            raise InputError(f"cannot write the output: {exc.strerror or exc}",
                             "Free some space or write elsewhere with -o FILE.") from None
        return
    from mlmon.atomic import write_text_atomic

    write_text_atomic(output, text)


def log_inputs(command: str, logs: Optional[list[str]], store: Optional[str], mapping: Optional[Path] = None,
               since=None, until=None, baseline=None) -> list[str]:
    """The LOGS to read, or the store standing in for them (reading only [since, until), widened to a
    --baseline-range); a usage error unless exactly one of the two is given."""
    if store is None:
        if not logs:
            raise UsageError(f"mlmon {command} needs LOGS... or --store DIR",
                             f"Run 'mlmon {command} --help' to see its options.")
        return logs
    if logs:
        raise UsageError("give either LOGS or --store, not both", "Read the logs, or the store they were ingested into.")
    if mapping is not None:
        raise UsageError("--mapping does not apply to --store: the store holds records mapped when they were ingested",
                         "Give the mapping to mlmon ingest.")
    from mlmon.store.source import StoreInput

    if baseline is not None and getattr(baseline, "is_range", False):
        since = None if since is None else min(since, baseline.start)
        until = None if until is None else max(until, baseline.end)
    return [StoreInput(store, since, until)]


def inputs_mapping(inputs: list[str], mapping: Optional[Path], preset: str = "auto", timezone: Optional[str] = None):
    """The mapping to read ``inputs`` with: the --mapping file's, the --preset's (with ``auto``, the one
    the files' first records fit, said on stderr), or for a store the secret keys it was built with."""
    from mlmon.store.source import store_input

    if store_input(inputs) is not None:
        if (preset or "auto") != "auto" or timezone is not None:
            raise UsageError("--preset and --timezone do not apply to --store: the store holds records mapped "
                             "when they were ingested", "Give them to mlmon ingest.")
        from mlmon.store.read import store_mapping

        return store_mapping(inputs[0])
    from mlmon.logs.presets import choose_mapping

    choice = choose_mapping(inputs, mapping, preset, timezone)
    if choice.note:
        print_warnings([], [choice.note])
    return choice.mapping


def is_stdout(path: Optional[Path]) -> bool:
    return path is not None and str(path) == "-"


def guard_outputs(logs: list[str], outputs: dict[str, Optional[Path]], *also_read: Optional[Path]) -> None:
    """Refuse, before reading, an output that would replace a log or another file the run reads."""
    if not any(path is not None and str(path) != "-" for path in outputs.values()):
        return
    from mlmon.atomic import refuse_overwriting_inputs
    from mlmon.logs.sources import resolve_inputs
    from mlmon.store.source import store_input

    if store_input(logs):
        from mlmon.store.read import refuse_writing_into

        read = refuse_writing_into(logs[0], outputs)
    else:
        read = [s.path for s in resolve_inputs(logs).sources if s.path is not None]
    refuse_overwriting_inputs(outputs, [*read, *(p for p in also_read if p is not None)])


def one_stdout(outputs: dict[str, bool]) -> None:
    """Refuse two outputs on stdout: they would mix. ``outputs`` says of each whether it goes there."""
    on_stdout = [name for name, there in outputs.items() if there]
    if len(on_stdout) > 1:
        raise UsageError(f"{' and '.join(on_stdout)} would both go to standard output",
                         "Write one of them to a file.")


def print_warnings(warnings: list[str], notes: list[str] = ()) -> None:
    """Notes and warnings about the run as a whole, on stderr: the output stays clean for pipes."""
    err = stderr_console()
    for kind, texts in (("note", notes), ("warning", warnings)):
        for text in texts:
            try:
                err.print(f"mlmon: {kind}: {text}")
            except OSError:
                return


def print_reading(data) -> None:
    """For a command whose output does not tell: the notes and warnings of reading, and the bad lines skipped."""
    print_warnings(data.warnings, data.notes)
    if data.skipped:
        with contextlib.suppress(OSError):
            stderr_console().print(f"mlmon: skipped {data.skipped:,} bad log line{'s' if data.skipped != 1 else ''}")


def note_skipped(skipped: int, rejects: Optional[Path]) -> None:
    if skipped:
        note = f"mlmon: skipped {skipped:,} bad line{'s' if skipped != 1 else ''}"
        where = "standard output" if is_stdout(rejects) else rejects
        note += f"; listed in {where}" if rejects else "; use --rejects FILE to list them"
        stderr_console().print(note)
