"""Every command and every output format, through the installed ``mlmon`` in a subprocess.

Most tests call the CLI in-process for speed; these run the entry point as cron and CI do, once per
command and ``--format``, and check each output against figures counted here from ``sample_logs/``
with plain Python. ``test_every_command_and_format_is_covered`` fails when a command or a format is
added without a run here.
"""

from __future__ import annotations

import csv
import gzip
import inspect
import io
import json
import os
import subprocess
import sys
import typing
import xml.etree.ElementTree as ET
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pytest
import typer.main
from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT, SAMPLE_LOGS
from test_docs import _commands
from mlmon.cli import app

MLMON = str(Path(sys.executable).parent / "mlmon")
LOGS = [str(p) for p in sorted(SAMPLE_LOGS.glob("*.jsonl.gz"))]
CHURN = str(SAMPLE_LOGS / "churn.jsonl.gz")
RULES = str(ROOT / "rules.example.yaml")
NOW = "2026-11-27T00:00:00Z"
FIRING = {"churn-error-spike", "slow-p95", "latency-tail-ratio"}  # on the sample incident (README)


def mlmon(*args, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    env.pop("FORCE_COLOR", None)
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run([MLMON, *map(str, args)], capture_output=True, text=True, env=env, timeout=120, cwd=cwd,
                          check=False)


@pytest.fixture(scope="module")
def counted() -> dict:
    """What the sample logs hold, counted line by line with the json module."""
    rows = [json.loads(line) for path in LOGS for line in gzip.open(path, "rt", encoding="utf-8")]
    return {
        "records": len(rows),
        "by_segment": Counter((r["model"], r["model_version"]) for r in rows),
        "by_day": Counter(r["ts"][:10] for r in rows),
        "churn": sum(r["model"] == "churn" for r in rows),
        "last_hour": Counter((r["model"], r["model_version"]) for r in rows if r["ts"].startswith("2026-11-26T23")),
        "first_v1_churn": [r for r in rows if r["model"] == "churn" and r["model_version"] == "v1"][:30],
    }


def _segments(pairs) -> dict:
    return {(m, v): int(float(n)) for m, v, n in pairs}


# --- one run per command and format, started together -----------------------------------------------


def _independent_runs(tmp: Path) -> dict[tuple[str, str], tuple]:
    by = ("--by", "model,model_version")
    check = ("check", *LOGS, "--rules", RULES, "--now", NOW)
    replay = ("replay", CHURN, "--model", f"{ROOT / 'demo' / 'model.py'}:churn_v1", "--where", 'model_version == "v1"',
              "--limit", 30)
    return {
        **{("mlmon report", f): ("report", *LOGS, *by, "--format", f) for f in ("table", "json", "csv", "markdown",
                                                                              "prometheus")},
        ("mlmon report", "parquet"): ("report", *LOGS, *by, "--format", "parquet", "-o", tmp / "report.parquet"),
        ("mlmon report", "html"): ("report", *LOGS, *by, "--every", "1h", "--format", "html", "-o", tmp / "report.html"),
        **{("mlmon check", f): (*check, "--format", f) for f in ("table", "json", "junit", "markdown", "github",
                                                                "prometheus")},
        **{("mlmon replay", f): (*replay, "--format", f) for f in ("table", "json")},
        **{("mlmon export", f): ("export", CHURN, "--labels", SAMPLE_LOGS / "labels.csv", "--format", f,
                                 "-o", tmp / f"export.{f}") for f in ("parquet", "csv", "jsonl")},
        ("mlmon ingest", "text"): ("ingest", *LOGS, "--store", tmp / "text-store"),
        ("mlmon baseline save", None): ("baseline", "save", CHURN, "-o", tmp / "profile.json"),
        ("mlmon dashboard", None): ("dashboard", *LOGS, "--once", "--every", "1h"),
        ("mlmon rules validate", None): ("rules", "validate", RULES),
        ("mlmon rules schema", None): ("rules", "schema"),
        ("mlmon hotfix validate", None): ("hotfix", "validate", ROOT / "hotfix.example.yaml"),
        ("mlmon hotfix schema", None): ("hotfix", "schema"),
        **{("mlmon inspect", f): ("inspect", *LOGS, "--format", f) for f in ("table", "json")},
        ("mlmon mapping show", None): ("mapping", "show"),
        ("mlmon replay --hotfix", "json"): ("replay", CHURN, "--hotfix", ROOT / "hotfix.example.yaml", "--format", "json"),
        **{("mlmon rules test", f): ("rules", "test", ROOT / "rules.example.test.yaml", "--format", f)
           for f in ("text", "json")},
    }


def _runs_in_order(tmp: Path) -> dict[tuple[str, str], subprocess.CompletedProcess]:
    """Runs that build on one another: a store, then its maintenance; a silence, then its list."""
    store, state = tmp / "store", tmp / "state.json"
    out = {("mlmon ingest", "json"): mlmon("ingest", *LOGS, "--store", store, "--format", "json")}
    for f in ("table", "json"):
        out[("mlmon store info", f)] = mlmon("store", "info", "--store", store, "--format", f)
        out[("mlmon store compact", f)] = mlmon("store", "compact", "--store", store, "--format", f)
    out[("mlmon store prune", "table")] = mlmon("store", "prune", "--store", store, "--older-than", "400d",
                                                "--now", "2026-11-28T00:00:00Z")
    out[("mlmon store prune", "json")] = mlmon("store", "prune", "--store", store, "--older-than", "1d",
                                               "--now", "2026-11-27T12:00:00Z", "--format", "json")
    out[("mlmon silence add", None)] = mlmon("silence", "add", "--state", state, "--match", "model=churn",
                                             "--for", "2h", "--comment", "deploy", "--now", NOW)
    out[("mlmon silence list", "table")] = mlmon("silence", "list", "--state", state, "--now", NOW)
    out[("mlmon silence list", "json")] = mlmon("silence", "list", "--state", state, "--now", NOW, "--format", "json")
    silence_id = out[("mlmon silence add", None)].stdout.strip()
    out[("mlmon silence expire", None)] = mlmon("silence", "expire", silence_id, "--state", state,
                                                "--now", "2026-11-27T00:30:00Z")
    out["list after expire"] = mlmon("silence", "list", "--state", state, "--now", "2026-11-27T00:30:00Z",
                                     "--format", "json")
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("entry")
    independent = _independent_runs(tmp)
    with ThreadPoolExecutor(2) as pool:
        ordered = pool.submit(_runs_in_order, tmp)
        done = dict(zip(independent, pool.map(lambda args: mlmon(*args), independent.values())))
        done.update(ordered.result())
    done["tmp"] = tmp
    return done


def ok(runs, key, code=0) -> subprocess.CompletedProcess:
    proc = runs[key]
    assert proc.returncode == code, (key, proc.stderr)
    assert "Traceback" not in proc.stderr
    return proc


def _format_choices(command) -> list[str | None]:
    option = next((p for p in command.params if "--format" in p.opts), None)
    if option is None:
        return [None]
    hint = typing.get_type_hints(inspect.unwrap(command.callback))[option.name]
    enum = next((a for a in typing.get_args(hint) if isinstance(a, type)), hint)
    return [member.value for member in enum]


def test_every_command_and_format_is_covered(runs):
    wanted = {(name, f) for name, command in _commands(typer.main.get_command(app))
              for f in _format_choices(command)}
    assert wanted - set(runs) == set()


# --- report -------------------------------------------------------------------------------------------


def test_report_table(runs, counted):
    out = ok(runs, ("mlmon report", "table")).stdout
    assert out.startswith(f"{counted['records']:,} records from 2 files")
    rows = {tuple(line.split()[:2]): line.split()[2] for line in out.splitlines() if line.startswith(("churn", "fraud"))}
    assert {k: int(v.replace(",", "")) for k, v in rows.items()} == counted["by_segment"]
    assert max(map(len, out.splitlines())) <= 80


def test_report_json(runs, counted):
    doc = json.loads(ok(runs, ("mlmon report", "json")).stdout)
    assert doc["source"]["records"] == counted["records"]
    assert _segments((w["segment"]["model"], w["segment"]["model_version"], w["metrics"]["request_count"])
                     for w in doc["windows"]) == counted["by_segment"]


def test_report_csv(runs, counted):
    rows = list(csv.DictReader(io.StringIO(ok(runs, ("mlmon report", "csv")).stdout)))
    assert _segments((r["model"], r["model_version"], r["request_count"]) for r in rows) == counted["by_segment"]


def test_report_markdown(runs, counted):
    out = ok(runs, ("mlmon report", "markdown")).stdout
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines() if line.startswith("| churn")
             or line.startswith("| fraud")]
    header = next([c.strip() for c in line.strip("|").split("|")] for line in out.splitlines()
                  if line.startswith("| model "))
    n = header.index("requests")
    assert {(c[0], c[1]): int(c[n].replace(",", "")) for c in cells} == counted["by_segment"]


