"""LLM metrics (README "LLM metrics"): tokens, their speed, cost (logged, else from --prices) and time to
first token, checked against plain Python and numpy over the same generated records; absent when the
logs carry none; bad values make bad lines; rules gate on them; the store keeps them.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import write_jsonl
from typer.testing import CliRunner

from mlmon.cli import app

MLMON = str(Path(sys.executable).parent / "mlmon")
LLM_KEYS = ("tokens_in", "tokens_out", "tokens_total", "tokens_out_per_s", "cost_total", "cost_per_request",
            "ttft_p50_ms", "ttft_p95_ms")
START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
#: Per 1M tokens: one model priced, "mystery" falls back to "*", none for "unpriced" without "*".
PRICES = {"gpt-4o-mini": (0.15, 0.60), "*": (1.0, 2.0)}
PRICES_YAML = """\
unit: 1M
models:
  gpt-4o-mini: {input: 0.15, output: 0.60}
  "*": {input: 1.0, output: 2.0}
"""


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def run(*args):
    return subprocess.run([MLMON, *map(str, args)], capture_output=True, text=True, timeout=300, check=False)


def generate(n: int = 400, seed: int = 7) -> list[dict]:
    """Own-shape records over three hours: tokens on most, a logged cost on some, ttft on some, and a few
    with none of them; a logged tokens_total on some that differs from in + out (the logged one wins)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        row = {"ts": (START + timedelta(seconds=rng.uniform(0, 3 * 3600))).isoformat().replace("+00:00", "Z"),
               "request_id": f"r{i}", "model": rng.choice(["gpt-4o-mini", "mystery", "unpriced"]),
               "status": 200, "latency_ms": round(rng.uniform(50, 5000), 3)}
        if rng.random() < 0.85:
            row["tokens_in"] = rng.randint(0, 4000)
            row["tokens_out"] = rng.randint(0, 1500)
            if rng.random() < 0.1:
                row["tokens_total"] = row["tokens_in"] + row["tokens_out"] + 7
        elif rng.random() < 0.5:
            row["tokens_out"] = rng.randint(1, 900)  # no tokens_in: no total, no computed cost
        if rng.random() < 0.2:
            row["cost"] = round(rng.uniform(0, 0.01), 6)
        if rng.random() < 0.6:
            row["ttft_ms"] = round(rng.uniform(20, 800), 3)
        if rng.random() < 0.05:
            del row["latency_ms"]
        rows.append(row)
    return rows


def oracle_cost(row: dict, prices: dict) -> float | None:
    if row.get("cost") is not None:
        return row["cost"]
    price = prices.get(row["model"], prices.get("*"))
    if price is None or row.get("tokens_in") is None or row.get("tokens_out") is None:
        return None
    return (row["tokens_in"] * price[0] + row["tokens_out"] * price[1]) / 1_000_000


def oracle(rows: list[dict], prices: dict) -> dict:
    """The LLM metrics of ``rows``, in plain Python and numpy."""
    def values(key):
        return [r[key] for r in rows if r.get(key) is not None]

    def total(r):
        if r.get("tokens_total") is not None:
            return r["tokens_total"]
        if r.get("tokens_in") is not None and r.get("tokens_out") is not None:
            return r["tokens_in"] + r["tokens_out"]
        return None

    def sum_or_none(xs):
        return float(sum(xs)) if xs else None

    both = [r for r in rows if r.get("tokens_out") is not None and r.get("latency_ms") is not None]
    seconds = sum(r["latency_ms"] for r in both) / 1000
    costs = [c for c in (oracle_cost(r, prices) for r in rows) if c is not None]
    ttft = values("ttft_ms")
    return {
        "tokens_in": sum_or_none(values("tokens_in")),
        "tokens_out": sum_or_none(values("tokens_out")),
        "tokens_total": sum_or_none([t for t in map(total, rows) if t is not None]),
        "tokens_out_per_s": sum(r["tokens_out"] for r in both) / seconds if seconds > 0 else None,
        "cost_total": sum_or_none(costs),
        "cost_per_request": sum(costs) / len(costs) if costs else None,
        "ttft_p50_ms": float(np.percentile(ttft, 50)) if ttft else None,
        "ttft_p95_ms": float(np.percentile(ttft, 95)) if ttft else None,
    }


