#!/usr/bin/env python3
"""Time and peak memory of ``mlmon baseline save`` and ``report --baseline`` on requests with ever new keys.

    python benchmarks/bench_many_keys.py                      # 100, 1,000 and 10,000 lines of 20 new keys each
    python benchmarks/bench_many_keys.py --lines 100,1000 --keys 20 --max-fields 1000

Issue 11, item 15: with 20 keys of its own in every request, 100 lines took 16.7 s in
``baseline save`` and 5,000 lines (100,000 keys) reached 4.5 GB and aborted. mlmon now
decodes at most ``--max-fields`` request fields (the most frequent), so time and memory
should grow linearly with the lines, not with the square of the keys. Each line also holds
``a`` (a number) and ``b`` (every other line), which are among those kept.

Each run is a fresh subprocess, measured as in ``bench_report.py`` (wall time, and peak
RSS from ``wait4``). Files go to ``benchmarks/data/``, results to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench_report import DATA, RESULTS, measure, mlmon_exe


def write_logs(path: Path, lines: int, keys: int) -> Path:
    """``lines`` records whose requests hold ``keys`` keys of their own, plus ``a`` and, every other line, ``b``."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as out:
        for i in range(lines):
            request = {f"k{i}_{j}": j for j in range(keys)} | {"a": float(i)} | ({"b": i % 7} if i % 2 == 0 else {})
            record = {"ts": f"2026-11-27T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z", "request_id": f"r{i}",
                      "model": "m", "status": 200, "latency_ms": 10.0, "request": request, "response": {"label": "a"}}
            out.write(json.dumps(record) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", default="100,1000,10000", help="comma-separated line counts")
    parser.add_argument("--keys", type=int, default=20, help="new keys in each request")
    parser.add_argument("--max-fields", type=int, default=None, help="passed to mlmon (its default: 1,000)")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    extra = ["--max-fields", str(args.max_fields)] if args.max_fields else []
    rows = []
    print(f"{'lines':>7} {'keys':>9}  {'save s':>7} {'save MB':>8}  {'report s':>8} {'report MB':>9}")
    for lines in (int(n) for n in args.lines.split(",")):
        logs = write_logs(DATA / f"many_keys_{lines}x{args.keys}.jsonl", lines, args.keys)
        profile = RESULTS / f"many_keys_{lines}x{args.keys}.profile.json"
        save = measure([mlmon_exe(), "baseline", "save", str(logs), "-o", str(profile), *extra])
        report = measure([mlmon_exe(), "report", str(logs), "--baseline", str(profile), "--format", "json",
                          "-o", str(RESULTS / f"many_keys_{lines}x{args.keys}.report.json"), *extra])
        for name, run in (("baseline save", save), ("report", report)):
            if run["returncode"] != 0:
                raise SystemExit(f"{name} failed on {logs}:\n{run['stderr']}")
        rows.append({"lines": lines, "keys": lines * args.keys + 2, "save": save, "report": report})
        print(f"{lines:>7,} {lines * args.keys + 2:>9,}  {save['seconds']:>7.2f} {save['peak_rss_mb']:>8.0f}  "
              f"{report['seconds']:>8.2f} {report['peak_rss_mb']:>9.0f}")
    (RESULTS / "many_keys.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
