#!/usr/bin/env python3
"""Time ``mlmon report`` over a directory of many small log files, beside DuckDB's ``read_ndjson``.

    python benchmarks/bench_many_files.py                       # 3,000 files of 2-6 lines
    python benchmarks/bench_many_files.py --files 300 --runs 5
    python benchmarks/bench_many_files.py --files 200 --lines 2000   # fewer, larger files

Issue 11 measured 31 s for a 3,000-file input: each file paid a dozen Polars plans
whatever its size. The files are cut from ``generate_logs.py``'s output (the same
records for the same ``--seed``), each holding ``--lines`` lines on average (from half
to one and a half times that), into ``benchmarks/data/many_<files>x<lines>/``. Each run
is a fresh subprocess, the tools alternate, and the request counts per model of both
are compared. Both run the query of ``bench_report.py`` (``--every 1h --by model``);
DuckDB reads the directory with one glob.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from random import Random

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_report import DATA, DUCKDB_SCRIPT, RESULTS, byte_compile_mlmon, measure, mlmon_exe  # noqa: E402

LINE_BYTES = 420  # about, in generate_logs.py's output


def make_files(files: int, lines: int, seed: int) -> Path:
    """``files`` log files of about ``lines`` lines each, cut from one generated file; made once."""
    folder = DATA / f"many_{files}x{lines}"
    if folder.is_dir() and len(list(folder.glob("*.jsonl"))) == files:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    source = DATA / f"many_source_{files}x{lines}.jsonl"
    mb = max(1.0, files * lines * 1.6 * LINE_BYTES / 2**20)
    subprocess.run([sys.executable, str(HERE / "generate_logs.py"), "--mb", f"{mb:.2f}", "--seed", str(seed),
                    "-o", str(source)], check=True, capture_output=True)
    rng = Random(seed)
    with open(source, encoding="utf-8") as text:
        for n in range(files):
            count = rng.randint(max(1, lines // 2), max(1, lines * 3 // 2))
            chunk = [text.readline() for _ in range(count)]
            (folder / f"app-{n:05d}.jsonl").write_text("".join(chunk), encoding="utf-8")
    source.unlink()
    return folder


def per_model(tool: str, path: Path) -> dict[str, int]:
    document = json.loads(path.read_text())
    counts: dict[str, int] = {}
    if tool == "mlmon":
        for window in document["windows"]:
            model = window["segment"]["model"]
            counts[model] = counts.get(model, 0) + (window["metrics"]["request_count"] or 0)
    else:
        for row in document["rows"]:
            counts[row["model"]] = counts.get(row["model"], 0) + row["request_count"]
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=3000, help="how many files (default 3,000)")
    ap.add_argument("--lines", type=int, default=4, help="lines per file, on average (default 4)")
    ap.add_argument("--runs", type=int, default=3, help="runs per tool (default 3)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    folder = make_files(args.files, args.lines, args.seed)
    size = sum(p.stat().st_size for p in folder.glob("*.jsonl"))
    byte_compile_mlmon()
    RESULTS.mkdir(parents=True, exist_ok=True)
    outputs = {"mlmon": RESULTS / f"many_mlmon_{folder.name}.json", "duckdb": RESULTS / f"many_duckdb_{folder.name}.json"}
    commands = {
        "mlmon": [mlmon_exe(), "report", str(folder), "--every", "1h", "--by", "model", "--format", "json",
                  "-o", str(outputs["mlmon"])],
        "duckdb": [sys.executable, "-c", DUCKDB_SCRIPT, str(folder / "*.jsonl"), str(outputs["duckdb"]), "1 hours",
                   "model"],
    }
    times: dict[str, list[float]] = {"mlmon": [], "duckdb": []}
    peaks: dict[str, list[float]] = {"mlmon": [], "duckdb": []}
    for _ in range(args.runs):
        for tool, cmd in commands.items():
            run = measure(cmd)
            if run["returncode"] != 0:
                raise SystemExit(f"{tool} failed ({run['returncode']}): {run['stderr'][-2000:]}")
            times[tool].append(run["seconds"])
            peaks[tool].append(run["peak_rss_mb"])
    counts = {tool: per_model(tool, out) for tool, out in outputs.items()}
    print(f"{args.files:,} files, {size / 2**20:.1f} MiB, {sum(counts['mlmon'].values()):,} records; "
          f"{args.runs} runs each (wall time: median, min-max; peak RSS)")
    for tool in commands:
        t = times[tool]
        print(f"  {tool:<7} {statistics.median(t):6.2f} s  ({min(t):.2f}-{max(t):.2f})  {max(peaks[tool]):7.0f} MB")
    ratio = statistics.median(times["mlmon"]) / statistics.median(times["duckdb"])
    print(f"  mlmon / DuckDB: {ratio:.2f}x")
    same = counts["mlmon"] == counts["duckdb"]
    print(f"  requests per model {'agree' if same else 'DIFFER'}: {json.dumps(counts['mlmon'], sort_keys=True)}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
