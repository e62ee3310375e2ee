"""Send the chosen requests to the target at the chosen pace, and classify each answer."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import polars as pl

from mlmon.replay.answers import checked
from mlmon.replay.compare import Difference, Tolerance, differences
from mlmon.replay.messages import clean
from mlmon.replay.resources import ResourceSampler, ResourceStats
from mlmon.replay.stdio import streams_kept
from mlmon.replay.targets import CallableTarget, HttpTarget, Reply, SetupError, Target

MATCH, MISMATCH, ERROR, TIMEOUT = "match", "mismatch", "error", "timeout"
#: A request that failed when it was logged (status >= 400 or a logged error): there is no logged
#: answer of the model to compare with, so whatever comes back now is neither a match nor a mismatch.
FAILED_BEFORE = "failed_before"
OUTCOMES = (MATCH, MISMATCH, ERROR, TIMEOUT, FAILED_BEFORE)


@dataclass(frozen=True)
class Pace:
    concurrency: int = 1
    rate: float | None = None  # requests per second, overall
    speed: float | None = None  # logged inter-arrival times divided by this
    timeout: float = 10.0


@dataclass
class Outcome:
    """One replayed request: what was logged, what came back, and the verdict.

    ``compared`` is what comparing the answers alone says (match, mismatch, error or timeout); it
    differs from ``outcome`` only for FAILED_BEFORE, and is what ``--include-failed`` gates on.
    """

    record: dict[str, Any]
    payload: Any
    reply: Reply
    latency_ms: float
    sent_at: datetime
    outcome: str
    diffs: list[Difference] = field(default_factory=list)
    compared: str = ""

    def __post_init__(self) -> None:
        self.compared = self.compared or self.outcome

    @property
    def reproduced(self) -> bool | None:
        """For a request that failed when logged: True when it failed again, False when it is now
        answered; None for the others."""
        return self.reply.error is not None if self.outcome == FAILED_BEFORE else None


@dataclass
class ReplayRun:
    """The outcomes of a replay, in logged order. ``interrupted``: Ctrl-C stopped it, and
    ``not_replayed`` chosen requests were not sent or got no answer before it stopped."""

    target: str
    outcomes: list[Outcome]
    seconds: float
    resources: ResourceStats
    skipped_without_request: int = 0
    interrupted: bool = False
    not_replayed: int = 0
    #: The mapping's ``redact:`` keys, redacted like the built-in secrets in everything shown of the run.
    secret_keys: tuple[str, ...] = ()
    #: With --labels: the quality of the logged and the replayed answers (a ``mlmon.replay.quality.QualityComparison``).
    quality: Any = None

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    def rate(self, *outcomes: str) -> float:
        total = len(self.outcomes)
        return sum(self.count(o) for o in outcomes) / total if total else 0.0

    @property
    def throughput_rps(self) -> float | None:
        return len(self.outcomes) / self.seconds if self.seconds > 0 else None

    def latencies(self) -> dict[str, dict[str, float | None]]:
        """p50/p95/p99 of logged and replayed latency (linear interpolation, as numpy.percentile)."""
        frame = pl.DataFrame(
            {"logged": [o.record.get("latency_ms") for o in self.outcomes], "replayed": [o.latency_ms for o in self.outcomes]},
            schema={"logged": pl.Float64, "replayed": pl.Float64},
        )
        out = {}
        for column in ("logged", "replayed"):
            out[column] = {f"p{q}": frame[column].quantile(q / 100, interpolation="linear") for q in (50, 95, 99)}
        return out


def classify(record: dict[str, Any], reply: Reply, tolerance: Tolerance) -> tuple[str, list[Difference]]:
    if reply.timed_out:
        return TIMEOUT, []
    logged = record.get("response")
    if reply.error is not None:
        # An HTTP error answer that repeats the logged one (same status) is compared like any answer.
        status = reply.status
        if status is not None and not 200 <= status < 300 and status == record.get("status") and logged is not None:
            diffs = differences(logged, reply.response, tolerance)
            return (MATCH if not diffs else MISMATCH), diffs
        return ERROR, []
    if logged is None:
        status = record.get("status")
        if record.get("error") or (status is not None and status >= 400):
            # The logged error is log text: bounded, redacted and escaped like every error replay shows.
            original = {"error": clean(str(record.get("error") or f"status {status}"))}
        else:
            original = {"note": "no response was logged"}
        return MISMATCH, [Difference("$", original, reply.response)]
    diffs = differences(logged, reply.response, tolerance)
    return (MATCH if not diffs else MISMATCH), diffs


def failed_when_logged(record: dict[str, Any]) -> bool:
    """The logged request failed: an HTTP status of 400 or more, or a logged error."""
    status = record.get("status")
    return bool(record.get("error")) or (status is not None and status >= 400)


def judge(row: dict[str, Any], reply: Reply, latency_ms: float, sent_at: datetime, tolerance: Tolerance) -> Outcome:
    """The verdict on one answer; an answer that is no JSON value is an error that says why."""
    reply, unusable = checked(reply)
    verdict, diffs = (ERROR, []) if unusable else classify(row, reply, tolerance)
    outcome = FAILED_BEFORE if failed_when_logged(row) else verdict
    return Outcome(row, row["payload"], reply, latency_ms, sent_at, outcome, diffs, verdict)


def _records(frame: pl.DataFrame, parse_payload: bool = True) -> tuple[list[dict[str, Any]], int]:
    """One dict per request; the payload is parsed only for targets that take a Python value."""
    rows = []
    skipped = 0
    for row in frame.iter_rows(named=True):  # one row per replayed request: each is sent anyway
        if row.get("request") is None:
            skipped += 1
            continue
        row = dict(row)
        row["payload"] = _json_or_text(row["request"]) if parse_payload else None
        row["response"] = _json_or_text(row["response"]) if row.get("response") is not None else None
        rows.append(row)
    return rows, skipped


def _json_or_text(text: str) -> Any:
    """The logged value: objects and arrays come as JSON text, a plain string as itself."""
    if text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return text
    return text


def _offsets(rows: list[dict[str, Any]], pace: Pace) -> list[float] | None:
    if pace.speed:
        first = rows[0]["ts"]
        return [(r["ts"] - first).total_seconds() / pace.speed for r in rows]
    if pace.rate:
        return [i / pace.rate for i in range(len(rows))]
    return None


def replay(
    frame: pl.DataFrame,
    target: Target,
    pace: Pace = Pace(),
    tolerance: Tolerance = Tolerance(),
    on_done: Callable[[int, int], Any] | None = None,
) -> ReplayRun:
    """Replay every request of ``frame`` (from ``select_requests``) against ``target``.

    Ctrl-C (KeyboardInterrupt) stops sending; the run comes back with the requests answered
    so far and ``interrupted`` set, so they can still be summarized and written.
    """
    rows, skipped = _records(frame, parse_payload=not isinstance(target, HttpTarget))
    in_process = isinstance(target, CallableTarget)
    # A model in this process may close descriptors 1 and 2; the sampler opens /proc files, which would take
    # them. It samples only between calls of a sync model (quiet), and only while 1 and 2 are open.
    quiet = threading.Lock() if in_process else None
    sampler = ResourceSampler(target.pids, quiet=quiet)
    stats = None
    results: list[Outcome | None] = [None] * len(rows)
    interrupted = False
    started = time.perf_counter()
    # The loop allocates many short-lived objects and keeps them; the cyclic collector only slows it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        # What an in-process model does to sys.stdout, sys.stderr or descriptors 1 and 2 is undone after the run,
        # and descriptors it closed are mended after every call.
        with streams_kept() if in_process else contextlib.nullcontext() as guard:
            calls = _Calls(guard.mend if guard is not None else None, quiet, sampler.wants_quiet)
            try:
                if in_process and not target.is_async and pace.concurrency == 1 and not (pace.rate or pace.speed):
                    sampler.start()
                    _replay_sync(rows, target, tolerance, on_done, results, calls)
                else:
                    interrupted = _run_loop(_replay_async(rows, target, pace, tolerance, sampler, on_done, results,
                                                          calls))
            finally:
                stats = sampler.stop()  # before the descriptors are put back for good: it holds no file then
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if collecting:
            gc.enable()
    seconds = time.perf_counter() - started
    outcomes = [r for r in results if r is not None]
    if stats is None:
        stats = sampler.stop()
    return ReplayRun(target.name, outcomes, seconds, stats, skipped, interrupted, len(rows) - len(outcomes))


def _run_loop(main):
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


class _Calls:
    """Around each call of an in-process model: ``quiet`` held (for a sync model), then descriptors mended."""

    def __init__(self, mend: Callable[[], None] | None, quiet: threading.Lock | None,
                 waiting: threading.Event | None = None):
        self.mend, self.quiet, self.waiting = mend, quiet, waiting

    def __enter__(self) -> None:
        if self.quiet is not None:
            while self.waiting is not None and self.waiting.is_set():  # the sampler's turn first
                time.sleep(0.0002)
            self.quiet.acquire()

    def __exit__(self, *exc) -> None:
        try:
            if self.mend is not None:
                self.mend()
        finally:
            if self.quiet is not None:
                self.quiet.release()


def _replay_sync(rows, target: CallableTarget, tolerance: Tolerance, on_done, results: list, calls: _Calls) -> None:
    # The plain loop: an in-process model at concurrency 1 pays no event-loop cost per call.
    clock = time.perf_counter
    for i, row in enumerate(rows):
        sent_at = datetime.now(timezone.utc)
        with calls:
            t0 = clock()
            reply = target.call_sync(row["payload"])
            elapsed = clock() - t0
        results[i] = judge(row, reply, elapsed * 1000, sent_at, tolerance)
        if on_done is not None:
            on_done(i + 1, len(rows))


async def _replay_async(rows, target: Target, pace: Pace, tolerance: Tolerance, sampler: ResourceSampler,
                        on_done, results: list, calls: _Calls) -> bool:
    """Fill ``results``; True when Ctrl-C cancelled the run (asyncio.run turns SIGINT into a cancel)."""
    try:
        await target.start()
    except asyncio.CancelledError:
        await target.close()
        return True
    sampler.start()
    offsets = _offsets(rows, pace) if rows else None
    loop = asyncio.get_running_loop()
    start = loop.time()
    position = 0
    done = 0
    failure: list[BaseException] = []

    async def worker() -> None:
        nonlocal position, done
        while position < len(rows) and not failure:
            i = position
            position += 1
            if offsets is not None:
                delay = start + offsets[i] - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            row = rows[i]
            sent_at = datetime.now(timezone.utc)
            t0 = time.perf_counter()
            try:
                if blocking:  # a sync model runs to its end inside send: nothing else runs meanwhile
                    with calls:
                        reply = await target.send(row["payload"], pace.timeout, row["request"])
                else:
                    try:
                        reply = await target.send(row["payload"], pace.timeout, row["request"])
                    finally:
                        if calls.mend is not None:
                            calls.mend()
            except SetupError as exc:
                failure.append(exc)
                return
            results[i] = judge(row, reply, (time.perf_counter() - t0) * 1000, sent_at, tolerance)
            done += 1
            if on_done is not None:
                on_done(done, len(rows))
            if blocking:
                await asyncio.sleep(0)  # a sync model never yields: let Ctrl-C's cancellation in

    blocking = isinstance(target, CallableTarget) and not target.is_async
    interrupted = False
    try:
        # No more workers than requests: --concurrency 1000000 must not make a million coroutines.
        await asyncio.gather(*(worker() for _ in range(max(1, min(pace.concurrency, len(rows))))))
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is None or not task.cancelling():
            raise
        interrupted = True
    finally:
        await target.close()
    if failure and not interrupted:
        raise failure[0]
    return interrupted
