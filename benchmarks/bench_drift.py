#!/usr/bin/env python3
"""Time mlmon's drift report against Evidently's DataDriftPreset on the same data (issue 5).

    # generate the data if missing (deterministic), then run everything
    python benchmarks/bench_drift.py
    python benchmarks/bench_drift.py --rows 100000 --ref-rows 20000   # a quick, small run
    python benchmarks/bench_drift.py --profile                         # plus cProfile of `mlmon report`
    python benchmarks/bench_drift.py --evidently-python NONE           # mlmon only
    python benchmarks/bench_drift.py --ev-loaders pandas,pyarrow       # Evidently with both loaders

Evidently is a benchmark-only dependency and lives in its own virtualenv, never in
mlmon's (it needs pandas<3)::

    python3 -m venv /work/evvenv
    /work/evvenv/bin/pip install 'evidently==0.7.23' 'pandas<3' psutil

**Data.** A reference log of ``--ref-rows`` (default 200,000) and a current log of
``--rows`` (default 1,000,000) records in mlmon's own shape::

    {"ts": "2026-11-24T00:00:00.081Z", "request_id": "<uuid>", "model": "churn", "model_version": "v2",
     "endpoint": "/predict", "status": 200, "latency_ms": 23.4,
     "request": {10 fields}, "response": {"churn_probability": 0.42, "label": "stay"}, "error": null}

The request holds 6 numeric fields (``age``, ``income``, ``tenure_months``,
``monthly_charges``, ``sessions_30d``, ``avg_session_min``, the last with 1 % nulls)
and 4 categorical ones (``country`` 12 values, ``plan`` 5, ``device`` 6,
``channel`` 18). 0.5 % of the records are 5xx errors (``response`` null, ``error`` a
message). The current log shifts 3 fields well past both tools' thresholds
(``SHIFTED``): ``income`` ×1.35, ``monthly_charges`` +0.5 sd, and ``plan``'s mix;
``age`` moves +0.5 year, a small shift that should stay under the thresholds; the
response depends only on unshifted fields, so it should not drift. Both files are
written with numpy's PCG64 and Polars from ``--seed``: byte for byte the same for
the same seed and library versions (their sha256 is in ``<file>.meta.json``).

**What is timed.** Every run is a fresh subprocess (interpreter start and imports
included), its wall time from spawn to exit, its peak memory the child's
``ru_maxrss`` from ``os.wait4`` (cross-checked by polling RSS with psutil). The files
are read once beforehand so every run finds them in the page cache. The load
average (``os.getloadavg``) before each run and the CPU the rest of the machine used
during it (``other_cpu``, in cores) are recorded: others share this machine.

* ``mlmon baseline save REF -o profile.json`` — once per repeat, timed apart;
* ``mlmon report CUR --baseline profile.json --format json -o out.json`` — end to end;
* mlmon's phases in one process (``MLMON_PHASES``): read the logs, decode the request
  and response objects, load the profile, and ``drift_table`` alone on the decoded frame;
* Evidently (``EVIDENTLY_SCRIPT``, in the Evidently venv): load both JSONL files with
  pandas (``pd.read_json(lines=True)``, the ``request`` and ``response`` dicts made
  columns with ``DataFrame.from_records``: the same frame as ``json_normalize``, faster),
  then ``Report([DataDriftPreset()]).run(current, reference)`` with an explicit
  ``DataDefinition`` (the 6 numeric and 4 categorical request fields plus the 2
  response fields: the same 12 columns mlmon tests). Evidently has no saved profile:
  it reads the raw reference on every run. ``--ev-loaders pandas,pyarrow`` adds a run
  that loads with ``pyarrow.json`` instead (structs flattened, then ``to_pandas``; pyarrow
  comes with Evidently), the fastest load Evidently's side can reasonably have, so the
  ratios are not flattered by pandas' slow JSON reader.

Both tools use the same default tests on this data (reference > 1,000 rows):
Wasserstein distance / reference sd >= 0.1 for numbers, Jensen-Shannon distance >= 0.1
for categories, so their per-field verdicts and values can be set side by side.

The table's ``ratio`` is Evidently's time over mlmon's for the same step: end to end,
load (read and flatten vs read and decode), and drift alone. The exit code is 0 when
mlmon flags exactly the shifted fields and agrees with Evidently on every field.

Results (timings, per-field verdicts and values, machine facts) are saved to
``benchmarks/results/drift_<time>.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
RESULTS = HERE / "results"
MIB = 1024 * 1024
DEFAULT_EVIDENTLY_PYTHON = "/work/evvenv/bin/python"

NUMERIC = ("age", "income", "tenure_months", "monthly_charges", "sessions_30d", "avg_session_min")
CATEGORICAL = ("country", "plan", "device", "channel")
OUTPUT_NUMERIC = ("churn_probability",)
OUTPUT_CATEGORICAL = ("label",)
#: The fields the current log shifts past the drift thresholds.
SHIFTED = ("income", "monthly_charges", "plan")
#: Shifted a little, meant to stay under the thresholds.
MILD = ("age",)

COUNTRIES = ("US", "DE", "GB", "FR", "ES", "IT", "NL", "PL", "SE", "BR", "IN", "JP")
PLANS = ("basic", "standard", "premium", "family", "student")
PLAN_P_REF = (0.35, 0.30, 0.15, 0.12, 0.08)
PLAN_P_CUR = (0.15, 0.25, 0.30, 0.12, 0.18)
DEVICES = ("ios", "android", "web", "tablet", "smart_tv", "other")
CHANNELS = ("organic", "paid_search", "social", "email", "referral", "display", "affiliate", "partner",
            "podcast", "tv", "radio", "outdoor", "app_store", "push", "sms", "direct_mail", "events", "other")


# ----------------------------------------------------------------------------- data

def _zipf_p(k: int, s: float = 1.0) -> list[float]:
    w = [1.0 / (i + 1) ** s for i in range(k)]
    return [x / sum(w) for x in w]


def make_frame(rows: int, seed: int, stream: int, current: bool, start: datetime, span_s: float):
    """The records of one log as a Polars frame in mlmon's record shape (numpy PCG64, vectorized)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng([seed, stream])
    n = rows
    start_ms = int(start.timestamp() * 1000)
    ts = start_ms + np.sort(rng.integers(0, int(span_s * 1000), n))
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # uuid4 version and variant bits
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    big = raw.tobytes().hex()
    hexes = pl.Series("h", [big[i:i + 32] for i in range(0, len(big), 32)], pl.String)

    age = np.clip(np.round(rng.normal(41.0 + (0.5 if current else 0.0), 12.0, n)), 18, 90).astype(np.int64)
    income = np.round(rng.lognormal(np.log(52_000.0), 0.5, n) * (1.35 if current else 1.0), 2)
    tenure = np.clip(np.round(rng.exponential(24.0, n)), 0, 120).astype(np.int64)
    charges = np.round(np.clip(rng.normal(70.0 + (9.0 if current else 0.0), 18.0, n), 5.0, None), 2)
    sessions = rng.poisson(6.0, n).astype(np.int64)
    minutes = np.round(rng.gamma(2.0, 7.0, n), 2)
    minutes_null = rng.random(n) < 0.01
    country = rng.choice(len(COUNTRIES), n, p=_zipf_p(len(COUNTRIES)))
    plan = rng.choice(len(PLANS), n, p=PLAN_P_CUR if current else PLAN_P_REF)
    device = rng.choice(len(DEVICES), n, p=(0.34, 0.33, 0.2, 0.07, 0.04, 0.02))
    channel = rng.choice(len(CHANNELS), n, p=_zipf_p(len(CHANNELS), 0.8))
    # The model's score depends only on unshifted fields, so the outputs should not drift.
    logit = -1.0 - 0.04 * (tenure - 24) - 0.12 * (sessions - 6) + 0.4 * (device == 2) + 0.3 * (country >= 9)
    prob = np.round(1.0 / (1.0 + np.exp(-(logit + rng.normal(0.0, 0.5, n)))), 4)
    failed = rng.random(n) < 0.005
    latency = np.round(np.where(failed, 1000.0 + rng.exponential(200.0, n), rng.lognormal(np.log(25.0), 0.45, n)), 1)

    cat = lambda values, idx: pl.Series(values, dtype=pl.String).gather(idx)  # noqa: E731
    frame = pl.DataFrame({
        "ts_ms": ts, "h": hexes, "failed": failed, "latency_ms": latency,
        "age": age, "income": income, "tenure_months": tenure, "monthly_charges": charges,
        "sessions_30d": sessions, "avg_session_min": minutes, "minutes_null": minutes_null,
        "country": cat(COUNTRIES, country), "plan": cat(PLANS, plan), "device": cat(DEVICES, device),
        "channel": cat(CHANNELS, channel), "churn_probability": prob,
    })
    h = pl.col("h")
    return frame.select(
        ts=pl.col("ts_ms").cast(pl.Datetime("ms", "UTC")).dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
        request_id=pl.concat_str(h.str.slice(0, 8), h.str.slice(8, 4), h.str.slice(12, 4), h.str.slice(16, 4),
                                 h.str.slice(20, 12), separator="-"),
        model=pl.lit("churn"),
        model_version=pl.lit("v2" if current else "v1"),
        endpoint=pl.lit("/predict"),
        status=pl.when(pl.col("failed")).then(pl.lit(503)).otherwise(pl.lit(200)).cast(pl.Int64),
        latency_ms=pl.col("latency_ms"),
        request=pl.struct(
            "age", "income", "tenure_months", "monthly_charges", "sessions_30d",
            pl.when(pl.col("minutes_null")).then(None).otherwise(pl.col("avg_session_min")).alias("avg_session_min"),
            "country", "plan", "device", "channel",
        ),
        response=pl.when(~pl.col("failed")).then(pl.struct(
            "churn_probability",
            pl.when(pl.col("churn_probability") >= 0.5).then(pl.lit("churn")).otherwise(pl.lit("stay")).alias("label"),
        )),
        error=pl.when(pl.col("failed")).then(pl.lit("upstream timeout")).otherwise(pl.lit(None, pl.String)),
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(16 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def _params(rows: int, seed: int, current: bool) -> dict:
    import numpy as np
    import polars as pl

    return {"rows": rows, "seed": seed, "current": current, "numpy": np.__version__, "polars": pl.__version__,
            "generator": 1}


def ensure_log(path: Path, rows: int, seed: int, current: bool) -> Path:
    """Write the log unless a file made with the same parameters is there."""
    meta_path = path.with_name(path.name + ".meta.json")
    params = _params(rows, seed, current)
    if path.exists() and meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("params") == params and meta.get("bytes") == path.stat().st_size:
                return path
        except ValueError:
            pass
    start = datetime(2026, 11, 24, tzinfo=timezone.utc) if current else datetime(2026, 11, 20, tzinfo=timezone.utc)
    span = 86_400.0 if current else 4 * 86_400.0
    t0 = time.perf_counter()
    frame = make_frame(rows, seed, 2 if current else 1, current, start, span)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.write_ndjson(tmp)
    os.replace(tmp, path)
    meta = {"params": params, "bytes": path.stat().st_size, "sha256": _sha256(path),
            "fields": {"numeric": NUMERIC, "categorical": CATEGORICAL}, "shifted": SHIFTED if current else [],
            "mild_shift": MILD if current else [], "seconds": round(time.perf_counter() - t0, 2)}
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {path} ({rows:,} records, {meta['bytes'] / MIB:,.0f} MiB) in {meta['seconds']:.1f} s", flush=True)
    return path


# ----------------------------------------------------------------------------- measuring

def _busy_seconds() -> float:
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)


def measure(cmd: list[str], stdout_path: str | os.PathLike | None = None, poll: float = 0.02,
            env: dict | None = None) -> dict:
    """Run ``cmd`` once: wall seconds, CPU seconds, exit code, stderr, peak RSS (wait4 and polled), load."""
    me = psutil.Process()
    load = os.getloadavg()
    with tempfile.TemporaryFile() as err, open(stdout_path or os.devnull, "wb") as out:
        busy0, mine0 = _busy_seconds(), sum(me.cpu_times()[:2])
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        ps = psutil.Process(proc.pid)
        polled = 0
        family: list[psutil.Process] = []
        n = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            try:
                if n % 25 == 0:
                    family = ps.children(recursive=True)
                rss = ps.memory_info().rss
                for child in family:
                    try:
                        rss += child.memory_info().rss
                    except psutil.Error:
                        pass
                polled = max(polled, rss)
            except psutil.Error:
                pass
            n += 1
            time.sleep(poll)
        elapsed = time.perf_counter() - start
        child_cpu = usage.ru_utime + usage.ru_stime
        other = _busy_seconds() - busy0 - child_cpu - (sum(me.cpu_times()[:2]) - mine0)
        code = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    return {
        "seconds": elapsed,
        "cpu_seconds": child_cpu,
        "other_cpu": max(0.0, other / elapsed),
        "loadavg_before": [round(x, 2) for x in load],
        "returncode": code,
        "stderr": stderr[-4000:],
        "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux: KiB
        "polled_rss_mb": polled / MIB,
    }


def warm_cache(path: Path) -> None:
    with open(path, "rb", buffering=0) as f:
        while f.read(16 * MIB):
            pass


def mlmon_exe() -> str:
    here = Path(sys.executable).with_name("mlmon")
    return str(here) if here.exists() else (shutil.which("mlmon") or "mlmon")


def _check(run: dict, what: str) -> dict:
    if run["returncode"] != 0:
        raise SystemExit(f"{what} failed (exit {run['returncode']}):\n{run['stderr']}")
    return run


def _last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in the output")


# mlmon's phases in one process: what `mlmon report CUR --baseline PROFILE` does, step by step.
MLMON_PHASES = r'''
import json, sys, time
t0 = time.perf_counter()
import polars as pl
from mlmon.baseline.load import BaselineSpec, load_reference
from mlmon.logs.fields import with_io_fields
from mlmon.logs.mapping import DEFAULT_MAPPING, RAW_REQUEST, RAW_RESPONSE
from mlmon.logs.reader import read_logs
from mlmon.metrics import drift as D
from mlmon.metrics.operational import RECORD_FIELDS
path, profile, per_field = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
t = {"imports": time.perf_counter() - t0}
s = time.perf_counter()
data = read_logs([path], DEFAULT_MAPPING, list(dict.fromkeys([*RECORD_FIELDS, "request_id", RAW_REQUEST, RAW_RESPONSE])))
t["read_logs"] = time.perf_counter() - s
s = time.perf_counter()
records = with_io_fields(data.records)
t["decode_request_response"] = time.perf_counter() - s
s = time.perf_counter()
reference = load_reference(BaselineSpec(path=profile), mapping=DEFAULT_MAPPING, current=records)
t["load_profile"] = time.perf_counter() - s
s = time.perf_counter()
table = D.drift_table(records, reference, [])
t["drift_table"] = time.perf_counter() - s
fields = {}
if per_field:  # the same per-field work as drift_table, timed field by field
    rows = records.height
    for name, ref in reference.fields.items():
        column = records.get_column(name)
        s = time.perf_counter()
        if ref.kind == "numeric":
            D._numeric(ref, column, rows)
        elif ref.kind == "categorical":
            D._categorical(ref, column, rows)
        fields[name] = time.perf_counter() - s
    s = time.perf_counter()
    records.get_column("request_id").is_duplicated().sum()
    fields["(duplicate request ids)"] = time.perf_counter() - s
t["total_in_process"] = time.perf_counter() - t0
print(json.dumps({"phases": t, "fields": fields, "rows": records.height,
                  "columns": {c: str(records.schema[c]) for c in records.columns if c.startswith(("input.", "output."))}}))
'''

# Evidently, in its own venv: load both logs with pandas, flatten request/response, run DataDriftPreset.
EVIDENTLY_SCRIPT = r'''
import json, resource, sys, time
t0 = time.perf_counter()
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
import evidently
ref_path, cur_path, spec, loader = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
t = {"imports": time.perf_counter() - t0}
outputs = spec["output_numeric"] + spec["output_categorical"]

def load(path):
    if loader == "pyarrow":  # Arrow's multithreaded JSON reader, structs flattened, then pandas
        import pyarrow.json
        frame = pyarrow.json.read_json(path).flatten().to_pandas()
        return frame.rename(columns=lambda c: c.removeprefix("request.").replace("response.", "output.", 1))
    # pandas: read_json, then the request and response dicts into columns (from_records: same
    # frame as json_normalize for flat objects, ~2.5x faster)
    raw = pd.read_json(path, lines=True, dtype=False, convert_dates=False)
    request = pd.DataFrame.from_records(raw["request"].tolist())
    response = pd.DataFrame.from_records([r if isinstance(r, dict) else {} for r in raw["response"].tolist()],
                                         columns=outputs)
    response.columns = ["output." + c for c in response.columns]
    return pd.concat([raw.drop(columns=["request", "response"]), request, response], axis=1)

s = time.perf_counter(); ref = load(ref_path); t["load_reference"] = time.perf_counter() - s
s = time.perf_counter(); cur = load(cur_path); t["load_current"] = time.perf_counter() - s
t["load"] = t["load_reference"] + t["load_current"]
numeric = spec["numeric"] + ["output." + c for c in spec["output_numeric"]]
categorical = spec["categorical"] + ["output." + c for c in spec["output_categorical"]]
columns = numeric + categorical
s = time.perf_counter()
definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
ref_ds = Dataset.from_pandas(ref[columns], data_definition=definition)
cur_ds = Dataset.from_pandas(cur[columns], data_definition=definition)
t["dataset"] = time.perf_counter() - s
s = time.perf_counter()
snapshot = Report([DataDriftPreset()]).run(current_data=cur_ds, reference_data=ref_ds)
t["report_run"] = time.perf_counter() - s
t["drift"] = t["dataset"] + t["report_run"]
s = time.perf_counter()
doc = snapshot.dict()
t["snapshot_dict"] = time.perf_counter() - s
fields = {}
for m in doc["metrics"]:
    cfg = m.get("config", {})
    if not cfg.get("type", "").endswith("ValueDrift"):
        continue
    method, threshold, value = cfg.get("method", ""), cfg.get("threshold"), m["value"]
    pvalue = "p_value" in method.lower().replace("-", "_").replace(" ", "_")
    drifted = (value < threshold) if pvalue else (value >= threshold)
    fields[cfg["column"]] = {"method": method, "threshold": threshold, "value": value, "drifted": bool(drifted)}
t["total_in_process"] = time.perf_counter() - t0
print(json.dumps({"phases": t, "fields": fields, "rows": {"reference": len(ref), "current": len(cur)},
                  "loader": loader, "evidently": evidently.__version__, "pandas": pd.__version__,
                  "dtypes": {c: str(cur[c].dtype) for c in columns}}))
'''


# ----------------------------------------------------------------------------- reporting

def machine_facts(evidently_python: str | None) -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    git = None
    try:
        head = subprocess.run(["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(HERE.parent), "status", "--porcelain", "--", "mlmon"],
                               capture_output=True, text=True)
        if head.returncode == 0:
            git = head.stdout.strip() + (" + uncommitted changes in mlmon/" if dirty.stdout.strip() else "")
    except OSError:
        pass
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "polars": version("polars"),
        "numpy": version("numpy"),
        "mlmon": version("mlmon"),
        "mlmon_git": git,
        "evidently_python": evidently_python,
        "kernel": platform.release(),
    }


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "—" if x is None else format(x, spec)


def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def print_rows(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) if i in (0, 1) or i == len(header) - 1 else str(c).rjust(w)  # noqa: E731
                               for i, (c, w) in enumerate(zip(r, widths)))
    print(line(header))
    print("  ".join("─" * w for w in widths))
    for r in rows:
        print(line(r))


