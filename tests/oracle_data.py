"""Seeded synthetic logs and two independent oracles for mlmon's operational metrics.

Nothing here imports mlmon: the records are generated as Python values (the truth),
written as JSONL in several timestamp spellings, and the expected metrics are
computed twice, independently of each other and of mlmon:

* ``numpy_oracle``: plain Python grouping over the generated values, numpy for
  means and ``np.percentile`` (default method, linear interpolation);
* ``duckdb_oracle``: one SQL query over the JSONL file itself (``read_ndjson``,
  ``quantile_cont``, epoch arithmetic for the windows, ``range`` for the grid of
  empty windows).

The contract both implement (see the metrics and windows docs):

* a server error is ``status >= 500`` or an ``error`` that is set (not null, not
  empty); a client error is ``400 <= status <= 499``; a missing status is 200,
  or 500 when ``error`` is set;
* windows are tumbling, floored to multiples of ``every`` since the Unix epoch
  (UTC); records with ``since <= ts < until`` are selected;
* windows with no records are reported (request_count 0) from a segment's first
  window to the end of the range: ``until`` when given, else the last window
  holding a selected record (without segments, the range starts at ``since``
  when given);
* throughput is request_count / seconds of the window inside [since, until);
  without ``every`` one window per segment spans the first to the last selected
  record and throughput is request_count / that span (null when it is 0);
* cpu/memory metrics exist only when some selected record carries the field.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)

BASE_METRICS = [
    "request_count",
    "throughput_rps",
    "error_count",
    "error_rate",
    "client_error_rate",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_max_ms",
]
CPU_METRICS = ["cpu_percent_mean", "cpu_percent_max"]
MEMORY_METRICS = ["memory_mb_mean", "memory_mb_max"]
INT_METRICS = {"request_count", "error_count"}
PERCENTILES = {"latency_p50_ms": 50, "latency_p90_ms": 90, "latency_p95_ms": 95, "latency_p99_ms": 99}

#: Every spelling of a timestamp mlmon must accept; all land on the same instant.
TS_FORMATS = ("iso_z", "iso_offset", "iso_naive", "iso_space", "epoch_s", "epoch_ms", "epoch_ns")

#: Every field the oracles know how to segment by.
SEGMENT_FIELDS = ("model", "model_version", "endpoint", "status", "error", "input.country")

# The generated logs: two stretches of traffic with a gap that empties whole hours
# and the whole UTC day 2026-03-10.
DATA_START = datetime(2026, 3, 7, 21, 47, 13, 250_000, tzinfo=UTC)
GAP_START = datetime(2026, 3, 9, 21, 40, 0, tzinfo=UTC)
GAP_END = datetime(2026, 3, 11, 1, 20, 0, tzinfo=UTC)
DATA_END = datetime(2026, 3, 11, 15, 3, 0, tzinfo=UTC)

#: Instants that get extra records exactly on them and 1 ms before them.
BOUNDARIES = (
    datetime(2026, 3, 8, 0, 0, tzinfo=UTC),
    datetime(2026, 3, 8, 0, 5, tzinfo=UTC),
    datetime(2026, 3, 8, 13, 0, tzinfo=UTC),
    datetime(2026, 3, 9, 0, 0, tzinfo=UTC),
    datetime(2026, 3, 8, 3, 17, 42, 500_000, tzinfo=UTC),  # a `since` used by the tests
    datetime(2026, 3, 9, 11, 2, 3, 123_000, tzinfo=UTC),  # 456 us before an `until` used by the tests
    datetime(2026, 3, 11, 12, 0, tzinfo=UTC),
)


# --------------------------------------------------------------------------- generation


def _ms(dt: datetime) -> datetime:
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


def make_records(seed: int = 20260307, n: int = 6000) -> list[dict[str, Any]]:
    """Log records as dicts: ``ts`` is a UTC datetime (ms precision), every other
    key is exactly what goes into the JSON line (an absent key is absent)."""
    rng = np.random.default_rng(seed)
    span1 = (GAP_START - DATA_START) / US
    span2 = (DATA_END - GAP_END) / US
    share1 = span1 / (span1 + span2)
    times: list[datetime] = []
    for _ in range(n):
        if rng.random() < share1:
            times.append(_ms(DATA_START + int(rng.integers(0, int(span1))) * US))
        else:
            times.append(_ms(GAP_END + int(rng.integers(0, int(span2))) * US))
    # Ties in time: some records share a timestamp with another one.
    for i in rng.choice(n, size=n // 50, replace=False):
        times[int(i)] = times[int(rng.integers(0, n))]
    # Exactly on window boundaries / since / until, and 1 ms before them.
    for b in BOUNDARIES:
        times += [b, b, b - timedelta(milliseconds=1)]
    times += [DATA_START, DATA_END]

    models = ["churn", "fraud", "rank"]
    records = []
    for ts in times:
        model = models[int(rng.choice(3, p=[0.5, 0.3, 0.2]))]
        rec: dict[str, Any] = {"ts": ts, "request_id": f"r{len(records):06d}", "model": model}
        u = rng.random()
        if model == "churn":
            if u < 0.05:
                pass  # no model_version key: a null segment value
            elif u < 0.08:
                rec["model_version"] = None
            else:
                rec["model_version"] = "v1" if ts < datetime(2026, 3, 9, 6, tzinfo=UTC) else "v2"
        elif model == "fraud":
            rec["model_version"] = "v1"
        else:
            rec["model_version"] = "2024.1" if u < 0.6 else "2024.2"
        rec["endpoint"] = "/predict" if rng.random() < 0.9 else "/batch"

        # status / error
        u = rng.random()
        if u < 0.84:
            rec["status"] = 200
        elif u < 0.88:
            rec["status"] = int(rng.choice([400, 404, 422, 499]))
        elif u < 0.91:
            rec["status"] = int(rng.choice([500, 502, 503, 504]))
            rec["error"] = str(rng.choice(["upstream timeout", "internal server error"]))
        elif u < 0.94:
            rec["error"] = "model inference failed"  # no status: means 500
        elif u < 0.95:
            rec["status"] = None
            rec["error"] = "service unavailable"  # null status with an error: 500
        elif u < 0.96:
            rec["status"] = None  # null status, no error: 200
        elif u < 0.97:
            rec["error"] = ""  # no status, empty error: 200 and not an error
        elif u < 0.98:
            rec["status"] = 200
            rec["error"] = "partial failure"  # an error despite a 200
        elif u < 0.99:
            rec["status"] = 404
            rec["error"] = "lookup failed"  # both a client error and an error
        else:
            rec["status"] = int(rng.choice([201, 302, 399, 500]))
            rec["error"] = None

        # latency: heavy ties (one decimal, a few round values), some long floats, some missing
        u = rng.random()
        if u < 0.65:
            rec["latency_ms"] = round(float(rng.lognormal(3.5, 0.6)), 1)
        elif u < 0.85:
            rec["latency_ms"] = int(rng.choice([5, 10, 20, 50, 100]))
        elif u < 0.98:
            rec["latency_ms"] = float(rng.gamma(2.0, 40.0))
        elif u < 0.99:
            rec["latency_ms"] = None
        # else: no latency key at all

        # resources: fraud never logs cpu; others sometimes miss it
        if model != "fraud":
            u = rng.random()
            if u < 0.85:
                rec["cpu_percent"] = round(float(rng.uniform(1, 99)), 1)
            elif u < 0.9:
                rec["cpu_percent"] = None
        if rng.random() < 0.75:
            rec["memory_mb"] = round(float(rng.normal(500, 20)), 1)

        u = rng.random()
        if u < 0.85:
            rec["request"] = {"country": str(rng.choice(["DE", "US", "FR", "GB"])), "age": int(rng.integers(18, 90))}
        elif u < 0.9:
            rec["request"] = {"country": None, "age": 40}
        elif u < 0.95:
            rec["request"] = {"age": 33}
        # else: no request at all
        rec["response"] = {"score": round(float(rng.random()), 4)}
        records.append(rec)

    # A rare model: a handful of records, so most of its windows are empty.
    for ts in (datetime(2026, 3, 8, 2, 1, 7, tzinfo=UTC), datetime(2026, 3, 8, 2, 2, tzinfo=UTC),
               datetime(2026, 3, 8, 9, 44, 59, 999_000, tzinfo=UTC), datetime(2026, 3, 9, 1, 0, tzinfo=UTC)):
        records.append({"ts": ts, "request_id": f"r{len(records):06d}", "model": "rare", "model_version": "v0",
                        "endpoint": "/predict", "status": 200, "latency_ms": 7.5, "request": {"country": "DE"}})

    order = list(range(len(records)))
    random.Random(seed).shuffle(order)  # logs need not be sorted
    return [records[i] for i in order]


def ts_text(ts: datetime, fmt: str) -> str:
    """The JSON text (a string literal or a number) of ``ts`` in one spelling; ``ts`` has ms precision."""
    assert ts.microsecond % 1000 == 0
    ms = (ts - EPOCH) // timedelta(milliseconds=1)
    # ISO spellings carry milliseconds, or no fraction at all on a whole second.
    frac = f".{ts.microsecond // 1000:03d}" if ts.microsecond else ""
    if fmt == "iso_z":
        return json.dumps(ts.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z")
    if fmt == "iso_offset":
        local = ts.astimezone(timezone(timedelta(hours=2)))
        return json.dumps(local.strftime("%Y-%m-%dT%H:%M:%S") + frac + "+02:00")
    if fmt == "iso_naive":
        return json.dumps(ts.strftime("%Y-%m-%dT%H:%M:%S") + frac)
    if fmt == "iso_space":
        return json.dumps(ts.strftime("%Y-%m-%d %H:%M:%S") + frac)
    if fmt == "epoch_s":
        return f"{ms // 1000}" if ms % 1000 == 0 else f"{ms // 1000}.{ms % 1000:03d}"
    if fmt == "epoch_ms":
        return str(ms)
    if fmt == "epoch_ns":
        return str(ms * 1_000_000)
    raise ValueError(fmt)


def write_jsonl(path: Path, records: Sequence[dict[str, Any]], ts_format: str | Sequence[str] = "iso_z") -> Path:
    """Write the records; ``ts_format`` is one spelling, or a list cycled over the records."""
    formats = [ts_format] if isinstance(ts_format, str) else list(ts_format)
    with open(path, "w", encoding="utf-8") as out:
        for i, rec in enumerate(records):
            rest = {k: v for k, v in rec.items() if k != "ts"}
            body = json.dumps(rest, separators=(",", ":"))
            ts = ts_text(rec["ts"], formats[i % len(formats)])
            out.write('{"ts":' + ts + ("," + body[1:] if len(body) > 2 else "}") + "\n")
    return path


# --------------------------------------------------------------------------- the contract, in Python


@dataclass(frozen=True)
class Fact:
    """One record as the metrics see it."""

    ts: datetime
    status: int
    is_error: bool
    latency: float | None
    cpu: float | None
    memory: float | None
    segment: dict[str, Any] = field(hash=False, compare=False, default_factory=dict)


def fact(rec: dict[str, Any]) -> Fact:
    error = rec.get("error")
    error_set = error is not None and error != ""
    status = rec.get("status")
    if status is None:
        status = 500 if error_set else 200
    request = rec.get("request")
    segment = {
        "model": rec.get("model"),
        "model_version": rec.get("model_version"),
        "endpoint": rec.get("endpoint"),
        "status": int(status),
        "error": error if error_set else None,
        "input.country": request.get("country") if isinstance(request, dict) else None,
    }
    number = lambda v: None if v is None else float(v)  # noqa: E731
    return Fact(rec["ts"], int(status), status >= 500 or error_set, number(rec.get("latency_ms")),
                number(rec.get("cpu_percent")), number(rec.get("memory_mb")), segment)


def floor_window(ts: datetime, every: timedelta) -> datetime:
    step = every // US
    return EPOCH + ((ts - EPOCH) // US // step * step) * US


def sort_key(row: dict[str, Any], by: Sequence[str]) -> tuple:
    """window_start, then the segment values with nulls last."""
    key: list[Any] = [row["window_start"] or datetime.max.replace(tzinfo=UTC)]
    for name in by:
        key += [row[name] is None, "" if row[name] is None else row[name]]
    return tuple(key)


@dataclass
class Expected:
    metrics: list[str]
    rows: list[dict[str, Any]]


def _aggregate(facts: list[Fact], metrics: list[str]) -> dict[str, Any]:
    n = len(facts)
    if not n:  # an empty window: counts 0, everything else undefined
        return {name: (0 if name in INT_METRICS else None) for name in metrics}
    out: dict[str, Any] = {"request_count": n}
    errors = sum(f.is_error for f in facts)
    out["error_count"] = errors
    out["error_rate"] = errors / n if n else None
    out["client_error_rate"] = sum(400 <= f.status <= 499 for f in facts) / n if n else None
    lat = np.array([f.latency for f in facts if f.latency is not None], dtype=float)
    if lat.size:
        out["latency_mean_ms"] = float(np.mean(lat))
        for name, value in zip(PERCENTILES, np.percentile(lat, list(PERCENTILES.values()))):
            out[name] = float(value)
        out["latency_max_ms"] = float(np.max(lat))
    else:
        out.update({name: None for name in ("latency_mean_ms", *PERCENTILES, "latency_max_ms")})
    for attr, prefix in (("cpu", "cpu_percent"), ("memory", "memory_mb")):
        if f"{prefix}_mean" not in metrics:
            continue
        values = np.array([getattr(f, attr) for f in facts if getattr(f, attr) is not None], dtype=float)
        out[f"{prefix}_mean"] = float(np.mean(values)) if values.size else None
        out[f"{prefix}_max"] = float(np.max(values)) if values.size else None
    return out


def numpy_oracle(
    records: Iterable[dict[str, Any] | Fact],
    every: timedelta | None = None,
    by: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> Expected:
    """The expected metric table, computed in plain Python with numpy (from records or their facts)."""
    by = tuple(by)
    facts = [r if isinstance(r, Fact) else fact(r) for r in records]
    sel = [f for f in facts if (since is None or f.ts >= since) and (until is None or f.ts < until)]
    metrics = list(BASE_METRICS)
    if any(f.cpu is not None for f in sel):
        metrics += CPU_METRICS
    if any(f.memory is not None for f in sel):
        metrics += MEMORY_METRICS

    def seg(f: Fact) -> tuple:
        return tuple(f.segment[name] for name in by)

    rows: list[dict[str, Any]] = []
    if every is None:
        if not sel:
            return Expected(metrics, rows)
        start, end = min(f.ts for f in sel), max(f.ts for f in sel)
        seconds = (end - start) / timedelta(seconds=1)
        groups: dict[tuple, list[Fact]] = {}
        for f in sel:
            groups.setdefault(seg(f), []).append(f)
        for key, members in groups.items():
            row = {"window_start": start, "window_end": end, **dict(zip(by, key)), **_aggregate(members, metrics)}
            row["throughput_rps"] = len(members) / seconds if seconds > 0 else None
            rows.append(row)
    else:
        cells: dict[tuple, list[Fact]] = {}
        for f in sel:
            cells.setdefault((floor_window(f.ts, every), seg(f)), []).append(f)
        if until is not None:
            last = floor_window(until - US, every)
        elif cells:
            last = max(w for w, _ in cells)
        else:
            last = None
        firsts: dict[tuple, datetime] = {}
        for w, key in cells:
            firsts[key] = min(w, firsts.get(key, w))
        if not by:
            if since is not None and (cells or until is not None):
                firsts = {(): floor_window(since, every)}
        for key, first in firsts.items():
            w = first
            while last is not None and w <= last:
                members = cells.get((w, key), [])
                lo = max(w, since) if since is not None else w
                hi = min(w + every, until) if until is not None else w + every
                seconds = (hi - lo) / timedelta(seconds=1)
                row = {"window_start": w, "window_end": w + every, **dict(zip(by, key)), **_aggregate(members, metrics)}
                row["throughput_rps"] = len(members) / seconds if seconds > 0 else None
                rows.append(row)
                w += every
    rows.sort(key=lambda r: sort_key(r, by))
    return Expected(metrics, [{k: r[k] for k in ("window_start", "window_end", *by, *metrics)} for r in rows])


# --------------------------------------------------------------------------- the contract, in SQL

_SEGMENT_SQL = {
    "model": "model",
    "model_version": "model_version",
    "endpoint": "endpoint",
    "status": "COALESCE(status, CASE WHEN NULLIF(error, '') IS NOT NULL THEN 500 ELSE 200 END)",
    "error": "NULLIF(error, '')",
    "input.country": "request->>'country'",
}

# The epoch number's unit by magnitude (s < 1e11 <= ms < 1e14 <= us < 1e17 <= ns), else ISO text.
_TS_US_SQL = r"""
    CASE
      WHEN regexp_full_match(ts, '-?[0-9]+') THEN
        CASE WHEN abs(ts::HUGEINT) < 100000000000 THEN ts::HUGEINT * 1000000
             WHEN abs(ts::HUGEINT) < 100000000000000 THEN ts::HUGEINT * 1000
             WHEN abs(ts::HUGEINT) < 100000000000000000 THEN ts::HUGEINT
             ELSE ts::HUGEINT // 1000 END
      WHEN regexp_full_match(ts, '-?[0-9]+\.[0-9]+') THEN
        round(ts::DECIMAL(38, 9) * (CASE WHEN abs(ts::DOUBLE) < 1e11 THEN 1000000
                                          WHEN abs(ts::DOUBLE) < 1e14 THEN 1000
                                          WHEN abs(ts::DOUBLE) < 1e17 THEN 1 ELSE 0.001 END))::HUGEINT
      ELSE epoch_us(ts::TIMESTAMPTZ)
    END::BIGINT"""


def _us(dt: datetime | None) -> int | None:
    return None if dt is None else (dt - EPOCH) // US


def _from_us(us: int | None) -> datetime | None:
    return None if us is None else EPOCH + int(us) * US


def duckdb_oracle(
    paths: Sequence[str | Path],
    every: timedelta | None = None,
    by: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> Expected:
    """The expected metric table, computed by DuckDB straight from the JSONL files."""
    import duckdb

    by = tuple(by)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    files = [str(p) for p in paths]
    seg_cols = [f'"s{i}"' for i in range(len(by))]
    seg_select = "".join(f", {_SEGMENT_SQL[name]} AS s{i}" for i, name in enumerate(by))
    since_us, until_us = _us(since), _us(until)
    where = " AND ".join(
        ["TRUE"]
        + ([f"ts_us >= {since_us}"] if since_us is not None else [])
        + ([f"ts_us < {until_us}"] if until_us is not None else [])
    )
    con.execute(
        f"""
        CREATE TEMP TABLE sel AS
        WITH raw AS (
          SELECT * FROM read_ndjson(?, columns = {{
            ts: 'VARCHAR', model: 'VARCHAR', model_version: 'VARCHAR', endpoint: 'VARCHAR',
            status: 'BIGINT', error: 'VARCHAR', latency_ms: 'DOUBLE', cpu_percent: 'DOUBLE',
            memory_mb: 'DOUBLE', request: 'JSON'}})
        ), rec AS (
          SELECT {_TS_US_SQL} AS ts_us,
                 COALESCE(status, CASE WHEN NULLIF(error, '') IS NOT NULL THEN 500 ELSE 200 END) AS st,
                 NULLIF(error, '') IS NOT NULL AS err_set,
                 latency_ms, cpu_percent, memory_mb {seg_select}
          FROM raw
        )
        SELECT *, st >= 500 OR err_set AS is_err, st BETWEEN 400 AND 499 AS is_client FROM rec WHERE {where}
        """,
        [files],
    )
    has_cpu, has_mem, n_sel = con.execute(
        "SELECT count(cpu_percent) > 0, count(memory_mb) > 0, count(*) FROM sel"
    ).fetchone()
    metrics = list(BASE_METRICS) + (CPU_METRICS if has_cpu else []) + (MEMORY_METRICS if has_mem else [])
    aggs = """
        count(*) AS request_count,
        count(*) FILTER (WHERE is_err) AS error_count,
        avg(is_err::INT) AS error_rate,
        avg(is_client::INT) AS client_error_rate,
        avg(latency_ms) AS latency_mean_ms,
        quantile_cont(latency_ms, 0.50) AS latency_p50_ms,
        quantile_cont(latency_ms, 0.90) AS latency_p90_ms,
        quantile_cont(latency_ms, 0.95) AS latency_p95_ms,
        quantile_cont(latency_ms, 0.99) AS latency_p99_ms,
        max(latency_ms) AS latency_max_ms,
        avg(cpu_percent) AS cpu_percent_mean, max(cpu_percent) AS cpu_percent_max,
        avg(memory_mb) AS memory_mb_mean, max(memory_mb) AS memory_mb_max"""
    group = "".join(f", {c}" for c in seg_cols)
    order = ", ".join(["ws"] + [f"{c} NULLS LAST" for c in seg_cols])
    if every is None:
        if not n_sel:
            return Expected(metrics, [])
        sql = f"""
            WITH span AS (SELECT min(ts_us) AS lo, max(ts_us) AS hi FROM sel)
            SELECT span.lo AS ws, span.hi AS we {group},
                   CASE WHEN span.hi > span.lo THEN count(*) / ((span.hi - span.lo) / 1e6) END AS throughput_rps,
                   {aggs}
            FROM sel, span GROUP BY span.lo, span.hi {group} ORDER BY {order}"""
    else:
        step = every // US
        on = " AND ".join(["g.ws = a.ws"] + [f"g.{c} IS NOT DISTINCT FROM a.{c}" for c in seg_cols])
        if until_us is not None:
            last = f"(({until_us} - 1) // {step}) * {step}"
        else:
            last = "(SELECT max(ws) FROM agg)"
        if by:
            firsts = f"SELECT {', '.join(seg_cols)}, min(ws) AS lo FROM agg GROUP BY ALL"
        elif since_us is not None and (n_sel or until_us is not None):
            firsts = f"SELECT ({since_us} // {step}) * {step} AS lo"
        else:
            firsts = "SELECT min(ws) AS lo FROM agg HAVING count(*) > 0"
        eff_lo = f"greatest(g.ws, {since_us})" if since_us is not None else "g.ws"
        eff_hi = f"least(g.ws + {step}, {until_us})" if until_us is not None else f"g.ws + {step}"
        sql = f"""
            WITH agg AS (
              SELECT (ts_us // {step}) * {step} AS ws {group}, {aggs} FROM sel GROUP BY ALL
            ), firsts AS ({firsts}),
            grid AS (
              SELECT * EXCLUDE (lo), unnest(range(lo, {last} + 1, {step})) AS ws FROM firsts
            )
            SELECT g.ws, g.ws + {step} AS we {''.join(f', g.{c}' for c in seg_cols)},
                   CASE WHEN {eff_hi} > {eff_lo}
                        THEN COALESCE(a.request_count, 0) / (({eff_hi} - {eff_lo}) / 1e6) END AS throughput_rps,
                   COALESCE(a.request_count, 0) AS request_count, COALESCE(a.error_count, 0) AS error_count,
                   a.* EXCLUDE (ws, request_count, error_count {''.join(f', {c}' for c in seg_cols)})
            FROM grid g LEFT JOIN agg a ON {on}
            ORDER BY {order.replace('ws', 'g.ws', 1)}"""
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    rows = []
    for values in cursor.fetchall():
        raw = dict(zip(names, values))
        row = {"window_start": _from_us(raw["ws"]), "window_end": _from_us(raw["we"])}
        row.update({name: raw[f"s{i}"] for i, name in enumerate(by)})
        for m in metrics:
            v = raw[m]
            row[m] = int(v) if m in INT_METRICS else (None if v is None else float(v))
        rows.append(row)
    con.close()
    return Expected(metrics, rows)


# --------------------------------------------------------------------------- comparison


def _same(actual: Any, expected: Any, exact: bool) -> bool:
    if expected is None or actual is None:
        return actual is None and expected is None
    if isinstance(actual, float) and math.isnan(actual):
        return False
    if exact:
        return actual == expected and type(actual) is int
    return actual == expected or math.isclose(actual, expected, rel_tol=1e-9, abs_tol=0.0)


def diff_tables(
    actual_rows: list[dict[str, Any]],
    expected: Expected,
    by: Sequence[str],
    *,
    limit: int = 12,
) -> list[str]:
    """Human-readable differences between mlmon's rows and the expected rows (empty when equal)."""
    by = tuple(by)
    problems: list[str] = []

    def key(row):
        return (row["window_start"], row["window_end"], *(row[b] for b in by))

    got_keys = [key(r) for r in actual_rows]
    want_keys = [key(r) for r in expected.rows]
    if len(set(got_keys)) != len(got_keys):
        problems.append("duplicate (window, segment) rows in mlmon's table")
    got_set, want_set = set(got_keys), set(want_keys)
    missing = [k for k in want_keys if k not in got_set]
    extra = [k for k in got_keys if k not in want_set]
    if missing:
        problems.append(f"{len(missing)} expected rows missing, e.g. {missing[:3]}")
    if extra:
        problems.append(f"{len(extra)} unexpected rows, e.g. {extra[:3]}")
    if not missing and not extra and got_keys != want_keys:
        problems.append("rows are not sorted by window_start then segment (nulls last)")
    got = {key(r): r for r in actual_rows}
    for want in expected.rows:
        have = got.get(key(want))
        if have is None:
            continue
        for m in expected.metrics:
            if not _same(have.get(m), want[m], m in INT_METRICS):
                problems.append(f"{key(want)}: {m} = {have.get(m)!r}, expected {want[m]!r}")
                if len(problems) >= limit:
                    return problems
    return problems
