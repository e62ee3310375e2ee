"""``mlmon check`` in cron with a short ``--since``: ``for`` carried across runs in the state file (issue #12,
defect 2), a silent segment that stays firing (defect 3), and pending alerts in every output format."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import record, write_jsonl
from mlmon.cli import app

MLMON = str(Path(sys.executable).parent / "mlmon")
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
runner = CliRunner()


def at(minute: int) -> str:
    return (T0 + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")


def invoke(*args):
    return runner.invoke(app, list(args), env={"COLUMNS": "100", "FORCE_COLOR": None, "GITHUB_STEP_SUMMARY": None})


def transitions(stderr: str) -> list[str]:
    return [line.split(": ", 2)[1] for line in stderr.splitlines()
            if line.startswith(("mlmon: firing: ", "mlmon: still_firing: ", "mlmon: resolved: "))]


ERRORS_RULE = """rules:
  - name: errors
    expr: error_rate > 0.5
    every: 1m
    for: 5
"""


@pytest.fixture
def breaching(tmp_path):
    """15 breaching minutes, 00:00 to 00:15: three failed requests a minute."""
    rows = [record(ts=at(m)[:-3] + f"{i * 10:02d}Z", request_id=f"r{m}-{i}", status=500, error="boom")
            for m in range(15) for i in range(3)]
    rules = tmp_path / "rules.yaml"
    rules.write_text(ERRORS_RULE)
    return str(write_jsonl(tmp_path / "errors.jsonl", rows)), str(rules)


@pytest.mark.parametrize("since", ["3m", "10m"])
def test_for_longer_than_the_range_fires_across_cron_runs(tmp_path, breaching, since):
    """Defect 2: every minute, a cron run over the last 3 minutes (or 10, overlapping the runs before)."""
    log, rules = breaching
    state = tmp_path / "state.json"
    # Breaching from 00:00; for 5 windows of 1m: the streak covers 5 minutes when the window 00:04–00:05
    # ends, so the run at 00:05 is the first to fire, and every run after it keeps firing.
    fires_at = 0 + 5 * 1
    codes, changes, docs = {}, {}, {}
    for now in range(1, 16):
        result = invoke("check", log, "--rules", rules, "--since", since, "--now", at(now), "--state", str(state),
                        "--format", "json")
        codes[now], changes[now], docs[now] = result.exit_code, transitions(result.stderr), json.loads(result.stdout)
    assert {now: c for now, c in changes.items() if c} == {fires_at: ["firing"]}
    assert codes == {now: 0 if now < fires_at else 1 for now in range(1, 16)}
    for now, doc in docs.items():
        pending = [(p["pending_windows"], p["for_windows"], p["active_at"]) for p in doc["pending"]]
        if now < fires_at:
            # Pending, with its progress: one breaching minute per run so far, since 00:00.
            assert (doc["alerts"], pending) == ([], [(now, 5, at(0))]), now
        else:
            assert ([a["state"] for a in doc["alerts"]], pending) == (["firing"], []), now


def test_for_longer_than_the_range_without_state_is_refused_at_its_line(breaching):
    log, rules = breaching
    proc = subprocess.run([MLMON, "check", log, "--rules", rules, "--since", "3m", "--now", at(15)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert (f'{rules}:5:5: rule "errors": for 5 windows of 1m can never fire within --since 3m; give --state to '
            f"carry pending progress across runs, or a longer --since") in proc.stderr.splitlines()
    # A range that holds the 5 windows is fine, and fires.
    assert invoke("check", log, "--rules", rules, "--since", "5m", "--now", at(15)).exit_code == 1


def test_every_rule_that_could_never_fire_is_listed(tmp_path, breaching):
    log, _ = breaching
    rules = tmp_path / "two.yaml"
    rules.write_text(ERRORS_RULE + "  - name: slow\n    expr: latency_p95_ms > 5\n    every: 2m\n    for: 2\n"
                     "  - name: fine\n    expr: latency_p95_ms > 5\n    every: 1m\n    for: 2\n")
    result = invoke("check", log, "--rules", str(rules), "--since", at(7), "--until", at(10), "--now", at(15))
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if "can never fire" in line]
    within = f"--since {at(7)} --until {at(10)}"
    assert lines == [
        f'{rules}:5:5: rule "errors": for 5 windows of 1m can never fire within {within}; '
        "give --state to carry pending progress across runs, or a longer --since",
        f'{rules}:9:5: rule "slow": for 2 windows of 2m can never fire within {within}; '
        "give --state to carry pending progress across runs, or a longer --since",
        f"mlmon: error: rules file {rules} has 2 rules whose 'for' can never fire within {within}. "
        "Give --state FILE, so that pending alerts carry over between runs, or a longer --since.",
    ]


SILENT_RULE = """rules:
  - name: silent
    expr: request_count == 0
    every: 1m
    by: [model]
    for: {for_}