def _load_note(runs: list[dict]) -> str:
    loads = [r["loadavg_before"][0] for r in runs if r.get("loadavg_before")]
    others = [r["other_cpu"] for r in runs if r.get("other_cpu") is not None]
    if not loads:
        return ""
    return f"load {min(loads):.1f}-{max(loads):.1f}, others {statistics.median(others):.2f} cores"


def summary_table(res: dict) -> list[list[str]]:
    """tool, step, seconds (median), peak MB, ratio, load.

    ``ratio`` is Evidently's time over mlmon's for the same step (end to end, load, drift):
    how many times faster mlmon is. On mlmon rows it is against the first Evidently loader
    run (pandas by default); on Evidently rows, that row's own time over mlmon's.
    """
    rows = []
    save, report, phases = res["mlmon"]["baseline_save"], res["mlmon"]["report"], res["mlmon"].get("phases", [])
    ph = lambda k: statistics.median([p["phases"][k] for p in phases]) if phases else None  # noqa: E731
    rep, sav = _median(report, "seconds"), _median(save, "seconds")
    m = {"total": rep, "load": (ph("read_logs") + ph("decode_request_response")) if phases else None,
         "drift": ph("drift_table"), "save+total": (sav + rep) if sav and rep else None}
    runs = res.get("evidently", {}).get("runs", [])
    loaders = list(dict.fromkeys(r["loader"] for r in runs))
    ev: dict[str, dict] = {}
    for name in loaders:
        mine = [r for r in runs if r["loader"] == name]
        ev[name] = {"runs": mine, "total": _median(mine, "seconds"),
                    "load": statistics.median(r["phases"]["load"] for r in mine),
                    "drift": statistics.median(r["phases"]["drift"] for r in mine),
                    "imports": statistics.median(r["phases"]["imports"] for r in mine)}
    first = ev[loaders[0]] if loaders else {}
    step_of = {"total": rep, "load": m["load"], "drift": m["drift"]}

    def ratio(num: float | None, den: float | None) -> str:
        return f"{num / den:.1f}×" if num and den else ""

    rows.append(["mlmon", f"baseline save ({res['args']['ref_rows']:,} ref → profile)", _fmt(sav),
                 _fmt(_median(save, "peak_rss_mb"), ".0f"), "", _load_note(save)])
    rows.append(["mlmon", "report end to end (process)", _fmt(rep), _fmt(_median(report, "peak_rss_mb"), ".0f"),
                 ratio(first.get("total"), rep), _load_note(report)])
    if phases:
        rows.append(["mlmon", "  load: read logs + decode request/response", _fmt(m["load"]), "",
                     ratio(first.get("load"), m["load"]), _load_note(phases)])
        rows.append(["mlmon", "  drift: drift_table on the decoded frame", _fmt(m["drift"], ".3f"), "",
                     ratio(first.get("drift"), m["drift"]), ""])
    if m["save+total"]:
        rows.append(["mlmon", "baseline save + report", _fmt(m["save+total"]), "",
                     ratio(first.get("total"), m["save+total"]), ""])
    for name in loaders:
        e = ev[name]
        rel = lambda k, e=e: ratio(e[k], step_of[k])  # noqa: E731
        rows.append(["Evidently", f"total (process; {name} load)", _fmt(e["total"]),
                     _fmt(_median(e["runs"], "peak_rss_mb"), ".0f"), rel("total"), _load_note(e["runs"])])
        rows.append(["Evidently", "  imports", _fmt(e["imports"]), "", "", ""])
        rows.append(["Evidently", f"  load both logs ({name})", _fmt(e["load"]), "", rel("load"), ""])
        rows.append(["Evidently", "  drift: Dataset + DataDriftPreset run", _fmt(e["drift"]), "", rel("drift"), ""])
    return rows


