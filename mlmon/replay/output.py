"""What a replay writes and prints: the results file (mlmon's own log shape) and the summary document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from mlmon import __version__
from mlmon.atomic import atomic_open
from mlmon.numbers import json_data
from mlmon.redact import redact_obj, redact_text
from mlmon.safetext import json_safe
from mlmon.replay.messages import clean
from mlmon.replay.run import ERROR, FAILED_BEFORE, MATCH, MISMATCH, OUTCOMES, TIMEOUT, Outcome, ReplayRun, _json_or_text
from mlmon.timeparse import iso


def _redact(value: Any, secret_keys: tuple[str, ...] = ()) -> Any:
    """``redact_obj``, with a placeholder for a logged value too deeply nested to walk."""
    try:
        return redact_obj(value, secret_keys)
    except RecursionError:
        return "[not shown: nested too deeply]"


def shown_error(text: str | None, secret_keys: tuple[str, ...] = ()) -> str | None:
    """An error text of the target, cleaned where it was made, with the mapping's secret keys redacted too."""
    return redact_text(text, secret_keys) if text and secret_keys else text


def traceback_text(o: Outcome, secret_keys: tuple[str, ...] = ()) -> str | None:
    """Where an in-process model raised, in Python's layout (None when it did not raise)."""
    return shown_error(o.reply.traceback.text(o.reply.error), secret_keys) if o.reply.traceback is not None else None


def logged_error(o: Outcome, secret_keys: tuple[str, ...] = ()) -> str | None:
    """The logged error of a request, bounded, redacted and escaped like the target's errors."""
    error = o.record.get("error")
    return clean(str(error), secret_keys) if error else None


