"""What a replay writes and prints: the results file (mlmon's own log shape) and the summary document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlmon import __version__
from mlmon.atomic import atomic_open
from mlmon.redact import redact_obj
from mlmon.replay.run import ERROR, MATCH, MISMATCH, OUTCOMES, TIMEOUT, ReplayRun, _json_or_text
from mlmon.timeparse import iso


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
        "request": redact_obj(o.payload if o.payload is not None else _json_or_text(record.get("request") or "null")),
        "response": redact_obj(o.reply.response),
        "error": o.reply.error,
        "replay": {
            "outcome": o.outcome,
            "match": o.outcome == MATCH,
            "diff": [redact_obj(d.to_dict()) for d in o.diffs],
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
            handle.write(json.dumps(result_record(o), ensure_ascii=False) + "\n")


def summary_document(run: ReplayRun, fail_over: float, show: int) -> dict[str, Any]:
    """The stable ``--format json`` document of ``mlmon replay``."""
    total = len(run.outcomes)
    mismatches = [o for o in run.outcomes if o.outcome == MISMATCH][:show]
    return {
        "mlmon_version": __version__,
        "target": run.target,
        "requests": total,
        "skipped_without_request": run.skipped_without_request,
        "counts": {k: run.count(k) for k in OUTCOMES},
        "rates": {k: (run.count(k) / total if total else 0.0) for k in OUTCOMES},
        "failed": gate_fired(run, fail_over),
        "fail_over": fail_over,
        "seconds": run.seconds,
        "throughput_rps": run.throughput_rps,
        "latency_ms": run.latencies(),
        "resources": run.resources.to_dict(),
        "mismatches": [
            {"request_id": o.record.get("request_id"), "diff": [redact_obj(d.to_dict()) for d in o.diffs]}
            for o in mismatches
        ],
        "errors": [
            {"request_id": o.record.get("request_id"), "outcome": o.outcome, "error": o.reply.error}
            for o in run.outcomes if o.outcome in (ERROR, TIMEOUT)
        ][:show],
    }


def gate_fired(run: ReplayRun, fail_over: float) -> bool:
    """Exit 1 when the mismatch rate or the error rate (errors and timeouts) exceeds ``fail_over``."""
    if not run.outcomes:
        return False
    return run.rate(MISMATCH) > fail_over or run.rate(ERROR, TIMEOUT) > fail_over
