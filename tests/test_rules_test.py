"""``mlmon rules test``: rule unit tests as ``promtool test rules`` runs them.

Good files pass, each kind of difference is reported at its line, bad files exit 2 with every
problem, and log-based tests agree with expectations computed in plain Python.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ROOT, record, write_jsonl
from mlmon.cli import app
from mlmon.rules.testseries import expand_values

MLMON = str(Path(sys.executable).parent / "mlmon")
runner = CliRunner()

RULES = """\
rules:
  - name: errors
    severity: critical
    expr: error_rate > 0.2
    every: 1h
    by: [model]
    where: model == "churn"
    labels: {team: ml}
    summary: "{{ model }} errors {{ value }}"
  - name: slow
    expr: latency_p95_ms > 100
    every: 1h
    by: [model]
    for: 2
"""


def run(*args, cwd=None):
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([MLMON, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def write(tmp_path: Path, tests: str, rules: str = RULES) -> Path:
    (tmp_path / "rules.yaml").write_text(rules)
    path = tmp_path / "t.test.yaml"
    path.write_text("rule_files: [rules.yaml]\ntests:\n" + textwrap.indent(textwrap.dedent(tests), "  "))
    return path


def test_the_example_tests_of_rules_example_yaml_pass_as_ci_runs_them():
    proc = run("rules", "test", "rules.example.test.yaml", cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.endswith("5 tests: 5 passed, 0 failed\n")
    assert proc.stdout.count("PASS  rules.example.test.yaml: ") == 5
    assert proc.stderr == ""


def test_rule_files_are_found_beside_the_test_file_from_any_directory(tmp_path):
    result = runner.invoke(app, ["rules", "test", str(ROOT / "rules.example.test.yaml")])
    assert result.exit_code == 0, result.output
    proc = run("rules", "test", str(ROOT / "rules.example.test.yaml"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


SPIKE = """\
- name: spike
  start: 2026-01-01T00:00:00Z
  windows:
    - segment: {model: churn}
      values:
        request_count: 100x2
        error_rate: 0.1 0.5 0.1
        latency_p95_ms: [50, 150, 150]
    - segment: {model: fraud}
      values:
        request_count: 100x2
        error_rate: 0.9x2
  alerts:
"""


def test_a_file_whose_expectations_hold_passes(tmp_path):
    path = write(tmp_path, SPIKE + """\
    - at: 1h
      expect: []
    - at: 2h
      expect:
        - alertname: errors
          labels: {model: churn, severity: critical, team: ml}
          annotations: {summary: churn errors 0.5}
        - alertname: slow
          labels: {model: churn, severity: warning}
          state: pending
    - at: 2026-01-01T03:00:00Z
      alertname: slow
      expect:
        - labels: {model: churn, severity: warning}
""")
    proc = run("rules", "test", str(path))
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == f"PASS  {path}: spike\n1 test: 1 passed, 0 failed\n"


def test_each_kind_of_difference_is_reported_at_its_line(tmp_path):
    path = write(tmp_path, SPIKE + """\
    - at: 2h
      expect:
        - alertname: errors
          labels: {model: churn, severity: critical, team: ml}
          annotations: {summary: churn errors 0.4, runbook_url: x}
        - alertname: slow
          state: firing
          labels: {model: churn, severity: warning}
        - alertname: errors
          labels: {model: fraud, severity: critical, team: ml}
    - at: 3h
      expect: []