"""


@pytest.mark.parametrize("for_,silent_from,fires_at", [
    # The brief's case: A silent from 00:03, for 3 windows: 00:03, 00:04 and 00:05 are empty, so the run at
    # 00:06 fires (with --since 3m, that run sees no record of A at all).
    (3, 3, 6),
    # The case: for 1, A's last requests at 00:04; the empty 00:05 window fires at 00:06, and by 00:08
    # the range 00:05–00:08 holds no record of A.
    (1, 5, 6),
])
def test_a_silent_segment_stays_firing_until_it_recovers(tmp_path, for_, silent_from, fires_at):
    """Defect 3: A is silent from ``silent_from`` to 00:12, B keeps serving; cron every minute over 3 minutes."""
    back = 12
    rows = [record(ts=at(m)[:-3] + f"{i * 20:02d}Z", request_id=f"{model}{m}-{i}", model=model)
            for m in range(16) for model in ("A", "B") for i in range(2)
            if not (model == "A" and silent_from <= m < back)]
    log = str(write_jsonl(tmp_path / "silent.jsonl", rows))
    rules = tmp_path / "rules.yaml"
    rules.write_text(SILENT_RULE.format(for_=for_))
    state = tmp_path / "state.json"
    changes = {}
    for now in range(1, 16):
        result = invoke("check", log, "--rules", str(rules), "--since", "3m", "--now", at(now), "--state", str(state),
                        "--format", "json")
        doc = json.loads(result.stdout)
        changes[now] = transitions(result.stderr)
        active = [a["segment"] for a in doc["alerts"] if a["active"]]
        # Firing from fires_at until the window 00:12 shows A serving again, judged by the run at 00:13.
        assert active == ([{"model": "A"}] if fires_at <= now <= back else []), now
        assert result.exit_code == (1 if doc["alerts"] else 0), now
    assert {now: c for now, c in changes.items() if c} == {fires_at: ["firing"], back + 1: ["resolved"]}


# --- pending in every format ----------------------------------------------------------------

def _pending_run(breaching, fmt, *extra):
    log, rules = breaching
    return invoke("check", log, "--rules", rules, "--since", "10m", "--now", at(3), "--format", fmt, *extra)


def test_pending_in_json(breaching):
    result = _pending_run(breaching, "json")
    assert result.exit_code == 0  # pending never counts toward the gate
    doc = json.loads(result.stdout)
    assert doc["status"] == "ok" and doc["alerts"] == []
    assert doc["pending"] == [{
        "rule": "errors", "severity": "warning", "segment": {}, "value": 1.0, "active": False,
        "first_window": at(0), "last_window": at(2), "windows_firing": 0, "summary": "error_rate > 0.5 (value 1)",
        "labels": {}, "annotations": {}, "silenced_by": [], "inhibited_by": [],
        "state": "pending", "active_at": at(0), "pending_windows": 3, "for_windows": 5,
    }]
    result = _pending_run(breaching, "json", "--fail-on", "info")
    assert result.exit_code == 0 and json.loads(result.stdout)["status"] == "ok"


def test_pending_in_the_table(breaching):
    result = _pending_run(breaching, "table")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "OK: 0 alerts from 1 rule (gate: warning and above)",
        "PENDING: 1 alert (breaching, not yet for its rule's 'for'; not counted by the gate)",
        "- errors [(all)]: 3/5 windows since 2026-01-01 00:00 UTC: error_rate > 0.5 (value 1)",
    ]


def test_pending_in_markdown(breaching):
    text = _pending_run(breaching, "markdown").stdout
    assert "### Pending" in text
    assert "| errors | warning | (all) | 1 | 3/5 windows | 2026-01-01T00:00:00Z | error_rate \\> 0.5 (value 1) |" in text


def test_pending_in_github_annotations(breaching):
    lines = _pending_run(breaching, "github").stdout.splitlines()
    assert lines == ["::notice title=mlmon check::no alerts from 1 rule",
                     "::notice title=pending%3A errors [(all)]::3/5 windows: error_rate > 0.5 (value 1)"]


def test_pending_in_junit_is_a_passing_testcase_with_a_note(breaching):
    root = ET.fromstring(_pending_run(breaching, "junit").stdout)
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("1", "0")
    [case] = suite.findall("testcase")
    assert case.find("failure") is None
    assert case.find("system-out").text == ("pending: 3/5 windows since 2026-01-01T00:00:00Z: "
                                            "error_rate > 0.5 (value 1)")


def test_the_state_file_keeps_the_progress(tmp_path, breaching):
    log, rules = breaching
    state = tmp_path / "state.json"
    assert invoke("check", log, "--rules", rules, "--since", "3m", "--now", at(3), "--state", str(state)).exit_code == 0
    doc = json.loads(state.read_text())
    assert doc["progress"] == {"errors{}": {"rule": "errors", "segment": {}, "active_at": at(0),
                                            "judged_until": at(3), "windows": 3, "firing": False, "hold": 0,
                                            "known_from": at(0)}}
    assert doc["alerts"] == {}
    # A broken progress object costs only the progress, with a warning.
    state.write_text(json.dumps({**doc, "progress": {"errors{}": {"rule": "errors"}}}))
    result = invoke("check", log, "--rules", rules, "--since", "3m", "--now", at(4), "--state", str(state))
    assert result.exit_code == 0
    assert "1 malformed progress entry dropped" in result.stderr
    assert json.loads(state.read_text())["progress"]["errors{}"]["active_at"] == at(1)


@pytest.mark.parametrize("fmt", ["table", "markdown", "github", "junit", "json"])
def test_pending_alerts_escape_log_text_in_every_format(tmp_path, fmt):
    from test_render_escaping import HOSTILE, PLAIN, RAW

    names = [*HOSTILE, PLAIN]
    log = write_jsonl(tmp_path / "hostile.jsonl", [record(f"2026-11-27T10:00:{i:02d}Z", model=name)
                                                   for i, name in enumerate(names)])
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: any-traffic\n    expr: request_count > 0\n    every: 1h\n    by: [model]\n"
                     "    for: 5\n    summary: \"{{ model }} has traffic\"\n")
    result = invoke("check", str(log), "--rules", str(rules), "--now", "2026-11-27T13:00Z", "--format", fmt)
    assert result.exit_code == 0, result.output
    for char in RAW:
        assert char not in result.stdout.replace("\n", ""), f"raw U+{ord(char):04X} in {fmt}"
    if fmt == "json":
        assert {p["segment"]["model"] for p in json.loads(result.stdout)["pending"]} == set(names)
    else:
        assert result.stdout.count("1/5 windows") == len(names)


KEEP_RULE = """rules:
  - name: errors
    expr: error_rate > 0.5
    every: 1m
    by: [model]
    for: 2m
    keep_firing_for: 2m
