#!/usr/bin/env python3
"""Time mlmon's start-up against ``import polars``: what every cron and CI run pays.

    python benchmarks/bench_startup.py                  # the mlmon beside this Python, 10 runs each
    python benchmarks/bench_startup.py --runs 30
    python benchmarks/bench_startup.py --python /tmp/before/bin/python   # another install, e.g. an older commit

Each run is a fresh process, timed from spawn to exit; the table gives the
median and the fastest of ``--runs`` runs, each with its ratio to that of
``python -c "import polars"``, and the median CPU time (user + system, from
``os.wait4``), which a busy machine disturbs less than wall time. The runs of
the commands alternate, so a busy moment falls on all of them; the load average
is printed with the table. The log is the first 10 lines of
``sample_logs/churn.jsonl.gz``; ``check`` uses ``rules.example.yaml``.

Then one ``mlmon report`` runs under ``python -X importtime`` and the import
time is summed per top-level package (the time of a module's own code, not of
the modules it imports), largest first.

mlmon's bytecode is compiled first (as ``pip install`` does), unless
``--no-compile``: with ``PYTHONDONTWRITEBYTECODE`` set and an editable install,
Python would otherwise compile every mlmon module on every run, about 0.1 s here.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each command (default 10)")
    parser.add_argument("--python", default=sys.executable, help="the Python whose mlmon is timed (default: this one)")
    parser.add_argument("--top", type=int, default=12, help="packages listed from -X importtime (default 12)")
    parser.add_argument("--no-compile", action="store_true", help="leave mlmon's bytecode as it is")
    args = parser.parse_args()

    python = Path(args.python)
    mlmon = python.parent / "mlmon"
    if not args.no_compile:
        compile_mlmon(python)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "ten.jsonl"
        with gzip.open(ROOT / "sample_logs" / "churn.jsonl.gz", "rt", encoding="utf-8") as handle:
            log.write_text("".join(next(handle) for _ in range(10)), encoding="utf-8")
        cases = {
            'python -c "import polars"': [str(python), "-c", "import polars"],
            'python -c "import duckdb"': [str(python), "-c", "import duckdb"],
            "mlmon --version": [str(mlmon), "--version"],
            "mlmon report 10-line-file": [str(mlmon), "report", str(log)],
            "mlmon check 10-line-file --rules rules.example.yaml": [
                str(mlmon), "check", str(log), "--rules", str(ROOT / "rules.example.yaml")],
        }
        if subprocess.run([str(python), "-c", "import duckdb"], capture_output=True).returncode != 0:
            del cases['python -c "import duckdb"']
        times = time_cases(cases, args.runs)
        print_table(times, args.runs)
        print()
        print_import_costs([str(python), "-X", "importtime", str(mlmon), "report", str(log)], args.top)


def compile_mlmon(python: Path) -> None:
    """Write the bytecode of the mlmon that ``python`` imports, as ``pip install`` does."""
    where = subprocess.run([str(python), "-c", "import mlmon, os; print(os.path.dirname(mlmon.__file__))"],
                           capture_output=True, text=True, check=True, cwd="/").stdout.strip()
    subprocess.run([str(python), "-m", "compileall", "-q", where], check=True, stdout=subprocess.DEVNULL)


def time_cases(cases: dict[str, list[str]], runs: int) -> dict[str, list[tuple[float, float]]]:
    """(wall, CPU) seconds of each command, ``runs`` times, the commands alternating; one untimed round first."""
    times: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for round_ in range(runs + 1):
        for name, argv in cases.items():
            start = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
            _, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode not in (0, 1):
                sys.exit(f"{name} failed (exit {proc.returncode}): {' '.join(argv)}")
            if round_:  # the first round warms the page cache
                times[name].append((elapsed, usage.ru_utime + usage.ru_stime))
    return times


def print_table(times: dict[str, list[tuple[float, float]]], runs: int) -> None:
    base = times['python -c "import polars"']
    base_median, base_min = statistics.median(w for w, _ in base), min(w for w, _ in base)
    width = max(map(len, times))
    print(f"{runs} runs each; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"{'command':<{width}}  {'median s':>8}  {'ratio':>5}  {'min s':>6}  {'ratio':>5}  {'CPU s':>6}")
    for name, values in times.items():
        walls = [w for w, _ in values]
        median, fastest = statistics.median(walls), min(walls)
        cpu = statistics.median(c for _, c in values)
        print(f"{name:<{width}}  {median:8.3f}  {median / base_median:5.2f}  {fastest:6.3f}  {fastest / base_min:5.2f}"
              f"  {cpu:6.3f}")


def print_import_costs(argv: list[str], top: int) -> None:
    """The import time of one run, summed per top-level package, from ``-X importtime``."""
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    by_package: dict[str, int] = defaultdict(int)
    total = 0
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line.split(":", 1)[1].split("|")
        package = name.strip().split(".")[0]
        by_package[package] += int(own)
        total += int(own)
    print(f"Import time of one `mlmon report`, per top-level package (own code only): {total / 1000:.0f} ms in all")
    for package, micros in sorted(by_package.items(), key=lambda item: -item[1])[:top]:
        print(f"  {micros / 1000:7.1f} ms  {package}")


if __name__ == "__main__":
    main()
