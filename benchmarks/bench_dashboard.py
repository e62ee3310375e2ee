#!/usr/bin/env python3
"""``mlmon dashboard``'s speed: the CPU of one refresh after 1 MB is appended to a 1 GiB log, and the time to the
first frame (``--once``) against ``mlmon report`` and DuckDB reading the same file.

    python benchmarks/bench_dashboard.py                       # generates /tmp/mlmon-dash-bench/logs_1g.jsonl
    python benchmarks/bench_dashboard.py --file big.jsonl --runs 5

The refresh is measured in this process, on the dashboard's own core (``Feed.poll`` then ``Feed.snapshot``,
what one refresh of the screen does), as CPU seconds of the process (all its threads), after each of
``--appends`` appends of 1 MB: lines taken from the log's own end, so they fall in its latest windows.
The file is cut back to its size at the end. The first frame is ``mlmon dashboard FILE --once`` in a
subprocess, wall and CPU time, beside ``mlmon report FILE --every 1h --by model --format json`` and the
DuckDB query of bench_report.py, each run ``--runs`` times (the median is printed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_report import ensure_file, measure, mlmon_exe, tool_commands, warm_cache  # noqa: E402

MB = 1_000_000


def tail_bytes(path: Path, size: int) -> bytes:
    """About ``size`` bytes of whole lines from the end of ``path``."""
    with open(path, "rb") as handle:
        handle.seek(max(0, os.path.getsize(path) - size - 65536))
        data = handle.read()
    data = data[data.index(b"\n") + 1:]
    cut = len(data) - size
    return data[data.index(b"\n", cut) + 1:] if cut > 0 else data


def bench_refresh(path: Path, every: str, windows: int, appends: int) -> dict:
    from mlmon.live.setup import open_feed

    feed = open_feed([str(path)], store=None, every=every, windows=windows)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    feed.poll()
    feed.snapshot()
    first = {"cpu": time.process_time() - cpu0, "wall": time.perf_counter() - wall0}
    chunk = tail_bytes(path, MB)
    size = os.path.getsize(path)
    cpu, wall, read = [], [], []
    try:
        for _ in range(appends):
            with open(path, "ab") as out:
                out.write(chunk)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            batch = feed.poll()
            feed.snapshot()
            cpu.append(time.process_time() - cpu0)
            wall.append(time.perf_counter() - wall0)
            read.append(batch.bytes_read)
        idle0 = time.process_time()
        feed.poll()
        feed.snapshot()
        idle = time.process_time() - idle0
    finally:
        os.truncate(path, size)
    rows = feed.state.rows().height
    return {"first_read": first, "refresh_cpu": cpu, "refresh_wall": wall, "bytes_read": read,
            "idle_refresh_cpu": idle, "rows_kept": rows, "records_read": feed.records}


def bench_first_frame(path: Path, runs: int) -> dict:
    commands = {"mlmon dashboard --once": [mlmon_exe(), "dashboard", str(path), "--once"]}
    for tool, (cmd, _out, _stdout) in tool_commands(path, "1h", "model", "dash").items():
        commands[f"{tool} (report --every 1h --by model)" if tool == "mlmon" else "duckdb (same query)"] = cmd
    results: dict[str, list[dict]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            result = measure(cmd)
            if result["returncode"] != 0:
                raise SystemExit(f"{name} failed: {result['stderr']}")
            results[name].append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file", type=Path, default=Path("/tmp/mlmon-dash-bench/logs_1g.jsonl"))
    ap.add_argument("--mb", type=float, default=1024, help="size to generate when --file is missing")
    ap.add_argument("--every", default="1m")
    ap.add_argument("--windows", type=int, default=60)
    ap.add_argument("--appends", type=int, default=7)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    args.file.parent.mkdir(parents=True, exist_ok=True)
    path = ensure_file(args.file, args.mb, 0.0, 1)
    warm_cache(path)
    print(f"file: {path} ({os.path.getsize(path) / 2**30:.2f} GiB), --every {args.every} --windows {args.windows}")
    refresh = bench_refresh(path, args.every, args.windows, args.appends)
    cpu_ms = [c * 1000 for c in refresh["refresh_cpu"]]
    print(f"first read in-process: {refresh['first_read']['wall']:.2f} s wall, {refresh['first_read']['cpu']:.2f} s CPU; "
          f"{refresh['records_read']:,} records read, {refresh['rows_kept']:,} rows kept for the visible range")
    print(f"refresh after 1 MB appended ({len(cpu_ms)} times, {statistics.median(refresh['bytes_read']):,.0f} bytes "
          f"read each): CPU median {statistics.median(cpu_ms):.0f} ms, max {max(cpu_ms):.0f} ms; wall median "
          f"{statistics.median(refresh['refresh_wall']) * 1000:.0f} ms; a refresh with nothing new: "
          f"{refresh['idle_refresh_cpu'] * 1000:.0f} ms CPU")
    print(f"target: < 100 ms CPU: {'met' if statistics.median(cpu_ms) < 100 else 'NOT met'}")
    frames = bench_first_frame(path, args.runs)
    print(f"\n{'first frame / whole-file read':45} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12}")
    for name, runs in frames.items():
        print(f"{name:45} {statistics.median(r['seconds'] for r in runs):8.2f} "
              f"{statistics.median(r['cpu_seconds'] for r in runs):8.2f} "
              f"{statistics.median(r['peak_rss_mb'] for r in runs):12.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