def speedups(res: dict) -> dict:
    """mlmon's speed-up over Evidently per loader: end to end, incl. baseline save, load, drift."""
    save, report, phases = res["mlmon"]["baseline_save"], res["mlmon"]["report"], res["mlmon"].get("phases", [])
    ph = lambda k: statistics.median([p["phases"][k] for p in phases]) if phases else None  # noqa: E731
    rep, sav = _median(report, "seconds"), _median(save, "seconds")
    out = {}
    for name in dict.fromkeys(r["loader"] for r in res.get("evidently", {}).get("runs", [])):
        mine = [r for r in res["evidently"]["runs"] if r["loader"] == name]
        total = _median(mine, "seconds")
        drift = statistics.median(r["phases"]["drift"] for r in mine)
        load = statistics.median(r["phases"]["load"] for r in mine)
        out[name] = {
            "end_to_end": total / rep if rep else None,
            "end_to_end_incl_baseline_save": total / (sav + rep) if sav and rep else None,
            "load": load / (ph("read_logs") + ph("decode_request_response")) if phases else None,
            "drift": drift / ph("drift_table") if phases else None,
        }
    return out


def verdicts(res: dict) -> tuple[list[list[str]], dict]:
    """Per field: mlmon's and Evidently's value, method and verdict; and whether they agree."""
    m_metrics = res["mlmon"]["report_metrics"]
    ev_fields = res.get("evidently", {}).get("fields", {})
    rows, agree, flagged_m, flagged_e = [], True, [], []
    names = list(NUMERIC) + list(CATEGORICAL) + ["output." + c for c in OUTPUT_NUMERIC + OUTPUT_CATEGORICAL]
    for name in names:
        numeric = name in NUMERIC or name.removeprefix("output.") in OUTPUT_NUMERIC
        method = "wasserstein_norm" if numeric else "js"
        m_value, m_drift = m_metrics.get(f"{method}.{name}"), m_metrics.get(f"drifted.{name}")
        e = ev_fields.get(name, {})
        e_value, e_drift = e.get("value"), e.get("drifted")
        if m_drift:
            flagged_m.append(name)
        if e_drift:
            flagged_e.append(name)
        same = e_drift is None or bool(m_drift) == bool(e_drift)
        agree &= same
        expected = "shifted" if name in SHIFTED else ("mild" if name in MILD else "")
        rows.append([name, expected, method, _fmt(m_value, ".4f"), "DRIFT" if m_drift else "ok",
                     _fmt(e_value, ".4f"), "—" if e_drift is None else ("DRIFT" if e_drift else "ok"),
                     "" if e_drift is None else ("yes" if same else "NO")])
    check = {"mlmon_drifted": flagged_m, "evidently_drifted": flagged_e, "expected": list(SHIFTED),
             "mlmon_as_expected": sorted(flagged_m) == sorted(SHIFTED),
             "evidently_as_expected": (sorted(flagged_e) == sorted(SHIFTED)) if ev_fields else None,
             "agree": agree if ev_fields else None}
    return rows, check