def test_report_prometheus(runs, counted):
    text = ok(runs, ("mlmon report", "prometheus")).stdout
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = families["mlmon_window_requests"].samples
    assert _segments((s.labels["model"], s.labels["model_version"], s.value) for s in samples) == counted["by_segment"]


def test_report_parquet(runs, counted):
    ok(runs, ("mlmon report", "parquet"))
    path = runs["tmp"] / "report.parquet"
    rows = duckdb.connect().execute(f"SELECT model, model_version, request_count FROM '{path}'").fetchall()
    assert _segments(rows) == counted["by_segment"]


def test_report_html(runs, counted):
    ok(runs, ("mlmon report", "html"))
    page = (runs["tmp"] / "report.html").read_text(encoding="utf-8")
    data = json.loads(page.split('<script type="application/json"', 1)[1].split(">", 1)[1].split("</script>", 1)[0])
    throughput = next(c for c in data["charts"] if c["metric"] == "throughput_rps")
    # Requests per hour window are req/s × 3600: summed per segment, the records of each.
    sums = {tuple(label.split(" / ")): round(sum(v or 0 for v in series) * 3600)
            for label, series in zip(data["segments"], throughput["series"])}
    assert sums == counted["by_segment"] and len(data["x"]) == 48
    assert f"{counted['records']:,}" in page


