"""--format prometheus: valid text exposition (prometheus_client's own parser), true values, escaped labels."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from conftest import ROOT, SAMPLE_LOGS, record, write_jsonl
from mlmon.cli import app

MLMON = str(Path(sys.executable).parent / "mlmon")
SAMPLES = [str(SAMPLE_LOGS / "churn.jsonl.gz"), str(SAMPLE_LOGS / "fraud.jsonl.gz")]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def samples(text: str) -> dict[tuple, float]:
    """(name, sorted labels) -> value, parsed by prometheus_client; each family has its HELP and TYPE."""
    out = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge" and family.documentation
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_report_writes_the_latest_windows_values_in_base_units():
    result = invoke("report", *SAMPLES, "--every", "6h", "--by", "model,model_version", "--format", "prometheus",
                    "--now", "2026-11-27T00:00Z")
    assert result.exit_code == 0, result.stderr
    got = samples(result.stdout)
    # Independent oracle: the sample logs' last 6 h window (18:00 to 24:00 on 2026-11-26), read with Python.
    rows = [json.loads(line) for path in SAMPLES for line in gzip.open(path, "rt")]
    start = datetime(2026, 11, 26, 18, tzinfo=timezone.utc).timestamp()
    for model, version in {(r["model"], r["model_version"]) for r in rows}:
        window = [r for r in rows if r["model"] == model and r["model_version"] == version
                  and datetime.fromisoformat(r["ts"].replace("Z", "+00:00")).timestamp() >= start]
        labels = (("model", model), ("model_version", version))
        assert got[("mlmon_window_requests", labels)] == len(window)
        if not window:
            continue
        latencies = np.array([r["latency_ms"] for r in window]) / 1000
        assert abs(got[("mlmon_latency_p95_seconds", labels)] - np.percentile(latencies, 95)) < 1e-12
        failed = sum(1 for r in window if r["status"] >= 500 or r["error"])
        assert abs(got[("mlmon_error_ratio", labels)] - failed / len(window)) < 1e-12
        assert abs(got[("mlmon_memory_max_bytes", labels)] - max(r["memory_mb"] for r in window) * 1e6) < 1e-3
        assert abs(got[("mlmon_cpu_mean_ratio", labels)] - np.mean([r["cpu_percent"] for r in window]) / 100) < 1e-12
    assert got[("mlmon_records", ())] == len(rows)
    assert got[("mlmon_skipped_lines", ())] == 0
    assert got[("mlmon_window_start_timestamp_seconds", ())] == start
    assert ("mlmon_last_run_timestamp_seconds", ()) in got


def test_per_field_drift_metrics_carry_the_field_as_a_label():
    result = invoke("report", *SAMPLES, "--every", "1d", "--by", "model", "--format", "prometheus",
                    "--baseline-range", "2026-11-25T00:00Z..2026-11-25T12:00Z")
    got = samples(result.stdout)
    raw = json.loads(invoke("report", *SAMPLES, "--every", "1d", "--by", "model", "--format", "json",
                            "--baseline-range", "2026-11-25T00:00Z..2026-11-25T12:00Z").stdout)
    last = [w for w in raw["windows"] if w["start"] == raw["windows"][-1]["start"]]
    churn = next(w for w in last if w["segment"]["model"] == "churn")["metrics"]
    # JSON rounds to 12 significant digits (README "JSON output"); the text format writes the full value.
    assert got[("mlmon_drift_psi", (("field", "plan"), ("model", "churn")))] == pytest.approx(churn["psi.plan"], rel=1e-11)
    assert got[("mlmon_drift_detected", (("field", "plan"), ("model", "churn")))] == float(churn["drifted.plan"])
    assert got[("mlmon_drift_share_ratio", (("model", "churn"),))] == pytest.approx(churn["drift_share"], rel=1e-11)


def test_check_exports_the_firing_alerts_through_the_entry_point(tmp_path):
    out = tmp_path / "mlmon.prom"
    proc = subprocess.run([MLMON, "check", *SAMPLES, "--rules", str(ROOT / "rules.example.yaml"), "--format",
                           "prometheus", "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr  # the gate fired, and the file is still written
    got = samples(out.read_text())
    firing = json.loads(invoke("check", *SAMPLES, "--rules", ROOT / "rules.example.yaml", "--format", "json").stdout)
    active = [a for a in firing["alerts"] if a.get("active", True)]
    assert got[("mlmon_alerts_firing", ())] == len(active)
    keys = [k for k in got if k[0] == "mlmon_alert_active"]
    assert len(keys) == len(active)
    assert (("model", "churn"), ("model_version", "v2"), ("rule", "slow-p95"), ("severity", "warning")) in [k[1] for k in keys]


def test_log_text_cannot_break_a_line_or_forge_a_series(tmp_path):
    hostile = 'a"b\\c\nmlmon_alerts_firing 99\n} x{'
    log = write_jsonl(tmp_path / "app.jsonl", [record(model=hostile), record(model="plain", request_id="r2")])
    result = invoke("report", log, "--by", "model", "--format", "prometheus")
    assert result.exit_code == 0, result.stderr
    got = samples(result.stdout)
    assert got[("mlmon_window_requests", (("model", hostile),))] == 1
    assert ("mlmon_alerts_firing", ()) not in got
    assert all(line.startswith(("#", "mlmon_")) for line in result.stdout.splitlines())


def test_a_segment_named_like_a_label_mlmon_sets_is_renamed(tmp_path):
    log = write_jsonl(tmp_path / "app.jsonl", [record(request={"field": "x", "age": 3})])
    result = invoke("report", log, "--by", "input.field", "--format", "prometheus")
    got = samples(result.stdout)
    assert got[("mlmon_window_requests", (("input_field", "x"),))] == 1
