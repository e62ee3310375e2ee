"""Issue 12, defects 4 and 6 and ``annotations:``: Prometheus-style templates, labels.severity, annotations.

Expected texts are worked out by hand from the logs each test writes (and Prometheus's documented
outputs of its filters), never taken from an earlier run of mlmon.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import record, write_jsonl
from typer.testing import CliRunner

from mlmon.cli import app
from mlmon.errors import ConfigError
from mlmon.rules.load import rules_from_text

MLMON = str(Path(sys.executable).parent / "mlmon")
runner = CliRunner()


def run(*args):
    """The installed ``mlmon`` in a subprocess, as cron or CI runs it."""
    env = {**os.environ, "COLUMNS": "100"}
    for name in ("FORCE_COLOR", "GITHUB_STEP_SUMMARY"):
        env.pop(name, None)
    return subprocess.run([MLMON, *args], capture_output=True, text=True, env=env, timeout=120, check=False)


@pytest.fixture
def logs(tmp_path):
    """One hour of churn traffic: 8 requests, 1 of them an error, every latency 1234567 ms."""
    rows = [record(f"2026-11-27T10:{i:02d}:00Z", request_id=f"r{i}", latency_ms=1234567.0,
                   status=500 if i == 0 else 200, error="boom" if i == 0 else None) for i in range(8)]
    return str(write_jsonl(tmp_path / "logs.jsonl", rows))


def rules_file(tmp_path, body: str) -> str:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n" + body, encoding="utf-8")
    return str(path)


# --- defect 4: Prometheus-style templates are rendered ------------------------------------------

def test_the_issue_summary_is_rendered_not_sent_literally(tmp_path, logs):
    """Issue 12 defect 4, as filed: this summary validated as clean and was delivered verbatim."""
    rules = rules_file(tmp_path, (
        "  - name: down\n    expr: latency_p95_ms > 1000\n    by: [model]\n"
        '    summary: "Instance {{ $labels.model }} down, value {{ $value | humanize }}"\n'
    ))
    assert run("rules", "validate", rules).returncode == 0
    proc = run("check", logs, "--rules", rules, "--now", "2026-11-27T12:00:00Z", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    [alert] = json.loads(proc.stdout)["alerts"]
    assert alert["value"] == 1234567
    assert alert["summary"] == "Instance churn down, value 1.235M"  # 1234567 = 1.235 × 1000²


def test_prometheus_template_renders_labels_and_humanized_value(tmp_path, logs):
    rules = rules_file(tmp_path, (
        "  - name: slow\n"
        "    expr: latency_p95_ms > 1000\n"
        "    by: [model]\n"
        "    labels: {team: ml}\n"
        '    summary: "Instance {{ $labels.model }} down, value {{ $value | humanize }}"\n'
        "    annotations:\n"
        '      description: "{{ error_rate | humanizePercentage }} errors, p95 {{ humanizeDuration $value }} ms"\n'
        '      runbook_url: "https://runbooks.example.com/{{ $labels.alertname }}?team={{ $labels.team }}"\n'
        '      raw: "{{ $value }} {{ value }} {{ .Labels.severity }} {{ printf \\"%.3f\\" error_rate }}"\n'
    ))
    proc = run("check", logs, "--rules", rules, "--now", "2026-11-27T12:00:00Z", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    [alert] = json.loads(proc.stdout)["alerts"]
    # 1234567 / 1000 / 1000 = 1.234567, four significant digits: 1.235, prefix M (Prometheus: "1.235M").
    assert alert["summary"] == "Instance churn down, value 1.235M"
    assert alert["annotations"] == {
        "summary": "Instance churn down, value 1.235M",
        # 1 error in 8 requests: 12.5%; 1234567 s = 14 days 6 h 56 min 7 s (Prometheus: "14d 6h 56m 7s").
        "description": "12.5% errors, p95 14d 6h 56m 7s ms",
        "runbook_url": "https://runbooks.example.com/slow?team=ml",
        # Go's %v of 1234567.0 is 1.234567e+06; mlmon's {{ value }} is the plain number.
        "raw": "1.234567e+06 1234567 warning 0.125",
    }


def test_bad_templates_give_every_problem_with_line_and_column(tmp_path):
    rules = rules_file(tmp_path, (
        "  - name: x\n"
        "    expr: error_rate > 0\n"
        "    by: [model]\n"
        '    summary: "{{ $labels.model }} is {{ title $labels.model }}"\n'
        "    annotations:\n"
        '      runbook_url: "{{ range $labels }}{{ . }}{{ end }}"\n'
        """      env: '{{ $externalLabels.env }} {{ $labels.modle }} {{ $foo }} {{ $value | printf "%d" }}'\n"""
        '      open: "value {{ $value"\n'
        '      twice: "{{ $value | humanize | humanizePercentage }} {{ nope }}"\n'
    ))
    proc = run("rules", "validate", rules)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.replace(str(Path(rules).parent) + os.sep, "").splitlines()
    # Columns counted by hand: the value's first character is its column after the opening quote.
    expected = [
        ("rules.yaml:5:41: rule \"x\": summary: template function 'title' is not supported; use humanize, "
        "humanizePercentage, humanizeDuration or printf \"%.2f\""),
        "rules.yaml:7:24: rule \"x\": annotations.runbook_url: template action 'range' is not supported",
        "rules.yaml:7:43: rule \"x\": annotations.runbook_url: unknown template field '.'",
        "rules.yaml:7:50: rule \"x\": annotations.runbook_url: template action 'end' is not supported",
        "rules.yaml:8:16: rule \"x\": annotations.env: template variable '$externalLabels' is not supported",
        ("rules.yaml:8:42: rule \"x\": annotations.env: label 'modle' is not one of the rule's labels "
        "(alertname, model, severity); did you mean 'model'?"),
        "rules.yaml:8:62: rule \"x\": annotations.env: unknown template variable '$foo'; use $value or $labels.NAME",
        "rules.yaml:8:89: rule \"x\": annotations.env: printf format '%d': only %f, %e, %g",
        "rules.yaml:9:20: rule \"x\": annotations.open: '{{' is not closed by '}}'",
        "rules.yaml:10:38: rule \"x\": annotations.twice: a filter prints text, so a value takes one filter at most",
        "rules.yaml:10:63: rule \"x\": unknown placeholder {{ nope }} in annotations.twice",
    ]
    assert len(lines) == len(expected) + 1 and "has 11 problems" in lines[-1], lines
    for want, line in zip(expected, lines):
        assert line.startswith(want), (want, line)


def test_templates_that_validate_never_crash_check(tmp_path, logs):
    """Filters on segment text that is not a number render Prometheus's error text in place."""
    rules = rules_file(tmp_path, (
        "  - name: t\n    expr: request_count > 0\n    by: [model_version]\n"
        '    summary: "{{ model_version | humanize }} {{ $labels.model_version | humanizeDuration }}"\n'
    ))
    proc = run("check", logs, "--rules", rules, "--now", "2026-11-27T12:00:00Z", "--format", "json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    [alert] = json.loads(proc.stdout)["alerts"]
    assert alert["summary"] == ("<error expanding template: humanize cannot read 'v1' as a number> "
                                "<error expanding template: humanizeDuration cannot read 'v1' as a number>")


def test_a_text_placeholder_cannot_take_a_filter():
    with pytest.raises(ConfigError) as info:
        rules_from_text("rules:\n  - name: r\n    expr: error_rate > 0\n"
                        "    summary: '{{ window_start | humanize }} {{ $labels.alertname | humanize }}'\n", "r.yaml")
    assert info.value.details == [
        'r.yaml:4:18: rule "r": summary: humanize needs a number, and window_start is text',
        'r.yaml:4:48: rule "r": summary: humanize needs a number, and alertname is text',
    ]


# --- defect 6: labels.severity ------------------------------------------------------------------

@pytest.mark.parametrize("how", ["subprocess", "in process"])
def test_labels_severity_critical_makes_fail_on_critical_fire(tmp_path, logs, how):
    rules = rules_file(tmp_path, "  - name: errors\n    expr: error_rate > 0.1\n    labels: {severity: critical}\n")
    args = ["check", logs, "--rules", rules, "--now", "2026-11-27T12:00:00Z", "--fail-on", "critical", "--format", "json"]
    if how == "subprocess":
        proc = run(*args)
        code, out = proc.returncode, proc.stdout
    else:
        result = runner.invoke(app, args)
        code, out = result.exit_code, result.stdout
    assert code == 1, out
    [alert] = json.loads(out)["alerts"]
    assert alert["severity"] == "critical" and alert["labels"] == {"severity": "critical"}


def test_labels_severity_problems_are_reported_at_the_label():
    text = ("rules:\n"
            "  - name: a\n    expr: error_rate > 0\n    labels: {severity: high}\n"
            "  - name: b\n    expr: error_rate > 0\n    severity: warning\n    labels:\n      severity: critical\n"
            "  - name: c\n    expr: error_rate > 0\n    severity: info\n    labels: {severity: info}\n")
    with pytest.raises(ConfigError) as info:
        rules_from_text(text, "r.yaml")
    assert info.value.details == [
        ("r.yaml:4:14: rule \"a\": labels.severity is the rule's severity, so it must be one of info, warning, "
        "critical, not 'high'"),
        "r.yaml:9:7: rule \"b\": labels.severity 'critical' disagrees with severity 'warning'; give the severity once",
    ]
    assert rules_from_text(text.split("  - name: b")[0].replace("high", "info"), "r.yaml").rules[0].severity == "info"


# --- annotations ----------------------------------------------------------------------------------

def test_summary_and_description_may_be_keys_or_annotations_but_not_both():
    base = "rules:\n  - name: r\n    expr: error_rate > 0\n"
    rule = rules_from_text(base + "    annotations: {summary: s, description: d, runbook_url: u}\n").rules[0]
    assert rule.summary == "s" and rule.description == "d" and rule.annotations == {
        "summary": "s", "description": "d", "runbook_url": "u"}
    with pytest.raises(ConfigError) as info:
        rules_from_text(base + "    summary: a\n    description: b\n    annotations:\n      summary: c\n"
                               "      description: d\n      9lives: e\n      ok: 5\n", "r.yaml")
    assert info.value.details == [
        "r.yaml:7:7: rule \"r\": 'summary' is given both as a key of the rule (at r.yaml:4:5) and in annotations; keep one",
        ("r.yaml:8:7: rule \"r\": 'description' is given both as a key of the rule (at r.yaml:5:5) and in annotations; "
        "keep one"),
        ("r.yaml:9:7: rule \"r\": annotation name '9lives' must be letters, digits and '_', not starting with a digit "
        "(such as runbook_url)"),
        "r.yaml:10:7: rule \"r\": annotation 'ok' must be text",
    ]


def test_annotation_placeholders_need_what_the_run_computes(tmp_path, logs):
    """A metric named only in an annotation is checked as one in expr: psi needs a baseline."""
    rules = rules_file(tmp_path, "  - name: r\n    expr: error_rate > 0\n    annotations: {note: '{{ psi.age }}'}\n")
    proc = run("check", logs, "--rules", rules)
    assert proc.returncode == 2 and "rules.yaml:4:29: rule \"r\": psi.age needs a baseline" in proc.stderr


HOSTILE_MODEL = "\x1b[31mred\u202e\nnew"


def test_annotations_are_escaped_in_every_format(tmp_path):
    rows = [record(f"2026-11-27T10:0{i}:00Z", request_id=f"r{i}", model=HOSTILE_MODEL) for i in range(3)]
    logs = str(write_jsonl(tmp_path / "logs.jsonl", rows))
    rules = rules_file(tmp_path, "  - name: r\n    expr: request_count > 0\n    by: [model]\n"
                                 "    annotations: {runbook_url: 'https://x/{{ $labels.model }}', "
                                 "description: 'model {{ model }}'}\n")
    raw = ["\x1b", "\u202e"]
    for fmt in ("table", "markdown", "junit", "github", "json"):
        proc = run("check", logs, "--rules", rules, "--now", "2026-11-27T12:00:00Z", "--format", fmt)
        assert proc.returncode == 1, proc.stderr
        assert not any(c in proc.stdout for c in raw), fmt
        if fmt == "json":
            [alert] = json.loads(proc.stdout)["alerts"]
            assert alert["annotations"]["runbook_url"] == "https://x/" + HOSTILE_MODEL  # JSON escapes, same value
        else:
            shown = proc.stdout.replace("\\\\", "\\").replace("\\[", "[")  # markdown escapes \\ and [
            assert "runbook_url: https://x/\\x1b[31mred\\u202e\\nnew" in shown, fmt
            assert "description: model \\x1b[31mred\\u202e\\nnew" in shown, fmt


def test_notifications_carry_the_annotations(tmp_path, logs):
    out, state = tmp_path / "got.jsonl", tmp_path / "state.json"
    rules = rules_file(tmp_path, "  - name: r\n    expr: error_rate > 0.1\n"
                                 "    annotations: {runbook_url: 'https://x/{{ $labels.alertname }}'}\n")
    proc = run("check", logs, "--rules", rules, "--now", "2026-11-27T10:30:00Z", "--state", str(state),
               "--notify-command", f"cat >> {out}")
    assert proc.returncode == 1, proc.stderr
    [doc] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert doc["alert"]["annotations"] == {"runbook_url": "https://x/r"}