def assert_close(got: dict, want: dict) -> None:
    for key in LLM_KEYS:
        if want[key] is None:
            assert got[key] is None, key
        else:
            assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-15), key


@pytest.fixture
def logs(tmp_path) -> tuple[Path, list[dict]]:
    rows = generate()
    return write_jsonl(tmp_path / "llm.jsonl", rows), rows


@pytest.fixture
def prices(tmp_path) -> Path:
    path = tmp_path / "prices.yaml"
    path.write_text(PRICES_YAML)
    return path


def report(*args) -> dict:
    result = invoke("report", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_whole_range_by_model_matches_the_oracle(logs, prices):
    path, rows = logs
    doc = report(path, "--prices", prices, "--by", "model")
    assert [w["segment"]["model"] for w in doc["windows"]] == ["gpt-4o-mini", "mystery", "unpriced"]
    for window in doc["windows"]:
        model = window["segment"]["model"]
        assert_close(window["metrics"], oracle([r for r in rows if r["model"] == model], PRICES))
    # "unpriced" falls back to "*": its records without a logged cost have a cost too
    assert doc["windows"][2]["metrics"]["cost_total"] > sum(r.get("cost") or 0 for r in rows if r["model"] == "unpriced")


def test_hourly_windows_match_the_oracle(logs, prices):
    """--every without rules aggregates as the logs are read (mlmon.metrics.incremental): the same numbers."""
    path, rows = logs
    doc = report(path, "--prices", prices, "--every", "1h")
    assert len(doc["windows"]) == 3
    for hour, window in enumerate(doc["windows"]):
        lo, hi = START + timedelta(hours=hour), START + timedelta(hours=hour + 1)
        inside = [r for r in rows if lo <= datetime.fromisoformat(r["ts"]) < hi]
        assert window["metrics"]["request_count"] == len(inside)
        assert_close(window["metrics"], oracle(inside, PRICES))


def test_a_model_without_a_price_and_no_fallback_has_no_cost(logs, tmp_path):
    path, rows = logs
    only = tmp_path / "only.yaml"
    only.write_text("unit: 1K\nmodels:\n  gpt-4o-mini: {input: 0.00015, output: 0.0006}\n")
    doc = report(path, "--prices", only, "--by", "model")
    priced = {"gpt-4o-mini": PRICES["gpt-4o-mini"]}  # the same prices per 1M as per 1K above
    for window in doc["windows"]:
        model = window["segment"]["model"]
        want = oracle([r for r in rows if r["model"] == model], priced)
        assert_close(window["metrics"], want)
    unpriced = [r for r in rows if r["model"] == "unpriced"]
    logged = [r["cost"] for r in unpriced if r.get("cost") is not None]
    assert doc["windows"][2]["metrics"]["cost_total"] == pytest.approx(sum(logged))
    assert doc["windows"][2]["metrics"]["cost_per_request"] == pytest.approx(sum(logged) / len(logged))


def test_without_prices_only_logged_costs_count(logs):
    path, rows = logs
    assert_close(report(path)["windows"][0]["metrics"], oracle(rows, {}))


def test_a_logged_cost_wins_over_the_prices(tmp_path, prices):
    path = write_jsonl(tmp_path / "l.jsonl", [
        {"ts": "2026-11-26T10:00:00Z", "model": "gpt-4o-mini", "tokens_in": 1_000_000, "tokens_out": 0, "cost": 5.0},
        {"ts": "2026-11-26T10:00:01Z", "model": "gpt-4o-mini", "tokens_in": 1_000_000, "tokens_out": 1_000_000},
    ])
    metrics = report(path, "--prices", prices)["windows"][0]["metrics"]
    assert metrics["cost_total"] == pytest.approx(5.0 + 0.15 + 0.60)
    assert metrics["cost_per_request"] == pytest.approx((5.0 + 0.75) / 2)


def test_logs_without_tokens_have_no_llm_metrics(tmp_path, prices):
    path = write_jsonl(tmp_path / "plain.jsonl", [
        {"ts": "2026-11-26T10:00:00Z", "model": "churn", "latency_ms": 12.0},
        {"ts": "2026-11-26T10:00:01Z", "model": "churn", "latency_ms": 14.0},
    ])
    for args in ((), ("--every", "1h"), ("--prices", prices, "--by", "model")):
        metrics = report(path, *args)["windows"][0]["metrics"]
        assert not set(LLM_KEYS) & set(metrics), args
    csv = invoke("report", path, "--format", "csv").stdout
    assert "tokens" not in csv and "cost" not in csv


def test_a_window_without_tokens_has_null_not_zero(tmp_path):
    path = write_jsonl(tmp_path / "l.jsonl", [
        {"ts": "2026-11-26T10:00:00Z", "latency_ms": 1000.0, "tokens_in": 10, "tokens_out": 20, "cost": 0.1,
         "ttft_ms": 50.0},
        {"ts": "2026-11-26T11:00:00Z", "latency_ms": 1000.0},
    ])
    for args in (("--every", "1h"), ("--every", "1h", "--where", "latency_ms > 0")):
        windows = report(path, *args)["windows"]
        assert windows[0]["metrics"]["tokens_out_per_s"] == 20.0
        assert windows[0]["metrics"]["tokens_total"] == 30.0
        assert all(windows[1]["metrics"][k] is None for k in LLM_KEYS), args


@pytest.mark.parametrize(("value", "reason"), [
    ({"tokens_in": -1}, "negative tokens_in"),
    ({"tokens_out": "many"}, "wrong type for tokens_out (expected a number)"),
    ({"cost": -0.5}, "negative cost"),
    ({"ttft_ms": [1]}, "wrong type for ttft_ms (expected a number)"),
    ({"tokens_total": -3}, "negative tokens_total"),
])
def test_bad_values_make_bad_lines(tmp_path, value, reason):
    good = {"ts": "2026-11-26T10:00:00Z", "tokens_in": 5, "tokens_out": 5}
    path = write_jsonl(tmp_path / "l.jsonl", [good, {**good, **value}])
    doc = report(path)
    assert doc["source"] == {"files": [str(path)], "records": 1, "skipped": 1, "skipped_by_reason": {reason: 1}}
    assert doc["windows"][0]["metrics"]["tokens_in"] == 5.0


def test_a_mapping_points_the_fields_into_the_response(tmp_path):
    path = write_jsonl(tmp_path / "openai.jsonl", [
        {"time": 1764151200, "response": {"model": "gpt-4o-mini", "usage": {"prompt_tokens": 11, "completion_tokens": 4}}},
        {"time": 1764151201, "response": {"model": "gpt-4o-mini", "usage": {"prompt_tokens": 9, "completion_tokens": 6}}},
    ])
    mapping = tmp_path / "m.yaml"
    mapping.write_text("fields:\n  ts: time\n  model: response.model\n"
                       "  tokens_in: response.usage.prompt_tokens\n  tokens_out: response.usage.completion_tokens\n")
    prices = tmp_path / "p.yaml"
    prices.write_text("unit: 1K\nmodels:\n  gpt-4o-mini: {input: 1, output: 10}\n")
    metrics = report(path, "--mapping", mapping, "--prices", prices)["windows"][0]["metrics"]
    assert (metrics["tokens_in"], metrics["tokens_out"], metrics["tokens_total"]) == (20.0, 10.0, 30.0)
    assert metrics["cost_total"] == pytest.approx((20 * 1 + 10 * 10) / 1000)


RULES = """\
rules:
  - name: spend
    expr: cost_total > {limit}
    every: 1h
    severity: critical
  - name: slow-tokens
    expr: tokens_out_per_s < 0
    every: 1h
"""


def test_a_cost_rule_fires_through_check(logs, prices, tmp_path):
    path, rows = logs
    hourly = [oracle([r for r in rows if START + timedelta(hours=h)
                      <= datetime.fromisoformat(r["ts"]) < START + timedelta(hours=h + 1)],
                     PRICES)["cost_total"] for h in range(3)]
    limit = hourly[0] * 0.999
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(limit=limit))
    assert run("rules", "validate", rules).returncode == 0
    proc = run("check", path, "--rules", rules, "--prices", prices, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    (alert,) = json.loads(proc.stdout)["alerts"]
    assert alert["rule"] == "spend" and alert["first_window"] == "2026-11-26T09:00:00Z"
    assert alert["windows_firing"] == sum(c > limit for c in hourly)
    assert alert["value"] == pytest.approx(max(hourly), rel=1e-9)  # the worst window's
    # above every hour's cost, the gate stays shut
    rules.write_text(RULES.format(limit=max(hourly) * 1.001))
    result = invoke("check", path, "--rules", rules, "--prices", prices)
    assert result.exit_code == 0, result.stderr


def test_the_dashboard_prices_records_as_check_does(logs, prices, tmp_path):
    """Smaller: the dashboard had no --prices, so a cost rule that fired in check stayed quiet on screen."""
    path, rows = logs
    hourly = [oracle([r for r in rows if START + timedelta(hours=h)
                      <= datetime.fromisoformat(r["ts"]) < START + timedelta(hours=h + 1)],
                     PRICES)["cost_total"] for h in range(3)]
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(limit=hourly[2] * 0.999))
    args = [path, "--rules", rules, "--once", "--every", "1h", "--windows", "3", "--now", "2026-11-26T12:00:00Z",
            "--width", "120"]
    quiet = invoke("dashboard", *args)
    assert quiet.exit_code == 0 and "OK: no alert firing or pending" in quiet.stdout  # logged costs alone: below
    shown = invoke("dashboard", *args, "--prices", prices)
    assert shown.exit_code == 0, shown.output
    [line] = [line for line in shown.stdout.splitlines() if line.startswith("FIRING")]
    limit = hourly[2] * 0.999
    worst = max(c for c in hourly if c > limit)  # as check reports it: the worst firing window's
    assert "spend" in line and float(line.split()[-1]) == pytest.approx(worst, rel=1e-3)
    (alert,) = json.loads(run("check", path, "--rules", rules, "--prices", prices, "--format", "json",
                              "--now", "2026-11-26T12:00:00Z").stdout)["alerts"]
    assert alert["value"] == pytest.approx(worst, rel=1e-9)


