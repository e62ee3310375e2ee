"""Notifications of alert transitions: a real HTTP receiver on 127.0.0.1, commands, and the outbox that retries.

Library calls patch ``time.sleep`` in mlmon.notify.receivers so retries are instant; the
entry-point test pays the real backoff (0.5 s + 1 s) once.
"""

import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from conftest import ROOT, SAMPLE_LOGS
from mlmon import __version__
from mlmon.check import run_check
from mlmon.cli import app
from mlmon.logs.mapping import DEFAULT_MAPPING
from mlmon.notify import outbox as outbox_mod
from mlmon.notify import receivers
from mlmon.rules import state as state_mod
from mlmon.rules.evaluate import Alert, CheckResult
from mlmon.rules.load import load_rules

MLMON = str(Path(sys.executable).parent / "mlmon")
LOGS = [str(p) for p in sorted(SAMPLE_LOGS.glob("*.jsonl.gz"))]
RULES = ROOT / "rules.example.yaml"
NOW = datetime(2026, 11, 27, tzinfo=timezone.utc)
SLOW = "slow-p95{model=churn,model_version=v2}"
RATIO = "latency-tail-ratio{model_version=v2}"
runner = CliRunner()


class Receiver:
    """A webhook receiver on an ephemeral port; ``status`` is what it answers, ``delay`` how long it thinks."""

    def __init__(self, status: int = 200, delay: float = 0.0):
        self.status, self.delay = status, delay
        self.requests: list[dict] = []  # every request, delivered or not
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                          "status": receiver.status})
                if receiver.delay:
                    time.sleep(receiver.delay)
                try:
                    self.send_response(receiver.status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the client gave up waiting
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    @property
    def delivered(self) -> list[dict]:
        """The JSON payloads answered with a 2xx."""
        return [json.loads(r["body"]) for r in self.requests if 200 <= r["status"] < 300]


@pytest.fixture(scope="module")
def result() -> CheckResult:
    """The example rules over the sample logs: slow p95 and the tail ratio are active at the latest window."""
    res, _ = run_check(LOGS, load_rules(RULES), mapping=DEFAULT_MAPPING, now=NOW)
    assert sorted(a.key for a in res.alerts if a.active) == sorted([SLOW, RATIO])
    return res


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """Instant retries; the list holds the backoff mlmon asked for."""
    asked: list[float] = []
    # Only mlmon.notify.receivers' view of the time module: the receiver's own sleeps stay real.
    monkeypatch.setattr(receivers, "time", SimpleNamespace(sleep=asked.append, monotonic=time.monotonic))
    return asked


def apply(path, result, *, now=NOW, webhooks=(), commands=(), repeat=timedelta(hours=4)):
    warnings: list[str] = []
    found = state_mod.apply_transitions(path, result, now=now, repeat_interval=repeat, webhooks=list(webhooks),
                                        commands=list(commands), warn=warnings.append)
    return found, warnings


def saved(path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def test_webhook_payload_is_slack_compatible_json_with_the_alert(tmp_path, result, sleeps):
    with Receiver() as receiver:
        found, warnings = apply(tmp_path / "s.json", result, webhooks=[receiver.url])
    assert [(t.kind, t.alert_key) for t in found] == [("firing", SLOW), ("firing", RATIO)]
    assert warnings == [] and sleeps == []
    assert len(receiver.requests) == 2
    request = receiver.requests[0]
    assert request["path"] == "/hook"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["User-Agent"] == f"mlmon/{__version__}"
    slow, ratio = receiver.delivered
    assert set(slow) == {"text", "status", "alert", "sent_by", "at",  # mlmon's keys, as before
                         "version", "groupKey", "truncatedAlerts", "receiver", "groupLabels", "commonLabels",
                         "commonAnnotations", "externalURL", "alerts"}  # Alertmanager's webhook v4
    assert slow["text"] == "🔴 FIRING [warning] slow-p95 (model=churn, model_version=v2): p95 238.85 ms on churn v2"
    assert ratio["text"] == "🔴 FIRING [info] latency-tail-ratio (model_version=v2): p99/p50 is 4.0794 on v2 (p99 336.14 ms)"
    assert slow["status"] == "firing" and slow["at"] == "2026-11-27T00:00:00Z" and slow["sent_by"] == f"mlmon {__version__}"
    alert = next(a for a in result.alerts if a.key == SLOW)
    assert slow["alert"] == {**alert.to_dict(), "fingerprint": alert.fingerprint, "starts_at": "2026-11-27T00:00:00Z",
                             "ends_at": None}
    assert slow["alert"]["segment"] == {"model": "churn", "model_version": "v2"} and slow["alert"]["active"] is True
    assert saved(tmp_path / "s.json")["outbox"] == []


def test_still_firing_and_resolved_payloads(tmp_path, result, sleeps):
    path = tmp_path / "s.json"
    with Receiver() as receiver:
        apply(path, result, webhooks=[receiver.url])
        apply(path, result, now=NOW + timedelta(hours=5), webhooks=[receiver.url])
        nothing_active = CheckResult([], NOW)
        found, _ = apply(path, nothing_active, now=NOW + timedelta(hours=6), webhooks=[receiver.url])
    assert [t.kind for t in found] == ["resolved", "resolved"]
    texts = [p["text"] for p in receiver.delivered]
    assert [t.split(" [")[0] for t in texts] == ["🔴 FIRING"] * 2 + ["🔴 STILL FIRING"] * 2 + ["🟢 RESOLVED"] * 2
    assert [p["status"] for p in receiver.delivered][-2:] == ["resolved", "resolved"]
    assert receiver.delivered[-1]["at"] == "2026-11-27T06:00:00Z"
    assert receiver.delivered[-1]["alert"]["rule"] == "latency-tail-ratio"  # the alert as last seen
    assert saved(path)["alerts"] == {}


def test_failed_notifications_stay_in_the_outbox_and_go_out_next_run(tmp_path, result, sleeps):
    path = tmp_path / "s.json"
    with Receiver(status=500) as receiver:
        found, warnings = apply(path, result, webhooks=[receiver.url])
        assert len(found) == 2
        assert len(receiver.requests) == 6  # three attempts each
        assert sleeps == [0.5, 1.0, 0.5, 1.0]  # exponential backoff between attempts
        assert warnings == [f"mlmon: notification to {shown(receiver.url)} failed (HTTP 500); it will be retried on the next run"] * 2
        doc = saved(path)
        # the file keeps the target's digest and printed form, never the URL (its path may be a token)
        assert [(i["kind"], i["target"], i["target_sha256"], i["attempts"], i["payload"]["alert"]["rule"])
                for i in doc["outbox"]] == [
            ("webhook", shown(receiver.url), outbox_mod.digest(receiver.url), 1, "slow-p95"),
            ("webhook", shown(receiver.url), outbox_mod.digest(receiver.url), 1, "latency-tail-ratio")]
        assert "/hook" not in path.read_text()
        assert set(doc["alerts"]) == {SLOW, RATIO}  # the transition is recorded even though the message is not out

        receiver.status = 200
        found, warnings = apply(path, result, now=NOW + timedelta(minutes=15), webhooks=[receiver.url])
    assert found == [] and warnings == []
    assert [p["text"].split(" [")[0] for p in receiver.delivered] == ["🔴 FIRING", "🔴 FIRING"]
    assert [p["at"] for p in receiver.delivered] == ["2026-11-27T00:00:00Z"] * 2  # sent as it was queued
    assert saved(path)["outbox"] == []


def test_a_receiver_that_rejects_is_not_retried_within_the_run(tmp_path, result, sleeps):
    with Receiver(status=404) as receiver:
        _, warnings = apply(tmp_path / "s.json", result, webhooks=[receiver.url])
    assert len(receiver.requests) == 2 and sleeps == []
    assert all("failed (HTTP 404)" in w for w in warnings)


def test_429_and_unreachable_receivers_are_retried(tmp_path, result, sleeps):
    with Receiver(status=429) as receiver:
        _, warnings = apply(tmp_path / "a.json", result, webhooks=[receiver.url])
    assert len(receiver.requests) == 6 and "failed (HTTP 429)" in warnings[0]
    closed = Receiver()  # bound but never served, then closed: connection refused
    url = closed.url
    closed.server.server_close()
    sleeps.clear()
    _, warnings = apply(tmp_path / "b.json", result, webhooks=[url])
    assert len(sleeps) == 4 and len(warnings) == 2
    assert "refused" in warnings[0].lower()
    assert len(saved(tmp_path / "b.json")["outbox"]) == 2


def test_a_slow_receiver_times_out(tmp_path, result, sleeps, monkeypatch):
    monkeypatch.setattr(receivers, "HTTP_TIMEOUT", 0.2)
    monkeypatch.setattr(receivers, "HTTP_ATTEMPTS", 1)
    with Receiver(delay=30.0) as receiver:  # without the 0.2 s timeout, the two posts would take a minute
        started = time.monotonic()
        _, warnings = apply(tmp_path / "s.json", result, webhooks=[receiver.url])
        assert time.monotonic() - started < 20  # a wide margin for a slow machine
    assert len(warnings) == 2 and "timed out" in warnings[0]
    assert len(saved(tmp_path / "s.json")["outbox"]) == 2


def test_one_failing_target_does_not_hold_back_the_others(tmp_path, result, sleeps):
    out = tmp_path / "out.jsonl"
    with Receiver(status=503) as down, Receiver() as up:
        _, warnings = apply(tmp_path / "s.json", result, webhooks=[down.url, up.url],
                            commands=[f"sh -c 'cat >> {out}'"])
    assert len(up.delivered) == 2 and len(out.read_text().splitlines()) == 2
    outbox = saved(tmp_path / "s.json")["outbox"]
    assert [i["target_sha256"] for i in outbox] == [outbox_mod.digest(down.url)] * 2
    assert len(warnings) == 2


def test_notify_command_gets_the_json_on_stdin(tmp_path, result):
    out = tmp_path / "notifications.jsonl"
    found, warnings = apply(tmp_path / "s.json", result, commands=[f"sh -c 'cat >> {out}'"])
    assert warnings == [] and len(found) == 2
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2  # one JSON document per line
    docs = [json.loads(line) for line in lines]
    assert [d["alert"]["rule"] for d in docs] == ["slow-p95", "latency-tail-ratio"]
    assert docs[0]["text"].startswith("🔴 FIRING [warning] slow-p95")


def test_a_failing_command_is_reported_and_kept(tmp_path, result):
    found, warnings = apply(tmp_path / "s.json", result, commands=["sh -c 'echo no route >&2; exit 3'"])
    assert len(found) == 2
    assert warnings[0] == ("mlmon: notification to 'sh …' failed (exit code 3: no route); "
                           "it will be retried on the next run")
    _, warnings = apply(tmp_path / "t.json", result, commands=[str(tmp_path / "no-such-command")])
    assert "failed (exit code 127: " in warnings[0] and "not found" in warnings[0]
    assert len(saved(tmp_path / "t.json")["outbox"]) == 2


def test_notify_command_runs_through_sh_c_as_cron_runs_it(tmp_path, result):
    """Shell features work: a list of commands, redirections, variables (shlex.split broke these)."""
    out = tmp_path / "f"
    found, warnings = apply(tmp_path / "s.json", result, commands=[f"cat >> {out}; echo end >> {out}"])
    assert warnings == [] and len(found) == 2
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["alert"]["rule"] for line in lines[0::2]] == ["slow-p95", "latency-tail-ratio"]
    assert lines[1::2] == ["end", "end"]


def test_the_outbox_is_retried_with_the_command_given_now(tmp_path, result):
    """A fixed --notify-command takes over what the broken one left; the broken one is not run again."""
    state, out, tries = tmp_path / "s.json", tmp_path / "got.jsonl", tmp_path / "tries"
    broken = f"echo x >> {tries}; exit 3"
    _, warnings = apply(state, result, commands=[broken])
    assert len(warnings) == 2 and len(tries.read_text().splitlines()) == 2
    later = NOW + timedelta(minutes=10)  # same alerts, no new transitions
    found, warnings = apply(state, result, now=later, commands=[f"cat >> {out}"])
    assert found == [] and warnings == []
    assert [json.loads(line)["alert"]["rule"] for line in out.read_text().splitlines()] == ["slow-p95",
                                                                                           "latency-tail-ratio"]
    assert len(tries.read_text().splitlines()) == 2  # the old command was not run again
    assert saved(state)["outbox"] == []


def test_a_replaced_receiver_does_not_send_twice_to_the_ones_that_had_it(tmp_path, result):
    state, ok, fixed = tmp_path / "s.json", tmp_path / "ok.jsonl", tmp_path / "fixed.jsonl"
    apply(state, result, commands=["exit 3", f"cat >> {ok}"])
    assert len(ok.read_text().splitlines()) == 2
    _, warnings = apply(state, result, now=NOW + timedelta(minutes=10), commands=[f"cat >> {fixed}", f"cat >> {ok}"])
    assert warnings == []
    assert len(fixed.read_text().splitlines()) == 2 and len(ok.read_text().splitlines()) == 2
    # With no command at all, what is left has nowhere to go: dropped, once, with a warning.
    apply(tmp_path / "t.json", result, commands=["exit 3"])
    _, warnings = apply(tmp_path / "t.json", result, now=NOW + timedelta(minutes=10))
    assert len(warnings) == 2 and all("no --notify-command given now takes its place" in w for w in warnings)
    assert saved(tmp_path / "t.json")["outbox"] == []


def test_payload_is_strict_json_even_for_a_nan_value(tmp_path, sleeps):
    alert = Alert("ratio", "warning", {}, math.nan, True, NOW, NOW, 1, "ratio (value NaN)")
    with Receiver() as receiver:
        apply(tmp_path / "s.json", SimpleNamespace(alerts=[alert]), webhooks=[receiver.url])
    assert len(receiver.requests) == 1

    def reject(constant):
        raise ValueError(f"not JSON: {constant}")

    json.loads(receiver.requests[0]["body"], parse_constant=reject)


# --- through the command line -----------------------------------------------------------

ONE_RULE = """rules:
  - name: slow-p95
    expr: latency_p95_ms > 180
    by: [model, model_version]
    for: 2
    min_requests: 100
    summary: "p95 {{ value }} ms on {{ model }} {{ model_version }}"
"""


def test_failing_receiver_through_the_entry_point(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(ONE_RULE)
    state = tmp_path / "state.json"
    args = [MLMON, "check", *LOGS, "--rules", str(rules), "--now", "2026-11-27T00:00:00Z", "--state", str(state)]
    env = {**os.environ, "COLUMNS": "80"}
    with Receiver(status=500) as receiver:
        proc = subprocess.run([*args, "--notify", receiver.url], capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 1, proc.stderr
        assert f"mlmon: notification to {shown(receiver.url)} failed (HTTP 500); it will be retried on the next run" in proc.stderr
        assert f"mlmon: firing: {SLOW}" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert len(receiver.requests) == 3
        outbox = json.loads(state.read_text())["outbox"]
        assert len(outbox) == 1 and outbox[0]["payload"]["alert"]["rule"] == "slow-p95"

        receiver.status = 200
        proc = subprocess.run([*args, "--notify", receiver.url], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert "failed" not in proc.stderr and "mlmon: firing" not in proc.stderr  # nothing new, the old one delivered
    assert len(receiver.delivered) == 1
    assert receiver.delivered[0]["text"] == "🔴 FIRING [warning] slow-p95 (model=churn, model_version=v2): p95 238.85 ms on churn v2"
    assert json.loads(state.read_text())["outbox"] == []


def test_notify_command_through_the_command_line(tmp_path):
    out = tmp_path / "got.jsonl"
    state = tmp_path / "state.json"
    result = runner.invoke(app, ["check", *LOGS, "--rules", str(RULES), "--now", "2026-11-27T00:00:00Z",
                                 "--state", str(state), "--notify-command", f"sh -c 'cat >> {out}'"])
    assert result.exit_code == 1, result.output
    docs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(d["status"], d["alert"]["rule"]) for d in docs] == [("firing", "slow-p95"), ("firing", "latency-tail-ratio")]
    assert json.loads(state.read_text())["outbox"] == []
    # A second run with the same data sends nothing.
    runner.invoke(app, ["check", *LOGS, "--rules", str(RULES), "--now", "2026-11-27T00:10:00Z",
                        "--state", str(state), "--notify-command", f"sh -c 'cat >> {out}'"])
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2


# --- log text in the Slack-compatible text ----------------------------------------------------

EVIL = "<!channel> <https://evil.example|click here> & co"


def test_slack_text_escapes_what_logs_put_in_it():
    alert = Alert(rule="e<r>", severity="warning", segment={"model": EVIL}, value=1.0, active=True,
                  first_window=NOW, last_window=NOW, windows_firing=1, summary=f"model {EVIL}")
    found = state_mod.transitions({"alerts": {}}, CheckResult([SimpleNamespace(alerts=[alert])]), NOW,
                                  timedelta(hours=4))
    payload = found[0].payload
    escaped = "&lt;!channel&gt; &lt;https://evil.example|click here&gt; &amp; co"
    assert payload["text"] == f"🔴 FIRING [warning] e&lt;r&gt; (model={escaped}): model {escaped}"
    assert "<" not in payload["text"] and ">" not in payload["text"]
    # The structured alert keeps the values as they are: it is JSON, not mrkdwn.
    assert payload["alert"]["segment"] == {"model": EVIL} and payload["alert"]["summary"] == f"model {EVIL}"


def test_log_values_cannot_ping_the_channel_through_check(tmp_path):
    from conftest import write_jsonl

    log = write_jsonl(tmp_path / "slack.jsonl", [
        {"ts": f"2026-11-26T10:{i:02d}:00Z", "model": EVIL, "status": 500, "latency_ms": 10} for i in range(3)])
    rules = tmp_path / "slack.yaml"
    rules.write_text('rules:\n  - name: e\n    expr: "error_rate > 0.5"\n    by: [model]\n    summary: "model {{ model }}"\n')
    out = tmp_path / "got.jsonl"
    result = runner.invoke(app, ["check", str(log), "--rules", str(rules), "--now", "2026-11-26T11:00:00Z",
                                 "--state", str(tmp_path / "st.json"), "--notify-command", f"sh -c 'cat >> {out}'"])
    assert result.exit_code == 1, result.output
    (doc,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert "<!channel>" not in doc["text"] and "<https://" not in doc["text"]
    assert "model=&lt;!channel&gt; &lt;https://evil.example|click here&gt; &amp; co" in doc["text"]


# --- issue #12 defect 5: Alertmanager's fields, and a resolved notice that says so ----------------------------

def test_a_resolved_notice_is_inactive_with_a_stable_start_an_end_and_a_fingerprint(tmp_path, result, sleeps):
    path = tmp_path / "s.json"
    slow = next(a for a in result.alerts if a.key == SLOW)
    with Receiver() as receiver:
        apply(path, result, webhooks=[receiver.url])
        # Later runs see the alert's first window slide (as with --since); its start stays the first run's.
        apply(path, result, now=NOW + timedelta(hours=5), webhooks=[receiver.url])
        apply(path, CheckResult([], NOW), now=NOW + timedelta(hours=6), webhooks=[receiver.url])
    firing, still, resolved = [p for p in receiver.delivered if p["alert"]["rule"] == "slow-p95"]
    assert [p["status"] for p in (firing, still, resolved)] == ["firing", "still_firing", "resolved"]
    assert resolved["alert"]["active"] is False and firing["alert"]["active"] is True
    assert {p["alert"]["starts_at"] for p in (firing, still, resolved)} == {"2026-11-27T00:00:00Z"}
    assert [p["alert"]["ends_at"] for p in (firing, still, resolved)] == [None, None, "2026-11-27T06:00:00Z"]
    assert {p["alert"]["fingerprint"] for p in (firing, still, resolved)} == {slow.fingerprint}
    # Alertmanager's webhook v4, one alert per message for --notify.
    (item,) = resolved["alerts"]
    assert item == {"status": "resolved", "labels": slow.all_labels, "annotations": {"summary": slow.summary},
                    "startsAt": "2026-11-27T00:00:00Z", "endsAt": "2026-11-27T06:00:00Z", "generatorURL": "",
                    "fingerprint": slow.fingerprint}
    assert firing["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"  # what Alertmanager sends while firing
    assert slow.all_labels == {"alertname": "slow-p95", "model": "churn", "model_version": "v2", "severity": "warning"}
    assert resolved["version"] == "4" and resolved["receiver"] == "--notify" and resolved["externalURL"] == ""
    assert resolved["groupKey"] == '{}:{alertname="slow-p95", model="churn", model_version="v2", severity="warning"}'
    assert resolved["groupLabels"] == resolved["commonLabels"] == slow.all_labels
    assert resolved["commonAnnotations"] == {"summary": slow.summary}


def test_an_alerts_own_annotations_are_sent_when_it_has_them(tmp_path):
    alert = Alert("r", "warning", {}, 1.0, True, NOW, NOW, 1, "the summary")
    doc = {**alert.to_dict(), "annotations": {"summary": "s", "runbook_url": "https://runbook.example/r"}}
    (t,) = state_mod.transitions({"alerts": {}}, SimpleNamespace(alerts=[SimpleNamespace(
        active=True, muted=False, key=alert.key, fingerprint=alert.fingerprint, to_dict=lambda: doc)]), NOW, timedelta(hours=4))
    assert t.payload["alerts"][0]["annotations"] == {"summary": "s", "runbook_url": "https://runbook.example/r"}


def test_a_still_firing_alert_is_repeated_only_after_strictly_more_than_the_repeat_interval(tmp_path, result):
    path = tmp_path / "s.json"
    apply(path, result)
    found, _ = apply(path, result, now=NOW + timedelta(hours=4))
    assert found == []  # exactly 4h: Alertmanager does not repeat yet
    found, _ = apply(path, result, now=NOW + timedelta(hours=4, seconds=1))
    assert [t.kind for t in found] == ["still_firing", "still_firing"]


def test_the_state_file_never_holds_a_webhook_or_command_secret(tmp_path, result, sleeps):
    """Smaller: a notification kept for the next run was written with its target, so a Slack-style hook's
    token (its path) and a command's arguments sat in the state file. It now holds their digest and the
    printed form; the next run finds the target among the ones it is given, and delivers there."""
    path = tmp_path / "s.json"
    token = "T0000000/B0000000/XXXXXXXXXXXXXXXXXXXXXXXX"
    with Receiver(status=500) as receiver:
        url = receiver.url.replace("/hook", f"/services/{token}")
        command = "curl -H 'Authorization: Bearer sk-live-abcdef' https://example.invalid && exit 3"
        apply(path, result, webhooks=[url], commands=[command])
        text = path.read_text()
        assert token not in text and "sk-live-abcdef" not in text and "Bearer" not in text
        assert len(saved(path)["outbox"]) == 4
        receiver.status = 200
        found, warnings = apply(path, result, now=NOW + timedelta(minutes=15), webhooks=[url], commands=["true"])
    assert [r["path"] for r in receiver.requests[-2:]] == [f"/services/{token}"] * 2  # the kept ones went out
    assert saved(path)["outbox"] == [] and warnings == []


def test_an_old_state_file_still_loads(tmp_path, result):
    """A state file from before fingerprints, starts_at and the notification log: its alert keeps its start."""
    path = tmp_path / "s.json"
    doc = next(a for a in result.alerts if a.key == SLOW).to_dict()
    path.write_text(json.dumps({"version": 1, "alerts": {SLOW: {"alert": doc, "active_since": "2026-11-26T20:00:00Z",
                                                              "last_notified": "2026-11-26T20:00:00Z"}},
                                "outbox": [{"kind": "command", "target": "exit 3", "payload": {"text": "x"},
                                            "attempts": 2}]}))
    out = tmp_path / "got.jsonl"
    found, warnings = apply(path, CheckResult([], NOW), commands=[f"cat >> {out}"])
    assert warnings == [] and [t.kind for t in found] == ["resolved"]
    old, resolved = [json.loads(line) for line in out.read_text().splitlines()]
    assert old == {"text": "x"}  # the queued notification went to the command given now
    assert resolved["alert"]["starts_at"] == "2026-11-26T20:00:00Z" and resolved["alert"]["active"] is False


# --- notify: receivers, routes and groups, delivered to real HTTP receivers ------------------------------------

def routed(url_hook, url_slack, extra=""):
    return load_rules_text(f"""rules:
  - name: r
    expr: error_rate > 0
notify:
  receivers:
    - name: hook
      webhook: {url_hook}
    - name: chat
      slack: {url_slack}
  route:
    receiver: hook
    group_by: [model_version]
    routes:
      - matchers: ['severity="info"']
        receiver: chat
        continue: true
      - matchers: ['model_version="v2"']
{extra}""")


def load_rules_text(text):
    from mlmon.rules.load import rules_from_text

    return rules_from_text(text, "routed.yaml").notify


def apply_routed(path, result, config, *, now=NOW):
    warnings: list[str] = []
    found = state_mod.apply_transitions(path, result, now=now, repeat_interval=timedelta(hours=4), webhooks=[],
                                        commands=[], warn=warnings.append, notify=config)
    return found, warnings


def test_routes_group_alerts_into_one_message_per_receiver_and_group(tmp_path, result, sleeps):
    path = tmp_path / "s.json"
    with Receiver() as hook, Receiver() as chat:
        config = routed(hook.url, chat.url)
        found, warnings = apply_routed(path, result, config)
        assert warnings == [] and len(found) == 2
        # slow-p95 (warning) and latency-tail-ratio (info) share model_version v2: one message to hook, from the
        # v2 route (which inherits the receiver); the info alert goes to chat first, and continue: true lets it on.
        assert len(hook.delivered) == 1 and len(chat.delivered) == 1
        (message,) = hook.delivered
        assert message["receiver"] == "hook" and message["groupKey"] == '{}/{model_version="v2"}:{model_version="v2"}'
        assert message["groupLabels"] == {"model_version": "v2"}
        assert [a["labels"]["alertname"] for a in message["alerts"]] == ["slow-p95", "latency-tail-ratio"]
        assert message["commonLabels"] == {"model_version": "v2"} and message["status"] == "firing"
        assert message["text"].splitlines() == [
            "🔴 FIRING [warning] slow-p95 (model=churn, model_version=v2): p95 238.85 ms on churn v2",
            "🔴 FIRING [info] latency-tail-ratio (model_version=v2): p99/p50 is 4.0794 on v2 (p99 336.14 ms)"]
        assert chat.delivered == [{"text": "🔴 FIRING [info] latency-tail-ratio (model_version=v2): "
                                           "p99/p50 is 4.0794 on v2 (p99 336.14 ms)"}]
        # Nothing changed ten minutes later: nothing is sent; then all resolve.
        apply_routed(path, result, config, now=NOW + timedelta(minutes=10))
        assert len(hook.delivered) == 1
        apply_routed(path, CheckResult([], NOW), config, now=NOW + timedelta(minutes=20))
    resolved = hook.delivered[-1]
    assert resolved["status"] == "resolved" and [a["status"] for a in resolved["alerts"]] == ["resolved", "resolved"]
    assert {a["endsAt"] for a in resolved["alerts"]} == {"2026-11-27T00:20:00Z"}
    assert len(chat.delivered) == 1  # Slack's send_resolved is false by default, as in Alertmanager
    assert saved(path)["groups"] == {}


def test_a_failed_group_message_stays_in_the_outbox_naming_its_receiver(tmp_path, result, sleeps):
    path = tmp_path / "s.json"
    with Receiver(status=503) as hook, Receiver() as chat:
        config = routed(hook.url, chat.url)
        _, warnings = apply_routed(path, result, config)
        assert warnings == ["mlmon: notification to receiver 'hook' failed (HTTP 503); it will be retried on the next run"]
        (item,) = saved(path)["outbox"]
        assert item["receiver"] == "hook" and item["kind"] == "webhook" and item["attempts"] == 1
        hook.status = 200
        found, warnings = apply_routed(path, result, config, now=NOW + timedelta(minutes=10))
    assert found == [] and warnings == []
    assert len(hook.delivered) == 1 and hook.delivered[0]["at"] == "2026-11-27T00:00:00Z"
    assert saved(path)["outbox"] == []


def test_a_receiver_removed_from_notify_drops_its_queue_with_a_warning(tmp_path, result, sleeps):
    path = tmp_path / "s.json"
    with Receiver(status=503) as hook, Receiver() as chat:
        apply_routed(path, result, routed(hook.url, chat.url))
        config = load_rules_text(f"rules:\n  - name: r\n    expr: error_rate > 0\nnotify:\n  receivers:\n"
                                 f"    - {{name: chat, slack: '{chat.url}'}}\n  route: {{receiver: chat}}\n")
        _, warnings = apply_routed(path, result, config, now=NOW + timedelta(minutes=10))
    assert warnings == ["mlmon: a notification for receiver 'hook' is dropped: notify: no longer has it"]


# --- the run's transitions in --format json, and --notify-config, through the command line ----------------------

def test_format_json_lists_the_transitions_with_state_and_not_without(tmp_path):
    state = tmp_path / "state.json"
    args = [MLMON, "check", *LOGS, "--rules", str(RULES), "--format", "json"]
    env = {**os.environ, "COLUMNS": "80"}
    proc = subprocess.run([*args, "--now", "2026-11-27T00:00:00Z", "--state", str(state)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert [(t["status"], t["alert"]["rule"]) for t in doc["transitions"]] == [("firing", "slow-p95"),
                                                                              ("firing", "latency-tail-ratio")]
    first = doc["transitions"][0]
    assert set(first) == {"status", "alert", "fingerprint", "labels", "starts_at", "ends_at"}
    assert first["starts_at"] == "2026-11-27T00:00:00Z" and first["ends_at"] is None
    assert first["labels"] == {"alertname": "slow-p95", "model": "churn", "model_version": "v2", "severity": "warning"}
    assert "mlmon: firing: " + SLOW in proc.stderr  # still on stderr too
    proc = subprocess.run([*args, "--now", "2026-11-27T00:10:00Z", "--state", str(state)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert json.loads(proc.stdout)["transitions"] == []
    proc = subprocess.run([*args, "--now", "2026-11-27T00:10:00Z"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert "transitions" not in json.loads(proc.stdout)


def test_notify_config_file_through_the_command_line(tmp_path):
    out = tmp_path / "got.jsonl"
    notify = tmp_path / "notify.yaml"
    notify.write_text(f"notify:\n  receivers:\n    - name: log\n      command: \"cat >> {out}\"\n"
                      f"  route:\n    receiver: log\n    group_by: ['...']\n")
    base = ["check", *LOGS, "--rules", str(RULES), "--now", "2026-11-27T00:00:00Z"]
    result = runner.invoke(app, [*base, "--state", str(tmp_path / "s.json"), "--notify-config", str(notify)])
    assert result.exit_code == 1, result.output
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(d["receiver"], [a["labels"]["alertname"] for a in d["alerts"]]) for d in docs] == [
        ("log", ["slow-p95"]), ("log", ["latency-tail-ratio"])]


@pytest.mark.parametrize("setup, words", [
    ("no state", "--notify-config needs --state"),
    ("both", "both the rules file and --notify-config"),
    ("bad", ":4:11: notify: unknown receiver 'nobody'"),
])
def test_notify_config_mistakes_exit_2_before_reading_logs(tmp_path, setup, words):
    notify = tmp_path / "notify.yaml"
    notify.write_text("notify:\n  receivers:\n    - name: log\n  route: {receiver: " +
                      ("nobody" if setup == "bad" else "log") + "}\n")
    rules = RULES
    if setup == "both":
        rules = tmp_path / "rules.yaml"
        rules.write_text(ONE_RULE + notify.read_text())
    args = [MLMON, "check", "no-such-log.jsonl", "--rules", str(rules), "--notify-config", str(notify)]
    if setup != "no state":
        args += ["--state", str(tmp_path / "s.json")]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr


# --- review #12 trial: control characters from logs never reach stderr or the Slack text raw ------------------

HOSTILE_MODELS = ["chürn\u202e\x1b[31mRED\x07", "a\nb"]


def test_control_characters_from_logs_are_escaped_on_stderr_and_in_the_slack_text(tmp_path):
    from conftest import write_jsonl

    log = write_jsonl(tmp_path / "ctl.jsonl", [
        {"ts": f"2026-11-26T10:{i:02d}:00Z", "model": model, "status": 500, "latency_ms": 10}
        for i in range(3) for model in HOSTILE_MODELS])
    rules = tmp_path / "ctl.yaml"
    rules.write_text('rules:\n  - name: e\n    expr: "error_rate > 0.5"\n    by: [model]\n    summary: "model {{ model }}"\n')
    out = tmp_path / "got.jsonl"
    proc = subprocess.run([MLMON, "check", str(log), "--rules", str(rules), "--now", "2026-11-26T11:00:00Z",
                           "--state", str(tmp_path / "st.json"), "--notify-command", f"cat >> {out}; echo >> {out}"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 1, proc.stderr
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in proc.stderr
    assert "mlmon: firing: e{model=chürn\\u202e\\x1b[31mRED\\x07}" in proc.stderr
    assert "mlmon: firing: e{model=a\\nb}" in proc.stderr
    docs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = sorted(d["text"] for d in docs)
    assert texts == ["🔴 FIRING [warning] e (model=a\\nb): model a\\nb",
                     "🔴 FIRING [warning] e (model=chürn\\u202e\\x1b[31mRED\\x07): model chürn\\u202e\\x1b[31mRED\\x07"]
    # The structured alert keeps the values as they are: JSON carries them safely escaped.
    assert sorted(d["alert"]["segment"]["model"] for d in docs) == sorted(HOSTILE_MODELS)


# --- review #12 trial: a muted alert that was sent still gets its resolved through notify: routes -------------

MUTED_RULES = """\
rules:
  - {name: err, expr: error_rate > 0.5, every: 1m, by: [model], labels: {team: ml}}
  - {name: slow, expr: latency_p95_ms > 500, every: 1m, by: [model], severity: critical}
"""


def muted_setup(tmp_path, extra=""):
    """churn errs from 00:00 to 00:05 and is slow from 00:02 to 00:06 (each minute's six requests); a command
    receiver of notify: gets one JSON message per line."""
    from conftest import record, write_jsonl

    start = datetime(2026, 1, 1, 23, 50, tzinfo=timezone.utc)
    rows = []
    for minute in range(40):
        for k in range(6):
            ts = start + timedelta(minutes=minute, seconds=10 * k)
            rows.append(record(ts.strftime("%Y-%m-%dT%H:%M:%SZ"), request_id=f"r{minute}-{k}",
                               status=500 if 10 <= minute < 15 else 200,
                               latency_ms=900.0 if 12 <= minute < 16 else 10.0))
    log = write_jsonl(tmp_path / "n1.jsonl", rows)
    got = tmp_path / "cmd.jsonl"
    rules = tmp_path / "r9.yaml"
    rules.write_text(MUTED_RULES + extra + f"notify:\n  receivers: [{{name: cmd, command: 'cat >> {got}; echo >> {got}'}}]\n"
                     "  route: {receiver: cmd, group_by: [alertname], repeat_interval: 2m}\n")
    state = tmp_path / "sv3.json"

    def run(minute):
        proc = subprocess.run([MLMON, "check", str(log), "--rules", str(rules), "--since", "3m", "--now",
                               f"2026-01-02T00:{minute:02d}:00Z", "--state", str(state), "--format", "json"],
                              capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
        assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
        return json.loads(proc.stdout)

    def sent():
        if not got.exists():
            return []
        docs = [json.loads(line) for line in got.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [(d["status"], [(a["status"], a["labels"]["alertname"]) for a in d["alerts"]]) for d in docs]

    return run, sent, state


def test_a_silenced_alert_that_was_sent_gets_its_resolved_through_routes(tmp_path):
    run, sent, state = muted_setup(tmp_path)
    for minute in (0, 1):
        run(minute)
    assert sent() == [("firing", [("firing", "err")])]
    proc = subprocess.run([MLMON, "silence", "add", "--state", str(state), "--match", "alertname=err", "--for", "1h",
                           "--now", "2026-01-02T00:01:30Z"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    doc = run(4)  # err muted; past the 2m repeat_interval, yet no repeat
    assert [a["silenced_by"] != [] for a in doc["alerts"] if a["rule"] == "err" and a["active"]] == [True]
    assert [n for n in sent() if "err" in str(n)] == [("firing", [("firing", "err")])]
    doc = run(13)
    assert [(t["status"], t["labels"]["alertname"]) for t in doc["transitions"]] == [("resolved", "err"),
                                                                                       ("resolved", "slow")]
    assert sorted(sent()[-2:]) == [("resolved", [("resolved", "err")]), ("resolved", [("resolved", "slow")])]
    assert [n for n in sent() if "err" in str(n)] == [("firing", [("firing", "err")]), ("resolved", [("resolved", "err")])]
    assert json.loads(state.read_text())["groups"] == {}


def test_an_inhibited_alert_that_was_sent_gets_its_resolved_through_routes(tmp_path):
    inhibit = ("inhibit:\n  - {source_matchers: ['alertname=\"slow\"'], target_matchers: ['alertname=\"err\"'],"
               " equal: [model]}\n")
    run, sent, state = muted_setup(tmp_path, inhibit)
    run(1)
    assert sent() == [("firing", [("firing", "err")])]
    doc = run(4)  # slow fires and inhibits err
    assert [a["inhibited_by"] != [] for a in doc["alerts"] if a["rule"] == "err" and a["active"]] == [True]
    assert sent() == [("firing", [("firing", "err")]), ("firing", [("firing", "slow")])]
    run(13)
    assert sorted(sent()[2:]) == [("resolved", [("resolved", "err")]), ("resolved", [("resolved", "slow")])]


# --- review #12 trial: a --now before the last run is refused, not a flap with a bogus resolved -----------------

def test_a_now_before_the_last_run_is_refused_and_changes_nothing(tmp_path):
    run, sent, state = muted_setup(tmp_path)
    doc = run(4)
    assert [t["status"] for t in doc["transitions"]] == ["firing", "firing"]
    assert json.loads(state.read_text())["evaluated_at"] == "2026-01-02T00:04:00Z"
    before = state.read_bytes()
    log, rules = tmp_path / "n1.jsonl", tmp_path / "r9.yaml"
    args = [MLMON, "check", str(log), "--rules", str(rules), "--since", "3m", "--state", str(state)]
    proc = subprocess.run([*args, "--now", "2026-01-02T00:03:00Z"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr == (f"mlmon: error: --now 2026-01-02T00:03:00Z is before the last run recorded in {state} "
                           "(2026-01-02T00:04:00Z); state moves forward only. Use another --state file to re-evaluate "
                           "the past.\n")
    assert state.read_bytes() == before and len(sent()) == 2  # no flap, no resolved that ends before it starts
    # the same time again is a rerun, not the past
    assert run(4)["transitions"] == []
    # a state file from before evaluated_at was recorded is accepted, and gets it
    saved = json.loads(state.read_text())
    del saved["evaluated_at"]
    state.write_text(json.dumps(saved))
    run(3)
    assert json.loads(state.read_text())["evaluated_at"] == "2026-01-02T00:03:00Z"


# --- review #12 trial: a resolved alert is described by the run that resolved it when its range holds it ----------

@pytest.mark.parametrize("since, now, expected", [
    # After a cron gap, the resolving run's range (00:01 to 00:16) still holds err's windows: churn erred in the
    # windows starting 00:01, 00:02, 00:03 and 00:04 (its errors end at 00:04:50), so the alert is the inactive one
    # of this run, not the snapshot of the 00:04 run (windows 00:01 to 00:03).
    ("15m", 16, {"active": False, "first_window": "2026-01-02T00:01:00Z", "last_window": "2026-01-02T00:04:00Z",
                 "windows_firing": 4}),
    # The range no longer holds it: the snapshot of the last run that saw it active.
    ("3m", 30, {"active": False, "first_window": "2026-01-02T00:01:00Z", "last_window": "2026-01-02T00:03:00Z",
                "windows_firing": 3}),
])
def test_a_resolved_alert_is_this_runs_when_its_range_still_holds_it(tmp_path, since, now, expected):
    run, sent, state = muted_setup(tmp_path)
    first = run(4)
    [err] = [a for a in first["alerts"] if a["rule"] == "err"]
    assert {k: err[k] for k in ("first_window", "last_window", "windows_firing")} == {
        "first_window": "2026-01-02T00:01:00Z", "last_window": "2026-01-02T00:03:00Z", "windows_firing": 3}
    proc = subprocess.run([MLMON, "check", str(tmp_path / "n1.jsonl"), "--rules", str(tmp_path / "r9.yaml"), "--since",
                           since, "--now", f"2026-01-02T00:{now}:00Z", "--state", str(state), "--format", "json"],
                          capture_output=True, text=True, timeout=120)
    [resolved] = [t for t in json.loads(proc.stdout)["transitions"] if t["labels"]["alertname"] == "err"]
    assert resolved["status"] == "resolved"
    assert {k: resolved["alert"][k] for k in expected} == expected
    assert (resolved["starts_at"], resolved["ends_at"]) == ("2026-01-02T00:04:00Z", f"2026-01-02T00:{now}:00Z")
    docs = [json.loads(line) for line in (tmp_path / "cmd.jsonl").read_text().splitlines() if line.strip()]
    [message] = [d for d in docs if d["status"] == "resolved" and d["alert"]["rule"] == "err"]
    assert {k: message["alert"][k] for k in expected} == expected  # the webhook's alert too


def shown(url: str) -> str:
    """A webhook URL as warnings show it: scheme, host and port, the rest hidden."""
    return "'" + re.sub(r"^(\w+://[^/]+)/.*$", r"\1/…", url) + "'"


def test_a_webhook_url_or_commands_secrets_are_never_printed(tmp_path):
    """A webhook's user info, path (a Slack hook's token) and query, and a command's arguments, stay out of stderr."""
    from mlmon.notify.receivers import shown_target, webhook_url_problem

    secret = "http://user:pa55@127.0.0.1:9/services/T0/B0/XXXXSECRET?token=abc"
    assert shown_target("webhook", secret) == "'http://127.0.0.1:9/…'"
    assert shown_target("command", "curl -H 'Authorization: Bearer zzz' x") == "'curl …'"
    assert shown_target("webhook", "not a url\x1b") == "'not a url\\\\x1b'"
    assert "pa55" not in webhook_url_problem("ftp://u:pa55@h/x?token=abc")
    lines = []
    outbox_mod.deliver([{"kind": "webhook", "receiver": "--notify", "target": secret, "payload": {}, "attempts": 0},
                    {"kind": "command", "receiver": "--notify-command", "target": "exit 3; Bearer zzz",
                     "payload": {}, "attempts": 0}], lines.append)
    text = "\n".join(lines)
    assert "failed" in text and not any(s in text for s in ("pa55", "XXXXSECRET", "token=abc", "zzz"))