""")
    proc = run("rules", "test", str(path))
    assert proc.returncode == 1, proc.stderr
    prefix = 'test "spike": at '
    assert proc.stdout.splitlines() == [
        f"FAIL  {path}: spike",
        f"  {path}:20:27: {prefix}2h: errors{{model=\"churn\",severity=\"critical\",team=\"ml\"}}: summary is "
        "'churn errors 0.5', expected 'churn errors 0.4'",
        f"  {path}:20:54: {prefix}2h: errors{{model=\"churn\",severity=\"critical\",team=\"ml\"}} has no annotation "
        "'runbook_url', expected 'x'",
        f"  {path}:22:13: {prefix}2h: slow{{model=\"churn\",severity=\"warning\"}} is pending, expected firing",
        f"  {path}:24:13: {prefix}2h: missing alert errors{{model=\"fraud\",severity=\"critical\",team=\"ml\"}} (firing)",
        f"  {path}:26:9: {prefix}3h: unexpected alert slow{{model=\"churn\",severity=\"warning\"}} (firing)",
        "1 test: 0 passed, 1 failed",
    ]


def test_json_document(tmp_path):
    path = write(tmp_path, SPIKE + """\
    - at: 3h
      expect: []
""")
    result = runner.invoke(app, ["rules", "test", str(path), "--format", "json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert {k: doc[k] for k in ("status", "tests", "passed", "failed")} == \
        {"status": "fail", "tests": 1, "passed": 0, "failed": 1}
    (file,) = doc["files"]
    assert (file["file"], file["error"], file["problems"]) == (str(path), None, [])
    (test,) = file["tests"]
    assert (test["name"], test["status"]) == ("spike", "fail")
    assert test["differences"] == [{
        "kind": "unexpected", "where": f"{path}:16:9", "at": "3h", "time": "2026-01-01T03:00:00Z",
        "alertname": "slow", "labels": {"model": "churn", "severity": "warning"}, "state": "firing", "found_state": "firing",
        "message": 'test "spike": at 3h: unexpected alert slow{model="churn",severity="warning"} (firing)',
    }]


def test_several_files_a_bad_one_exits_2_after_running_the_others(tmp_path):
    good = write(tmp_path, SPIKE + "    - {at: 1h, expect: []}\n")
    bad = tmp_path / "bad.test.yaml"
    bad.write_text("rule_files: [rules.yaml]\ntests: []\n")
    result = runner.invoke(app, ["rules", "test", str(good), str(bad), "-f", "json"])
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["status"] == "error" and doc["passed"] == 1
    assert doc["files"][1]["problems"] == [f"{bad}:2:1: 'tests' must be a list of at least one test"]


BAD = [
    ("tset: 1\n", "2:1: unknown key 'tset'"),
    ("- name: a\n  strat: 2026-01-01\n", "test \"a\": unknown key 'strat'; did you mean 'start'?"),
    ("- name: a\n  intervl: 1m\n", "test \"a\": unknown key 'intervl'; did you mean 'every' (promtool's 'interval')?"),
    ("- name: a\n  input_series: []\n", "test \"a\": unknown key 'input_series'; did you mean 'windows' "
                                       "(promtool's 'input_series')?"),
    ("- name: a\n  start: yesterday\n", 'test "a": start \'yesterday\' is not an ISO time'),
    ("- name: a\n  every: 5 parsecs\n", "every '5 parsecs' is not a duration"),
    ("- name: a\n  windows: [{segment: {model: churn}, values: {request_count: 1, eror_rate: 1}}]\n",
     "unknown metric 'eror_rate'; did you mean 'error_rate'?"),
    ("- name: a\n  windows: [{segment: {model: churn}, values: {error_rate: 1}}]\n", "values need request_count"),
    ("- name: a\n  windows: [{segment: {model: churn}, values: {request_count: '1 2x'}}]\n",
     "request_count: '2x' is not a value"),
    ("- name: a\n  windows: [{segment: {model: churn}, values: {request_count: 1.5}}]\n",
     "request_count counts requests: whole numbers"),
    ("- name: a\n  windows: [{segment: {model: churn}, values: {request_count: 1x1, error_rate: 1}}]\n",
     "the metrics give different numbers of windows (1, 2)"),
    ("- name: a\n  windows: [{segment: {endpoint: x}, values: {request_count: 1}}]\n",
     "no rule reads this series: none has every 1h and by endpoint"),
    ("- name: a\n  windows: [{every: 1d, segment: {model: x}, values: {request_count: 1}}]\n",
     "no rule reads this series: none has every 1d and by model"),
    ("- name: a\n  windows: [{segment: {modle: x}, values: {request_count: 1}}]\n", "did you mean 'model'?"),
    ("- name: a\n  logs: none.jsonl\n", "needs 'start:'"),
    ("- name: a\n  start: 2026-01-01\n  logs: none.jsonl\n", "log file"),
    ("- name: a\n  alerts: [{at: 3 hours, expect: []}]\n", "at '3 hours' is not an offset such as 3h"),
    ("- name: a\n  alerts: [{at: 1h, expect: [{alertname: erors}]}]\n", "no rule is named 'erors'; did you mean 'errors'?"),
    ("- name: a\n  alerts: [{at: 1h, expect: [{alertname: errors, state: fring}]}]\n", "state must be firing or pending"),
    ("- name: a\n  alerts: [{at: 1h, expect: [{alertname: errors, lables: {}}]}]\n", "did you mean 'labels'?"),
    ("- name: a\n  alerts: [{at: 1h, expect: [{labels: {}}]}]\n", "missing 'alertname'"),
    ("- name: a\n  alerts: [{at: 1h, alertname: slow, expect: [{alertname: errors}]}]\n",
     "only alerts of 'slow' are compared here"),
    ("- name: a\n  alerts: [{at: 1h, expect: 3}]\n", "'expect' must be a list"),
    ("- name: a\n  alerts: [{at: 1h}]\n", "missing 'expect'"),
    ("- name: a\n  windows: [{segment: {model: x}, values: {request_count: [1" + "0" * 400 + "]}}]\n",
     "request_count has a number too large"),
    ("- name: a\n  start: 2026-13-01\n", "'2026-13-01' is not a valid date or time"),
    ("- name: a\n  windows: [{segment: {model: x}, values: {request_count: [.nan]}}]\n", "NaN is no value"),
    ("- name: a\n  windows: [{segment: {model: x}, values: {request_count: 1x99999999}}]\n", "more than 10,000 windows"),
    ("- name: a\n  start: 9999-12-31\n  windows: [{segment: {model: x}, values: {request_count: 1x30}}]\n",
     "ends past the year 9999"),
    ("- name: a\n  start: 9999-12-31\n  alerts: [{at: 2d, expect: []}]\n", "at 2d after the test's start is past"),
    ("- name: a\n  windows: [{segment: {model: [x]}, values: {request_count: 1}}]\n", "must be text or a number"),
    ('- name: "a\\x1b[31m"\n  every: x\n', 'test "a\\x1b[31m": every'),
]


@pytest.mark.parametrize(("tests", "message"), BAD, ids=[m for _, m in BAD])
def test_a_bad_test_file_exits_2_naming_the_line(tmp_path, tests, message):
    (tmp_path / "rules.yaml").write_text(RULES)
    path = tmp_path / "t.test.yaml"
    body = tests if tests.startswith("tset") else "tests:\n" + textwrap.indent(tests, "  ")
    path.write_text("rule_files: [rules.yaml]\n" + body + ("tests: [{name: x}]\n" if tests.startswith("tset") else ""))
    proc = run("rules", "test", str(path))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert message in proc.stderr
    assert any(f"{path}:" in line and message in line for line in proc.stderr.splitlines()), proc.stderr


def test_every_problem_of_a_bad_file_is_listed_with_its_line(tmp_path):
    path = write(tmp_path, """\