# ----------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="records in the current log (default 1,000,000)")
    ap.add_argument("--ref-rows", type=int, default=200_000, help="records in the reference log (default 200,000)")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each mlmon step (median reported)")
    ap.add_argument("--ev-repeat", type=int, default=1, help="runs of Evidently per loader (median reported)")
    ap.add_argument("--ev-loaders", default="pandas",
                    help="how Evidently's side loads the JSONL, comma-separated, one run each: pandas "
                         "(pd.read_json, the default) and/or pyarrow (pyarrow.json, much faster)")
    ap.add_argument("--evidently-python", default=DEFAULT_EVIDENTLY_PYTHON,
                    help="python of the venv with evidently (NONE to skip Evidently)")
    ap.add_argument("--profile", action="store_true",
                    help="also run `mlmon report` under cProfile and print the top functions")
    ap.add_argument("--no-phases", action="store_true", help="skip the in-process phase timing of mlmon")
    args = ap.parse_args(argv)

    def tag(n: int) -> str:
        return f"{n // 1_000_000}m" if n % 1_000_000 == 0 else (f"{n // 1000}k" if n % 1000 == 0 else str(n))

    ref = ensure_log(DATA / f"drift_ref_{tag(args.ref_rows)}_s{args.seed}.jsonl", args.ref_rows, args.seed, False)
    cur = ensure_log(DATA / f"drift_cur_{tag(args.rows)}_s{args.seed}.jsonl", args.rows, args.seed, True)
    for p in (ref, cur):
        warm_cache(p)
    work = DATA / f"drift_{tag(args.rows)}_s{args.seed}"
    work.mkdir(parents=True, exist_ok=True)
    profile, out = work / "profile.json", work / "report.json"
    evpy = None if args.evidently_python.upper() == "NONE" else args.evidently_python
    if evpy and not Path(evpy).exists():
        print(f"note: {evpy} not found; Evidently skipped (see the docstring for the venv)", file=sys.stderr)
        evpy = None

    exe = mlmon_exe()
    res: dict = {"machine": machine_facts(evpy), "args": vars(args), "files": {"reference": str(ref), "current": str(cur)},
                 "mlmon": {"baseline_save": [], "report": [], "phases": []}, "evidently": {"runs": []}}
    save_cmd = [exe, "baseline", "save", str(ref), "-o", str(profile), "--now", "2026-11-27T00:00:00Z"]
    report_cmd = [exe, "report", str(cur), "--baseline", str(profile), "--format", "json", "-o", str(out),
                  "--now", "2026-11-27T00:00:00Z"]
    phase_cmd = [sys.executable, "-c", MLMON_PHASES, str(cur), str(profile), "1"]
    spec = json.dumps({"numeric": list(NUMERIC), "categorical": list(CATEGORICAL),
                       "output_numeric": list(OUTPUT_NUMERIC), "output_categorical": list(OUTPUT_CATEGORICAL)})
    loaders = [x.strip() for x in args.ev_loaders.split(",") if x.strip()]
    if any(x not in ("pandas", "pyarrow") for x in loaders):
        ap.error("--ev-loaders takes pandas and/or pyarrow")
    res["commands"] = {"baseline_save": save_cmd, "report": report_cmd,
                       "evidently": [evpy, "-c", "EVIDENTLY_SCRIPT", str(ref), str(cur), spec, "LOADER"]}

    # Alternate the tools run by run, so a burst of other load hits both.
    for i in range(max(args.repeat, args.ev_repeat)):
        if i < args.repeat:
            r = _check(measure(save_cmd), "mlmon baseline save")
            res["mlmon"]["baseline_save"].append(r)
            print(f"[{i + 1}] mlmon baseline save  {r['seconds']:6.2f} s  {r['peak_rss_mb']:6.0f} MB  load {r['loadavg_before'][0]:.2f}", flush=True)
            r = _check(measure(report_cmd), "mlmon report")
            res["mlmon"]["report"].append(r)
            print(f"[{i + 1}] mlmon report         {r['seconds']:6.2f} s  {r['peak_rss_mb']:6.0f} MB  load {r['loadavg_before'][0]:.2f}", flush=True)
            if not args.no_phases:
                with tempfile.NamedTemporaryFile(suffix=".json") as f:
                    r = _check(measure(phase_cmd, f.name), "mlmon phases")
                    r.update(_last_json(Path(f.name).read_text()))
                res["mlmon"]["phases"].append(r)
                ph = r["phases"]
                print(f"[{i + 1}] mlmon phases         read {ph['read_logs']:.2f} s, decode {ph['decode_request_response']:.2f} s, "
                      f"profile {ph['load_profile']:.3f} s, drift_table {ph['drift_table']:.3f} s", flush=True)
        for loader in loaders if evpy and i < args.ev_repeat else []:
            ev_cmd = [evpy, "-c", EVIDENTLY_SCRIPT, str(ref), str(cur), spec, loader]
            with tempfile.NamedTemporaryFile(suffix=".json") as f:
                r = _check(measure(ev_cmd, f.name), f"Evidently ({loader})")
                r.update(_last_json(Path(f.name).read_text()))
            res["evidently"]["runs"].append(r)
            ph = r["phases"]
            print(f"[{i + 1}] Evidently ({loader:7s})  {r['seconds']:6.2f} s  {r['peak_rss_mb']:6.0f} MB  load {r['loadavg_before'][0]:.2f}"
                  f"  (imports {ph['imports']:.1f} s, load {ph['load']:.1f} s, drift {ph['drift']:.1f} s)", flush=True)

    doc = json.loads(out.read_text())
    res["mlmon"]["report_metrics"] = doc["windows"][0]["metrics"]
    res["mlmon"]["records"] = doc["source"]["records"]
    if res["evidently"]["runs"]:
        first_run = res["evidently"]["runs"][0]
        res["evidently"]["fields"] = first_run["fields"]
        res["evidently"]["version"] = first_run.get("evidently")
        res["evidently"]["pandas"] = first_run.get("pandas")
        verdict_sets = {json.dumps({k: v["drifted"] for k, v in r["fields"].items()}, sort_keys=True)
                        for r in res["evidently"]["runs"]}
        res["evidently"]["verdicts_same_across_runs"] = len(verdict_sets) == 1

    if args.profile:
        prof = work / "report.prof"
        prof_cmd = [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "mlmon", *report_cmd[1:]]
        r = _check(measure(prof_cmd), "mlmon report under cProfile")
        res["mlmon"]["profiled_seconds"] = r["seconds"]
        import io
        import pstats

        for key in ("cumulative", "tottime"):
            text = io.StringIO()
            pstats.Stats(str(prof), stream=text).strip_dirs().sort_stats(key).print_stats(25)
            res["mlmon"][f"profile_{key}"] = text.getvalue()
            print(f"\ncProfile of mlmon report ({r['seconds']:.1f} s under the profiler), top 25 by {key}:")
            print("\n".join(text.getvalue().splitlines()[6:]))

    m = res["machine"]
    print(f"\nDrift benchmark: current {args.rows:,} records × {len(NUMERIC) + len(CATEGORICAL)} request fields "
          f"(+2 response fields), reference {args.ref_rows:,}; {m['nproc']} cores, {m['cpu']}")
    print(f"mlmon {m['mlmon']} ({m['mlmon_git']}), polars {m['polars']}; Evidently {res['evidently'].get('version')}, "
          f"pandas {res['evidently'].get('pandas')}; medians of {args.repeat} mlmon / {args.ev_repeat} Evidently run(s) "
          f"per loader\nratio = Evidently's time / mlmon's for the same step (end to end, load, drift): on mlmon rows "
          f"against Evidently with the {loaders[0] if evpy else '—'} loader, on Evidently rows that row's own\n")
    print_rows(["tool", "step", "seconds", "peak MB", "ratio", "machine load (1-min avg before runs; others' CPU during)"],
               summary_table(res))
    if phases := res["mlmon"]["phases"]:
        p = phases[len(phases) // 2]
        print("\nmlmon phases (one process, s): " + ", ".join(f"{k} {v:.3f}" for k, v in p["phases"].items()))
        print("drift per field (s): " + ", ".join(f"{k.removeprefix('input.')} {v:.3f}" for k, v in p["fields"].items()))
    for r in res["evidently"]["runs"]:
        print(f"Evidently phases ({r['loader']} load; one process, s): "
              + ", ".join(f"{k} {v:.2f}" for k, v in r["phases"].items()))
    res["speedups"] = speedups(res)
    for name, sp in res["speedups"].items():
        print(f"mlmon vs Evidently ({name} load): end to end {_fmt(sp['end_to_end'], '.1f')}×, with baseline save "
              f"{_fmt(sp['end_to_end_incl_baseline_save'], '.1f')}×, load {_fmt(sp['load'], '.1f')}×, "
              f"drift alone {_fmt(sp['drift'], '.1f')}× (target: 10×)")
    rows, check = verdicts(res)
    print("\nPer-field verdicts (same default tests: Wasserstein/sd >= 0.1 for numbers, Jensen-Shannon >= 0.1 for categories)")
    print_rows(["field", "expected", "test", "mlmon value", "mlmon", "Evidently value", "Evidently", "agree"], rows)
    print(f"\nmlmon flags {check['mlmon_drifted']}; Evidently flags {check['evidently_drifted']}; "
          f"shifted: {check['expected']}")
    print(f"mlmon as expected: {check['mlmon_as_expected']}; Evidently as expected: {check['evidently_as_expected']}; "
          f"verdicts agree: {check['agree']}")
    res["verdicts"] = check
    res["verdict_rows"] = rows
    res["table"] = summary_table(res)
    RESULTS.mkdir(parents=True, exist_ok=True)
    dest = RESULTS / f"drift_{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json"
    dest.write_text(json.dumps(res, indent=1, default=str) + "\n")
    print(f"\nsaved {dest}")
    ok = check["mlmon_as_expected"] and check["agree"] is not False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
