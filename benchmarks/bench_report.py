#!/usr/bin/env python3
"""Time ``mlmon report`` against an equivalent DuckDB query, with peak memory.

    # one file (generated first with --mb if it is missing)
    python benchmarks/bench_report.py benchmarks/data/logs_1g.jsonl
    python benchmarks/bench_report.py --mb 64            # -> benchmarks/data/logs_64m.jsonl

    # a clean file and a file with bad lines, one combined table
    python benchmarks/bench_report.py --mb 1024 \\
        --clean benchmarks/data/logs_1g.jsonl --bad benchmarks/data/logs_1g_bad1.jsonl

Each run is a fresh subprocess (interpreter start and imports included, for both
tools). Its wall time is measured from spawn to exit; its peak memory is the
child's ``ru_maxrss`` from ``os.wait4`` (exact, kernel-tracked), cross-checked
by polling the RSS of the child and its children with psutil every 20 ms. The
poll also splits RSS into anonymous memory and file-backed/shared pages (a
memory-mapped input file counts in RSS, though the kernel can drop it). The
runs of the two tools alternate, and the file is read once beforehand so both
find it in the page cache.

The DuckDB side is one SQL query over ``read_ndjson(..., ignore_errors=true)``
that computes the same metrics per hour and model: count, error count and rate
(status >= 500 or an error message), 4xx rate, latency mean, p50/p90/p95/p99
(``quantile_cont``, the same linear interpolation as mlmon) and max, CPU and
memory mean and max. Both results are written to ``benchmarks/results/`` and
compared: requests per model must agree exactly on a clean file.

Everything is also saved as JSON in ``benchmarks/results/bench_<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
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

# The DuckDB query, run as `python -c DUCKDB_SCRIPT FILE OUT EVERY BY`.
DUCKDB_SCRIPT = r'''
import json, sys
import duckdb
path, out, every, by = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
columns = {"ts": "VARCHAR", "model": "VARCHAR", "status": "BIGINT", "latency_ms": "DOUBLE",
           "error": "VARCHAR", "cpu_percent": "DOUBLE", "memory_mb": "DOUBLE"}
for name in by:
    columns.setdefault(name, "VARCHAR")
cols = ", ".join(f"{k}: '{v}'" for k, v in columns.items())
keys = ", ".join(by)
lat = "latency_ms"
query = f"""
WITH rec AS (
    SELECT TRY_CAST(ts AS TIMESTAMPTZ) AS t, * EXCLUDE (ts)
    FROM read_ndjson(?, columns = {{{cols}}}, ignore_errors = true)
)
SELECT
    time_bucket(INTERVAL '{every}', t) AS window_start, {keys},
    count(*) AS request_count,
    count(*) FILTER (WHERE status >= 500 OR error IS NOT NULL) AS error_count,
    avg(CASE WHEN status >= 500 OR error IS NOT NULL THEN 1.0 ELSE 0.0 END) AS error_rate,
    avg(CASE WHEN status BETWEEN 400 AND 499 THEN 1.0 ELSE 0.0 END) AS client_error_rate,
    avg({lat}) AS latency_mean_ms,
    quantile_cont({lat}, 0.50) AS latency_p50_ms,
    quantile_cont({lat}, 0.90) AS latency_p90_ms,
    quantile_cont({lat}, 0.95) AS latency_p95_ms,
    quantile_cont({lat}, 0.99) AS latency_p99_ms,
    max({lat}) AS latency_max_ms,
    avg(cpu_percent) AS cpu_percent_mean, max(cpu_percent) AS cpu_percent_max,
    avg(memory_mb) AS memory_mb_mean, max(memory_mb) AS memory_mb_max
