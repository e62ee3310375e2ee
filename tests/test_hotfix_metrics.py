"""hotfix_count and hotfix_rate: read from the ``hotfix`` field, per window and segment, checked against
plain Python and DuckDB; rules alert on them; a RequestLogger's files round-trip with exact counts."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime

import duckdb
import pytest
from conftest import record, write_jsonl
from typer.testing import CliRunner

from mlmon.cli import app
from mlmon.hotfix import HotfixLayer
from mlmon.logging import RequestLogger

runner = CliRunner()


def _rows(n: int = 400, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        ts = datetime(2026, 11, 27, 8 + rng.randrange(5), rng.randrange(60), rng.randrange(60), tzinfo=UTC)
        row = record(ts=ts.strftime("%Y-%m-%dT%H:%M:%SZ"), request_id=f"r{i}", model_version=rng.choice(["v1", "v2"]))
        kind = rng.random()
        if kind < 0.2:
            row["hotfix"] = rng.choice(["block-xx", "big-amount"])
        elif kind < 0.25:
            row["hotfix"] = ""  # no name: the model answered
        elif kind < 0.3:
            row["hotfix"] = None
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    rows = _rows()
    return write_jsonl(tmp_path_factory.mktemp("hf") / "hf.jsonl", rows), rows


def _report(path, *args) -> dict:
    result = runner.invoke(app, ["report", str(path), *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_per_window_and_segment_match_plain_python(logs):
    path, rows = logs
    doc = _report(path, "--every", "1h", "--by", "model_version")
    expected_n, expected_hot = Counter(), Counter()
    for r in rows:
        key = (r["ts"][:13] + ":00:00Z", r["model_version"])
        expected_n[key] += 1
        expected_hot[key] += bool(r.get("hotfix"))
    got = {(w["start"], w["segment"]["model_version"]): w["metrics"] for w in doc["windows"]}
    assert set(got) == set(expected_n)
    for key, metrics in got.items():
        assert metrics["hotfix_count"] == expected_hot[key], key
        assert metrics["hotfix_rate"] == pytest.approx(expected_hot[key] / expected_n[key], abs=1e-11), key


def test_whole_range_by_hotfix_matches_duckdb(logs):
    path, _ = logs
    doc = _report(path, "--by", "hotfix")
    oracle = dict(duckdb.sql(
        f"select nullif(hotfix, '') as h, count(*) from read_json_auto('{path}', format='newline_delimited') "
        "group by h").fetchall())
    got = {w["segment"]["hotfix"]: w["metrics"] for w in doc["windows"]}
    assert {k: m["request_count"] for k, m in got.items()} == oracle
    assert got[None]["hotfix_count"] == 0 and got["block-xx"]["hotfix_rate"] == 1.0


def test_csv_and_prometheus_name_them_as_the_others(logs):
    path, rows = logs
    csv = runner.invoke(app, ["report", str(path), "--format", "csv"]).stdout.splitlines()
    header, values = csv[0].split(","), csv[1].split(",")
    hot = sum(bool(r.get("hotfix")) for r in rows)
    assert int(values[header.index("hotfix_count")]) == hot
    assert float(values[header.index("hotfix_rate")]) == pytest.approx(hot / len(rows))
    prom = runner.invoke(app, ["report", str(path), "--format", "prometheus"]).stdout
    assert f"mlmon_window_hotfixes {float(hot)}" in prom
    assert "# HELP mlmon_hotfix_ratio" in prom


def test_logs_without_hot_fixes_keep_their_report(sample_logs):
    doc = _report(sample_logs / "fraud.jsonl.gz")
    assert "hotfix_count" not in doc["windows"][0]["metrics"]


def test_a_rule_alerts_on_hotfix_rate(logs, tmp_path):
    path, rows = logs
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: many-hotfixes\n    expr: hotfix_rate > 0.2\n    every: 1h\n"
                     "    by: [model_version]\n    severity: warning\n")
    result = runner.invoke(app, ["check", str(path), "--rules", str(rules), "--now", "2026-11-27T13:00:00Z",
                                 "--format", "json"])
    doc = json.loads(result.stdout)
    n, hot = Counter(), Counter()
    for r in rows:
        key = (r["model_version"], r["ts"][:13])
        n[key] += 1
        hot[key] += bool(r.get("hotfix"))
    firing = {k for k in n if hot[k] / n[k] > 0.2}
    alerts = {a["segment"]["model_version"]: a for a in doc["alerts"]}
    for version in ("v1", "v2"):
        windows = sum(1 for k in firing if k[0] == version)
        if windows == 0:
            assert version not in alerts
            continue
        assert alerts[version]["windows_firing"] == windows
        assert alerts[version]["active"] == ((version, "2026-11-27T12") in firing)
    assert result.exit_code == (1 if any(a["active"] for a in alerts.values()) else 0)


def test_a_loggers_files_round_trip_through_report_and_ingest(tmp_path):
    hot = tmp_path / "hotfix.yaml"
    hot.write_text('rules:\n  - name: block-xx\n    when: input.country == "XX"\n    respond: {label: stay}\n')
    logs = tmp_path / "logs"
    countries = ["XX", "DE", "FR", "XX", "ES"] * 30
    with RequestLogger(logs, model="churn", model_version="v3", resources=False) as logger:
        predict = HotfixLayer(hot, model="churn", logger=logger).wrap(lambda r: {"label": "model"})
        for c in countries:
            predict({"country": c})
    doc = _report(logs, "--by", "hotfix")
    got = {w["segment"]["hotfix"]: w["metrics"]["request_count"] for w in doc["windows"]}
    assert got == {"block-xx": countries.count("XX"), None: len(countries) - countries.count("XX")}
    store = tmp_path / "store"
    assert runner.invoke(app, ["ingest", str(logs), "--store", str(store)]).exit_code == 0
    result = runner.invoke(app, ["report", "--store", str(store), "--format", "json"])
    metrics = json.loads(result.stdout)["windows"][0]["metrics"]
    assert metrics["hotfix_count"] == countries.count("XX")
    assert metrics["hotfix_rate"] == pytest.approx(countries.count("XX") / len(countries))
