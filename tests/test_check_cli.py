"""``mlmon check``: exit codes through the installed entry point, cron state, and golden files per format.

The fixture is the shipped example: rules.example.yaml over sample_logs/*.jsonl.gz, which fires
on the scripted incident (churn v2 errors at 2026-11-26 14:00 UTC, slow p95 from 15:00).
Golden files live in tests/golden/check.*; to accept a deliberate change, run
``MLMON_UPDATE_GOLDEN=1 pytest tests/test_check_cli.py``.
"""

import fcntl
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ROOT, SAMPLE_LOGS, record, write_jsonl
from mlmon.cli import app
from mlmon.rules import state as state_mod
from mlmon.rules.load import load_rules

MLMON = str(Path(sys.executable).parent / "mlmon")
LOGS = [str(p) for p in sorted(SAMPLE_LOGS.glob("*.jsonl.gz"))]
RULES = str(ROOT / "rules.example.yaml")
NOW = "2026-11-27T00:00:00Z"
GOLDEN = Path(__file__).parent / "golden"
SPIKE = "churn-error-spike{model=churn,model_version=v2}"
SLOW = "slow-p95{model=churn,model_version=v2}"
RATIO = "latency-tail-ratio{model_version=v2}"
runner = CliRunner()


def run(*args, env=None):
    """The installed ``mlmon`` in a subprocess, as cron or CI runs it."""
    full_env = {**os.environ, "COLUMNS": "80", **(env or {})}
    full_env.pop("FORCE_COLOR", None)
    full_env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run([MLMON, *args], capture_output=True, text=True, env=full_env, timeout=120)


def invoke(*args, env=None):
    """``mlmon`` in this process (faster), for the many runs of the state tests."""
    return runner.invoke(app, list(args), env={"COLUMNS": "80", "FORCE_COLOR": None, "GITHUB_STEP_SUMMARY": None,
                                               **(env or {})})


def check_args(*extra):
    return ["check", *LOGS, "--rules", RULES, *extra]


def transitions(stderr: str) -> list[tuple[str, str]]:
    """The ``mlmon: KIND: KEY`` lines a table-format run with --state prints."""
    out = []
    for line in stderr.splitlines():
        parts = line.split(": ", 2)
        if len(parts) == 3 and parts[0] == "mlmon" and parts[1] in ("firing", "still_firing", "resolved"):
            out.append((parts[1], parts[2]))
    return out


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("MLMON_UPDATE_GOLDEN") or not path.exists():
        path.write_text(text, encoding="utf-8")
        if not os.environ.get("MLMON_UPDATE_GOLDEN"):
            pytest.fail(f"created {path}; review it and run again")
    assert text == path.read_text(encoding="utf-8")


# --- exit codes through the entry point -----------------------------------------------

SINCE_15 = ["--now", NOW, "--since", "2026-11-26T15:00:00Z", "--format", "json"]
ENTRY_RUNS = {
    "incident": check_args("--now", NOW),
    "quiet day": check_args("--now", NOW, "--until", "2026-11-26T00:00:00Z"),
    "from 15:00, fail on critical": check_args(*SINCE_15, "--fail-on", "critical"),
    "bad --now": check_args("--now", "soon"),
    "missing logs": ["check", "/nonexistent/logs/*.jsonl", "--rules", RULES],
}


@pytest.fixture(scope="module")
def entry():
    """Every entry-point run of this section, started together to save time."""
    with ThreadPoolExecutor(4) as pool:
        return dict(zip(ENTRY_RUNS, pool.map(lambda args: run(*args), ENTRY_RUNS.values())))


def test_alerts_fire_on_the_sample_incident_exit_1(entry):
    proc = entry["incident"]
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith("FIRING: 3 alerts from 4 rules (gate: warning and above)")
    golden("check.table80.txt", proc.stdout)
    # a pipe is no terminal: the table keeps to COLUMNS, and each summary is one line, however long
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines if not line.startswith("- ")) <= 80
    assert "- churn-error-spike [model=churn, model_version=v2]: churn v2: error rate 0.0293 over 580 requests" in lines


