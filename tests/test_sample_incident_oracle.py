"""The sample incident's alert values, recomputed from sample_logs/ by DuckDB.

The golden files and the notification tests quote 0.0293, 238.85 and 4.0794 (p99 336.14 ms); here they
come from the logs by an independent engine, so that a change to the sample or to the metrics that
moved them would fail one test that says which number moved.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from conftest import ROOT, SAMPLE_LOGS

FILES = sorted(str(p) for p in SAMPLE_LOGS.glob("*.jsonl.gz"))
MLMON = str(Path(sys.executable).parent / "mlmon")

NOW = "2026-11-27T00:00:00Z"
FOR = {"slow-p95": 2}  # rules.example.yaml's `for:`


@pytest.fixture(scope="module")
def logs():
    con = duckdb.connect()
    files = ", ".join(f"'{p}'" for p in FILES)
    con.execute(f"""CREATE TABLE logs AS SELECT CAST(ts AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS ts, model, model_version,
                    status, error, latency_ms FROM read_json([{files}], format='newline_delimited')""")
    return con


def one(con, sql: str) -> tuple:
    return con.execute(sql).fetchone()


@pytest.fixture(scope="module")
def expected(logs):
    """Each rule's worst value (README: the largest, for ``>``) over the windows where it breaches."""
    errors = logs.execute("""SELECT time_bucket(INTERVAL 1 hour, ts) AS w, count(*) AS n,
            count(*) FILTER (WHERE status >= 500 OR error IS NOT NULL) / count(*) AS rate
        FROM logs WHERE model = 'churn' AND model_version = 'v2' GROUP BY w
        HAVING rate > 0.02 AND n >= 100 ORDER BY w""").fetchall()
    slow = logs.execute("""SELECT time_bucket(INTERVAL 1 hour, ts) AS w, quantile_cont(latency_ms, 0.95) AS p95
        FROM logs WHERE model = 'churn' AND model_version = 'v2' GROUP BY w
        HAVING p95 > 180 AND count(*) >= 100 ORDER BY w""").fetchall()
    tail = logs.execute("""SELECT time_bucket(INTERVAL 6 hour, ts) AS w,
            quantile_cont(latency_ms, 0.99) / quantile_cont(latency_ms, 0.5) AS ratio, quantile_cont(latency_ms, 0.99)
        FROM logs WHERE model_version = 'v2' GROUP BY w HAVING ratio > 3.5 ORDER BY w""").fetchall()
    worst_tail = max(tail, key=lambda row: row[1])
    return {"churn-error-spike": max(r[2] for r in errors), "slow-p95": max(r[1] for r in slow[FOR["slow-p95"] - 1:]),
            "latency-tail-ratio": worst_tail[1], "p99": worst_tail[2],
            "requests": next(r[1] for r in errors if r[2] == max(e[2] for e in errors)),
            "windows": {"churn-error-spike": [r[0] for r in errors], "slow-p95": [r[0] for r in slow],
                        "latency-tail-ratio": [r[0] for r in tail]}}


def test_the_quoted_values_are_what_the_logs_hold(expected):
    assert (expected["requests"], f"{expected['churn-error-spike']:.4f}") == (580, "0.0293")
    assert f"{expected['slow-p95']:.2f}" == "238.85"
    assert (f"{expected['latency-tail-ratio']:.4f}", f"{expected['p99']:.2f}") == ("4.0794", "336.14")


def test_mlmon_check_fires_with_those_values_in_those_windows(expected):
    proc = subprocess.run([MLMON, "check", *FILES, "--rules", str(ROOT / "rules.example.yaml"), "--now", NOW,
                           "--format", "json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    alerts = {a["rule"]: a for a in json.loads(proc.stdout)["alerts"]}
    assert alerts.keys() == {"churn-error-spike", "slow-p95", "latency-tail-ratio"}
    for rule, windows in expected["windows"].items():
        windows = windows[FOR.get(rule, 1) - 1:]  # `for: N`: the first N-1 breaching windows are pending
        first, last = (w.strftime("%Y-%m-%dT%H:%M:%SZ") for w in (windows[0], windows[-1]))
        assert (alerts[rule]["first_window"], alerts[rule]["last_window"]) == (first, last), rule
        assert alerts[rule]["windows_firing"] == len(windows), rule  # these rules breach in consecutive windows
        assert alerts[rule]["value"] == pytest.approx(expected[rule], rel=1e-9), rule
