"""What a replay writes and prints: the results file (mlmon's own log shape) and the summary document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlmon import __version__
from mlmon.atomic import atomic_open
from mlmon.redact import redact_obj
from mlmon.render.escape import json_safe
from mlmon.replay.run import ERROR, MATCH, MISMATCH, OUTCOMES, TIMEOUT, ReplayRun, _json_or_text
from mlmon.timeparse import iso


def _redact(value: Any) -> Any:
    """``redact_obj``, with a placeholder for a logged value too deeply nested to walk."""
    try:
        return redact_obj(value)
    except RecursionError:
        return "[not shown: nested too deeply]"


def result_record(o) -> dict[str, Any]:
    """One replayed request in mlmon's log shape, so ``mlmon report results.jsonl`` works on it."""
    record = o.record
    return {
        "ts": iso(o.sent_at),
        "request_id": record.get("request_id"),
        "model": record.get("model"),
        "model_version": record.get("model_version"),
        "endpoint": record.get("endpoint"),
        "status": o.reply.status,
        "latency_ms": round(o.latency_ms, 6),
        "request": _redact(o.payload if o.payload is not None else _json_or_text(record.get("request") or "null")),
        "response": _redact(o.reply.response),
        "error": o.reply.error,
        "replay": {
            "outcome": o.outcome,
            "match": o.outcome == MATCH,
            "diff": [_redact(d.to_dict()) for d in o.diffs],
            "original": {
                "ts": iso(record.get("ts")),
                "status": record.get("status"),
                "latency_ms": record.get("latency_ms"),
                "error": record.get("error"),
            },
        },
    }


def write_results(run: ReplayRun, path: str | Path) -> None:
    with atomic_open(path, "w") as handle:
        for o in run.outcomes:
            handle.write(json_safe(json.dumps(result_record(o), ensure_ascii=False)) + "\n")


def summary_document(run: ReplayRun, fail_over: float, show: int) -> dict[str, Any]:
    """The stable ``--format json`` document of ``mlmon replay``.

    ``mismatches`` and ``errors`` list the first ``show`` of each (as the table does);
    ``mismatches_truncated`` / ``errors_truncated`` say when there are more, and ``counts``
    has every total. ``interrupted`` is true when Ctrl-C stopped the run: the document then
    covers the ``requests`` answered before it, and ``not_replayed`` counts the rest.
    """
    total = len(run.outcomes)
    mismatches = [o for o in run.outcomes if o.outcome == MISMATCH]
    errors = [o for o in run.outcomes if o.outcome in (ERROR, TIMEOUT)]
    return {
        "mlmon_version": __version__,
        "target": run.target,
        "requests": total,
        "skipped_without_request": run.skipped_without_request,
        "interrupted": run.interrupted,
        "not_replayed": run.not_replayed,
        "counts": {k: run.count(k) for k in OUTCOMES},
        "rates": {k: (run.count(k) / total if total else 0.0) for k in OUTCOMES},
        "failed": gate_fired(run, fail_over),
        "fail_over": fail_over,
        "seconds": run.seconds,
        "throughput_rps": run.throughput_rps,
        "latency_ms": run.latencies(),
        "resources": run.resources.to_dict(),
        "mismatches": [
            {"request_id": o.record.get("request_id"), "diff": [_redact(d.to_dict()) for d in o.diffs]}
            for o in mismatches[:show]
        ],
        "mismatches_truncated": len(mismatches) > show,
        "errors": [
            {"request_id": o.record.get("request_id"), "outcome": o.outcome, "error": o.reply.error}
            for o in errors[:show]
        ],
        "errors_truncated": len(errors) > show,
    }


def gate_fired(run: ReplayRun, fail_over: float) -> bool:
    """Exit 1 when the mismatch rate or the error rate (errors and timeouts) exceeds ``fail_over``.

    A run Ctrl-C stopped has not shown that the target passes, so it never passes the gate.
    """
    if run.interrupted:
        return True
    if not run.outcomes:
        return False
    return run.rate(MISMATCH) > fail_over or run.rate(ERROR, TIMEOUT) > fail_over
