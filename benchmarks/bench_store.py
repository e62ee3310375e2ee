#!/usr/bin/env python3
"""Time the Parquet store (``mlmon ingest`` and ``--store``) against DuckDB, with peak memory (issue 13).

    python benchmarks/bench_store.py                       # the 1 GiB files (generated if missing)
    python benchmarks/bench_store.py --mb 64 --runs 2      # a quick run
    python benchmarks/bench_store.py --scale-mb 3072       # also ingest 3 GiB: is peak memory flat?
    python benchmarks/bench_store.py --targets 3,4         # some targets only

Every figure is a fresh subprocess (interpreter start and imports included), timed from spawn
to exit, its peak memory the child's ``ru_maxrss`` from ``os.wait4`` (``bench_report.measure``).
Runs of mlmon and DuckDB alternate, and inputs are read once first so both find them in the
page cache. The targets, each printed PASS or FAIL:

1. ``mlmon ingest FILE --store DIR`` takes at most 1.5x DuckDB's
   ``COPY (SELECT * FROM read_ndjson(FILE)) TO 'x.parquet'``; peak memory < 1 GB, and with
   ``--scale-mb`` a file 3x larger needs no more peak memory (within 10 %).
2. After 1 % more lines are appended, ingest again takes at most 5 % of the full ingest.
   DuckDB has no incremental mode: its figure is a COPY of the new lines alone (a floor).
3. ``mlmon report --store DIR --every 1h --by model`` is >= 5x faster than the same report on
   the raw JSONL and >= 2x faster than bench_report.py's DuckDB query on the raw JSONL.
4. ``report --store --since 3h`` on a 30-day store (the 1-day store's parts cloned 29 times
   with shifted ``ts``, registered as parts) takes the time of the 1-day store: the 29 older
   days are moved aside during one run to show that they are never opened.
5. Drift: bench_drift.py's 1M-record ``report --baseline profile.json`` from the store, against
   the raw JSONL and against Evidently's recorded fastest figure (not rerun).
6. Cron: ``mlmon ingest`` of 10 minutes of new lines plus ``mlmon check --store DIR --rules
   rules.example.yaml --since 6h`` (``--check-since``: the file's longest ``every`` is 6h, and
   check refuses a shorter range) takes the same time (within 20 %) on the 1-day and the
   30-day store of about 1 GiB of logs a day, and under 2 s for both commands together.

``layout`` (in ``--targets``) measures what the JSON text columns cost: ``replay --dry-run
--store``, and, in this script only, a Parquet file with the request and response fields
pre-flattened into typed columns, built with ``json_decode`` and scanned.

Generated inputs, stores and copies go to ``benchmarks/data/store_<size>/`` (removed at the
end unless ``--keep``); results to ``benchmarks/results/store_<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_report as BR  # noqa: E402  (measure, warm_cache, DUCKDB_SCRIPT, machine facts)

DATA, RESULTS, MIB = BR.DATA, BR.RESULTS, BR.MIB
RULES = HERE.parent / "rules.example.yaml"
#: Evidently 0.7.23's fastest recorded run of bench_drift.py (benchmarks/README.md, "Drift",
#: 2026-11-27, pyarrow loader): 37.62 s in all, of which imports 6.06, load 6.01, drift 24.37.
EVIDENTLY_FASTEST_S = {"total": 37.62, "load_and_drift": 6.01 + 24.37}
DRIFT_NOW = "2026-11-27T00:00:00Z"

# DuckDB's COPY of the issue: `python -c DUCKDB_COPY SRC DST COMPRESSION` (default: DuckDB's snappy).
DUCKDB_COPY = r'''
import sys
import duckdb
src, dst, comp = sys.argv[1], sys.argv[2], sys.argv[3]
q = lambda s: "'" + s.replace("'", "''") + "'"
opts = "" if comp == "default" else f" (FORMAT parquet, COMPRESSION {comp})"
duckdb.connect().execute(f"COPY (SELECT * FROM read_ndjson({q(src)})) TO {q(dst)}{opts}")
'''

# bench_report.py's query over the store's Parquet parts: `python -c ... GLOB OUT EVERY BY SINCE|-`.
DUCKDB_PARQUET = r'''
import json, sys
import duckdb
glob, out, every, by, since = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(","), sys.argv[5]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
keys = ", ".join(by)
where = "" if since == "-" else f"WHERE ts >= TIMESTAMPTZ '{since}' AND date >= CAST(TIMESTAMPTZ '{since}' AS DATE)"
query = f"""
WITH rec AS (SELECT ts AS t, * EXCLUDE (ts) FROM read_parquet(?, hive_partitioning = true) {where})
SELECT
    time_bucket(INTERVAL '{every}', t) AS window_start, {keys},
    count(*) AS request_count,
    count(*) FILTER (WHERE status >= 500 OR error IS NOT NULL) AS error_count,
    avg(CASE WHEN status >= 500 OR error IS NOT NULL THEN 1.0 ELSE 0.0 END) AS error_rate,
    avg(CASE WHEN status BETWEEN 400 AND 499 THEN 1.0 ELSE 0.0 END) AS client_error_rate,
    avg(latency_ms) AS latency_mean_ms,
    quantile_cont(latency_ms, 0.50) AS latency_p50_ms, quantile_cont(latency_ms, 0.90) AS latency_p90_ms,
    quantile_cont(latency_ms, 0.95) AS latency_p95_ms, quantile_cont(latency_ms, 0.99) AS latency_p99_ms,
    max(latency_ms) AS latency_max_ms,
    avg(cpu_percent) AS cpu_percent_mean, max(cpu_percent) AS cpu_percent_max,
    avg(memory_mb) AS memory_mb_mean, max(memory_mb) AS memory_mb_max