- name: a
  every: 5 parsecs
  windows: [{segment: {model: x}, values: {request_count: 1, eror_rate: 1}}]
  alerts: [{at: 1h, expect: [{alertname: erors, state: fring}]}]
""")
    proc = run("rules", "test", str(path))
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert [line.split(": ", 1)[0] for line in lines[:-1]] == [
        f"{path}:4:5", f"{path}:5:64", f"{path}:6:33", f"{path}:6:51"]
    assert lines[-1] == f"mlmon: error: rule test file {path} has 4 problems. Fix the lines listed above."
    assert proc.stdout.splitlines()[0] == f"ERROR {path}: 4 problems, listed on stderr"


def test_a_rules_file_that_fails_validation_is_reported_with_its_own_lines(tmp_path):
    path = write(tmp_path, SPIKE + "    - {at: 1h, expect: []}\n",
                 rules="rules:\n  - name: x\n    expr: latncy_p95_ms > 1\n    fro: 2\n")
    proc = run("rules", "test", str(path))
    assert proc.returncode == 2
    rules = tmp_path / "rules.yaml"
    assert f"{rules}:3:11: rule \"x\": unknown metric 'latncy_p95_ms'; did you mean 'latency_p95_ms'?" in proc.stderr
    assert f"{rules}:4:5: rule \"x\": unknown key 'fro'; did you mean 'for'?" in proc.stderr


def test_start_may_be_unix_seconds_as_in_promtool(tmp_path):
    path = write(tmp_path, SPIKE.replace("2026-01-01T00:00:00Z", "1767225600") + """\
    - at: 2026-01-01T03:00:00Z
      expect:
        - {alertname: slow, labels: {model: churn, severity: warning}}