# --- check --------------------------------------------------------------------------------------------


def test_check_table(runs):
    out = ok(runs, ("mlmon check", "table"), code=1).stdout
    assert out.startswith("FIRING: 3 alerts from 4 rules")
    assert all(name in out for name in FIRING)


def test_check_json(runs):
    doc = json.loads(ok(runs, ("mlmon check", "json"), code=1).stdout)
    assert doc["status"] == "firing" and {a["rule"] for a in doc["alerts"]} == FIRING


def test_check_junit(runs):
    suite = ET.fromstring(ok(runs, ("mlmon check", "junit"), code=1).stdout).find("testsuite")
    failed = {case.get("name").split(" [")[0] for case in suite.iter("testcase") if case.find("failure") is not None}
    assert failed == FIRING and suite.get("failures") == "3"


def test_check_markdown(runs):
    out = ok(runs, ("mlmon check", "markdown"), code=1).stdout
    assert out.startswith("## 🔴 mlmon check: firing")
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines()
            if line.startswith("| ") and not line.startswith(("| rule", "| ---"))]
    assert {(r[0], r[7]) for r in rows} == {("churn-error-spike", "no"), ("slow-p95", "yes"),
                                            ("latency-tail-ratio", "yes")}


def test_check_github(runs):
    lines = ok(runs, ("mlmon check", "github"), code=1).stdout.splitlines()
    commands = [line for line in lines if line.startswith("::")]
    assert sorted(line.split(" ", 1)[0] for line in commands) == ["::error", "::notice", "::warning"]
    assert {line.split("title=", 1)[1].split(" [")[0] for line in commands} == FIRING


