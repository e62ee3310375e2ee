#!/usr/bin/env python3
"""Write N MiB of synthetic mlmon logs (JSON lines), optionally with bad lines mixed in.

    python benchmarks/generate_logs.py --mb 1024 --seed 1 -o benchmarks/data/logs_1g.jsonl
    python benchmarks/generate_logs.py --mb 1024 --bad-fraction 0.01 --seed 1 -o benchmarks/data/logs_1g_bad1.jsonl

Standard library only. The output is byte-for-byte the same for the same
``--mb``, ``--seed``, ``--bad-fraction`` and ``--days``, whatever ``--jobs``:
lines are made in fixed blocks of ``BLOCK_LINES`` lines, block ``i`` from its own
``random.Random`` seeded with ``(seed, i)``, and the blocks are written in order.

Records are in mlmon's own shape (see ``sample_logs/README.md``), keys in this order::

    {"ts": "2026-11-27T10:00:00.123Z", "request_id": "<uuid>", "model": "churn",
     "model_version": "v2", "endpoint": "/predict", "status": 200, "latency_ms": 23.4,
     "request": {...6 features...}, "response": {"score": 0.42, "label": "yes"},
     "error": null, "cpu_percent": 31.5, "memory_mb": 512.0}

* 4 models with their own features, versions, traffic share and latency;
* ``ts`` increases over about ``--days`` days (default 3) from 2026-11-24T00:00:00Z,
  millisecond precision; each block covers a fixed time slice, its arrival
  times are sorted uniform draws in that slice, so the file is sorted by ``ts``;
* status: 0.5 % 5xx (500/503, ``error`` is a message, ``response`` null),
  1 % 4xx (400/422, ``response`` is ``{"detail": ...}``), else 200;
* latency: lognormal per model (5xx timeouts: 1000 ms plus a tail).

``--bad-fraction F`` replaces each line, independently with probability F (so
bad lines are spread uniformly), by a bad version of the same record, in equal
shares of ``BAD_KINDS`` (or of the kinds named by ``--bad-kinds``). The decision uses a separate random stream, so the clean
and the bad file of the same seed have the same good lines at the same places.

A summary (lines, records per model, bad lines per kind, time span) is written
next to the output as ``<output>.meta.json``, for checking readers' counts.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import time
from datetime import datetime, timezone
from multiprocessing import Pool
from random import Random

MIB = 1024 * 1024
BLOCK_LINES = 20_000
START = datetime(2026, 11, 24, tzinfo=timezone.utc)
START_MS = int(START.timestamp() * 1000)
#: Average bytes per clean line, measured; used only to spread ``--days`` over the file.
AVG_LINE_BYTES = 440

BAD_KINDS = (
    "truncated",        # a line cut in the middle, as a crashed writer leaves it
    "not_json",         # a plain text log line
    "wrong_type",       # "latency_ms": "fast"
    "missing_ts",       # no "ts" key
    "unparseable_ts",   # "ts": "yesterday"
    "invalid_utf8",     # invalid UTF-8 bytes inside a string value
    "syntax_error",     # a doubled comma inside the object
)

# name, versions, traffic share (cumulative below), latency lognormal mu (ln ms), sigma
MODELS = (
    ("churn", ("v1", "v2"), 0.40, math.log(25.0), 0.45),
    ("fraud", ("v3",), 0.30, math.log(12.0), 0.35),
    ("credit_risk", ("v1", "v2"), 0.20, math.log(60.0), 0.55),
    ("ranker", ("v7",), 0.10, math.log(140.0), 0.60),
)
_CUM = list(itertools.accumulate(m[2] for m in MODELS))

RATE_5XX = 0.005
RATE_4XX = 0.01

COUNTRIES = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "BR", "IN", "JP")
PLANS = ("basic", "standard", "premium")
CATEGORIES = ("grocery", "electronics", "travel", "fashion", "gaming", "fuel")
PURPOSES = ("car", "home", "education", "business", "medical")
DEVICES = ("ios", "android", "web")
ERRORS_500 = ("model inference failed", "feature store unavailable", "out of memory in predictor")
DETAILS_4XX = (
    "validation error: field 'age' is required",
    "validation error: field 'amount' must be a number",
    "unsupported content type",
)


def _features(rng: Random, model: str) -> str:
    """The ``request`` object as JSON text: about 6 features, numbers and strings."""
    r = rng.random
    if model == "churn":
        return (
            f'{{"customer_id": "C{rng.getrandbits(24):07d}", "age": {18 + int(r() * 62)}, '
            f'"tenure_months": {int(r() * 72)}, "monthly_charges": {20 + r() * 120:.2f}, '
            f'"country": "{COUNTRIES[int(r() * 10)]}", "plan": "{PLANS[int(r() * 3)]}"}}'
        )
    if model == "fraud":
        return (
            f'{{"transaction_id": "TX{rng.getrandbits(32):010d}", "amount": {rng.expovariate(0.02):.2f}, '
            f'"merchant_category": "{CATEGORIES[int(r() * 6)]}", "hour_of_day": {int(r() * 24)}, '
            f'"card_present": {"true" if r() < 0.6 else "false"}, "distance_km": {rng.expovariate(0.1):.2f}}}'
        )
    if model == "credit_risk":
        return (
            f'{{"applicant_id": "A{rng.getrandbits(24):07d}", "income": {int(rng.lognormvariate(10.8, 0.5))}, '
            f'"loan_amount": {int(1000 + r() * 49000)}, "purpose": "{PURPOSES[int(r() * 5)]}", '
            f'"credit_history_years": {int(r() * 30)}, "debt_ratio": {r() * 0.8:.3f}}}'
        )
    return (
        f'{{"user_id": "U{rng.getrandbits(24):07d}", "session_length_s": {int(rng.expovariate(1 / 300))}, '
        f'"items_viewed": {int(r() * 40)}, "device": "{DEVICES[int(r() * 3)]}", '
        f'"country": "{COUNTRIES[int(r() * 10)]}", "query": "q{int(r() * 5000)}"}}'
    )


def _response(rng: Random, model: str) -> str:
    score = rng.random()
    if model == "churn":
        label = "yes" if score >= 0.5 else "no"
    elif model == "fraud":
        score = score * score * score
        label = "fraud" if score >= 0.5 else "legit"
    elif model == "credit_risk":
        label = "reject" if score >= 0.7 else "approve"
    else:
        label = "top" if score >= 0.8 else "rest"
    return f'{{"score": {score:.4f}, "label": "{label}"}}'


_minute_cache: dict[int, str] = {}


def _ts_text(ms: int) -> str:
    minute, rest = divmod(ms, 60_000)
    prefix = _minute_cache.get(minute)
    if prefix is None:
        if len(_minute_cache) > 100_000:
            _minute_cache.clear()
        prefix = datetime.fromtimestamp(minute * 60, timezone.utc).strftime("%Y-%m-%dT%H:%M:")
        _minute_cache[minute] = prefix
    sec, milli = divmod(rest, 1000)
    return f"{prefix}{sec:02d}.{milli:03d}Z"


def _bad_line(kind: str, parts: dict, rng: Random) -> bytes:
    """A bad version of the record whose pieces are in ``parts`` (no trailing newline)."""
    def line(**over):
        p = {**parts, **over}
        head = f'{{"ts": {p["ts"]}, ' if p["ts"] is not None else "{"
        return (
            f'{head}"request_id": "{p["rid"]}", "model": "{p["model"]}", "model_version": "{p["version"]}", '
            f'"endpoint": "/predict", "status": {p["status"]},{p["sep"]} "latency_ms": {p["latency"]}, '
            f'"request": {p["request"]}, "response": {p["response"]}, "error": {p["error"]}, '
            f'"cpu_percent": {p["cpu"]}, "memory_mb": {p["mem"]}}}'
        )

    if kind == "truncated":
        full = line().encode()
        return full[: int(len(full) * (0.1 + 0.8 * rng.random()))]
    if kind == "not_json":
        t = parts["ts"][1:-1].replace("T", " ").replace("Z", "")
        return (
            f'{t} INFO uvicorn.access: 10.0.{rng.randrange(256)}.{rng.randrange(256)}:{rng.randrange(1024, 65536)} '
            f'- "POST /predict HTTP/1.1" {parts["status"]}'
        ).encode()
    if kind == "wrong_type":
        return line(latency='"fast"').encode()
    if kind == "missing_ts":
        return line(ts=None).encode()
    if kind == "unparseable_ts":
        return line(ts='"yesterday"').encode()
    if kind == "invalid_utf8":
        # Bytes that are never valid UTF-8 (a lone continuation byte and 0xff) inside the request id.
        rid = parts["rid"]
        cut = 1 + rng.randrange(len(rid) - 2)
        marker = "\u0000MARK\u0000"
        text = line(rid=rid[:cut] + marker + rid[cut:]).encode()
        return text.replace(marker.encode(), b"\x80\xff")
    if kind == "syntax_error":
        return line(sep=",").encode()
    raise ValueError(kind)


def make_block(args: tuple[int, int, float, float, int, tuple[str, ...]]) -> tuple[bytes, dict]:
    """Lines of block ``index`` and its counts: records per model (good lines), bad lines per kind.

    Only the first ``max_lines`` lines are made; they are the same as the full block's.
    """
    index, seed, bad_fraction, block_span_ms, max_lines, kinds = args
    rng = Random(f"mlmon-bench/{seed}/{index}")
    bad_rng = Random(f"mlmon-bench-bad/{seed}/{index}")
    r = rng.random
    t0 = START_MS + index * block_span_ms
    times = sorted(int(t0 + r() * block_span_ms) for _ in range(BLOCK_LINES))
    per_model: dict[str, int] = {}
    bad: dict[str, int] = {}
    out: list[bytes] = []
    parts_needed = bad_fraction > 0
    for ms in times[:max_lines]:
        u = r()
        k = 0
        while u >= _CUM[k] and k < len(MODELS) - 1:
            k += 1
        model, versions, _share, mu, sigma = MODELS[k]
        version = versions[0] if len(versions) == 1 else versions[int(r() * len(versions))]
        h = rng.getrandbits(128)
        x = f"{h:032x}"
        rid = f"{x[:8]}-{x[8:12]}-4{x[13:16]}-{'89ab'[h & 3]}{x[17:20]}-{x[20:]}"
        request = _features(rng, model)
        s = r()
        if s < RATE_5XX:
            if r() < 0.4:
                status, error = 503, '"upstream timeout"'
                latency = 1000.0 + rng.expovariate(1 / 40)
            else:
                status, error = 500, f'"{ERRORS_500[int(r() * 3)]}"'
                latency = rng.lognormvariate(math.log(6.0), 0.5)
            response = "null"
        elif s < RATE_5XX + RATE_4XX:
            status, error = (400 if r() < 0.3 else 422), "null"
            latency = rng.lognormvariate(math.log(4.0), 0.4)
            response = f'{{"detail": "{DETAILS_4XX[int(r() * 3)]}"}}'
        else:
            status, error = 200, "null"
            latency = rng.lognormvariate(mu, sigma)
            response = _response(rng, model)
        cpu = min(100.0, max(0.5, rng.gauss(35.0 + 10 * k, 12.0)))
        mem = 400.0 + 150 * k + rng.gauss(0.0, 20.0)
        ts = _ts_text(ms)
        if parts_needed and bad_rng.random() < bad_fraction:
            kind = kinds[bad_rng.randrange(len(kinds))]
            parts = {
                "ts": f'"{ts}"', "rid": rid, "model": model, "version": version, "status": status,
                "sep": "", "latency": f"{latency:.1f}", "request": request, "response": response,
                "error": error, "cpu": f"{cpu:.1f}", "mem": f"{mem:.1f}",
            }
            out.append(_bad_line(kind, parts, bad_rng))
            bad[kind] = bad.get(kind, 0) + 1
            continue
        out.append(
            f'{{"ts": "{ts}", "request_id": "{rid}", "model": "{model}", "model_version": "{version}", '
            f'"endpoint": "/predict", "status": {status}, "latency_ms": {latency:.1f}, '
            f'"request": {request}, "response": {response}, "error": {error}, '
            f'"cpu_percent": {cpu:.1f}, "memory_mb": {mem:.1f}}}'.encode()
        )
        per_model[model] = per_model.get(model, 0) + 1
    out.append(b"")
    return b"\n".join(out), {"per_model": per_model, "bad": bad}


def _edge_ts(block: bytes, last: bool) -> str | None:
    """The first (or last) good timestamp in a block of lines."""
    lines = block.rstrip(b"\n").split(b"\n")
    for raw in reversed(lines) if last else lines:
        try:
            ts = json.loads(raw).get("ts")
        except (ValueError, UnicodeDecodeError, AttributeError):
            continue
        if isinstance(ts, str) and ts[:4].isdigit():
            return ts
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, required=True, help="size of the file in MiB (it is cut at a line end at or below this)")
    ap.add_argument("--bad-fraction", type=float, default=0.0, help="fraction of lines that are bad (default 0)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bad-kinds", default=",".join(BAD_KINDS),
                    help=f"comma-separated kinds of bad line, in equal shares (default: all: {','.join(BAD_KINDS)})")
    ap.add_argument("--days", type=float, default=3.0, help="about how many days the timestamps span (default 3)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (output does not depend on it)")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args(argv)
    if not 0 <= args.bad_fraction <= 1:
        ap.error("--bad-fraction must be between 0 and 1")
    kinds = tuple(k for k in args.bad_kinds.split(",") if k)
    unknown = [k for k in kinds if k not in BAD_KINDS]
    if unknown or not kinds:
        ap.error(f"--bad-kinds: unknown {','.join(unknown) or '(none given)'}; choose from {','.join(BAD_KINDS)}")

    target = int(args.mb * MIB)
    est_lines = max(1, target // AVG_LINE_BYTES)
    block_span_ms = args.days * 86_400_000 / (est_lines / BLOCK_LINES)
    started = time.perf_counter()
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    tmp = args.output + ".part"
    written = 0
    n_lines = 0
    per_model: dict[str, int] = {}
    bad: dict[str, int] = {}
    first_ts = None
    last_block = b""

    def tasks():
        i = 0
        while True:
            yield (i, args.seed, args.bad_fraction, block_span_ms, BLOCK_LINES, kinds)
            i += 1

    def merge(counts):
        for k, v in counts["per_model"].items():
            per_model[k] = per_model.get(k, 0) + v
        for k, v in counts["bad"].items():
            bad[k] = bad.get(k, 0) + v

    pool = Pool(args.jobs) if args.jobs > 1 else None
    blocks = pool.imap(make_block, tasks(), chunksize=1) if pool else map(make_block, tasks())
    try:
        with open(tmp, "wb", buffering=8 * MIB) as out:
            for index, (block, counts) in enumerate(blocks):
                if written + len(block) <= target:
                    out.write(block)
                    written += len(block)
                    n_lines += BLOCK_LINES
                    merge(counts)
                    if first_ts is None:
                        first_ts = _edge_ts(block, last=False)
                    last_block = block
                    continue
                room = target - written
                cut = block.rfind(b"\n", 0, room) + 1  # 0 if not even one line fits
                keep = block.count(b"\n", 0, cut)
                if keep:
                    out.write(block[:cut])
                    written += cut
                    n_lines += keep
                    merge(make_block((index, args.seed, args.bad_fraction, block_span_ms, keep, kinds))[1])
                    last_block = block[:cut]
                break
    finally:
        if pool:
            pool.terminate()
            pool.join()
    os.replace(tmp, args.output)
    elapsed = time.perf_counter() - started
    meta = {
        "file": os.path.basename(args.output),
        "bytes": written,
        "lines": n_lines,
        "seed": args.seed,
        "bad_fraction": args.bad_fraction,
        "bad_kinds": list(kinds),
        "good_records": sum(per_model.values()),
        "records_per_model": dict(sorted(per_model.items())),
        "bad_lines": sum(bad.values()),
        "bad_lines_per_kind": dict(sorted(bad.items())),
        "first_ts": first_ts if first_ts is not None else _edge_ts(last_block, last=False),
        "last_ts": _edge_ts(last_block, last=True),
        "generator_seconds": round(elapsed, 1),
    }
    with open(args.output + ".meta.json", "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(
        f"wrote {args.output}: {written / MIB:,.1f} MiB, {n_lines:,} lines "
        f"({meta['bad_lines']:,} bad) in {elapsed:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