def test_a_rules_test_over_logs_takes_prices(logs, prices, tmp_path):
    """Smaller: a rule test file had no way to give prices, so a cost rule could not be unit-tested on logs
    that log tokens and no cost."""
    path, rows = logs
    hourly = [oracle([r for r in rows if START + timedelta(hours=h)
                      <= datetime.fromisoformat(r["ts"]) < START + timedelta(hours=h + 1)],
                     PRICES)["cost_total"] for h in range(3)]
    (tmp_path / "rules.yaml").write_text(RULES.format(limit=hourly[0] * 0.999))
    expect = "[{labels: {severity: critical}}]"  # the first hour's priced cost is over the limit
    test = tmp_path / "rules.test.yaml"
    for given, code in (("prices: " + str(prices), 0), ("", 1)):  # without prices the spend stays below
        test.write_text(f"""\
rule_files: [rules.yaml]
tests:
  - name: spend over logs
    start: 2026-11-26T09:00:00Z
    logs: {path}
    {given}
    alerts:
      - at: 2026-11-26T10:00:00Z
        alertname: spend
        expect: {expect}
""")
        result = invoke("rules", "test", test)
        assert result.exit_code == code, result.output
    test.write_text(test.read_text().replace("logs: ", "windows: [{series: {request_count: 1x2}}]\n    prices: p.yaml\n    #"))
    bad = invoke("rules", "test", test)
    assert bad.exit_code == 2 and "'prices' reads logs; it goes with 'logs:'" in bad.stderr