FROM rec WHERE t IS NOT NULL
GROUP BY ALL ORDER BY ALL
"""
cur = con.execute(query, [glob])
names = [d[0] for d in cur.description]
rows = []
for row in cur.fetchall():
    rec = dict(zip(names, row))
    rec["window_start"] = rec["window_start"].strftime("%Y-%m-%dT%H:%M:%SZ")
    rows.append(rec)
with open(out, "w") as f:
    json.dump({"rows": rows}, f)
'''

# What drift reads, in DuckDB: the 12 request/response fields, quantiles of the numbers and counts of
# the categories. `python -c ... SOURCE KIND(parquet|ndjson) NUMERIC CATEGORICAL`.
DUCKDB_DRIFT_READ = r'''
import sys
import duckdb
src, kind, numeric, categorical = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4].split(",")
qs = "[" + ", ".join(str(i / 100) for i in range(1, 100)) + "]"
def field(name):
    obj, key = ("response", name[7:]) if name.startswith("output.") else ("request", name)
    return f"({obj} ->> '$.{key}')" if kind == "parquet" else f"{obj}.{key}"
cols = [f"quantile_cont(CAST({field(n)} AS DOUBLE), {qs})" for n in numeric]
cols += [f"histogram({field(n)})" for n in categorical]
source = f"read_parquet('{src}')" if kind == "parquet" else f"read_ndjson('{src}')"
duckdb.connect().execute(f"SELECT {', '.join(cols)} FROM {source}").fetchall()
'''

# The layout experiment, one process: what reading input fields from JSON text costs, against a
# Parquet file with the same fields pre-flattened into typed columns. `python -c ... STORE FLAT FIELDS`.
LAYOUT_SCRIPT = r'''
import glob, json, os, sys, time
import polars as pl
from mlmon.logs.fields import with_io_fields
from mlmon.logs.mapping import RAW_REQUEST, RAW_RESPONSE
from mlmon.metrics.operational import RECORD_FIELDS
from mlmon.store.read import read_store
store, flat, fields = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
parts = sorted(glob.glob(os.path.join(store, "date=*", "*.parquet")))
base = list(dict.fromkeys([*RECORD_FIELDS, "request_id"]))
t = {}
def timed(name, fn):
    s = time.perf_counter(); out = fn(); t[name] = time.perf_counter() - s; return out
timed("read_store: record fields only", lambda: read_store(store, base))
data = timed("read_store: + request/response JSON text (what drift reads)", lambda: read_store(store, [*base, RAW_REQUEST, RAW_RESPONSE]))
decoded = timed("with_io_fields: decode that text (what drift decodes)", lambda: with_io_fields(data.records))
timed("read_store: + 12 input/output fields by json_path_match (--by/--where input.x)", lambda: read_store(store, [*base, *fields]))
text = timed("scan_parquet: ts + request/response text only", lambda: pl.scan_parquet(parts).select("ts", "request", "response").collect())
def flatten(frame):
    out = []
    for obj, prefix in (("request", "input."), ("response", "output.")):
        dtype = frame.get_column(obj).head(5000).str.json_decode().dtype
        out.append(pl.col(obj).str.json_decode(dtype).struct.unnest().name.prefix(prefix))
    return pl.scan_parquet(parts).select(base).collect().hstack(frame.select(*out))
typed = timed("build: json_decode into typed columns (once, at ingest)", lambda: flatten(text))
timed("build: write the flattened Parquet (zstd)", lambda: typed.write_parquet(flat, compression="zstd", statistics=True, row_group_size=128 * 1024))
have = [f for f in fields if f in typed.columns]
timed("scan_parquet: record fields + 12 typed columns (flattened file)", lambda: pl.scan_parquet(flat).select(*base, *have).collect())
inputs = [c for c in typed.columns if c.startswith("input.")]
timed("re-encode request JSON from typed columns (what replay would need)",
      lambda: typed.select(pl.struct([pl.col(c).alias(c[6:]) for c in inputs]).struct.json_encode()))
print(json.dumps({"seconds": t, "rows": text.height, "decoded_columns": [c for c in decoded.columns if "." in c],
                  "text_parquet_bytes": sum(os.path.getsize(p) for p in parts),
                  "flat_parquet_bytes": os.path.getsize(flat),
                  "flat_schema": {c: str(typed.schema[c]) for c in typed.columns}}))
'''

TS_LINE = re.compile(rb'^\{"ts": ?"([^"]+)"')


# ----------------------------------------------------------------------------- helpers

class Bench:
    """Runs commands as measured subprocesses and keeps every run."""

    def __init__(self, runs: int, wait: float, max_other_load: float, retries: int):
        self.runs, self.wait, self.max_other_load, self.retries = runs, wait, max_other_load, retries
        self.log: list[dict] = []

    def once(self, label: str, cmd: list[str], ok_codes=(0,), stdout: Path | None = None, repeatable: bool = True,
             before=None) -> dict:
        """One measured run; repeated (up to ``retries`` times) while other processes used more
        than ``max_other_load`` cores meanwhile, if it can be repeated (``before`` runs before each attempt)."""
        for attempt in range(self.retries + 1 if repeatable else 1):
            if before is not None:
                before()
            if self.wait > 0:
                BR.wait_quiet(self.max_other_load, self.wait)
            r = BR.measure(cmd, stdout)
            r["label"], r["command"] = label, [c if "\n" not in c else "<script>" for c in cmd]
            busy = r["other_cpu"] > self.max_other_load and attempt < self.retries and repeatable
            r["set_aside"] = busy and r["returncode"] in ok_codes
            self.log.append(r)
            flag = "" if r["returncode"] in ok_codes else f"  EXIT {r['returncode']}"
            print(f"  {label:58s} {r['seconds']:7.2f} s  cpu {r['cpu_seconds']:6.2f} s  peak {r['peak_rss_mb']:6.0f} MB"
                  f"  others {r['other_cpu']:.2f}{flag}" + ("  -> busy machine, repeating" if r["set_aside"] else ""),
                  file=sys.stderr, flush=True)
            if r["returncode"] not in ok_codes:
                raise SystemExit(f"bench_store: {label} failed:\n{' '.join(r['command'])}\n{r['stderr'][-3000:]}")
            if not r["set_aside"]:
                break
        return r


def summary(runs: list[dict]) -> dict:
    secs = [r["seconds"] for r in runs]
    return {"median_s": statistics.median(secs), "best_s": min(secs), "runs_s": secs,
            "cpu_s": statistics.median(r["cpu_seconds"] for r in runs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "peak_anon_mb": max(r["polled_anon_mb"] for r in runs),
            "other_cpu": max(r["other_cpu"] for r in runs)}


def mlmon(*args: str) -> list[str]:
    return [BR.mlmon_exe(), *args]


def py(script: str, *args: str) -> list[str]:
    return [sys.executable, "-c", script, *args]


def ensure_generated(path: Path, mb: float, seed: int, days: float | None = None) -> Path:
    if not path.exists():
        cmd = [sys.executable, str(HERE / "generate_logs.py"), "--mb", str(mb), "--seed", str(seed), "-o", str(path)]
        if days is not None:
            cmd += ["--days", str(days)]
        print(f"generating {path}: {' '.join(cmd)}", file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True)
    return path


def warm(path: Path) -> None:
    for p in ([path] if path.is_file() else sorted(path.rglob("*.parquet"))):
        BR.warm_cache(p)


def parse_ts(raw: bytes) -> datetime:
    return datetime.fromisoformat(raw.decode().replace("Z", "+00:00"))


def shifted(lines: list[bytes], delta: timedelta) -> bytes:
    """The lines with ``ts`` moved by ``delta`` (the rest of each line byte for byte)."""
    out = []
    for line in lines:
        m = TS_LINE.match(line)
        t = (parse_ts(m.group(1)) + delta).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        out.append(line[:m.start(1)] + t.encode() + line[m.end(1):])
    return b"".join(out)


def tail_lines(path: Path, n: int) -> list[bytes]:
    """The last ``n`` lines of ``path`` (each with its newline)."""
    size = path.stat().st_size
    want = min(size, max(1 << 20, int(size / max(1, _count_hint(path)) * n * 1.5)))
    with open(path, "rb") as f:
        f.seek(size - want)
        lines = f.read().splitlines(keepends=True)
    return lines[-n:] if want < size else lines[-n:]


def _count_hint(path: Path) -> int:
    meta = Path(str(path) + ".meta.json")
    if meta.exists():
        return json.loads(meta.read_text())["lines"]
    return max(1, path.stat().st_size // 440)


def head_minutes(path: Path, minutes: float) -> list[bytes]:
    """The lines of the first ``minutes`` of ``path``."""
    out, first = [], None
    with open(path, "rb") as f:
        for line in f:
            t = parse_ts(TS_LINE.match(line).group(1))
            first = first or t
            if t - first >= timedelta(minutes=minutes):
                break
            out.append(line)
    return out


def last_ts(path: Path) -> datetime:
    return parse_ts(TS_LINE.match(tail_lines(path, 1)[0]).group(1))


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def requests_per_segment(report_json: Path) -> dict[str, int]:
    doc = json.loads(report_json.read_text())
    out: dict[str, int] = {}
    for w in doc["windows"]:
        key = ",".join(str(v) for v in w["segment"].values()) or "all"
        out[key] = out.get(key, 0) + (w["metrics"].get("request_count") or 0)
    return dict(sorted(out.items()))


def duck_requests(rows_json: Path, by: str = "model") -> dict[str, int]:
    out: dict[str, int] = {}
    for r in json.loads(rows_json.read_text())["rows"]:
        out[str(r[by])] = out.get(str(r[by]), 0) + r["request_count"]
    return dict(sorted(out.items()))


def store_parquet_bytes(store: Path) -> int:
    return sum(p.stat().st_size for p in store.rglob("*.parquet"))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# ----------------------------------------------------------------------------- the 30-day store

def clone_days(src: Path, dst: Path, days: int) -> None:
    """Make ``dst`` a store of ``days`` days: ``src`` (one day) plus its parts cloned with ``ts``
    moved back 1 to ``days - 1`` days, each written as mlmon writes parts and registered."""
    import polars as pl

    from mlmon.store.layout import open_store
    from mlmon.store.parts import PARQUET, iso_us
    from mlmon.store.registry import PartEntry, commit_registry, load_registry

    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    store = open_store(str(dst))
    registry = load_registry(store)
    originals = list(registry.parts)
    frames = [pl.read_parquet(dst / p.path) for p in originals]
    clones: list[PartEntry] = []
    for k in range(days - 1, 0, -1):
        for i, frame in enumerate(frames):
            moved = frame.with_columns(pl.col("ts") - timedelta(days=k))
            ts = moved.get_column("ts")
            day = ts.min().date().isoformat()
            relative = f"date={day}/part-clone-{k:02d}-{i:05d}.parquet"
            (dst / relative).parent.mkdir(parents=True, exist_ok=True)
            moved.write_parquet(dst / relative, **PARQUET)
            clones.append(PartEntry(relative, moved.height, iso_us(ts.min()), iso_us(ts.max()),
                                    (dst / relative).stat().st_size))
    registry.parts = clones + originals
    commit_registry(store, registry)


# ----------------------------------------------------------------------------- the targets

class Run:
    def __init__(self, args):
        self.args = args
        size = f"{args.mb / 1024:g}g" if args.mb >= 1024 else f"{args.mb:g}m"
        self.size = size
        self.base = ensure_generated(args.file or DATA / f"logs_{size}.jsonl", args.mb, 1)
        self.work = DATA / f"store_{size}"
        self.work.mkdir(parents=True, exist_ok=True)
        self.out = self.work / "out"
        self.out.mkdir(exist_ok=True)
        self.logs = self.work / "logs.jsonl"          # a copy of base, appended to by target 2
        self.full = self.work / "store_full"
        self.day_src = DATA / f"logs_{size}_day.jsonl"
        self.day = self.work / "day.jsonl"            # a copy of the 1-day file, appended to by target 6
        self.s1 = self.work / "store_1d"
        self.s30 = self.work / "store_30d"
        self.b = Bench(args.runs, args.wait_quiet, args.max_other_load, args.retries)
        self.res: dict = {"figures": {}, "targets": [], "notes": []}

    def fig(self, key: str, value: dict) -> None:
        self.res["figures"][key] = value

    def target(self, n: str, what: str, measured: str, ok: bool | None) -> None:
        self.res["targets"].append({"n": n, "target": what, "measured": measured,
                                    "verdict": "info" if ok is None else verdict(ok)})

    # -- prerequisites

    def ensure_logs_copy(self) -> None:
        if not self.logs.exists():
            shutil.copyfile(self.base, self.logs)

    def ensure_full_store(self) -> None:
        self.ensure_logs_copy()
        if not (self.full / "_mlmon" / "registry.json").exists():
            subprocess.run(mlmon("ingest", str(self.logs), "--store", str(self.full)), check=True)

    def ensure_day_stores(self) -> None:
        ensure_generated(self.day_src, self.args.mb, 2, days=0.95)
        if not self.day.exists():
            shutil.copyfile(self.day_src, self.day)
        if not (self.s1 / "_mlmon" / "registry.json").exists():
            warm(self.day)
            r = self.b.once("ingest 1-day file (builds the 1-day store)", mlmon("ingest", str(self.day), "--store", str(self.s1)),
                            before=lambda: shutil.rmtree(self.s1, ignore_errors=True))
            self.fig("ingest_1day_file", summary([r]))
        if not (self.s30 / "_mlmon" / "registry.json").exists():
            t0 = time.perf_counter()
            subprocess.run([sys.executable, __file__, "_clone", str(self.s1), str(self.s30), str(self.args.days)], check=True)
            self.res["notes"].append(f"30-day store built by cloning in {time.perf_counter() - t0:.0f} s")
            print(f"  built the {self.args.days}-day store in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    # -- 1. full ingest

    def t1(self) -> None:
        print("[1] full ingest vs DuckDB COPY", file=sys.stderr)
        self.ensure_logs_copy()
        warm(self.logs)
        ing, duck, duck_z = [], [], []
        dst = self.work / "duck.parquet"
        for _ in range(self.args.runs):
            ing.append(self.b.once("mlmon ingest FILE --store DIR", mlmon("ingest", str(self.logs), "--store", str(self.full)),
                                   before=lambda: shutil.rmtree(self.full, ignore_errors=True)))
            duck.append(self.b.once("DuckDB COPY read_ndjson -> parquet (default snappy)",
                                    py(DUCKDB_COPY, str(self.logs), str(dst), "default")))
            if not duck_z:  # once: mlmon writes zstd, DuckDB snappy by default
                duck_z.append(self.b.once("DuckDB COPY read_ndjson -> parquet (zstd)", py(DUCKDB_COPY, str(self.logs), str(dst), "zstd")))
        m, d, dz = summary(ing), summary(duck), summary(duck_z)
        m["store_bytes"] = store_parquet_bytes(self.full)
        d["parquet_bytes"] = dst.stat().st_size
        dst.unlink()
        self.fig("ingest_full", m)
        self.fig("duckdb_copy", d)
        self.fig("duckdb_copy_zstd", dz)
        ratio = m["median_s"] / d["median_s"]
        self.target("1a", "full ingest ≤ 1.5× DuckDB COPY", f"{m['median_s']:.2f} s vs {d['median_s']:.2f} s: {ratio:.2f}× "
                    f"(vs DuckDB zstd {dz['median_s']:.2f} s: {m['median_s'] / dz['median_s']:.2f}×); CPU {m['cpu_s']:.1f} vs "
                    f"{d['cpu_s']:.1f} s: {m['cpu_s'] / d['cpu_s']:.2f}×", ratio <= 1.5)
        self.target("1b", "ingest peak memory < 1 GB", f"{m['peak_rss_mb']:,.0f} MB (DuckDB {d['peak_rss_mb']:,.0f} MB)",
                    m["peak_rss_mb"] < 1000)

    def t1_scale(self) -> None:
        print(f"[1c] ingest of about {self.args.scale_mb:g} MiB: is peak memory flat?", file=sys.stderr)
        one = self.res["figures"]["ingest_full"]
        copies = max(2, round(self.args.scale_mb / self.args.mb))
        big = self.work / f"logs_x{copies}.jsonl"
        with open(big, "wb") as out:
            for _ in range(copies):
                with open(self.base, "rb") as f:
                    shutil.copyfileobj(f, out, 16 * MIB)
        store, dst = self.work / "store_scale", self.work / "duck_scale.parquet"
        try:
            warm(big)
            runs, duck = [], []
            for _ in range(1):
                runs.append(self.b.once(f"mlmon ingest {copies}× file ({big.stat().st_size / MIB:,.0f} MiB)",
                                        mlmon("ingest", str(big), "--store", str(store)),
                                        before=lambda: shutil.rmtree(store, ignore_errors=True)))
                duck.append(self.b.once(f"DuckDB COPY {copies}× file", py(DUCKDB_COPY, str(big), str(dst), "default")))
            m, d = summary(runs), summary(duck)
            m["bytes"] = big.stat().st_size
            self.fig("ingest_scale", m)
            self.fig("duckdb_copy_scale", d)
            ok = m["peak_rss_mb"] <= one["peak_rss_mb"] * 1.10
            self.target("1c", f"peak memory flat: {copies}× the file needs no more (±10 %)",
                        f"{m['peak_rss_mb']:,.0f} MB vs {one['peak_rss_mb']:,.0f} MB at 1×; time {m['median_s']:.1f} s "
                        f"({m['median_s'] / one['median_s']:.2f}× the 1× time; DuckDB {d['median_s']:.1f} s, {d['peak_rss_mb']:,.0f} MB)",
                        ok)
        finally:
            for p in (big, dst):
                p.unlink(missing_ok=True)
            shutil.rmtree(store, ignore_errors=True)

    # -- 2. incremental

    def t2(self) -> None:
        print("[2] incremental ingest of 1 % new lines", file=sys.stderr)
        self.ensure_full_store()
        n = max(1, _count_hint(self.base) // 100)
        src = tail_lines(self.base, n)
        span = parse_ts(TS_LINE.match(src[-1]).group(1)) - parse_ts(TS_LINE.match(src[0]).group(1)) + timedelta(milliseconds=1)
        new_file = self.work / "append.jsonl"
        inc, duck = [], []
        end = last_ts(self.logs)
        for _ in range(self.args.runs):
            delta = end - parse_ts(TS_LINE.match(src[0]).group(1)) + timedelta(milliseconds=1)
            data = shifted(src, delta)
            end += span
            with open(self.logs, "ab") as f:
                f.write(data)
            new_file.write_bytes(data)
            warm(self.logs)
            inc.append(self.b.once(f"mlmon ingest (re-run after +{n:,} lines, {len(data) / MIB:.1f} MiB)",
                                   mlmon("ingest", str(self.logs), "--store", str(self.full)), repeatable=False))
            duck.append(self.b.once("DuckDB COPY of the new lines alone", py(DUCKDB_COPY, str(new_file), str(self.work / "duck_new.parquet"), "default")))
        (self.work / "duck_new.parquet").unlink(missing_ok=True)
        new_file.unlink(missing_ok=True)
        m, d = summary(inc), summary(duck)
        m["lines_added"] = n
        self.fig("ingest_incremental", m)
        self.fig("duckdb_copy_new_lines", d)
        full = self.res["figures"].get("ingest_full")
        if full:
            share = m["median_s"] / full["median_s"]
            self.target("2", "re-run after 1 % new lines ≤ 5 % of the full ingest",
                        f"{m['median_s']:.2f} s = {share * 100:.1f} % of {full['median_s']:.2f} s (DuckDB COPY of the new lines alone: {d['median_s']:.2f} s)",
                        share <= 0.05)
        else:
            self.target("2", "re-run after 1 % new lines ≤ 5 % of the full ingest", f"{m['median_s']:.2f} s (no full-ingest figure: run target 1)", None)

    # -- 3. report from the store

    def t3(self) -> None:
        print("[3] report --every 1h --by model: store vs raw JSONL vs DuckDB", file=sys.stderr)
        self.ensure_full_store()
        warm(self.logs)
        warm(self.full)
        o = self.out
        glob = str(self.full / "date=*" / "*.parquet")
        cmds = {
            "mlmon_store": ("mlmon report --store DIR", mlmon("report", "--store", str(self.full), "--every", "1h", "--by", "model",
                                                             "--format", "json", "-o", str(o / "r_store.json"))),
            "mlmon_raw": ("mlmon report FILE (raw JSONL)", mlmon("report", str(self.logs), "--every", "1h", "--by", "model",
                                                                "--format", "json", "-o", str(o / "r_raw.json"))),
            "duckdb_raw": ("DuckDB query on the raw JSONL (bench_report.py)",
                           py(BR.DUCKDB_SCRIPT, str(self.logs), str(o / "d_raw.json"), "1 hours", "model")),
            "duckdb_store": ("DuckDB query on the store's Parquet", py(DUCKDB_PARQUET, glob, str(o / "d_store.json"), "1 hours", "model", "-")),
        }
        runs: dict[str, list] = {k: [] for k in cmds}
        for _ in range(self.args.runs):
            for k, (label, cmd) in cmds.items():
                runs[k].append(self.b.once(label, cmd))
        s = {k: summary(v) for k, v in runs.items()}
        for k, v in s.items():
            self.fig(f"report_{k}", v)
        counts = {"mlmon_store": requests_per_segment(o / "r_store.json"), "mlmon_raw": requests_per_segment(o / "r_raw.json"),
                  "duckdb_raw": duck_requests(o / "d_raw.json"), "duckdb_store": duck_requests(o / "d_store.json")}
        same = all(c == counts["mlmon_raw"] for c in counts.values())
        self.res["report_counts"] = counts
        print(f"  requests per model agree across all four: {same} {counts['mlmon_store']}", file=sys.stderr)
        a = s["mlmon_raw"]["median_s"] / s["mlmon_store"]["median_s"]
        b = s["duckdb_raw"]["median_s"] / s["mlmon_store"]["median_s"]
        self.target("3a", "report --store ≥ 5× faster than report on the raw JSONL",
                    f"{s['mlmon_store']['median_s']:.2f} s vs {s['mlmon_raw']['median_s']:.2f} s: {a:.1f}× (CPU "
                    f"{s['mlmon_store']['cpu_s']:.2f} vs {s['mlmon_raw']['cpu_s']:.2f} s: "
                    f"{s['mlmon_raw']['cpu_s'] / s['mlmon_store']['cpu_s']:.1f}×)", a >= 5)
        self.target("3b", "report --store ≥ 2× faster than DuckDB on the raw JSONL",
                    f"{s['mlmon_store']['median_s']:.2f} s vs {s['duckdb_raw']['median_s']:.2f} s: {b:.1f}× "
                    f"(CPU {s['duckdb_raw']['cpu_s'] / s['mlmon_store']['cpu_s']:.1f}×; DuckDB on the store's Parquet: "
                    f"{s['duckdb_store']['median_s']:.2f} s)", b >= 2)
        self.target("3c", "the four agree on requests per model", "yes" if same else f"NO: {counts}", same)

    # -- 4. --since 3h on 1 vs 30 days

    def _now(self) -> datetime:
        t = last_ts(self.day)
        return t.replace(second=0, microsecond=0) + timedelta(minutes=1)

    def t4(self) -> None:
        print(f"[4] report --store --since 3h: 1-day vs {self.args.days}-day store", file=sys.stderr)
        self.ensure_day_stores()
        now = self._now()
        since = iso(now - timedelta(hours=3))
        warm(self.s1)
        warm(self.s30)
        o = self.out
        cmds = {}
        for tag, store in (("1d", self.s1), ("30d", self.s30)):
            cmds[f"mlmon_{tag}"] = (f"mlmon report --store {tag} --since 3h",
                                    mlmon("report", "--store", str(store), "--since", "3h", "--now", iso(now), "--every", "1h",
                                          "--by", "model", "--format", "json", "-o", str(o / f"since_{tag}.json")))
            cmds[f"duckdb_{tag}"] = (f"DuckDB on {tag} store's Parquet, ts >= now-3h",
                                     py(DUCKDB_PARQUET, str(store / "date=*" / "*.parquet"), str(o / f"d_since_{tag}.json"),
                                        "1 hours", "model", since))
        runs: dict[str, list] = {k: [] for k in cmds}
        for i in range(self.args.runs):
            order = list(cmds.items()) if i % 2 == 0 else list(reversed(cmds.items()))
            for k, (label, cmd) in order:
                runs[k].append(self.b.once(label, cmd))
        s = {k: summary(v) for k, v in runs.items()}
        for k, v in s.items():
            self.fig(f"since3h_{k}", v)
        # Which parts does the store's reader choose? And does a run succeed with the older days gone?
        from mlmon.store.layout import open_store
        from mlmon.store.read import parts_in_range
        from mlmon.store.registry import load_registry

        reg = load_registry(open_store(str(self.s30)))
        chosen = parts_in_range(reg, now - timedelta(hours=3), None)
        dates = sorted({p.path.split("/")[0] for p in chosen})
        last_date = max(p.path.split("/")[0] for p in reg.parts)
        aside = self.work / "aside"
        aside.mkdir(exist_ok=True)
        moved = [d for d in self.s30.glob("date=*") if d.name != last_date]
        for d in moved:
            d.rename(aside / d.name)
        try:
            r = self.b.once("mlmon report --store 30d --since 3h, older days moved away",
                            mlmon("report", "--store", str(self.s30), "--since", "3h", "--now", iso(now), "--every", "1h",
                                  "--by", "model", "--format", "json", "-o", str(o / "since_30d_aside.json")))
        finally:
            for d in moved:
                (aside / d.name).rename(self.s30 / d.name)
        same = (json.loads((o / "since_30d_aside.json").read_text())["windows"]
                == json.loads((o / "since_30d.json").read_text())["windows"])
        untouched = same and not r["stderr"].strip() and dates == [last_date]
        self.res["since3h_parts"] = {"registry_parts": len(reg.parts), "chosen": [p.path for p in chosen],
                                     "dates_chosen": dates, "moved_aside": len(moved), "same_output": same,
                                     "stderr_aside": r["stderr"].strip()}
        counts1, counts30 = requests_per_segment(o / "since_1d.json"), requests_per_segment(o / "since_30d.json")
        ratio = s["mlmon_30d"]["median_s"] / s["mlmon_1d"]["median_s"]
        self.target("4a", "--since 3h on the 30-day store touches only the last day's partition",
                    f"{len(chosen)} of {len(reg.parts)} parts chosen, all in {', '.join(dates)}; with the other "
                    f"{len(moved)} date folders moved away the output is {'identical' if same else 'DIFFERENT'}", untouched)
        self.target("4b", "--since 3h: 30-day store as fast as 1-day (info; the issue asks to show both)",
                    f"1 day {s['mlmon_1d']['median_s']:.2f} s, {self.args.days} days {s['mlmon_30d']['median_s']:.2f} s ({ratio:.2f}×); "
                    f"DuckDB {s['duckdb_1d']['median_s']:.2f} / {s['duckdb_30d']['median_s']:.2f} s; requests equal: {counts1 == counts30}",
                    None)

    # -- 5. drift

    def t5(self) -> None:
        print("[5] drift: report --baseline from the store vs raw JSONL", file=sys.stderr)
        import bench_drift as BD

        rows = self.args.drift_rows
        tag = lambda n: f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n // 1000}k"  # noqa: E731
        ref = BD.ensure_log(DATA / f"drift_ref_{tag(rows // 5)}_s5.jsonl", rows // 5, 5, False)
        cur = BD.ensure_log(DATA / f"drift_cur_{tag(rows)}_s5.jsonl", rows, 5, True)
        store, profile, o = self.work / "store_drift", self.work / "profile.json", self.out
        fields = [*BD.NUMERIC, *BD.CATEGORICAL]
        fields = [f"input.{f}" for f in fields] + [f"output.{f}" for f in (*BD.OUTPUT_NUMERIC, *BD.OUTPUT_CATEGORICAL)]
        for p in (ref, cur):
            warm(p)
        r = self.b.once("mlmon ingest drift current log", mlmon("ingest", str(cur), "--store", str(store)),
                        before=lambda: shutil.rmtree(store, ignore_errors=True))
        self.fig("drift_ingest", summary([r]))
        self.b.once("mlmon baseline save (reference)", mlmon("baseline", "save", str(ref), "-o", str(profile), "--now", DRIFT_NOW))
        warm(store)
        glob = str(store / "date=*" / "*.parquet")
        num = ",".join([*BD.NUMERIC, *(f"output.{f}" for f in BD.OUTPUT_NUMERIC)])
        cat = ",".join([*BD.CATEGORICAL, *(f"output.{f}" for f in BD.OUTPUT_CATEGORICAL)])
        cmds = {
            "store": ("mlmon report --store --baseline", mlmon("report", "--store", str(store), "--baseline", str(profile),
                                                                "--format", "json", "-o", str(o / "drift_store.json"), "--now", DRIFT_NOW)),
            "raw": ("mlmon report CUR --baseline (raw JSONL)", mlmon("report", str(cur), "--baseline", str(profile), "--format", "json",
                                                                      "-o", str(o / "drift_raw.json"), "--now", DRIFT_NOW)),
            "duckdb_store": ("DuckDB: 12 fields' quantiles/counts from store text", py(DUCKDB_DRIFT_READ, glob, "parquet", num, cat)),
            "duckdb_raw": ("DuckDB: the same from the raw JSONL", py(DUCKDB_DRIFT_READ, str(cur), "ndjson", num, cat)),
        }
        runs: dict[str, list] = {k: [] for k in cmds}
        for _ in range(self.args.runs):
            for k, (label, cmd) in cmds.items():
                runs[k].append(self.b.once(label, cmd))
        s = {k: summary(v) for k, v in runs.items()}
        for k, v in s.items():
            self.fig(f"drift_{k}", v)
        a = json.loads((o / "drift_store.json").read_text())["windows"][0]["metrics"]
        b = json.loads((o / "drift_raw.json").read_text())["windows"][0]["metrics"]
        keys = [k for k in a if k.startswith(("drifted.", "wasserstein", "js."))]
        same = bool(keys) and all(a.get(k) == b.get(k) for k in keys)
        flagged = sorted(k[8:] for k in keys if k.startswith("drifted.") and a[k])
        self.res["drift_check"] = {"same_as_raw": same, "flagged": flagged, "compared": len(keys)}
        ev = EVIDENTLY_FASTEST_S
        st = s["store"]["median_s"]
        self.target("5", "drift from the store ≥ 20× faster than Evidently's fastest (recorded, not rerun)",
                    f"{st:.2f} s (CPU {s['store']['cpu_s']:.2f} s) vs raw {s['raw']['median_s']:.2f} s ({s['raw']['median_s'] / st:.1f}×); Evidently (pyarrow loader, "
                    f"README) {ev['load_and_drift']:.1f} s load+drift: {ev['load_and_drift'] / st:.1f}×, {ev['total']:.1f} s "
                    f"with imports: {ev['total'] / st:.1f}×; same drift values as raw: {same}; flagged {flagged}",
                    ev["load_and_drift"] / st >= 20 and same)
        self.drift_store, self.drift_fields, self.drift_cur = store, fields, cur

    # -- 6. cron

    def t6(self) -> None:
        print(f"[6] cron: ingest 10 min + check --since {self.args.check_since}, 1-day vs {self.args.days}-day store", file=sys.stderr)
        self.ensure_day_stores()
        src = head_minutes(self.day_src, 10)
        cs = self.args.check_since
        window = int(cs[:-1]) * {"m": 60, "h": 3600}[cs[-1]]
        first = parse_ts(TS_LINE.match(src[0]).group(1))
        end = last_ts(self.day)
        runs: dict[str, list] = {k: [] for k in ("ingest_1d", "check_1d", "ingest_30d", "check_30d", "duckdb_1d", "duckdb_30d")}
        totals: dict[str, list] = {"1d": [], "30d": []}
        warm(self.s1)
        warm(self.s30)
        for i in range(self.args.runs):
            data = shifted(src, end - first + timedelta(milliseconds=1))
            end += timedelta(minutes=10)
            with open(self.day, "ab") as f:
                f.write(data)
            now = iso(end + timedelta(seconds=1))
            since = iso(end + timedelta(seconds=1) - timedelta(seconds=window))
            order = [("1d", self.s1), ("30d", self.s30)]
            for tag, store in (order if i % 2 == 0 else order[::-1]):
                a = self.b.once(f"mlmon ingest +10 min ({len(src):,} lines) into {tag}", mlmon("ingest", str(self.day), "--store", str(store)),
                                repeatable=False)
                c = self.b.once(f"mlmon check --store {tag} --since {cs}", mlmon("check", "--store", str(store), "--rules", str(RULES),
                                                                           "--since", cs, "--now", now, "--format", "json",
                                                                           "-o", str(self.out / f"check_{tag}.json")),
                                ok_codes=(0, 1))
                d = self.b.once(f"DuckDB {cs} query on {tag} store", py(DUCKDB_PARQUET, str(store / "date=*" / "*.parquet"),
                                                                     str(self.out / f"d_check_{tag}.json"), "1 hours", "model", since))
                runs[f"ingest_{tag}"].append(a)
                runs[f"check_{tag}"].append(c)
                runs[f"duckdb_{tag}"].append(d)
                totals[tag].append(a["seconds"] + c["seconds"])
        s = {k: summary(v) for k, v in runs.items()}
        for k, v in s.items():
            self.fig(f"cron_{k}", v)
        tot = {k: statistics.median(v) for k, v in totals.items()}
        cpu = {k: s[f"ingest_{k}"]["cpu_s"] + s[f"check_{k}"]["cpu_s"] for k in ("1d", "30d")}
        self.fig("cron_total", {"1d_median_s": tot["1d"], "30d_median_s": tot["30d"], "runs_1d": totals["1d"], "runs_30d": totals["30d"],
                                "lines_per_10min": len(src)})
        ratio = tot["30d"] / tot["1d"]
        self.target("6a", f"cron: ingest 10 min + check --since {cs}, 30-day within 20 % of 1-day",
                    f"{tot['1d']:.2f} s vs {tot['30d']:.2f} s: {ratio:.2f}× (CPU {cpu['1d']:.2f} vs {cpu['30d']:.2f} s; ingest {s['ingest_1d']['median_s']:.2f} / "
                    f"{s['ingest_30d']['median_s']:.2f} s, check {s['check_1d']['median_s']:.2f} / {s['check_30d']['median_s']:.2f} s; "
                    f"DuckDB {cs} query {s['duckdb_1d']['median_s']:.2f} / {s['duckdb_30d']['median_s']:.2f} s)", abs(ratio - 1) <= 0.2)
        self.target("6b", "cron: both commands together < 2 s", f"1 day {tot['1d']:.2f} s, {self.args.days} days {tot['30d']:.2f} s "
                    f"(CPU {cpu['1d']:.2f} / {cpu['30d']:.2f} s)",
                    max(tot.values()) < 2)

    # -- layout

    def layout(self) -> None:
        print("[layout] JSON text columns vs pre-flattened typed columns", file=sys.stderr)
        if not hasattr(self, "drift_store"):
            self.t5()
        store, cur, o = self.drift_store, self.drift_cur, self.out
        flat = self.work / "flat.parquet"
        runs_store, runs_raw, phases = [], [], []
        for _ in range(self.args.runs):
            runs_store.append(self.b.once("mlmon replay --dry-run --store (drift log)", mlmon("replay", "--store", str(store), "--dry-run"),
                                          stdout=o / "dry_store.jsonl"))
            runs_raw.append(self.b.once("mlmon replay --dry-run CUR (raw JSONL)", mlmon("replay", str(cur), "--dry-run"),
                                        stdout=o / "dry_raw.jsonl"))
        r = self.b.once("layout experiment (one process)", py(LAYOUT_SCRIPT, str(store), str(flat), ",".join(self.drift_fields)),
                        stdout=o / "layout.json")
        phases = json.loads((o / "layout.json").read_text())
        flat.unlink(missing_ok=True)
        for p in ("dry_store.jsonl", "dry_raw.jsonl"):
            (o / p).unlink(missing_ok=True)
        self.fig("replay_dry_run_store", summary(runs_store))
        self.fig("replay_dry_run_raw", summary(runs_raw))
        self.res["layout"] = phases
        sec = phases["seconds"]
        text_s = sec["read_store: + request/response JSON text (what drift reads)"] + sec["with_io_fields: decode that text (what drift decodes)"]
        path_s = sec["read_store: + 12 input/output fields by json_path_match (--by/--where input.x)"]
        flat_s = sec["scan_parquet: record fields + 12 typed columns (flattened file)"]
        self.target("L", "layout: what typed input/output columns would save (info)",
                    f"record fields + 12 fields: from JSON text {text_s:.2f} s (read + json_decode), by json_path_match "
                    f"{path_s:.2f} s, from typed columns {flat_s:.2f} s; "
                    f"text parquet {phases['text_parquet_bytes'] / MIB:.0f} MiB, flat {phases['flat_parquet_bytes'] / MIB:.0f} MiB; "
                    f"replay --dry-run store {summary(runs_store)['median_s']:.2f} s vs raw {summary(runs_raw)['median_s']:.2f} s",
                    None)


# ----------------------------------------------------------------------------- output

FIG_ORDER = [
    ("ingest_full", "full ingest, mlmon"), ("duckdb_copy", "DuckDB COPY → parquet (snappy)"),
    ("duckdb_copy_zstd", "DuckDB COPY → parquet (zstd)"), ("ingest_scale", "ingest of the scaled file, mlmon"),
    ("duckdb_copy_scale", "DuckDB COPY of the scaled file"), ("ingest_incremental", "ingest re-run, +1 % lines"),
    ("duckdb_copy_new_lines", "DuckDB COPY of the new lines alone"),
    ("report_mlmon_store", "report --store"), ("report_mlmon_raw", "report FILE (raw)"),
    ("report_duckdb_raw", "DuckDB query on raw JSONL"), ("report_duckdb_store", "DuckDB query on the store"),
    ("ingest_1day_file", "ingest of the 1-day file"),
    ("since3h_mlmon_1d", "report --store --since 3h, 1 day"), ("since3h_mlmon_30d", "report --store --since 3h, 30 days"),
    ("since3h_duckdb_1d", "DuckDB 3h query, 1 day"), ("since3h_duckdb_30d", "DuckDB 3h query, 30 days"),
    ("drift_ingest", "ingest of the 1M-record drift log"),
    ("drift_store", "report --store --baseline (1M)"), ("drift_raw", "report CUR --baseline (1M, raw)"),
    ("drift_duckdb_store", "DuckDB 12-field quantiles/counts, store"), ("drift_duckdb_raw", "DuckDB 12-field quantiles/counts, raw"),
    ("cron_ingest_1d", "cron ingest +10 min, 1 day"), ("cron_check_1d", "cron check --since, 1 day"),
    ("cron_ingest_30d", "cron ingest +10 min, 30 days"), ("cron_check_30d", "cron check --since, 30 days"),
    ("cron_duckdb_1d", "DuckDB query over --since, 1 day (cron)"), ("cron_duckdb_30d", "DuckDB query over --since, 30 days (cron)"),
    ("replay_dry_run_store", "replay --dry-run --store (1M)"), ("replay_dry_run_raw", "replay --dry-run raw (1M)"),
]


def print_report(res: dict) -> None:
    figs = res["figures"]
    print("\n| figure | median s | best s | CPU s | peak RSS MB |\n|---|---:|---:|---:|---:|")
    for key, label in FIG_ORDER:
        f = figs.get(key)
        if f and "median_s" in f:
            print(f"| {label} | {f['median_s']:.2f} | {f['best_s']:.2f} | {f['cpu_s']:.2f} | {f['peak_rss_mb']:,.0f} |")
    if "layout" in res:
        print("\nLayout experiment (one process, the drift log's records):")
        for k, v in res["layout"]["seconds"].items():
            print(f"  {k:58s} {v:6.2f} s")
    print("\n| # | target | measured | verdict |\n|---|---|---|---|")
    for t in res["targets"]:
        print(f"| {t['n']} | {t['target']} | {t['measured']} | **{t['verdict']}** |")
    for note in res["notes"]:
        print(f"note: {note}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_clone"]:
        clone_days(Path(argv[1]), Path(argv[2]), int(argv[3]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=1024, help="size of the logs in MiB (default 1024; files generated if missing)")
    ap.add_argument("--file", type=Path, help="use this log file instead of benchmarks/data/logs_<size>.jsonl")
    ap.add_argument("--scale-mb", type=float, help="also ingest a file of about this size (copies of the file) for target 1's flat memory")
    ap.add_argument("--days", type=int, default=30, help="days of the long store (default 30)")
    ap.add_argument("--drift-rows", type=int, default=1_000_000, help="current-log records for target 5 (default 1,000,000)")
    ap.add_argument("--runs", type=int, default=3, help="runs per figure (default 3; medians reported)")
    ap.add_argument("--targets", default="1,2,3,4,5,6,layout", help="which targets to run (default all)")
    ap.add_argument("--wait-quiet", type=float, default=30, metavar="SECONDS",
                    help="before each run, wait up to this long for a quiet machine (default 30; 0: never)")
    ap.add_argument("--max-other-load", type=float, default=0.3,
                    help="repeat a run if other processes used more than this many cores meanwhile (default 0.3)")
    ap.add_argument("--retries", type=int, default=2, help="repeats of a run on a busy machine (default 2)")
    ap.add_argument("--check-since", default="6h",
                    help="target 6's check --since (default 6h: rules.example.yaml's longest every is 6h, and check "
                         "refuses a shorter range)")
    ap.add_argument("--keep", action="store_true", help="keep the stores and copies in benchmarks/data/store_<size>/")
    args = ap.parse_args(argv)

    BR.byte_compile_mlmon()
    facts = BR.machine_facts()
    print(f"{facts['date']}  nproc={facts['nproc']}  polars {facts['polars']}  duckdb {facts['duckdb']}  "
          f"mlmon {facts['mlmon']} ({facts['mlmon_git']})", file=sys.stderr)
    run = Run(args)
    wanted = [t.strip() for t in args.targets.split(",") if t.strip()]
    steps = {"1": run.t1, "2": run.t2, "3": run.t3, "4": run.t4, "5": run.t5, "6": run.t6, "layout": run.layout,
             "scale": run.t1_scale}
    if args.scale_mb and "1" in wanted:
        wanted.append("scale")  # last: the longest step
    try:
        for t in wanted:
            steps[t]()
    finally:
        res = run.res
        res.update({"machine": facts, "args": {k: str(v) for k, v in vars(args).items()}, "runs": run.b.log,
                    "file": str(run.base), "file_bytes": run.base.stat().st_size})
        for r in res["runs"]:
            r["stderr"] = r["stderr"][-500:]
        RESULTS.mkdir(parents=True, exist_ok=True)
        dest = RESULTS / f"store_{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
        dest.write_text(json.dumps(res, indent=1, default=str) + "\n")
        print_report(res)
        print(f"\nsaved {dest}")
        if not args.keep:
            shutil.rmtree(run.work, ignore_errors=True)
    return 0 if all(t["verdict"] != "FAIL" for t in res["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