""")
    assert run("rules", "test", str(path)).returncode == 0


def test_a_missing_test_file_exits_2(tmp_path):
    proc = run("rules", "test", str(tmp_path / "none.yaml"))
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(("text", "values"), [
    # promtool's documented examples
    ("-2+4x3", [-2, 2, 6, 10]),
    (" 1-2x4", [1, -1, -3, -5, -7]),
    (" 1x4", [1, 1, 1, 1, 1]),
    (" 1 _x3 ", [1, None, None, None]),
    ("600 600 _ 0.5", [600, 600, None, 0.5]),
    ("1e3x1", [1000, 1000]),
])
def test_expanding_notation_is_promtools(text, values):
    assert expand_values(text) == (values, None, None)


# --- log-based tests against plain Python --------------------------------------------------------------

HOURS = {  # hour -> (requests, errors) of churn; fraud errs every hour but the rule's `where` leaves it out
    0: (10, 1),
    1: (10, 3),
    2: (20, 4),
    3: (10, 5),
}


def _log(tmp_path: Path) -> Path:
    rows = []
    for hour, (count, errors) in HOURS.items():
        for i in range(count):
            rows.append(record(f"2026-01-01T{hour:02d}:{i:02d}:00Z", request_id=f"c{hour}-{i}",
                               status=500 if i < errors else 200))
            rows.append(record(f"2026-01-01T{hour:02d}:{i:02d}:30Z", request_id=f"f{hour}-{i}", model="fraud",
                               status=500))
    return write_jsonl(tmp_path / "small.jsonl", rows)


def _expected_in_python(hour_end: int) -> list[dict]:
    """The alerts of rule `errors` at hour_end: churn's latest window's error rate above 0.2."""
    count, errors = HOURS[hour_end - 1]
    rate = errors / count
    return [{"alertname": "errors", "labels": {"model": "churn", "severity": "critical", "team": "ml"},
             "annotations": {"summary": f"churn errors {rate:g}"}}] if rate > 0.2 else []


def test_log_based_tests_agree_with_plain_python(tmp_path):
    _log(tmp_path)
    alerts = [{"at": f"{h}h", "alertname": "errors", "expect": _expected_in_python(h)} for h in range(1, 5)]
    assert [len(a["expect"]) for a in alerts] == [0, 1, 0, 1]  # the data exercises both outcomes
    test = {"name": "log", "start": "2026-01-01T00:00:00Z", "logs": "small.jsonl", "alerts": alerts}
    path = write(tmp_path, json.dumps([test]))
    proc = run("rules", "test", str(path))
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stdout
    # The same numbers given as windows judge the same way.
    windows = [{"segment": {"model": "churn"},
                "values": {"request_count": [c for c, _ in HOURS.values()],
                           "error_rate": [e / c for c, e in HOURS.values()]}}]
    test = {"name": "windows", "start": "2026-01-01T00:00:00Z", "windows": windows, "alerts": alerts}
    path = write(tmp_path, json.dumps([test]))
    proc = run("rules", "test", str(path))
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stdout


def test_a_log_based_test_reports_its_differences(tmp_path):
    _log(tmp_path)
    path = write(tmp_path, """\
