"""Inhibition (the rules file's ``inhibit:``), as Alertmanager's inhibit_rules: parsing with every problem at
file:line:col, the semantics table, and the issue's example through ``mlmon check``."""

import hashlib
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from conftest import record, write_jsonl
from test_rules_schema import conforms
from typer.testing import CliRunner

from mlmon.cli import app
from mlmon.errors import ConfigError
from mlmon.rules.evaluate import Alert
from mlmon.rules.inhibit import inhibitions
from mlmon.rules.load import rules_from_text
from mlmon.rules.model import json_schema

MLMON = str(Path(sys.executable).parent / "mlmon")
T0 = datetime(2026, 11, 27, tzinfo=timezone.utc)
NOW = "2026-11-27T03:00:00Z"
runner = CliRunner()

RULES = """\
rules:
  - name: no-traffic
    severity: critical
    expr: request_count < 3
    by: [model]
  - name: error-rate
    expr: error_rate > 0.1
    by: [model]
  - name: slow-p95
    expr: latency_p95_ms > 500
    by: [model]
"""
INHIBIT = """\
inhibit:
  - source_matchers: ['alertname="no-traffic"']
    target_matchers: ['alertname=~"error-rate|slow-p95"']
    equal: [model]
"""


def expected_fingerprint(labels: dict) -> str:
    """Independent of mlmon: sha256 of the sorted label pairs as compact JSON, 16 hex digits."""
    text = json.dumps(sorted(labels.items()), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def alert(rule, model, *, active=True, severity="warning", labels=None):
    return Alert(rule, severity, {"model": model}, 1.0, active, T0, T0, 1, "", labels=dict(labels or {}))


def rule_of(inhibit_yaml: str):
    return rules_from_text(RULES + inhibit_yaml, "r.yaml").inhibit


# --- semantics ---------------------------------------------------------------------------------

def test_a_firing_source_mutes_targets_with_equal_labels_only():
    alerts = [alert("no-traffic", "churn", severity="critical"), alert("error-rate", "churn"),
              alert("slow-p95", "churn"), alert("error-rate", "fraud"), alert("no-traffic", "fraud", active=False)]
    found = inhibitions(alerts, rule_of(INHIBIT))
    source = expected_fingerprint({"alertname": "no-traffic", "severity": "critical", "model": "churn"})
    assert found == {1: [source], 2: [source]}  # not fraud's: its no-traffic alert is not firing now


def test_an_inactive_source_inhibits_nothing():
    alerts = [alert("no-traffic", "churn", active=False), alert("error-rate", "churn")]
    assert inhibitions(alerts, rule_of(INHIBIT)) == {}


def test_equal_labels_missing_from_both_count_as_equal_empty():
    text = INHIBIT.replace("equal: [model]", "equal: [team]")
    alerts = [alert("no-traffic", "churn"), alert("error-rate", "fraud")]
    assert list(inhibitions(alerts, rule_of(text))) == [1]
    alerts = [alert("no-traffic", "churn"), alert("error-rate", "fraud", labels={"team": "a"})]
    assert inhibitions(alerts, rule_of(text)) == {}


def test_no_equal_labels_mutes_every_target():
    alerts = [alert("no-traffic", "churn"), alert("error-rate", "fraud"), alert("slow-p95", "x")]
    text = INHIBIT.replace("    equal: [model]\n", "")
    assert sorted(inhibitions(alerts, rule_of(text))) == [1, 2]


def test_an_alert_matching_both_sides_is_not_inhibited_by_itself_nor_its_peers():
    # Alertmanager: severity=critical inhibits severity=warning; an alert that matches both sides
    # (here: any alert, source and target matchers both empty-ish) is not muted by one like it.
    text = """\
inhibit:
  - source_matchers: ['alertname=~"error-rate|slow-p95"']
    target_matchers: ['alertname=~"error-rate|slow-p95"']
    equal: [model]
"""
    alerts = [alert("error-rate", "churn"), alert("slow-p95", "churn")]
    assert inhibitions(alerts, rule_of(text)) == {}


def test_a_two_sided_target_is_still_muted_by_a_one_sided_source():
    text = """\
inhibit:
  - source_matchers: ['severity=~"critical|warning"']
    target_matchers: ['severity="warning"']
    equal: [model]
"""
    alerts = [alert("no-traffic", "churn", severity="critical"), alert("error-rate", "churn")]
    assert list(inhibitions(alerts, rule_of(text))) == [1]


def test_muted_sources_still_inhibit():
    source = alert("no-traffic", "churn")
    source.silenced_by = ["some-silence"]
    assert list(inhibitions([source, alert("error-rate", "churn")], rule_of(INHIBIT))) == [1]


# --- the rules file ----------------------------------------------------------------------------

def test_the_inhibit_section_is_parsed():
    [rule] = rule_of(INHIBIT.replace("inhibit:\n", "inhibit:\n  - name: quiet models\n    source_matchers: "
                                     "'{alertname=\"no-traffic\", severity=\"critical\"}'\n    target_matchers: []\n"))[:1]
    assert rule.name == "quiet models"
    assert [str(m) for m in rule.source] == ['alertname="no-traffic"', 'severity="critical"']
    assert rule.target == () and rule.equal == ()


def test_every_problem_of_the_inhibit_section_at_its_line_and_column():
    text = RULES + """\
inhibit:
  - source_matchers: ['alertname="no-trafic"']
    target_matchers: ['alertname=~"error-rate|slow-p95"', 'model=~(?=a)']
    equal: [model]
  - source_match: {alertname: no-traffic}
    target_matchers: 'severity="warning'
    equal: model
  - sources_matchers: []
  - just text
inhibt: []
"""
    with pytest.raises(ConfigError) as info:
        rules_from_text(text, "r.yaml")
    assert info.value.details == [
        "r.yaml:13:23: inhibit #1: source_matchers: no rule is named 'no-trafic', so it can never match; "
        "did you mean 'no-traffic'?",
        "r.yaml:14:67: inhibit #1: target_matchers: regex uses a look-around (?=, which RE2 (Alertmanager's regex "
        "engine) does not take",
        "r.yaml:16:5: inhibit #2: 'source_match' is deprecated in Alertmanager and not taken here; did you mean "
        "'source_matchers'? Write matchers such as source_matchers: ['alertname=\"no-traffic\"']",
        "r.yaml:17:32: inhibit #2: target_matchers: value has no closing double quote",
        "r.yaml:18:5: inhibit #2: 'equal' must be a list of label names, such as [model]",
        "r.yaml:19:5: inhibit #3: unknown key 'sources_matchers'; did you mean 'source_matchers'?",
        "r.yaml:20:5: inhibit #4: an entry must be a mapping with source_matchers, target_matchers and equal",
        "r.yaml:21:1: unknown top-level key 'inhibt'; did you mean 'inhibit'?",
    ]


def test_validate_lists_them_through_the_entry_point(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(RULES + "inhibit:\n  - target_match_re: {alertname: x}\n")
    proc = subprocess.run([MLMON, "rules", "validate", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{path}:13:5: inhibit #1: 'target_match_re' is deprecated in Alertmanager" in proc.stderr


@pytest.mark.parametrize("text, ok", [
    (INHIBIT, True),
    ("inhibit:\n  - source_matchers: 'alertname=\"no-traffic\"'\n    target_matchers: []\n", True),
    ("inhibit: []\n", True),
    ("inhibit:\n  - source_match: {a: b}\n", False),
    ("inhibit:\n  - equal: model\n", False),
    ("inhibit:\n  - source_matchers: [5]\n", False),
    ("inhibit: {a: 1}\n", False),
])
def test_the_schema_and_the_validator_agree(text, ok):
    try:
        rules_from_text(RULES + text, "r.yaml")
        accepted = True
    except ConfigError:
        accepted = False
    assert accepted is ok
    assert conforms(yaml.safe_load(RULES + text), json_schema()) is ok


def test_the_schema_documents_inhibit():
    schema = json_schema()["properties"]["inhibit"]
    assert set(schema["items"]["properties"]) == {"name", "source_matchers", "target_matchers", "equal"}
    result = runner.invoke(app, ["rules", "schema"])
    assert json.loads(result.stdout)["properties"]["inhibit"] == schema


# --- the issue's example through mlmon check ---------------------------------------------------

def issue_logs(tmp_path) -> Path:
    """churn: steady, then a single slow failing request in the last hour; fraud: steady, then half errors."""
    rows = []
    for hour in range(3):
        for i in range(10):
            ts = (T0 + timedelta(hours=hour, minutes=i * 5)).strftime("%Y-%m-%dT%H:%M:%SZ")
            if hour < 2:
                rows.append(record(ts, request_id=f"c{hour}{i}", model="churn"))
            elif i == 0:
                rows.append(record(ts, request_id="c-last", model="churn", status=500, latency_ms=900.0))
            rows.append(record(ts, request_id=f"f{hour}{i}", model="fraud",
                               status=500 if hour == 2 and i % 2 else 200))
    return write_jsonl(tmp_path / "app.jsonl", rows)


def check_json(tmp_path, rules_text, *extra):
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules_text)
    proc = subprocess.run([MLMON, "check", str(issue_logs(tmp_path)), "--rules", str(rules), "--since", "3h",
                           "--now", NOW, "--format", "json", *extra], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_a_model_with_no_traffic_mutes_its_error_and_latency_alerts_not_another_models(tmp_path):
    code, doc = check_json(tmp_path, RULES + INHIBIT)
    by_key = {(a["rule"], a["segment"]["model"]): a for a in doc["alerts"]}
    assert sorted(by_key) == [("error-rate", "churn"), ("error-rate", "fraud"), ("no-traffic", "churn"),
                              ("slow-p95", "churn")]
    source = expected_fingerprint({"alertname": "no-traffic", "severity": "critical", "model": "churn"})
    assert by_key["error-rate", "churn"]["inhibited_by"] == [source]
    assert by_key["slow-p95", "churn"]["inhibited_by"] == [source]
    assert by_key["error-rate", "fraud"]["inhibited_by"] == []
    assert by_key["no-traffic", "churn"]["inhibited_by"] == []
    assert code == 1 and doc["status"] == "firing"  # the source and fraud's errors still gate


def test_only_inhibited_alerts_do_not_fail_the_gate(tmp_path):
    code, doc = check_json(tmp_path, RULES + INHIBIT, "--fail-on", "warning")
    assert code == 1
    # with the source below the gate, only inhibited warnings and fraud's warning are left
    only_churn = RULES.replace("    by: [model]\n", "    by: [model]\n    where: model == \"churn\"\n")
    only_churn = only_churn.replace("severity: critical", "severity: info")
    code, doc = check_json(tmp_path, only_churn + INHIBIT)
    assert [a["rule"] for a in doc["alerts"] if not a["inhibited_by"]] == ["no-traffic"]
    assert code == 0 and doc["status"] == "ok"


def test_every_format_marks_inhibited_alerts(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES + INHIBIT)
    log = str(issue_logs(tmp_path))
    base = ["check", log, "--rules", str(rules), "--since", "3h", "--now", NOW]
    table = runner.invoke(app, base, env={"COLUMNS": "200"}).stdout
    assert "2 muted" in table and table.count("inhibited by no-traffic{model=churn}; sends nothing") == 2
    assert [line.split()[-1] for line in table.splitlines() if line.startswith(("error-rate", "slow-p95"))] == [
        "inhibited", "yes", "inhibited"]
    markdown = runner.invoke(app, [*base, "--format", "markdown"]).stdout
    assert markdown.count("| yes (inhibited) |") == 2 and "2 muted." in markdown
    junit = runner.invoke(app, [*base, "--format", "junit"]).stdout
    assert junit.count("<skipped message=") == 2 and 'failures="2"' in junit
    github = runner.invoke(app, [*base, "--format", "github"], env={"GITHUB_STEP_SUMMARY": None}).stdout
    assert github.count("::notice title=inhibited%3A ") == 2