FROM rec
WHERE t IS NOT NULL
GROUP BY ALL
ORDER BY ALL
"""
cur = con.execute(query, [path])
names = [d[0] for d in cur.description]
rows = []
for row in cur.fetchall():
    rec = dict(zip(names, row))
    rec["window_start"] = rec["window_start"].strftime("%Y-%m-%dT%H:%M:%SZ")
    rows.append(rec)
with open(out, "w") as f:
    json.dump({"rows": rows}, f)
'''


# ----------------------------------------------------------------------------- measuring

def _busy_seconds() -> float:
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)


def measure(cmd: list[str], stdout_path: str | os.PathLike | None = None, poll: float = 0.02) -> dict:
    """Run ``cmd`` once: wall seconds, CPU seconds, exit code, stderr, peak RSS (wait4 and polled).

    ``other_cpu`` is the CPU time the rest of the machine used meanwhile, in cores
    (busy time of all CPUs minus the child's, over the wall time): above ~0.2 on
    a 2-core machine, something else was competing and the time is pessimistic.
    """
    me = psutil.Process()
    with tempfile.TemporaryFile() as err, open(stdout_path or os.devnull, "wb") as out:
        busy0, mine0 = _busy_seconds(), sum(me.cpu_times()[:2])
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        ps = psutil.Process(proc.pid)
        polled = polled_anon = polled_file = 0
        family: list[psutil.Process] = []
        n = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            try:
                if n % 25 == 0:  # looking for children scans /proc: do it every 0.5 s, not every poll
                    family = ps.children(recursive=True)
                info = ps.memory_info()
                rss, shared = info.rss, info.shared
                for child in family:
                    try:
                        info = child.memory_info()
                        rss, shared = rss + info.rss, shared + info.shared
                    except psutil.Error:
                        pass
                polled = max(polled, rss)
                # Linux: shared = file-backed + shmem resident pages, e.g. a memory-mapped input file.
                polled_anon = max(polled_anon, rss - shared)
                polled_file = max(polled_file, shared)
            except psutil.Error:
                pass
            n += 1
            time.sleep(poll)
        elapsed = time.perf_counter() - start
        child_cpu = usage.ru_utime + usage.ru_stime
        other = _busy_seconds() - busy0 - child_cpu - (sum(me.cpu_times()[:2]) - mine0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    return {
        "seconds": elapsed,
        "cpu_seconds": child_cpu,
        "other_cpu": max(0.0, other / elapsed),
        "returncode": proc.returncode,
        "stderr": stderr,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux: KiB
        "polled_rss_mb": polled / MIB,
        "polled_anon_mb": polled_anon / MIB,
        "polled_file_mb": polled_file / MIB,
    }


def wait_quiet(max_load: float, timeout: float) -> float:
    """Wait up to ``timeout`` s until the machine is quiet (under ``max_load`` busy cores over 1 s); the last load seen."""
    deadline = time.monotonic() + timeout
    while True:
        busy0, t0 = _busy_seconds(), time.perf_counter()
        time.sleep(1.0)
        load = (_busy_seconds() - busy0) / (time.perf_counter() - t0)
        if load <= max_load or time.monotonic() >= deadline:
            return load


def warm_cache(path: Path) -> None:
    with open(path, "rb", buffering=0) as f:
        while f.read(16 * MIB):
            pass


def byte_compile_mlmon() -> None:
    """Byte-compile mlmon's modules, as ``pip install`` does for an installed package.

    DuckDB's side imports compiled modules from site-packages. An editable install
    of mlmon under ``PYTHONDONTWRITEBYTECODE=1`` (as on this machine) would
    otherwise compile every mlmon module from source on every run, 0.05-0.1 s that
    no installed copy pays.
    """
    import compileall

    import mlmon

    compileall.compile_dir(str(Path(mlmon.__file__).parent), quiet=2)


def mlmon_exe() -> str:
    here = Path(sys.executable).with_name("mlmon")
    return str(here) if here.exists() else (shutil.which("mlmon") or "mlmon")


#: Runs the mlmon found in a directory (an older revision's export) before the installed one:
#: ``python -c BEFORE_SCRIPT DIR ARGS...``.
BEFORE_SCRIPT = "import sys; sys.path.insert(0, sys.argv[1]); sys.argv = ['mlmon', *sys.argv[2:]]; " \
                "from mlmon.cli.entry import main; main()"


def export_revision(rev: str) -> Path:
    """mlmon/ as of git revision ``rev``, exported (and byte-compiled) to a temporary directory."""
    import compileall

    where = Path(tempfile.mkdtemp(prefix="mlmon-before-"))
    archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", rev, "mlmon"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive.stdout, check=True)
    compileall.compile_dir(str(where / "mlmon"), quiet=2)
    return where


def tool_commands(path: Path, every: str, by: str, tag: str,
                  before: tuple[str, Path] | None = None) -> dict[str, tuple[list[str], Path, Path | None]]:
    """tool -> (command, where its result lands, where its stdout goes).

    ``before`` (a revision and where it was exported) adds that revision's mlmon as a third tool.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    m_out = RESULTS / f"mlmon_{tag}_{path.stem}.json"
    d_out = RESULTS / f"duckdb_{tag}_{path.stem}.json"
    args = ["report", str(path), "--every", every, "--by", by, "--format", "json", "-o"]
    tools = {}
    if before is not None:
        b_out = RESULTS / f"mlmon-before_{tag}_{path.stem}.json"
        tools[f"mlmon@{before[0]}"] = ([sys.executable, "-c", BEFORE_SCRIPT, str(before[1]), *args, str(b_out)], b_out, None)
    return {
        **tools,
        "mlmon": ([mlmon_exe(), *args, str(m_out)], m_out, None),
        "duckdb": (
            [sys.executable, "-c", DUCKDB_SCRIPT, str(path), str(d_out), duckdb_interval(every), by],
            d_out,
            None,
        ),
    }


def duckdb_interval(every: str) -> str:
    m = re.fullmatch(r"(\d+)\s*([smhd])", every.strip())
    if not m:
        raise SystemExit(f"bench_report: --every {every!r}: use e.g. 30s, 5m, 1h, 1d")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
    return f"{m.group(1)} {unit}"


def bench_file(path: Path, runs: int, every: str, by: str, tag: str, max_other_load: float, retries: int,
               wait: float, before: tuple[str, Path] | None = None) -> dict:
    """Run both tools ``runs`` times on ``path``, alternating.

    A run during which other processes used more than ``max_other_load`` cores is
    set aside and repeated, up to ``retries`` repeats per file (then it is kept).
    Before each run it waits up to ``wait`` seconds for the machine to be quiet.
    """
    cmds = tool_commands(path, every, by, tag, before)
    warm_cache(path)
    out: dict[str, dict] = {
        tool: {"command": cmd, "runs": [], "set_aside": [], "result_file": str(res)} for tool, (cmd, res, _) in cmds.items()
    }
    left = retries
    for i in range(runs):
        for tool, (cmd, _res, stdout) in cmds.items():
            while True:
                if wait > 0:
                    wait_quiet(max_other_load, wait)
                r = measure(cmd, stdout)
                status = "ok" if r["returncode"] == 0 else f"EXIT {r['returncode']}"
                busy = r["returncode"] == 0 and r["other_cpu"] > max_other_load and left > 0
                print(
                    f"  [{tag}] run {i + 1}/{runs} {tool:14s} {r['seconds']:7.2f} s  cpu {r['cpu_seconds']:7.2f} s"
                    f"  peak {r['peak_rss_mb']:6.0f} MB (polled {r['polled_rss_mb']:.0f}: anon {r['polled_anon_mb']:.0f}"
                    f" + file/shared {r['polled_file_mb']:.0f})"
                    f"  other load {r['other_cpu']:.2f} cores  {status}" + ("  -> busy machine, repeating" if busy else ""),
                    file=sys.stderr,
                    flush=True,
                )
                if r["returncode"] != 0:
                    print(f"  command: {' '.join(cmd)}\n  stderr:\n{r['stderr']}", file=sys.stderr, flush=True)
                if not busy:
                    out[tool]["runs"].append(r)
                    break
                out[tool]["set_aside"].append(r)
                left -= 1
                time.sleep(5)
    for tool, entry in out.items():
        ok = [r for r in entry["runs"] if r["returncode"] == 0]
        entry["ok"] = len(ok) == len(entry["runs"])
        secs = [r["seconds"] for r in ok]
        entry["best_s"] = min(secs) if secs else None
        entry["median_s"] = statistics.median(secs) if secs else None
        entry["median_cpu_s"] = statistics.median(r["cpu_seconds"] for r in ok) if ok else None
        entry["max_other_cpu"] = max(r["other_cpu"] for r in entry["runs"])
        entry["peak_rss_mb"] = max(r["peak_rss_mb"] for r in entry["runs"])
        entry["polled_rss_mb"] = max(r["polled_rss_mb"] for r in entry["runs"])
        entry["polled_anon_mb"] = max(r["polled_anon_mb"] for r in entry["runs"])
        entry["polled_file_mb"] = max(r["polled_file_mb"] for r in entry["runs"])
        entry["stderr_last"] = entry["runs"][-1]["stderr"].strip()
    return {"file": str(path), "bytes": path.stat().st_size, "tools": out, "meta": _meta(path)}


def _meta(path: Path) -> dict | None:
    side = Path(str(path) + ".meta.json")
    return json.loads(side.read_text()) if side.exists() else None


# ----------------------------------------------------------------------------- checking

def load_results(entry: dict) -> tuple[dict | None, list[dict] | None]:
    """(mlmon's JSON report, DuckDB's rows) from the last runs, if both succeeded."""
    m_path = Path(entry["tools"]["mlmon"]["result_file"])
    d_path = Path(entry["tools"]["duckdb"]["result_file"])
    m = json.loads(m_path.read_text()) if entry["tools"]["mlmon"]["ok"] and m_path.exists() else None
    d = json.loads(d_path.read_text())["rows"] if entry["tools"]["duckdb"]["ok"] and d_path.exists() else None
    return m, d


def compare(entry: dict, by: str, exact: bool) -> dict:
    """Compare mlmon and DuckDB: requests per segment, and every metric per window and segment."""
    m, d = load_results(entry)
    if m is None or d is None:
        return {"ok": False, "note": "a tool failed; nothing to compare"}
    keys = by.split(",")

    def seg(values: dict) -> tuple:
        return tuple(values.get(k) for k in keys)

    m_rows = {}
    for w in m["windows"]:
        if w["metrics"]["request_count"]:
            m_rows[(w["start"], *seg(w["segment"]))] = w["metrics"]
    d_rows = {(r["window_start"], *seg(r)): r for r in d}
    m_tot: dict[tuple, int] = {}
    d_tot: dict[tuple, int] = {}
    for k, v in m_rows.items():
        m_tot[k[1:]] = m_tot.get(k[1:], 0) + v["request_count"]
    for k, v in d_rows.items():
        d_tot[k[1:]] = d_tot.get(k[1:], 0) + v["request_count"]
    per_segment = {
        ",".join(str(x) for x in s): {"mlmon": m_tot.get(s, 0), "duckdb": d_tot.get(s, 0)}
        for s in sorted(set(m_tot) | set(d_tot), key=lambda s: tuple(str(x) for x in s))
    }
    counts_agree = m_tot == d_tot
    # Every metric of every (window, segment) both have.
    worst: dict[str, float] = {}
    count_mismatch = 0
    for k in set(m_rows) & set(d_rows):
        mv, dv = m_rows[k], d_rows[k]
        if mv["request_count"] != dv["request_count"] or mv["error_count"] != dv["error_count"]:
            count_mismatch += 1
        for name, a in mv.items():
            b = dv.get(name)
            if name in ("request_count", "error_count") or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
                continue
            rel = abs(a - b) / max(abs(a), abs(b), 1e-12)
            worst[name] = max(worst.get(name, 0.0), rel)
    result = {
        "ok": counts_agree if exact else None,
        "records": m["source"]["records"],
        "skipped": m["source"]["skipped"],
        "skipped_by_reason": m["source"]["skipped_by_reason"],
        "per_segment": per_segment,
        "windows_only_mlmon": len(set(m_rows) - set(d_rows)),
        "windows_only_duckdb": len(set(d_rows) - set(m_rows)),
        "windows_with_count_mismatch": count_mismatch,
        "max_relative_difference": {k: worst[k] for k in sorted(worst)},
    }
    meta = entry.get("meta")
    if meta:
        result["generator_good_records"] = meta["good_records"]
        result["generator_bad_lines"] = meta["bad_lines"]
    return result


def same_as_before(entry: dict) -> bool | None:
    """Whether the report of the revision benchmarked as "before" equals mlmon's, all but ``generated_at``
    (None without one, or when either failed)."""
    before = [t for name, t in entry["tools"].items() if name.startswith("mlmon@")]
    now = entry["tools"]["mlmon"]
    if not before or not before[0]["ok"] or not now["ok"]:
        return None
    a, b = (json.loads(Path(t["result_file"]).read_text()) for t in (before[0], now))
    for doc in (a, b):
        doc.pop("generated_at", None)
    return a == b


# ----------------------------------------------------------------------------- reporting

def machine_facts() -> dict:
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
        dirty = subprocess.run(
            ["git", "-C", str(HERE.parent), "status", "--porcelain", "--", "mlmon"], capture_output=True, text=True
        )
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
        "duckdb": version("duckdb"),
        "mlmon": version("mlmon"),
        "mlmon_git": git,
        "kernel": platform.release(),
    }


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "—" if x is None else format(x, spec)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def print_table(files: dict[str, dict], clean_tag: str | None, max_other_load: float) -> list[list[str]]:
    header = ["file", "tool", "best s", "median s", "median CPU s", "peak RSS MB", "peak anon MB", "× DuckDB (best / median)", "× clean mlmon (best / median)"]
    rows = []
    clean_m = files[clean_tag]["tools"]["mlmon"] if clean_tag else None
    for tag, entry in files.items():
        duck = entry["tools"]["duckdb"]
        for tool, t in entry["tools"].items():
            vs_duck = "—" if tool == "duckdb" else (
                f"{_fmt(_ratio(t['best_s'], duck['best_s']))} / {_fmt(_ratio(t['median_s'], duck['median_s']))}"
            )
            vs_clean = "—"
            if tool == "mlmon" and clean_m is not None and tag != clean_tag:
                vs_clean = f"{_fmt(_ratio(t['best_s'], clean_m['best_s']))} / {_fmt(_ratio(t['median_s'], clean_m['median_s']))}"
            rows.append([
                f"{tag} ({entry['bytes'] / MIB:,.0f} MiB)",
                tool + ("" if t["ok"] else " (FAILED)"),
                _fmt(t["best_s"]),
                _fmt(t["median_s"]),
                _fmt(t["median_cpu_s"]),
                _fmt(t["peak_rss_mb"], ",.0f"),
                _fmt(t["polled_anon_mb"], ",.0f"),
                vs_duck,
                vs_clean,
            ])
    if not clean_tag or len(files) < 2:
        header.pop()
        rows = [r[:-1] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    busy = max(t["max_other_cpu"] for e in files.values() for t in e["tools"].values())
    aside = sum(len(t["set_aside"]) for e in files.values() for t in e["tools"].values())
    if aside:
        print(f"\n{aside} run(s) set aside and repeated: other processes used over {max_other_load} cores meanwhile.")
    if busy > max_other_load:
        print(f"WARNING: other processes used up to {busy:.2f} cores during some kept runs; those times are pessimistic"
              " (see 'other load' per run on stderr, or in the saved JSON).")
    return [header, *rows]


def print_checks(files: dict[str, dict], checks: dict[str, dict]) -> None:
    for tag, c in checks.items():
        exact = c.get("ok")
        label = "PASS" if exact else ("FAIL" if exact is False and tag != "bad" else "info")
        print(f"\nCheck [{tag}] requests per model, mlmon vs DuckDB: {label}")
        if "per_segment" not in c:
            print(f"  {c.get('note')}")
            continue
        for s, v in c["per_segment"].items():
            mark = "" if v["mlmon"] == v["duckdb"] else f"   (differs by {v['mlmon'] - v['duckdb']:+,})"
            print(f"  {s:14s} mlmon {v['mlmon']:>11,}  duckdb {v['duckdb']:>11,}{mark}")
        print(
            f"  windows: {c['windows_only_mlmon']} only in mlmon, {c['windows_only_duckdb']} only in DuckDB, "
            f"{c['windows_with_count_mismatch']} with different request/error counts"
        )
        diffs = ", ".join(f"{k} {v:.1e}" for k, v in c["max_relative_difference"].items())
        print(f"  largest relative difference per metric: {diffs}")
        line = f"  mlmon: {c['records']:,} records, {c['skipped']:,} bad lines skipped"
        if "generator_good_records" in c:
            ok = c["records"] == c["generator_good_records"] and c["skipped"] == c["generator_bad_lines"]
            line += (
                f"; generator wrote {c['generator_good_records']:,} good + {c['generator_bad_lines']:,} bad"
                f" -> {'matches' if ok else 'DOES NOT MATCH'}"
            )
        print(line)
        if c["skipped_by_reason"]:
            print("  skipped by reason: " + ", ".join(f"{k}: {v:,}" for k, v in c["skipped_by_reason"].items()))


def print_targets(files: dict[str, dict], clean_tag: str | None, bad_tag: str | None) -> list[str]:
    lines = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    for tag, entry in files.items():
        m, d = entry["tools"]["mlmon"], entry["tools"]["duckdb"]
        r = _ratio(m["best_s"], d["best_s"])
        rm = _ratio(m["median_s"], d["median_s"])
        if r is not None:
            lines.append(f"[{tag}] time <= 2x DuckDB: {r:.2f}x best, {rm:.2f}x median -> {verdict(max(r, rm) <= 2)}")
        if m["ok"]:
            lines.append(f"[{tag}] peak memory < 2 GB: {m['peak_rss_mb']:,.0f} MB -> {verdict(m['peak_rss_mb'] < 2048)}")
        else:
            lines.append(f"[{tag}] mlmon FAILED: no figures")
    if clean_tag and bad_tag:
        c, b = files[clean_tag]["tools"]["mlmon"], files[bad_tag]["tools"]["mlmon"]
        r, rm = _ratio(b["best_s"], c["best_s"]), _ratio(b["median_s"], c["median_s"])
        if r is not None:
            lines.append(f"[{bad_tag}] time <= 2x clean: {r:.2f}x best, {rm:.2f}x median -> {verdict(max(r, rm) <= 2)}")
    print("\nTargets (issue 'Speed and memory'):")
    for line in lines:
        print("  " + line)
    return lines


# ----------------------------------------------------------------------------- main

def ensure_file(path: Path | None, mb: float | None, bad_fraction: float, seed: int) -> Path:
    if path is None:
        if mb is None:
            raise SystemExit("bench_report: give a FILE, --mb N, or --clean/--bad")
        size = f"{mb / 1024:g}g" if mb >= 1024 else f"{mb:g}m"
        suffix = f"_bad{bad_fraction * 100:g}" if bad_fraction else ""
        path = DATA / f"logs_{size}{suffix}.jsonl"
    if not path.exists():
        if mb is None:
            raise SystemExit(f"bench_report: {path} does not exist (add --mb N to generate it)")
        cmd = [sys.executable, str(HERE / "generate_logs.py"), "--mb", str(mb), "--bad-fraction", str(bad_fraction),
               "--seed", str(seed), "-o", str(path)]
        print(f"generating {path}: {' '.join(cmd)}", file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", nargs="?", type=Path, help="log file to benchmark")
    ap.add_argument("--clean", type=Path, help="a clean log file (with --bad: one combined table)")
    ap.add_argument("--bad", type=Path, help="a log file with bad lines")
    ap.add_argument("--mb", type=float, help="generate missing files of this size in MiB")
    ap.add_argument("--bad-fraction", type=float, default=None,
                    help="bad-line fraction for a generated FILE (default 0) or --bad file (default 0.01)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3, help="runs per tool and file (default 3, at least 3 recommended)")
    ap.add_argument("--bad-runs", type=int, default=None, help="runs per tool for the --bad file (default: --runs)")
    ap.add_argument("--max-other-load", type=float, default=0.3,
                    help="repeat a run if other processes used more than this many cores meanwhile (default 0.3)")
    ap.add_argument("--retries", type=int, default=6, help="at most this many repeats per file (default 6)")
    ap.add_argument("--wait-quiet", type=float, default=120, metavar="SECONDS",
                    help="before each run, wait up to this long for the machine to be quiet (default 120; 0: never)")
    ap.add_argument("--every", default="1h")
    ap.add_argument("--by", default="model", help="segment field(s), top-level: model, model_version, endpoint")
    ap.add_argument("--before", metavar="REV",
                    help="also run mlmon as of this git revision (exported to a temporary directory), and check that "
                         "its report is the same")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    files: dict[str, Path] = {}
    clean_tag = bad_tag = None
    if args.clean or args.bad:
        if args.file:
            ap.error("give either FILE or --clean/--bad")
        if args.clean or args.mb:
            files["clean"] = ensure_file(args.clean, args.mb, 0.0, args.seed)
            clean_tag = "clean"
        if args.bad or args.mb:
            frac = 0.01 if args.bad_fraction is None else args.bad_fraction
            files["bad"] = ensure_file(args.bad, args.mb, frac, args.seed)
            bad_tag = "bad"
    else:
        path = ensure_file(args.file, args.mb, args.bad_fraction or 0.0, args.seed)
        meta = _meta(path)
        tag = "bad" if meta and meta.get("bad_lines") else "file"
        files[tag] = path
        clean_tag = "file" if tag == "file" else None

    byte_compile_mlmon()
    facts = machine_facts()
    print(
        f"{facts['date']}  nproc={facts['nproc']}  cpu={facts['cpu']!r}  mem={facts['memory_gib']} GiB  "
        f"python {facts['python']}  polars {facts['polars']}  duckdb {facts['duckdb']}  mlmon {facts['mlmon']} ({facts['mlmon_git']})",
        file=sys.stderr,
    )
    before = (args.before, export_revision(args.before)) if args.before else None
    results = {}
    for tag, path in files.items():
        runs = args.bad_runs if tag == "bad" and args.bad_runs else args.runs
        print(f"benchmarking [{tag}] {path} ({path.stat().st_size / MIB:,.0f} MiB), {runs} runs per tool", file=sys.stderr)
        results[tag] = bench_file(path, runs, args.every, args.by, tag, args.max_other_load, args.retries, args.wait_quiet,
                                  before)
    if before is not None:
        shutil.rmtree(before[1], ignore_errors=True)

    runs_text = f"{args.runs} runs each" + (f" ({args.bad_runs} on the bad file)" if args.bad_runs else "")
    print(f"\nmlmon report FILE --every {args.every} --by {args.by} vs DuckDB; {runs_text}; "
          f"{facts['nproc']} cores, {facts['cpu']}; polars {facts['polars']}, duckdb {facts['duckdb']}\n")
    table = print_table(results, clean_tag if clean_tag in results else None, args.max_other_load)
    checks = {tag: compare(entry, args.by, exact=(tag != "bad")) for tag, entry in results.items()}
    print_checks(results, checks)
    if before is not None:
        for tag, entry in results.items():
            same = same_as_before(entry)
            checks[tag]["same_as_before"] = same
            verdict = {True: "identical", False: "DIFFERENT", None: "not compared (a run failed)"}[same]
            print(f"\nCheck [{tag}] mlmon's report against mlmon@{args.before}'s (all but generated_at): {verdict}")
    targets = print_targets(results, clean_tag, bad_tag)
    for tag, entry in results.items():
        for tool, t in entry["tools"].items():
            if not t["ok"]:
                cmd = t["command"] if tool != "duckdb" else [*t["command"][:2], "DUCKDB_SCRIPT", *t["command"][3:]]
                print(f"\n[{tag}] {tool} FAILED: {' '.join(cmd)}\n{t['stderr_last']}")
            elif t["stderr_last"]:
                print(f"\n[{tag}] {tool} stderr: {t['stderr_last']}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    saved = RESULTS / f"bench_{stamp}.json"
    for entry in results.values():
        entry["tools"]["duckdb"]["command"] = entry["tools"]["duckdb"]["command"][:2] + ["DUCKDB_SCRIPT"] + entry["tools"]["duckdb"]["command"][3:]
    saved.write_text(json.dumps(
        {"machine": facts, "every": args.every, "by": args.by, "runs": args.runs, "bad_runs": args.bad_runs, "files": results,
         "checks": checks, "targets": targets, "table": table},
        indent=2,
    ) + "\n")
    print(f"\nsaved {saved}")
    failed = any(not t["ok"] for e in results.values() for t in e["tools"].values())
    differ = any(c.get("same_as_before") is False for c in checks.values())
    return 1 if failed or differ or any(c.get("ok") is False for c in checks.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
