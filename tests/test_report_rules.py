"""report --rules: the alerts mlmon check raises on the same logs and rules, in every format; exit 0 whatever
fires (check is the gate); a bad rules file is refused as check refuses it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE_LOGS
from typer.testing import CliRunner

from mlmon.cli import app

MLMON = str(Path(sys.executable).parent / "mlmon")
SAMPLES = [str(SAMPLE_LOGS / "churn.jsonl.gz"), str(SAMPLE_LOGS / "fraud.jsonl.gz")]
RULES = str(ROOT / "rules.example.yaml")
NOW = "2026-11-27T00:00Z"


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def run(*args):
    return subprocess.run([MLMON, *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("range_args", [(), ("--since", "2026-11-26T06:00Z", "--until", "2026-11-26T18:00Z")])
def test_alerts_equal_checks_and_the_report_exits_0(range_args):
    check = run("check", *SAMPLES, "--rules", RULES, "--format", "json", *range_args)
    assert check.returncode == 1, check.stderr  # the gate fires on the scripted deploy
    expected = json.loads(check.stdout)
    assert expected["alerts"], "the example rules fire on the sample logs"
    for result in (run("report", *SAMPLES, "--by", "model", "--rules", RULES, "--format", "json", *range_args),
                   invoke("report", *SAMPLES, "--by", "model", "--rules", RULES, "--format", "json", *range_args)):
        code = getattr(result, "returncode", getattr(result, "exit_code", None))
        assert code == 0, result.stderr
        alerts = json.loads(result.stdout)["alerts"]
        assert alerts == {"rules_file": RULES, "rules_evaluated": expected["rules_evaluated"],
                          "firing": expected["alerts"], "pending": expected["pending"]}


def test_without_rules_the_json_has_no_alerts_key():
    document = json.loads(invoke("report", SAMPLES[0], "--format", "json").stdout)
    assert "alerts" not in document


def test_people_formats_have_an_alerts_section():
    table = invoke("report", *SAMPLES, "--rules", RULES, "--now", NOW)
    markdown = invoke("report", *SAMPLES, "--rules", RULES, "--now", NOW, "--format", "markdown")
    assert table.exit_code == markdown.exit_code == 0
    heading = ("Alerts: 3 alerts from 4 rules in " + RULES +
               " (the report exits 0 whatever fires; mlmon check is the gate)")
    assert heading in table.stdout
    assert "churn-error-spike    critical   churn/v2   0.0293         1   no" in table.stdout
    assert "### Alerts\n\n" in markdown.stdout
    assert ("| churn-error-spike | critical | model=churn, model_version=v2 | 0.0293 | 1 | 2026-11-26T14:00:00Z "
            "| 2026-11-26T14:00:00Z | no | churn v2: error rate 0.0293 over 580 requests |") in markdown.stdout


def test_prometheus_alert_series_are_checks():
    def alert_lines(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.startswith(("mlmon_alert", "# HELP mlmon_alert"))]

    check = invoke("check", *SAMPLES, "--rules", RULES, "--format", "prometheus", "--now", NOW)
    report = invoke("report", *SAMPLES, "--every", "1h", "--by", "model,model_version", "--rules", RULES,
                    "--format", "prometheus", "--now", NOW)
    assert report.exit_code == 0
    assert alert_lines(report.stdout) == alert_lines(check.stdout) and alert_lines(check.stdout)


def test_csv_leaves_the_alerts_out():
    plain = invoke("report", SAMPLES[0], "--every", "6h", "--format", "csv")
    ruled = invoke("report", SAMPLES[0], "--every", "6h", "--format", "csv", "--rules", RULES)
    assert ruled.exit_code == 0 and ruled.stdout == plain.stdout


def test_a_bad_rules_file_is_refused_as_check_refuses_it(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: x\n    expr: latncy_p95_ms > 1\n    every: 1\n  - name: x\n    expr: 1\n")
    check = run("check", SAMPLES[0], "--rules", bad)
    report = run("report", SAMPLES[0], "--rules", bad, "--format", "html", "-o", tmp_path / "r.html")
    assert check.returncode == report.returncode == 2
    assert report.stderr == check.stderr and report.stdout == ""
    assert "did you mean 'latency_p95_ms'" in report.stderr and "Traceback" not in report.stderr
    assert not (tmp_path / "r.html").exists()
    missing = run("report", SAMPLES[0], "--rules", tmp_path / "nope.yaml")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1


def test_a_rule_needing_a_baseline_is_refused_as_check_refuses_it():
    rules = ROOT / "tests" / "data" / "drift" / "drift.rules.yaml"
    check = run("check", SAMPLES[0], "--rules", rules)
    report = run("report", SAMPLES[0], "--rules", rules)
    assert report.returncode == check.returncode == 2
    assert report.stderr == check.stderr and "needs a baseline" in report.stderr