- name: log
  start: 2026-01-01T00:00:00Z
  logs: small.jsonl
  alerts:
    - at: 2h
      alertname: errors
      expect: []
""")
    proc = run("rules", "test", str(path))
    assert proc.returncode == 1
    assert 'at 2h: unexpected alert errors{model="churn",severity="critical",team="ml"} (firing)' in proc.stdout


def test_yaml_dates_that_are_no_date_are_an_error_at_their_line_not_a_crash(tmp_path):
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - name: x\n    description: 2026-13-01\n    expr: error_rate > 1\n")
    proc = run("rules", "validate", str(rules))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{rules}:3:18: rules file is not valid YAML: '2026-13-01' is not a valid date or time" in proc.stderr


def test_the_test_file_schema_accepts_the_example_and_refuses_unknown_keys():
    import yaml

    from mlmon.rules.testschema import json_schema
    from test_rules_schema import conforms

    result = runner.invoke(app, ["rules", "schema", "--test"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema == json_schema()
    # As an editor reads YAML: times are text.
    example = json.loads(json.dumps(yaml.safe_load((ROOT / "rules.example.test.yaml").read_text()), default=str))
    assert conforms(example, schema)
    example["tests"][0]["windows"][0]["valuse"] = {}
    assert not conforms(example, schema)
    del example["tests"][0]["windows"][0]["valuse"]
    example["tests"][0]["alerts"][0]["expect"] = [{"alertname": "x", "state": "fring"}]
    assert not conforms(example, schema)


def test_a_where_on_other_fields_takes_the_given_values_as_the_records_it_keeps(tmp_path):
    rules = RULES.replace('where: model == "churn"', 'where: endpoint == "/predict"')
    path = write(tmp_path, SPIKE + """\
    - at: 2h
      alertname: errors
      expect:
        - {alertname: errors, labels: {model: churn, severity: critical, team: ml}}
        - {alertname: errors, labels: {model: fraud, severity: critical, team: ml}}
""", rules=rules)
    proc = run("rules", "test", str(path))
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stdout


def test_the_example_in_the_help_is_a_passing_test(tmp_path):
    from mlmon.cli.rules import TEST_EPILOG

    body = TEST_EPILOG.split("at each time:\n", 1)[1].split("\nSee ", 1)[0]
    path = tmp_path / "help.test.yaml"
    path.write_text(textwrap.dedent(body).replace("rules.example.yaml", str(ROOT / "rules.example.yaml")))
    result = runner.invoke(app, ["rules", "test", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 test: 1 passed, 0 failed" in result.output


def test_a_log_a_test_cannot_read_stops_that_file_only(tmp_path):
    (tmp_path / "junk.jsonl").write_text("not json\n")
    bad = write(tmp_path, '- {name: a, start: 2026-01-01T00:00:00Z, logs: junk.jsonl, alerts: [{at: 1h, expect: []}]}\n')
    proc = run("rules", "test", str(bad), str(ROOT / "rules.example.test.yaml"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stdout.startswith(f"ERROR {bad}: could not run, see stderr\n")
    assert proc.stdout.endswith("5 tests: 5 passed, 0 failed; 1 file could not run\n")
    assert "no good log record in" in proc.stderr