def test_check_prometheus(runs):
    families = {f.name: f for f in text_string_to_metric_families(ok(runs, ("mlmon check", "prometheus"),
                                                                     code=1).stdout)}
    # Active means firing in the latest window: the error spike (14:00 only) is over by midnight.
    assert {s.labels["rule"] for s in families["mlmon_alert_active"].samples if s.value == 1} == FIRING - {
        "churn-error-spike"}
    assert [s.value for s in families["mlmon_alerts_firing"].samples] == [2]


# --- replay -------------------------------------------------------------------------------------------


def test_replay_json(runs, counted):
    doc = json.loads(ok(runs, ("mlmon replay", "json")).stdout)
    # A request that failed when logged (status >= 400 or an error) is "failed_before", not compared.
    logged_failures = sum(r["status"] >= 400 or r["error"] is not None for r in counted["first_v1_churn"])
    assert logged_failures > 0
    assert doc["requests"] == 30 and doc["counts"]["failed_before"] == logged_failures
    assert doc["counts"]["match"] == 30 - logged_failures and doc["counts"]["mismatch"] == 0


def test_replay_table(runs, counted):
    out = ok(runs, ("mlmon replay", "table")).stdout
    logged_failures = sum(r["status"] >= 400 or r["error"] is not None for r in counted["first_v1_churn"])
    counts = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()
              if line.split()[:1] and line.split()[0] in ("match", "mismatch", "failed_before")}
    assert counts == {"match": 30 - logged_failures, "mismatch": 0, "failed_before": logged_failures}


# --- export -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_export(runs, counted, fmt):
    """One row per churn request, each with its label when labels.csv has one (counted with the csv module)."""
    ok(runs, ("mlmon export", fmt))
    path = runs["tmp"] / f"export.{fmt}"
    relation = duckdb.read_json(str(path)) if fmt == "jsonl" else duckdb.sql(f"SELECT * FROM '{path}'")
    rows = [dict(zip(relation.columns, row)) for row in relation.fetchall()]
    with open(SAMPLE_LOGS / "labels.csv", newline="") as handle:
        labels = {row["request_id"]: row["label"] for row in csv.DictReader(handle)}
    churn_ids = [json.loads(line)["request_id"] for line in gzip.open(CHURN, "rt", encoding="utf-8")]
    assert len(rows) == counted["churn"]
    assert [str(r["request_id"]) for r in rows] == churn_ids  # (DuckDB reads them as UUIDs)
    assert [r["label"] for r in rows] == [labels.get(i) for i in churn_ids]
    assert {"input.age", "input.plan", "output.churn_probability", "output.label"} <= set(relation.columns)


# --- ingest and the store -------------------------------------------------------------------------------


def test_ingest_json_and_text(runs, counted):
    doc = json.loads(ok(runs, ("mlmon ingest", "json")).stdout)
    assert doc["records_added"] == counted["records"] and doc["files_read"] == 2
    text = ok(runs, ("mlmon ingest", "text"))
    assert f"{counted['records']:,}" in text.stdout + text.stderr


def test_store_info(runs, counted):
    doc = json.loads(ok(runs, ("mlmon store info", "json")).stdout)
    assert doc["records"] == counted["records"]
    assert {p["date"]: p["rows"] for p in doc["partitions"]} == counted["by_day"]
    assert f"{counted['records']:,}" in ok(runs, ("mlmon store info", "table")).stdout


def test_store_compact(runs):
    doc = json.loads(ok(runs, ("mlmon store compact", "json")).stdout)
    assert doc["parts_after"] <= doc["parts_before"] and doc["rows_removed"] == 0
    ok(runs, ("mlmon store compact", "table"))


def test_store_prune(runs, counted):
    ok(runs, ("mlmon store prune", "table"))  # 400 days: nothing is that old
    doc = json.loads(ok(runs, ("mlmon store prune", "json")).stdout)
    # At noon on the 27th, the 25th ended more than a day ago; the 26th did not.
    assert doc["rows_removed"] == counted["by_day"]["2026-11-25"]


