"""``mlmon replay --hotfix``: per-rule counts on sample_logs, checked against plain Python; alone and with a target."""

from __future__ import annotations

import gzip
import json
import sys
from collections import Counter

import pytest
from conftest import ROOT, SAMPLE_LOGS
from typer.testing import CliRunner

from mlmon.cli import app

CHURN = str(SAMPLE_LOGS / "churn.jsonl.gz")
EXAMPLE = str(ROOT / "hotfix.example.yaml")
runner = CliRunner()

FILE = """rules:
  - name: high-charges
    when: input.monthly_charges > 110 and model_version == "v2"
    fallback: hotfix_replay_fallbacks:flat
  - name: old-customers
    when: input.age >= 70
    fallback: hotfix_replay_fallbacks:broken
  - name: germany
    when: input.country in ["DE"] and input.support_calls >= 4
    respond: {churn_probability: 0.2, label: stay}
  - name: never
    when: input.age > 0
    respond: 1
    enabled: false
"""


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return [json.loads(line) for line in gzip.open(CHURN, "rt", encoding="utf-8")]


@pytest.fixture
def hotfix_file(tmp_path, monkeypatch):
    (tmp_path / "hotfix_replay_fallbacks.py").write_text(
        "def flat(request):\n    return {'churn_probability': 0.3, 'label': 'stay'}\n"
        "def broken(request):\n    raise ValueError('down')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("hotfix_replay_fallbacks", None)
    path = tmp_path / "hotfix.yaml"
    path.write_text(FILE)
    return path


def _num(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _decide(row: dict) -> str | None:
    """The first rule of FILE that holds, written out by hand."""
    req = row.get("request") or {}
    charges, age, calls = _num(req.get("monthly_charges")), _num(req.get("age")), _num(req.get("support_calls"))
    if charges is not None and charges > 110 and row["model_version"] == "v2":
        return "high-charges"
    if age is not None and age >= 70:
        return "old-customers"
    if req.get("country") == "DE" and calls is not None and calls >= 4:
        return "germany"
    return None


def _preview(*args) -> dict:
    result = runner.invoke(app, ["replay", CHURN, *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["hotfix"]


def test_counts_per_rule_and_segment_match_plain_python(rows, hotfix_file):
    doc = _preview("--hotfix", str(hotfix_file), "--show", "2")
    decided = [(r, _decide(r)) for r in rows]
    by_rule = Counter(name for _, name in decided if name)
    got = {r["name"]: r for r in doc["rules"]}
    assert set(got) == {"high-charges", "old-customers", "germany"} and doc["disabled_rules"] == ["never"]
    assert got["high-charges"]["answered"] == by_rule["high-charges"] > 0
    # a failing fallback: the model answers, as in serving
    assert got["old-customers"]["answered"] == 0 and got["old-customers"]["fallback_errors"] == by_rule["old-customers"] > 0
    assert got["germany"]["answered"] == by_rule["germany"] > 0
    answered = by_rule["high-charges"] + by_rule["germany"]
    assert (doc["requests"], doc["answered_by_hotfix"], doc["answered_by_model"]) == (len(rows), answered,
                                                                                      len(rows) - answered)
    segments = Counter((r["model"], r["model_version"]) for r, name in decided if name == "germany")
    assert {(s["model"], s["model_version"]): s["answered"] for s in got["germany"]["segments"]} == segments
    changed = sum(1 for r, name in decided if name == "germany"
                  and r.get("response") != {"churn_probability": 0.2, "label": "stay"})
    assert got["germany"]["changed"] == changed and got["germany"]["same"] == by_rule["germany"] - changed
    assert len(doc["examples"]) == 2 and doc["examples"][0]["diff"]


def test_the_example_file_on_the_v2_incident(rows):
    doc = _preview("--hotfix", EXAMPLE, "--where", 'model_version == "v2"')
    v2 = [r for r in rows if r["model_version"] == "v2"]
    premium = sum(1 for r in v2 if (r.get("request") or {}).get("plan") == "premium")
    no_plan = sum(1 for r in v2 if (r.get("request") or {}).get("plan") is None)
    got = {r["name"]: r["answered"] for r in doc["rules"]}
    assert got == {"premium-on-v2": premium, "missing-plan": no_plan}
    assert doc["requests"] == len(v2)


def test_the_table(hotfix_file):
    result = runner.invoke(app, ["replay", CHURN, "--hotfix", str(hotfix_file), "--show", "1"],
                           env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"HOT FIXES: {hotfix_file} would answer ")
    assert any(line.startswith("germany ") and "respond" in line for line in lines)
    assert "disabled (not previewed): never" in result.stdout
    assert "changed: request " in result.stdout


def test_with_a_target_the_requests_no_hot_fix_answers_are_replayed(rows):
    args = ["replay", CHURN, "--model", f"{ROOT / 'demo' / 'model.py'}:churn_v2", "--where", 'model_version == "v2"',
            "--limit", "200", "--hotfix", EXAMPLE, "--format", "json", "--show", "0"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    chosen = [r for r in rows if r["model_version"] == "v2"][:200]
    answered = sum(1 for r in chosen if (r.get("request") or {}).get("plan") in ("premium", None))
    assert doc["hotfix"]["requests"] == 200 and doc["hotfix"]["answered_by_hotfix"] == answered
    assert doc["requests"] + doc["skipped_without_request"] == 200 - answered


def test_a_bad_hotfix_file_is_one_error_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: x\n    when: input.a >\n    respond: 1\n")
    result = runner.invoke(app, ["replay", CHURN, "--hotfix", str(bad)])
    assert result.exit_code == 2
    assert "bad.yaml has 1 problem" in result.stderr and "Traceback" not in result.stderr


def test_a_dry_run_lists_only_the_requests_that_would_reach_the_model(rows):
    result = runner.invoke(app, ["replay", CHURN, "--where", 'model_version == "v2"', "--limit", "100",
                                 "--hotfix", EXAMPLE, "--dry-run"])
    assert result.exit_code == 0, result.output
    chosen = [r for r in rows if r["model_version"] == "v2"][:100]
    reach = [r["request_id"] for r in chosen if (r.get("request") or {}).get("plan") not in ("premium", None)
             and r.get("request") is not None]
    assert [json.loads(line)["request_id"] for line in result.stdout.splitlines()] == reach