def result_record(o: Outcome, secret_keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """One replayed request in mlmon's log shape, so ``mlmon report results.jsonl`` works on it;
    secrets (and the values of ``secret_keys``) redacted."""
    keys = secret_keys
    record = o.record
    return {
        "ts": iso(o.sent_at),
        "request_id": record.get("request_id"),
        "model": record.get("model"),
        "model_version": record.get("model_version"),
        "endpoint": record.get("endpoint"),
        "status": o.reply.status,
        "latency_ms": round(o.latency_ms, 6),
        "request": _redact(o.payload if o.payload is not None else _json_or_text(record.get("request") or "null"), keys),
        "response": _redact(o.reply.response, keys),
        "error": shown_error(o.reply.error, keys),
        "replay": {
            "outcome": o.outcome,
            "match": o.outcome == MATCH,
            "diff": [_redact(d.to_dict(keys), keys) for d in o.diffs],
            "original": {
                "ts": iso(record.get("ts")),
                "status": record.get("status"),
                "latency_ms": record.get("latency_ms"),
                "error": logged_error(o, keys),
            },
            "reproduced": o.reproduced,
            "traceback": traceback_text(o, keys),
        },
    }


def write_results(run: ReplayRun, path: str | Path, stdout: IO | None = None) -> None:
    """One JSON line per replayed request, written atomically; ``-`` is ``stdout`` (sys.stdout by default)."""
    with atomic_open(path, "w", stdout=stdout) as handle:
        for o in run.outcomes:
            handle.write(json_safe(json.dumps(json_data(result_record(o, run.secret_keys)), ensure_ascii=False,
                                              allow_nan=False)) + "\n")


def summary_document(run: ReplayRun, fail_over: float, show: int, include_failed: bool = False) -> dict[str, Any]:
    """The stable ``--format json`` document of ``mlmon replay``: keys are added, never renamed.

    ``mismatches`` and ``errors`` list the first ``show`` of each (as the table does);
    ``mismatches_truncated`` / ``errors_truncated`` say when there are more, and ``counts``
    has every total. ``interrupted`` is true when Ctrl-C stopped the run: the document then
    covers the ``requests`` answered before it, and ``not_replayed`` counts the rest.
    ``failed_before`` says how many of the requests that failed when logged failed again
    (``reproduced``) or are now ``answered``, and lists the first ``show``; ``gate_rates`` are
    the rates the gate compared with ``fail_over`` (see ``gate_rates``).
    """
    total = len(run.outcomes)
    keys = run.secret_keys
    mismatches = [o for o in run.outcomes if o.outcome == MISMATCH]
    errors = [o for o in run.outcomes if o.outcome in (ERROR, TIMEOUT)]
    failed_before = failed_before_first_again(run)
    reproduced = sum(1 for o in failed_before if o.reproduced)
    return {
        "mlmon_version": __version__,
        "target": run.target,
        "requests": total,
        "skipped_without_request": run.skipped_without_request,
        "interrupted": run.interrupted,
        "not_replayed": run.not_replayed,
        "counts": {k: run.count(k) for k in OUTCOMES},
        "rates": {k: (run.count(k) / total if total else 0.0) for k in OUTCOMES},
        "failed": gate_fired(run, fail_over, include_failed),
        "fail_over": fail_over,
        "seconds": run.seconds,
        "throughput_rps": run.throughput_rps,
        "latency_ms": run.latencies(),
        "resources": run.resources.to_dict(),
        "mismatches": [
            {"request_id": o.record.get("request_id"), "diff": [_redact(d.to_dict(keys), keys) for d in o.diffs]}
            for o in mismatches[:show]
        ],
        "mismatches_truncated": len(mismatches) > show,
        "errors": [
            {"request_id": o.record.get("request_id"), "outcome": o.outcome, "error": shown_error(o.reply.error, keys),
             "traceback": traceback_text(o, keys)}
            for o in errors[:show]
        ],
        "errors_truncated": len(errors) > show,
        "include_failed": include_failed,
        "gate_rates": dict(zip((MISMATCH, ERROR), gate_rates(run, include_failed))),
        "failed_before": {
            "reproduced": reproduced,
            "answered": len(failed_before) - reproduced,
            "requests": [
                {"request_id": o.record.get("request_id"),
                 "logged": {"status": o.record.get("status"), "error": logged_error(o, keys)},
                 "reproduced": o.reproduced, "status": o.reply.status, "error": shown_error(o.reply.error, keys),
                 "traceback": traceback_text(o, keys)}
                for o in failed_before[:show]
            ],
            "truncated": len(failed_before) > show,
        },
        **({"quality": run.quality.to_dict()} if run.quality is not None else {}),
    }


def failed_before_first_again(run: ReplayRun) -> list[Outcome]:
    """The requests that failed when logged: those that failed again first (the question of an
    incident is whether it reproduces), then those answered now, each in logged order."""
    return sorted((o for o in run.outcomes if o.outcome == FAILED_BEFORE), key=lambda o: not o.reproduced)


def gate_rates(run: ReplayRun, include_failed: bool = False) -> tuple[float, float]:
    """The mismatch rate and the error rate (errors and timeouts) that the gate compares, as shares
    of every replayed request (the ``rates`` of the summary). Requests that failed when logged
    count only with ``include_failed``, each by what comparing its answer says."""
    total = len(run.outcomes)
    if not total:
        return 0.0, 0.0
    verdicts = [o.compared if include_failed else o.outcome for o in run.outcomes]
    return verdicts.count(MISMATCH) / total, (verdicts.count(ERROR) + verdicts.count(TIMEOUT)) / total


def gate_fired(run: ReplayRun, fail_over: float, include_failed: bool = False) -> bool:
    """Exit 1 when the mismatch rate or the error rate (see ``gate_rates``) exceeds ``fail_over``; with
    ``--fail-if-worse``, when the error rate does or the replayed answers are worse (mismatches are expected).

    A run Ctrl-C stopped has not shown that the target passes, so it never passes the gate.
    """
    if run.interrupted:
        return True
    mismatch, error = gate_rates(run, include_failed)
    if run.quality is not None and run.quality.gate is not None:
        # --fail-if-worse: a re-trained model answers differently by design; its gate is quality, not equality.
        return error > fail_over or run.quality.gate_fired
    return mismatch > fail_over or error > fail_over