def test_fail_on_critical_ignores_warnings_exit_0(entry):
    # From 15:00 on, only the warning (slow p95) and the info rule fire: the critical error spike was at 14:00.
    critical = entry["from 15:00, fail on critical"]
    assert critical.returncode == 0, critical.stderr
    doc = json.loads(critical.stdout)
    assert doc["status"] == "ok" and doc["fail_on"] == "critical"
    assert sorted(a["severity"] for a in doc["alerts"]) == ["info", "warning"]
    for fail_on in ("warning", "info"):
        result = invoke(*check_args(*SINCE_15, "--fail-on", fail_on))
        assert result.exit_code == 1
        assert json.loads(result.stdout)["status"] == "firing"


def test_fail_on_critical_fires_on_a_critical_alert_that_is_no_longer_active():
    result = invoke(*check_args("--now", NOW, "--fail-on", "critical", "--format", "json"))
    assert result.exit_code == 1
    spike = [a for a in json.loads(result.stdout)["alerts"] if a["severity"] == "critical"]
    assert len(spike) == 1 and spike[0]["active"] is False  # the gate counts any window of the range


def test_no_alerts_exit_0(entry):
    proc = entry["quiet day"]
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "OK: 0 alerts from 4 rules (gate: warning and above)\n"
    assert proc.stderr == ""


@pytest.mark.parametrize("name,message", [
    ("bad --now", "--now 'soon' is not an ISO time"),
    ("missing logs", "no log files match"),
])
def test_errors_exit_2_through_the_entry_point(entry, name, message):
    proc = entry[name]
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


@pytest.fixture(scope="module")
def tiny_log(tmp_path_factory):
    return str(write_jsonl(tmp_path_factory.mktemp("logs") / "tiny.jsonl", [record()]))


ERRORS = {
    "bad --since": (["--since", "yesterday"], "--since 'yesterday'"),
    "since after until": (["--since", "2026-11-28", "--until", "2026-11-27"], "--since must be earlier than --until"),
    "bad --repeat-interval": (["--repeat-interval", "often"], "--repeat-interval 'often' is not a duration"),
    "notify without state": (["--notify", "http://127.0.0.1:9/x"], "--notify and --notify-command need --state"),
    "notify-command without state": (["--notify-command", "true"], "--notify and --notify-command need --state"),
    # both wrong: the URL is the more specific problem, told first
    "bad notify URL without state": (["--notify", "ftp://x"], "--notify 'ftp://x' is not an http or https URL"),
    "missing rules": (["--rules", "{tmp}/r.yaml"], "r.yaml does not exist"),
    "bad --fail-on": (["--fail-on", "error"], "invalid value for --fail-on: 'error' is not one of"),
    "bad --format": (["--format", "xml"], "invalid value for --format: 'xml' is not one of"),
    "state in a missing directory": (["--state", "{tmp}/no/s.json"], "cannot create lock file"),
}


@pytest.mark.parametrize("name", ERRORS)
def test_usage_config_and_input_errors_exit_2(name, tmp_path, tiny_log):
    extra, message = ERRORS[name]
    result = invoke("check", tiny_log, "--rules", RULES, *(a.format(tmp=tmp_path) for a in extra))
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout == ""


def test_strict_stops_at_a_bad_log_line():
    result = invoke("check", str(SAMPLE_LOGS / "bad_lines.jsonl"), "--rules", RULES, "--strict")
    assert result.exit_code == 2 and "bad log line" in result.stderr and result.stdout == ""
    # Without --strict the bad lines are skipped and counted; the good ones breach no rule.
    lenient = invoke("check", str(SAMPLE_LOGS / "bad_lines.jsonl"), "--rules", RULES, "--format", "json")
    assert lenient.exit_code == 0, lenient.output
    assert json.loads(lenient.stdout)["alerts"] == [] and "skipped 8 bad log lines" in lenient.stderr


def test_check_needs_rules(tiny_log):
    result = invoke("check", tiny_log)
    assert result.exit_code == 2 and "mlmon check needs --rules" in result.stderr


def test_an_expression_that_validates_never_crashes_check(tmp_path, tiny_log):
    rules = tmp_path / "in.yaml"
    rules.write_text("rules:\n  - name: r\n    expr: latency_p95_ms in [100, 200]\n")
    load_rules(rules)  # valid
    proc = run("check", tiny_log, "--rules", str(rules))
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 0, proc.stderr


# --- golden files, one per format -----------------------------------------------------

