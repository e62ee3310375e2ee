"""report --format parquet: one typed row per window and segment, for BI tools; read back with DuckDB."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest

from conftest import SAMPLE_LOGS

MLMON = str(Path(sys.executable).parent / "mlmon")
SAMPLES = [str(SAMPLE_LOGS / "churn.jsonl.gz"), str(SAMPLE_LOGS / "fraud.jsonl.gz")]


def test_parquet_rows_are_typed_and_true(tmp_path):
    out = tmp_path / "report.parquet"
    proc = subprocess.run([MLMON, "report", *SAMPLES, "--every", "6h", "--by", "model", "--format", "parquet",
                           "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    types = dict((r[0], r[1]) for r in duckdb.sql(f"DESCRIBE SELECT * FROM '{out}'").fetchall())
    assert types["window_start"] == types["window_end"] == "TIMESTAMP WITH TIME ZONE"
    assert types["request_count"] == "BIGINT" and types["latency_p95_ms"] == "DOUBLE" and types["model"] == "VARCHAR"
    rows = duckdb.sql(f"SELECT window_start, model, request_count, latency_p95_ms FROM '{out}' "
                      "ORDER BY window_start, model").fetchall()
    records = [json.loads(line) for path in SAMPLES for line in gzip.open(path, "rt")]
    assert sum(r[2] for r in rows) == len(records)
    start, model, count, p95 = rows[-1]  # the last window, checked against the logs themselves
    window = [r["latency_ms"] for r in records if r["model"] == model and
              start <= datetime.fromisoformat(r["ts"].replace("Z", "+00:00")) < start + timedelta(hours=6)]
    assert count == len(window)
    assert p95 == pytest.approx(np.percentile(window, 95), rel=1e-12)


def test_parquet_needs_a_file(tmp_path):
    proc = subprocess.run([MLMON, "report", *SAMPLES, "--format", "parquet"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "--format parquet needs -o FILE" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
