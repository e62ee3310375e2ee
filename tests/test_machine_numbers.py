"""Machine formats write floats to 12 significant digits and never a bare NaN or Infinity (README "JSON output")."""

import csv
import io
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import record, write_jsonl
from mlmon.cli import app
from mlmon.numbers import json_data, machine_number

runner = CliRunner()


def test_rounding_removes_float_noise_and_keeps_the_digits():
    assert 0.1 + 0.2 != 0.3 and machine_number(0.1 + 0.2) == 0.3
    assert machine_number(115.23999999999985) == 115.24
    assert machine_number(2 / 3) == 0.666666666667
    assert machine_number(1e-300 / 3) == pytest.approx(1e-300 / 3, rel=1e-12)
    assert machine_number(7) == 7 and machine_number(True) is True and machine_number(None) is None
    assert [machine_number(v) for v in (float("nan"), float("inf"), -float("inf"))] == [None, None, None]
    assert json_data({"a": [float("nan"), float("inf"), -float("inf"), 0.1 + 0.2]}) == {
        "a": ["NaN", "Infinity", "-Infinity", 0.1 + 0.2]}  # data stays whole


@pytest.fixture
def noisy(tmp_path):
    latencies = [0.1, 0.2, 0.7, 1.3]  # the mean and percentiles of these carry noise in the last digits
    rows = [record(ts=f"2026-11-27T10:00:0{i}Z", request_id=f"r{i}", latency_ms=v) for i, v in enumerate(latencies)]
    return write_jsonl(tmp_path / "n.jsonl", rows), np.array(latencies)


def test_report_json_and_csv_round_to_12_significant_digits(noisy):
    log, latencies = noisy
    expected = {"latency_mean_ms": latencies.mean(), "latency_p90_ms": np.percentile(latencies, 90),
                "latency_p95_ms": np.percentile(latencies, 95)}
    assert any(repr(v) != repr(float(f"{v:.12g}")) for v in expected.values())  # the data does carry noise
    doc = json.loads(runner.invoke(app, ["report", str(log), "--format", "json"]).stdout)
    rows = list(csv.DictReader(io.StringIO(runner.invoke(app, ["report", str(log), "--format", "csv"]).stdout)))
    for name, value in expected.items():
        assert doc["windows"][0]["metrics"][name] == float(f"{value:.12g}"), name
        assert rows[0][name] == repr(float(f"{value:.12g}")), name