def test_rules_validate_knows_the_llm_metric_names(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: r\n    expr: cost_totl > 10\n")
    proc = run("rules", "validate", rules)
    assert proc.returncode == 2
    assert "unknown metric 'cost_totl'; did you mean 'cost_total'?" in proc.stderr
    rules.write_text("rules:\n  - name: r\n    expr: tokens_out_per_s < 20 and ttft_p95_ms > 800 and cost_per_request > 1\n")
    assert invoke("rules", "validate", rules).exit_code == 0


def test_a_bad_prices_file_lists_every_problem_with_its_line(logs, tmp_path):
    path, _ = logs
    bad = tmp_path / "prices.yaml"
    bad.write_text("unit: 1G\nmodels:\n  a: {input: -1, output: 2}\n  b: {input: 1, outptu: 2}\n  c: 3\nextra: 1\n")
    result = invoke("report", path, "--prices", bad)
    assert result.exit_code == 2
    err = result.stderr
    lines = err.splitlines()
    assert lines[:6] == [
        f"{bad}:1:7: unit must be one of 1M, 1K (tokens per price), not '1G'",
        f"{bad}:3:14: model 'a' needs 'input' as a price of 0 or more, not -1",
        f"{bad}:4:3: model 'b' needs an 'output' price",
        f"{bad}:4:17: unknown key 'outptu'; did you mean 'output'?",
        f"{bad}:5:3: model 'c' needs input and output prices, e.g. {{input: 0.15, output: 0.60}}",
        f"{bad}:6:1: unknown key 'extra'",
    ]
    assert lines[6].startswith(f"mlmon: error: prices file {bad} has 6 problems")
    missing = run("check", path, "--rules", bad, "--prices", tmp_path / "nope.yaml")
    assert missing.returncode == 2


def test_the_table_keeps_to_80_columns_and_prometheus_names_the_metrics(logs, prices):
    path, _ = logs
    proc = subprocess.run([MLMON, "report", str(path), "--prices", str(prices), "--by", "model", "--every", "1h"],
                          capture_output=True, text=True, check=False, env={"COLUMNS": "80", "NO_COLOR": "1", "PATH": ""})
    assert proc.returncode == 0, proc.stderr
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80
    wide = subprocess.run([MLMON, "report", str(path), "--prices", str(prices), "--format", "markdown"],
                          capture_output=True, text=True, check=False)
    assert "| tok in | tok out | tokens | tok/s | cost | cost/req | ttft p50 ms | ttft p95 ms |" in wide.stdout
    prom = invoke("report", path, "--prices", prices, "--format", "prometheus").stdout
    assert "mlmon_window_cost " in prom and "mlmon_ttft_p95_seconds " in prom and "mlmon_window_tokens " in prom


def test_the_store_keeps_the_fields_and_an_older_store_still_reads(logs, prices, tmp_path):
    path, rows = logs
    store = tmp_path / "store"
    assert invoke("ingest", path, "--store", store).exit_code == 0
    from_store = report("--store", store, "--prices", prices)["windows"][0]["metrics"]
    assert_close(from_store, oracle(rows, PRICES))

    # A store written before these fields: its parts lack the columns, its registry the mapping's old digest.
    old = tmp_path / "old"
    plain = write_jsonl(tmp_path / "plain.jsonl", [{"ts": "2026-11-25T10:00:00Z", "latency_ms": 5.0}])
    assert invoke("ingest", plain, "--store", old).exit_code == 0
    registry_path = old / "_mlmon" / "registry.json"
    registry = json.loads(registry_path.read_text())
    for part in registry["parts"]:
        file = old / part["path"]
        pl.read_parquet(file).drop("tokens_in", "tokens_out", "tokens_total", "cost", "ttft_ms").write_parquet(file)
    registry["mapping"] = "df5f8e12595fc3eb"  # the default mapping's digest before these fields
    registry_path.write_text(json.dumps(registry))
    doc = report("--store", old, "--prices", prices)
    assert doc["source"]["records"] == 1 and not set(LLM_KEYS) & set(doc["windows"][0]["metrics"])
    result = invoke("ingest", path, "--store", old)  # the same mapping: it ingests on
    assert result.exit_code == 0, result.stderr
    metrics = report("--store", old, "--prices", prices, "--since", "2026-11-26T00:00:00Z")["windows"][0]["metrics"]
    assert_close(metrics, oracle(rows, PRICES))


def test_where_reads_one_record_and_sees_the_priced_cost(logs, prices):
    path, rows = logs
    priced = [r for r in rows if (oracle_cost(r, PRICES) or 0) > 0.003]
    long = [r for r in rows if (r.get("tokens_in") or 0) > 3000]
    assert priced and long
    for every in ((), ("--every", "3h")):  # whole range, and windows aggregated as read
        doc = report(path, "--prices", prices, "--where", "cost > 0.003", *every)
        assert sum(w["metrics"]["request_count"] for w in doc["windows"]) == len(priced)
        assert doc["windows"][0]["metrics"]["cost_total"] == pytest.approx(oracle(priced, PRICES)["cost_total"])
        doc = report(path, "--where", "tokens_in > 3000", *every)
        assert doc["windows"][0]["metrics"]["tokens_in"] == sum(r["tokens_in"] for r in long)
