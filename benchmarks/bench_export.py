#!/usr/bin/env python3
"""Time ``mlmon export`` against DuckDB doing the same COPY, with peak memory.

    python benchmarks/bench_export.py benchmarks/data/logs_1g.jsonl --runs 3
    python benchmarks/bench_export.py --mb 256            # -> benchmarks/data/logs_256m.jsonl, generated if missing

Both write one Parquet row per record with ``ts``, ``request_id``, ``model``, ``model_version``,
``status`` and the request's and response's fields as typed columns:

* mlmon: ``mlmon export FILE -o OUT.parquet`` (streamed chunk by chunk through a spill, zstd);
* DuckDB: ``COPY (SELECT ts, request_id, model, model_version, status, request.*, response.*
  FROM read_ndjson(FILE, ignore_errors = true)) TO OUT.parquet`` (its defaults: schema from a
  sample of rows, snappy).

Each run is a fresh subprocess; wall time from spawn to exit, peak memory from ``os.wait4``'s
``ru_maxrss`` (see ``bench_report.measure``). The runs alternate, after the file was read once into
the page cache. The row counts of both outputs must agree.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_report import measure, mlmon_exe, warm_cache  # noqa: E402

DUCKDB_COPY = r'''
import sys, duckdb
duckdb.sql(f"""COPY (SELECT ts, request_id, model, model_version, status, request.*, response.*
               FROM read_ndjson('{sys.argv[1]}', ignore_errors = true)) TO '{sys.argv[2]}' (FORMAT parquet)""")
'''


def rows(path: Path) -> int:
    return duckdb.sql(f"SELECT count(*) FROM '{path}'").fetchall()[0][0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path)
    parser.add_argument("--mb", type=int, default=256, help="size of the file to generate when none is given")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    path = args.file or HERE / "data" / f"logs_{args.mb}m.jsonl"
    if not path.exists():
        subprocess.run([sys.executable, str(HERE / "generate_logs.py"), "--mb", str(args.mb), "--seed", "1",
                        "-o", str(path)], check=True)
    warm_cache(path)
    results: dict[str, list[dict]] = {"mlmon": [], "duckdb": []}
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        outs = {"mlmon": Path(tmp) / "mlmon.parquet", "duckdb": Path(tmp) / "duckdb.parquet"}
        commands = {"mlmon": [mlmon_exe(), "export", str(path), "-o", str(outs["mlmon"])],
                    "duckdb": [sys.executable, "-c", DUCKDB_COPY, str(path), str(outs["duckdb"])]}
        for _ in range(args.runs):
            for tool, command in commands.items():
                run = measure(command)
                if run["returncode"] != 0:
                    raise SystemExit(f"{tool} failed: {run['stderr'][-2000:]}")
                results[tool].append(run)
        counts = {tool: rows(out) for tool, out in outs.items()}
        sizes = {tool: out.stat().st_size for tool, out in outs.items()}
    size_mb = path.stat().st_size / 2**20
    print(f"{path.name}: {size_mb:,.0f} MiB, {args.runs} runs each (median; peak RSS is the largest)")
    print(f"{'tool':8s} {'seconds':>8s} {'MB/s':>7s} {'peak RSS MB':>12s} {'rows':>11s} {'output MB':>10s}")
    for tool, runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        peak = max(r["peak_rss_mb"] for r in runs)
        print(f"{tool:8s} {seconds:8.2f} {size_mb / seconds:7.1f} {peak:12.0f} {counts[tool]:>11,} "
              f"{sizes[tool] / 2**20:10.1f}")
    if counts["mlmon"] != counts["duckdb"]:
        print(f"ROWS DIFFER: mlmon {counts['mlmon']:,}, duckdb {counts['duckdb']:,}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