"""

# Worked by hand for the keep_firing_for runs below: cron every minute with --since 3m, so the run at 00:N sees the
# windows 00:N-3, 00:N-2 and 00:N-1. Breaching windows: 00:00 to 00:11 (the last one 00:11–00:12).
# Judged once, each window is: 00:00 pending (1 of 2 windows), 00:01 to 00:11 firing (breaching for 2m), 00:12 and
# 00:13 firing (held by keep_firing_for 2m: two windows without a breach), from 00:14 inactive.
# With --state a run lists every firing window of its range as it was judged, and the gate (exit 1) counts the alert
# when any window of the range fired, active (firing in the latest window) or not.
# now: (first_window, last_window, windows_firing, active) of the alert, or None; then the exit code.
KEEP_WITH_STATE = {
    0: (None, 0),
    1: (None, 0),  # 00:00 pending
    2: ((1, 1, 1, True), 1),
    3: ((1, 2, 2, True), 1),
    **{now: ((now - 3, now - 1, 3, True), 1) for now in range(4, 15)},  # 00:14: 00:11 breaching, 00:12–00:13 held
    15: ((12, 13, 2, False), 1),  # 00:12 and 00:13 held; 00:14 inactive
    16: ((13, 13, 1, False), 1),
    17: (None, 0),
}
# Without --state a run judges its range alone: a streak that began before the range starts again at the range's
# first window, which is then only pending (for 2m), and keep_firing_for holds only what fired in the range. So the
# stateless alert lacks the range's first window from 00:04 on, and after 00:13 nothing fired in the range at all.
KEEP_WITHOUT_STATE = {
    0: (None, 0), 1: (None, 0), 2: ((1, 1, 1, True), 1), 3: ((1, 2, 2, True), 1),
    **{now: ((now - 2, now - 1, 2, True), 1) for now in range(4, 14)},
    14: (None, 0), 15: (None, 0), 16: (None, 0), 17: (None, 0),
}


@pytest.fixture
def churn_errors(tmp_path):
    """6 requests a minute of model churn from 2025-12-31 23:50 for 40 minutes; all fail from 00:00 to 00:12."""
    start = datetime(2025, 12, 31, 23, 50, tzinfo=timezone.utc)
    rows = [record(ts=(start + timedelta(minutes=m, seconds=10 * k)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   request_id=f"r{m}-{k}", latency_ms=10.0 + k,
                   **({"status": 500, "error": "boom"} if 10 <= m < 22 else {}))
              for m in range(40) for k in range(6)]
    rules = tmp_path / "keep.yaml"
    rules.write_text(KEEP_RULE)
    return str(write_jsonl(tmp_path / "err.jsonl", rows)), str(rules)


def _keep_run(doc: dict, code: int) -> tuple:
    """(first_window minute, last_window minute, windows_firing, active) of the one alert, or None; and the code."""
    midnight = datetime(2026, 1, 1, tzinfo=timezone.utc)
    alerts = doc["alerts"]
    assert len(alerts) <= 1
    if not alerts:
        return None, code
    a = alerts[0]
    assert a["segment"] == {"model": "churn"} and a["state"] == "firing"

    def minute_of(text):
        return round((datetime.fromisoformat(text.replace("Z", "+00:00")) - midnight).total_seconds() / 60)

    return (minute_of(a["first_window"]), minute_of(a["last_window"]), a["windows_firing"], a["active"]), code


def test_keep_firing_for_across_cron_runs_lists_every_firing_window_of_the_range(tmp_path, churn_errors):
    """Review #12: with --state, the windows held by keep_firing_for that a run sees again were dropped (00:14: one
    window instead of 3) and the alert vanished with exit 0 while held windows were in range (00:15). Through the
    installed mlmon and in-process, each with its own state file, and without --state."""
    log, rules = churn_errors
    got = {"subprocess": {}, "in-process": {}, "stateless": {}}
    pending, changes = {}, {}
    for now in range(0, 18):
        common = [log, "--rules", rules, "--since", "3m", "--now", at(now), "--format", "json"]
        proc = subprocess.run([MLMON, "check", *common, "--state", str(tmp_path / "sub.json")],
                              capture_output=True, text=True, env={"COLUMNS": "100", "PATH": "/usr/bin:/bin"})
        assert proc.returncode in (0, 1), proc.stderr
        got["subprocess"][now] = _keep_run(json.loads(proc.stdout), proc.returncode)
        result = invoke("check", *common, "--state", str(tmp_path / "in.json"))
        got["in-process"][now] = _keep_run(json.loads(result.stdout), result.exit_code)
        pending[now] = [(p["first_window"], p["active_at"], p["pending_windows"]) for p in json.loads(result.stdout)["pending"]]
        changes[now] = transitions(result.stderr)
        result = invoke("check", *common)
        got["stateless"][now] = _keep_run(json.loads(result.stdout), result.exit_code)
    assert got["subprocess"] == KEEP_WITH_STATE
    assert got["in-process"] == KEEP_WITH_STATE
    assert got["stateless"] == KEEP_WITHOUT_STATE
    # What the stateless run sees is the state's alert less its range's first window (a streak that began before it).
    for now in range(4, 14):
        (first, last, count, active), _ = KEEP_WITH_STATE[now]
        assert KEEP_WITHOUT_STATE[now][0] == (first + 1, last, count - 1, active)
    assert {now: p for now, p in pending.items() if p} == {1: [(at(0), at(0), 1)]}
    assert {now: c for now, c in changes.items() if c} == {2: ["firing"], 15: ["resolved"]}
    # Kept while its firing windows were in the range, the progress goes once the range has moved past them.
    assert json.loads((tmp_path / "in.json").read_text())["progress"] == {}
