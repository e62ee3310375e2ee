"""Time `mlmon check` with many rules over the sample logs (issue 11, item 16).

    python benchmarks/bench_rules.py                 # 1,000 and 10,000 rules
    python benchmarks/bench_rules.py --rules 50000

Rules come in 6 shapes (3 `by` × 2 `every`), as a large generated rules file would:
rules that share `where`, `every` and `by` share one metric table, so the cost per rule
is the cost of judging its condition, not of computing metrics. For scale, the same
run times DuckDB computing the 6 distinct tables' request counts and p95 latencies over
the same logs, which is the work every rule shape needs at the least.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOGS = sorted(str(p) for p in (ROOT / "sample_logs").glob("*.jsonl.gz"))
BYS = ("[model]", "[model, model_version]", "[]")
EVERYS = ("1h", "30m")


def rules_file(n: int, path: Path) -> Path:
    lines = ["rules:"]
    for i in range(n):
        lines += [f"  - name: r{i}", f"    expr: latency_p95_ms > {1000 + i} or error_rate > 0.5",
                  f"    by: {BYS[i % 3]}", f"    every: {EVERYS[i % 2]}"]
        if i % 10 == 0:
            lines.append("    for: 3")
    path.write_text("\n".join(lines) + "\n")
    return path


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        sys.exit(f"failed: {' '.join(args)}\n{proc.stderr}")
    return time.perf_counter() - start


def duckdb_tables() -> float:
    import duckdb

    start = time.perf_counter()
    con = duckdb.connect()
    files = ", ".join(f"'{f}'" for f in LOGS)
    con.execute(f"CREATE TABLE r AS SELECT CAST(ts AS TIMESTAMPTZ) AS ts, model, model_version, latency_ms, "
                f"status FROM read_ndjson([{files}], columns={{ts: 'VARCHAR', model: 'VARCHAR', "
                f"model_version: 'VARCHAR', latency_ms: 'DOUBLE', status: 'BIGINT'}})")
    for by in ("model", "model, model_version", ""):
        for every in ("1 hour", "30 minutes"):
            keys = f"time_bucket(INTERVAL '{every}', ts)" + (f", {by}" if by else "")
            con.execute(f"SELECT {keys}, count(*), quantile_cont(latency_ms, 0.95), avg((status >= 500)::INT) "
                        f"FROM r GROUP BY ALL").fetchall()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", type=int, nargs="*", default=[1000, 10000])
    args = parser.parse_args()
    mlmon = shutil.which("mlmon") or str(Path(sys.executable).parent / "mlmon")
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'rules':>8} {'validate s':>11} {'check s':>9} {'check ms/rule':>14}")
        for n in args.rules:
            path = rules_file(n, Path(tmp) / f"r{n}.yaml")
            validate = timed([mlmon, "rules", "validate", str(path)])
            check = timed([mlmon, "check", *LOGS, "--rules", str(path), "--format", "json", "-o", str(Path(tmp) / "o")])
            print(f"{n:>8,} {validate:>11.2f} {check:>9.2f} {1000 * check / n:>14.3f}")
    print(f"DuckDB, the 6 distinct tables over the same logs: {duckdb_tables():.2f} s")


if __name__ == "__main__":
    main()