# --- dashboard ------------------------------------------------------------------------------------------


def test_dashboard_once(runs, counted):
    out = ok(runs, ("mlmon dashboard", None)).stdout
    words = " ".join(out.split())  # at 80 columns the headline's title wraps
    assert "latest window 2026-11-26 23:00–00:00 UTC" in words and f"({counted['records']:,} records read)" in words
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["churn"], ["fraud"])]
    assert {(r[0], r[1]): int(r[2]) for r in rows if int(r[2])} == counted["last_hour"]
    assert max(map(len, out.splitlines())) <= 80  # no terminal: 80 columns


# --- baseline, rules, silences --------------------------------------------------------------------------


def test_baseline_save(runs, counted):
    ok(runs, ("mlmon baseline save", None))
    assert json.loads((runs["tmp"] / "profile.json").read_text())["rows"] == counted["churn"]


def test_rules_validate_schema_and_test(runs):
    assert "4 rules, no problems" in ok(runs, ("mlmon rules validate", None)).stdout
    schema = json.loads(ok(runs, ("mlmon rules schema", None)).stdout)
    assert "rules" in schema["properties"]
    doc = json.loads(ok(runs, ("mlmon rules test", "json")).stdout)
    assert doc["failed"] == 0 and doc["passed"] > 0
    assert f"{doc['passed']}" in ok(runs, ("mlmon rules test", "text")).stdout


def test_hotfix_validate_and_replay_preview(runs):
    assert ok(runs, ("mlmon hotfix validate", None)).stdout == \
        f"{ROOT / 'hotfix.example.yaml'}: 3 hot-fix rules (2 enabled), no problems\n"
    assert json.loads(ok(runs, ("mlmon hotfix schema", None)).stdout)["title"] == "mlmon hot-fix file"
    doc = json.loads(ok(runs, ("mlmon replay --hotfix", "json")).stdout)["hotfix"]
    rows = [json.loads(line) for line in gzip.open(CHURN, "rt", encoding="utf-8")]
    plans = Counter(((r["request"] or {}).get("plan"), r["model_version"]) for r in rows)
    premium_v2 = plans[("premium", "v2")]
    no_plan = sum(n for (plan, _), n in plans.items() if plan is None)
    assert {r["name"]: r["answered"] for r in doc["rules"]} == {"premium-on-v2": premium_v2, "missing-plan": no_plan}
    assert doc["requests"] == len(rows)


def test_inspect(runs, counted):
    doc = json.loads(ok(runs, ("mlmon inspect", "json")).stdout)
    assert doc["format"] == "mlmon" and doc["records"] == counted["records"] and doc["bad_lines"]["count"] == 0
    assert doc["time_range"]["from"][:10] == min(counted["by_day"]) and doc["canonical"]["missing"] == {}
    table = ok(runs, ("mlmon inspect", "table")).stdout
    assert f"Records     {counted['records']:,}" in table and max(map(len, table.splitlines())) <= 80


def test_mapping_show(runs):
    from mlmon.logs.mapping import DEFAULT_MAPPING, mapping_from_dict
    from mlmon.yamlfile import parse_yaml

    text = ok(runs, ("mlmon mapping show", None)).stdout
    assert mapping_from_dict(parse_yaml(text, "shown", "mapping file")) == DEFAULT_MAPPING


def test_silences(runs):
    silence_id = ok(runs, ("mlmon silence add", None)).stdout.strip()
    listed = json.loads(ok(runs, ("mlmon silence list", "json")).stdout)
    assert [(s["id"], s["state"], s["ends_at"]) for s in listed["silences"]] == [
        (silence_id, "active", "2026-11-27T02:00:00Z")]  # --for 2h from --now
    assert silence_id in ok(runs, ("mlmon silence list", "table")).stdout
    ok(runs, ("mlmon silence expire", None))
    assert json.loads(ok(runs, "list after expire").stdout)["silences"] == []