FORMATS = {"json": "check.json", "junit": "check.junit.xml", "markdown": "check.md", "github": "check.github.txt"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_golden(fmt):
    result = invoke(*check_args("--now", NOW, "--format", fmt))
    assert result.exit_code == 1, result.output
    golden(FORMATS[fmt], result.stdout)


def test_golden_table_in_process_matches_the_entry_point():
    result = invoke(*check_args("--now", NOW))
    assert result.exit_code == 1
    golden("check.table80.txt", result.stdout)


def test_json_document():
    doc = json.loads((GOLDEN / "check.json").read_text())
    assert list(doc) == ["status", "fail_on", "generated_at", "rules_evaluated", "alerts", "pending"]
    assert doc["pending"] == []
    assert doc["generated_at"] == NOW and doc["rules_evaluated"] == 4 and doc["status"] == "firing"
    keys = [a["rule"] for a in doc["alerts"]]
    assert keys == ["churn-error-spike", "slow-p95", "latency-tail-ratio"]
    spike, slow, ratio = doc["alerts"]
    assert spike["first_window"] == spike["last_window"] == "2026-11-26T14:00:00Z" and not spike["active"]
    assert slow["first_window"] == "2026-11-26T15:00:00Z" and slow["active"]
    assert spike["segment"] == slow["segment"] == {"model": "churn", "model_version": "v2"}
    assert spike["labels"] == {"team": "ml-platform"}
    assert list(spike) == ["rule", "severity", "segment", "value", "active", "first_window", "last_window",
                           "windows_firing", "summary", "labels", "annotations",
                           "silenced_by", "inhibited_by", "state"]
    assert {a["state"] for a in doc["alerts"]} == {"firing"}
    # 17 of 580 requests failed: 2.931%, as Prometheus's humanizePercentage prints 0.0293103...
    assert spike["value"] == pytest.approx(17 / 580)
    assert spike["annotations"] == {
        "summary": spike["summary"],
        "description": "Server errors on churn: 2.931% of requests failed",
        "runbook_url": "https://runbooks.example.com/mlmon/churn-error-spike",
    }
    assert slow["annotations"] == {"summary": slow["summary"]}
    assert spike["silenced_by"] == spike["inhibited_by"] == []


def test_junit_is_well_formed_xml():
    root = ET.fromstring((GOLDEN / "check.junit.xml").read_text(encoding="utf-8").encode())
    assert root.tag == "testsuites"
    [suite] = root
    cases = suite.findall("testcase")
    failures = [c for c in cases if c.find("failure") is not None]
    assert int(suite.get("tests")) == len(cases) == 8  # one per rule and segment
    assert int(suite.get("failures")) == len(failures) == 3
    assert suite.get("errors") == "0"
    names = [c.get("name") for c in failures]
    assert names == ["churn-error-spike [model=churn, model_version=v2]", "slow-p95 [model=churn, model_version=v2]",
                     "latency-tail-ratio [model_version=v2]"]
    assert [f.find("failure").get("type") for f in failures] == ["critical", "warning", "info"]
    assert "no-traffic" in [c.get("name") for c in cases]


def test_junit_escapes_what_xml_cannot_hold(tmp_path):
    log = write_jsonl(tmp_path / "x.jsonl", [record(model='a<b>&"c"\x1b[31m', latency_ms=500.0)])
    rules = tmp_path / "r.yaml"
    rules.write_text('rules:\n  - name: "r<&>"\n    expr: latency_p95_ms > 1\n    by: [model]\n'
                     '    summary: "{{ model }} & <{{ value }}>"\n')
    result = invoke("check", str(log), "--rules", str(rules), "--format", "junit")
    assert result.exit_code == 1
    root = ET.fromstring(result.stdout.encode())
    [case] = root.iter("testcase")
    assert case.get("name") == 'r<&> [model=a<b>&"c"\\x1b[31m]'
    assert case.find("failure").get("message") == 'warning: a<b>&"c"\\x1b[31m & <500>'


def test_github_format_appends_a_markdown_summary(tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    result = invoke(*check_args("--now", NOW, "--format", "github"), env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.exit_code == 1
    assert result.stdout == (GOLDEN / "check.github.txt").read_text(encoding="utf-8")
    assert summary.read_text(encoding="utf-8") == "earlier step\n" + (GOLDEN / "check.md").read_text(encoding="utf-8")
    # Without the variable nothing else is written.
    result = invoke(*check_args("--now", NOW, "--format", "github"))
    assert summary.read_text(encoding="utf-8").count("mlmon check") == 1


def test_github_format_without_alerts_leaves_a_notice():
    result = invoke(*check_args("--now", NOW, "--until", "2026-11-26T00:00:00Z", "--format", "github"))
    assert result.exit_code == 0
    assert result.stdout == "::notice title=mlmon check::no alerts from 4 rules\n"


def test_markdown_counts_one_rule_in_the_singular(tmp_path):
    log = write_jsonl(tmp_path / "x.jsonl", [record(latency_ms=500.0)])
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - name: r\n    expr: latency_p95_ms > 1\n")
    result = invoke("check", str(log), "--rules", str(rules), "--format", "markdown")
    assert "1 alert from 1 rule " in result.stdout


def test_output_file_gets_the_document_and_stdout_stays_empty(tmp_path):
    out = tmp_path / "alerts.xml"
    result = invoke(*check_args("--now", NOW, "--format", "junit", "-o", str(out)))
    assert result.exit_code == 1 and result.stdout == ""
    assert out.read_text(encoding="utf-8") == (GOLDEN / "check.junit.xml").read_text(encoding="utf-8")


def test_no_traffic_fires_for_silence_at_the_end_of_the_range(tmp_path):
    log = write_jsonl(tmp_path / "x.jsonl", [record(ts="2026-11-27T07:30:00Z")])
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - name: no-traffic\n    expr: request_count == 0\n")
    args = ["check", str(log), "--rules", str(rules), "--now", "2026-11-27T10:00:00Z", "--since", "2h", "--format", "json"]
    with_until = invoke(*args, "--until", "now")
    assert with_until.exit_code == 1  # 08:00 and 09:00 are silent
    result = invoke(*args)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["alerts"][0]["windows_firing"] == 2


def test_a_ratio_rule_does_not_fire_on_windows_without_traffic(tmp_path):
    log = write_jsonl(tmp_path / "gap.jsonl", [record(ts="2026-11-27T00:00:00Z", request_id="a"),
                                               record(ts="2026-11-27T03:00:00Z", request_id="b")])
    rules = tmp_path / "r.yaml"
    rules.write_text('rules:\n  - name: ratio\n    expr: "error_count / request_count > 0.5"\n')
    result = invoke("check", str(log), "--rules", str(rules), "--format", "json")
    assert json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))["alerts"] == []
    assert result.exit_code == 0


# --- cron state -----------------------------------------------------------------------


def _state(path: Path) -> dict:
    doc = json.loads(path.read_text(encoding="utf-8"))  # valid JSON after every run
    assert doc["version"] == 1 and isinstance(doc["outbox"], list)
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # no half-written files left
    return doc


def test_state_reports_transitions_once(tmp_path):
    state = tmp_path / "state.json"
    assert not state.exists()

    def at(until, now, *extra):
        result = invoke(*check_args("--until", until, "--now", now, "--state", str(state), *extra))
        assert result.exit_code == 1, result.output
        return transitions(result.stderr)

    # First run, no state file yet: the active alerts are new.
    assert at("2026-11-26T15:00:00Z", "2026-11-26T15:00:00Z") == [("firing", SPIKE), ("firing", RATIO)]
    doc = _state(state)
    assert set(doc["alerts"]) == {SPIKE, RATIO}
    assert doc["alerts"][SPIKE]["active_since"] == doc["alerts"][SPIKE]["last_notified"] == "2026-11-26T15:00:00Z"
    assert doc["alerts"][SPIKE]["alert"]["rule"] == "churn-error-spike"

    # The same data again: nothing new, though the gate still fires.
    assert at("2026-11-26T15:00:00Z", "2026-11-26T15:10:00Z") == []
    assert set(_state(state)["alerts"]) == {SPIKE, RATIO}

    # 3h59m later: still inside the repeat interval.
    assert at("2026-11-26T15:00:00Z", "2026-11-26T18:59:00Z", "--repeat-interval", "4h") == []
    # 5h later: repeated once as still firing.
    assert at("2026-11-26T15:00:00Z", "2026-11-26T20:00:00Z", "--repeat-interval", "4h") == [
        ("still_firing", SPIKE), ("still_firing", RATIO)]
    doc = _state(state)
    assert doc["alerts"][SPIKE]["last_notified"] == "2026-11-26T20:00:00Z"
    assert doc["alerts"][SPIKE]["active_since"] == "2026-11-26T15:00:00Z"

    # An hour more of data: the error spike is over (resolved, removed); slow p95 starts; the ratio goes on quietly.
    assert at("2026-11-26T16:00:00Z", "2026-11-26T20:30:00Z", "--repeat-interval", "4h") == [
        ("firing", SLOW), ("resolved", SPIKE)]
    doc = _state(state)
    assert set(doc["alerts"]) == {SLOW, RATIO}
    assert doc["alerts"][RATIO]["last_notified"] == "2026-11-26T20:00:00Z"


def test_state_with_json_output_keeps_stdout_a_json_document(tmp_path):
    state = tmp_path / "state.json"
    result = invoke(*check_args("--now", NOW, "--state", str(state), "--format", "json"))
    assert result.exit_code == 1
    assert len(json.loads(result.stdout)["alerts"]) == 3  # every alert of the range, as without --state
    assert set(_state(state)["alerts"]) == {SLOW, RATIO}  # only alerts active at the latest window


@pytest.mark.parametrize("content", [b"{not json", b"", b"[]", b'{"alerts": []}', b'{"alerts": {}, "outbox": 3}',
                                     b"\xff\xfe\x00garbage"], ids=["truncated", "empty", "list", "alerts-list",
                                                                   "outbox-number", "binary"])
def test_corrupt_state_warns_and_starts_fresh(tmp_path, content):
    state = tmp_path / "state.json"
    state.write_bytes(content)
    result = invoke(*check_args("--now", NOW, "--state", str(state)))
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"mlmon: state file {state} is unreadable" in result.stderr
    assert "starting with fresh state" in result.stderr
    assert transitions(result.stderr) == [("firing", SLOW), ("firing", RATIO)]
    assert set(_state(state)["alerts"]) == {SLOW, RATIO}


@pytest.mark.parametrize("content", [
    pytest.param('{"version": 1, "alerts": {"old{}": 1}, "outbox": []}', id="alert-entry-not-a-mapping"),
    pytest.param('{"version": 1, "alerts": {}, "outbox": [1]}', id="outbox-item-not-a-mapping"),
])
def test_malformed_state_entries_warn_and_start_fresh(tmp_path, content):
    state = tmp_path / "state.json"
    state.write_text(content)
    result = invoke(*check_args("--now", NOW, "--state", str(state), "--notify-command", "true"))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    assert "unreadable" in result.stderr


def test_state_path_that_is_a_directory_is_an_error(tmp_path, tiny_log):
    result = invoke("check", tiny_log, "--rules", RULES, "--state", str(tmp_path))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2


def test_a_second_concurrent_run_waits_then_exits_2(tmp_path, monkeypatch, tiny_log):
    # LOCK_WAIT_SECONDS is bound as state_lock's default argument when the module loads, so patching the
    # constant has no effect: shorten the default of the function under @contextmanager itself.
    monkeypatch.setattr(state_mod.state_lock.__wrapped__, "__defaults__", (0.5,))
    state = tmp_path / "state.json"
    state.write_text('{"version": 1, "alerts": {}, "outbox": []}\n')
    with open(tmp_path / "state.json.lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # the other run
        started = time.monotonic()
        result = invoke("check", tiny_log, "--rules", RULES, "--state", str(state))
        waited = time.monotonic() - started
    assert result.exit_code == 2, result.output
    assert f"mlmon: error: another mlmon check is using {state}" in result.stderr
    assert result.stdout == "" and (result.exception is None or isinstance(result.exception, SystemExit))
    assert 0.5 <= waited < state_mod.LOCK_WAIT_SECONDS  # it waited (the shortened time) for the other run first
    assert state.read_text() == '{"version": 1, "alerts": {}, "outbox": []}\n'  # untouched
    # Once the lock is free, the next run goes ahead.
    assert invoke("check", tiny_log, "--rules", RULES, "--state", str(state)).exit_code == 0
    assert _state(state)["alerts"] == {}


def test_lock_waits_for_the_other_run_to_finish(tmp_path):
    path = tmp_path / "state.json"
    lock = open(tmp_path / "state.json.lock", "a+")
    fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    started = time.monotonic()
    with pytest.raises(state_mod.LockedError) as info:
        with state_mod.state_lock(path, wait=0.3):
            pass
    assert 0.3 <= time.monotonic() - started < 20  # waited, then gave up (the other run holds it for good)
    assert info.value.exit_code == 2 and "Runs overlap" in str(info.value)
    lock.close()  # the other run ends: now the lock is ours at once
    with state_mod.state_lock(path, wait=0.3):
        pass
