"""Silences: the core (states, matching, retention, the file), ``mlmon silence add/list/expire`` through the
entry point and CliRunner, and ``mlmon check`` with a silence: marked, not gating, nothing delivered."""

import fcntl
import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import record
from test_inhibit import issue_logs
from test_notify import Receiver
from typer.testing import CliRunner

from mlmon.cli import app
from mlmon.errors import UsageError
from mlmon.rules import state as state_mod
from mlmon.rules.silences import (
    RETENTION,
    SilencesFileError,
    new_silence,
    read_silences,
    silenced_by,
    silences_path,
    write_silences,
)

MLMON = str(Path(sys.executable).parent / "mlmon")
T = datetime(2026, 11, 27, 10, tzinfo=timezone.utc)
runner = CliRunner()


def mlmon(*args):
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([MLMON, *args], capture_output=True, text=True, timeout=120, env=env)


def silence(*matchers, start=T, hours=2):
    return new_silence(list(matchers), starts_at=start, ends_at=start + timedelta(hours=hours), now=T)


# --- core --------------------------------------------------------------------------------------

def test_a_silence_is_pending_then_active_then_expired_at_exact_bounds():
    s = silence("model=churn", start=T + timedelta(hours=1))
    labels = {"alertname": "slow-p95", "model": "churn", "severity": "warning"}
    assert [s.state(T + timedelta(hours=h)) for h in (0, 1, 2.99, 3)] == ["pending", "active", "active", "expired"]
    assert silenced_by([s], labels, T) == []
    assert silenced_by([s], labels, T + timedelta(hours=1)) == [s.id]
    assert silenced_by([s], labels, T + timedelta(hours=3)) == []


def test_every_matcher_must_match():
    s = silence("model=churn", 'severity=~"warning|critical"')
    now = T + timedelta(minutes=1)
    assert silenced_by([s], {"model": "churn", "severity": "critical"}, now) == [s.id]
    assert silenced_by([s], {"model": "churn", "severity": "info"}, now) == []
    assert silenced_by([s], {"model": "fraud", "severity": "critical"}, now) == []


def test_ids_are_uuid4_and_bad_silences_are_refused():
    assert uuid.UUID(silence("model=churn").id).version == 4
    with pytest.raises(UsageError, match="column 8"):
        silence("model=~[")
    with pytest.raises(UsageError, match="at least one --match"):
        silence()
    with pytest.raises(UsageError, match="end in the past"):
        silence("model=churn", start=T - timedelta(hours=3))


def test_expired_silences_are_kept_five_days_then_pruned(tmp_path):
    path = tmp_path / "s.json.silences.json"
    old, recent = silence("model=a"), silence("model=b", start=T + timedelta(days=1))
    assert RETENTION == timedelta(days=5)
    # old ends at T+2h; recent at T+1d+2h
    write_silences(path, [old, recent], T + timedelta(hours=2) + timedelta(days=5) - timedelta(seconds=1))
    assert [s.id for s in read_silences(path)] == [old.id, recent.id]
    write_silences(path, [old, recent], T + timedelta(hours=2) + timedelta(days=5))
    assert [s.id for s in read_silences(path)] == [recent.id]


@pytest.mark.parametrize("text", ["{", "[]", '{"version": 1}', '{"version": 2, "silences": []}',
                                  '{"version": 1, "silences": [{"id": "x"}]}',
                                  '{"version": 1, "silences": [{"id": "x", "matchers": ["a=~["], "starts_at": "2026-01-01",'
                                  ' "ends_at": "2026-01-02", "updated_at": "2026-01-01"}]}'])
def test_a_corrupt_file_is_an_error_not_an_empty_list(tmp_path, text):
    path = tmp_path / "s.json.silences.json"
    path.write_text(text)
    with pytest.raises(SilencesFileError, match="is corrupt"):
        read_silences(path)


# --- the commands ------------------------------------------------------------------------------

def test_add_list_expire_through_the_entry_point(tmp_path):
    state = tmp_path / "state.json"
    now = ["--now", "2026-11-27T10:00:00Z"]
    added = mlmon("silence", "add", "--state", str(state), "--match", "model=churn", "--match", "severity=warning",
                  "--for", "2h", "--comment", "deploy", "--author", "ana", *now)
    assert added.returncode == 0, added.stderr
    first = added.stdout.strip()
    assert uuid.UUID(first).version == 4 and added.stderr == ""
    pending = mlmon("silence", "add", "--state", str(state), "--match", '{model="fraud"}', "--start",
                    "2026-11-27T11:00:00Z", "--until", "2026-11-27T12:00:00Z", *now).stdout.strip()
    doc = json.loads(silences_path(state).read_text())
    assert doc["version"] == 1
    assert doc["silences"][0] == {"id": first, "matchers": ['model="churn"', 'severity="warning"'],
                                  "starts_at": "2026-11-27T10:00:00Z", "ends_at": "2026-11-27T12:00:00Z",
                                  "updated_at": "2026-11-27T10:00:00Z", "created_by": "ana", "comment": "deploy"}
    listed = mlmon("silence", "list", "--state", str(state), "--format", "json", *now)
    assert [(s["id"], s["state"]) for s in json.loads(listed.stdout)["silences"]] == [(first, "active"),
                                                                                      (pending, "pending")]
    table = mlmon("silence", "list", "--state", str(state), *now).stdout
    assert first in table and '{model="churn", severity="warning"}' in table and "deploy" in table
    expired = mlmon("silence", "expire", "--state", str(state), first, "--now", "2026-11-27T10:30:00Z")
    assert expired.returncode == 0 and expired.stdout == f"{first} expired at 2026-11-27T10:30:00Z\n"
    later = ["--now", "2026-11-27T10:31:00Z"]
    assert [s["id"] for s in json.loads(mlmon("silence", "list", "--state", str(state), "-f", "json",
                                              *later).stdout)["silences"]] == [pending]
    everything = json.loads(mlmon("silence", "list", "--state", str(state), "-f", "json", "--all", *later).stdout)
    assert [(s["id"], s["state"], s["ends_at"]) for s in everything["silences"]] == [
        (pending, "pending", "2026-11-27T12:00:00Z"), (first, "expired", "2026-11-27T10:30:00Z")]


def test_an_end_past_the_last_time_there_is_exits_2_and_an_end_near_it_is_kept(tmp_path):
    state = tmp_path / "state.json"
    now = ["--now", "9999-12-31T23:00:00Z"]
    over = mlmon("silence", "add", "--state", str(state), "--match", "model=x", "--for", "36525d", *now)
    assert over.returncode == 2 and "Traceback" not in over.stderr
    assert over.stderr == ("mlmon: error: the silence would end after 9999-12-31T23:59:59Z, the latest time mlmon "
                           "can hold. Give a shorter --for, or an --until.\n")
    last = mlmon("silence", "add", "--state", str(state), "--match", "model=x", "--until", "9999-12-31T23:59:59Z",
                 *now)
    assert last.returncode == 0 and last.stderr == "", last.stderr  # ends_at + 5 days of retention overflowed
    again = mlmon("silence", "add", "--state", str(state), "--match", "model=y", "--for", "30m", *now)
    assert again.returncode == 0, again.stderr  # pruning on the next write does not overflow either
    listed = json.loads(mlmon("silence", "list", "--state", str(state), "-f", "json", "--all", *now).stdout)
    assert [(s["matchers"], s["ends_at"], s["state"]) for s in listed["silences"]] == [
        (['model="y"'], "9999-12-31T23:30:00Z", "active"), (['model="x"'], "9999-12-31T23:59:59Z", "active")]


def test_the_author_falls_back_to_the_login_name_when_user_is_unset(tmp_path):
    import getpass

    env = {k: v for k, v in os.environ.items() if k not in ("USER", "LOGNAME", "LNAME", "USERNAME")}
    state = tmp_path / "state.json"
    proc = subprocess.run([MLMON, "silence", "add", "--state", str(state), "--match", "model=x", "--for", "1h"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    try:
        expected = getpass.getuser()  # without the variables: the password database's name for this uid
    except Exception:
        expected = "unknown"
    created_by = json.loads(silences_path(state).read_text())["silences"][0]["created_by"]
    assert created_by == (expected or "unknown") and created_by != ""


def test_unknown_id_exits_2_with_a_hint(tmp_path):
    proc = mlmon("silence", "expire", "--state", str(tmp_path / "s.json"), "nope")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "no silence has the id 'nope'" in proc.stderr and "silence list" in proc.stderr


@pytest.mark.parametrize("args, words", [
    (["--for", "2h"], "needs at least one --match"),
    (["--match", "model=churn"], "give either --for or --until"),
    (["--match", "model=churn", "--for", "2h", "--until", "2026-12-01"], "give either --for or --until"),
    (["--match", "model", "--for", "2h"], "--match 'model': expected =, !=, =~ or !~"),
    (["--match", "model=churn", "--for", "99999999d"], "too long"),
    (["--match", "model=churn", "--for", "2x"], "is not a duration"),
    (["--match", "model=churn", "--until", "2020-01-01"], "before it starts"),
])
def test_bad_options_exit_2_with_one_line(tmp_path, args, words):
    result = runner.invoke(app, ["silence", "add", "--state", str(tmp_path / "s.json"), *args])
    assert result.exit_code == 2 and words in result.stderr
    assert not silences_path(tmp_path / "s.json").exists()


def test_the_file_is_replaced_atomically(tmp_path, monkeypatch):
    state = tmp_path / "s.json"
    runner.invoke(app, ["silence", "add", "--state", str(state), "--match", "model=churn", "--for", "2h"])
    before = silences_path(state).read_bytes()

    def crash(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    result = runner.invoke(app, ["silence", "add", "--state", str(state), "--match", "model=fraud", "--for", "2h"])
    assert result.exit_code == 2 and "No space left" in result.stderr
    assert silences_path(state).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json.lock", "s.json.silences.json"]


def test_a_held_lock_exits_2(tmp_path, monkeypatch):
    state = tmp_path / "s.json"
    monkeypatch.setattr(state_mod, "LOCK_WAIT_SECONDS", 0.2)
    with open(tmp_path / "s.json.lock", "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        for args in (["add", "--match", "model=churn", "--for", "2h"], ["expire", "some-id"]):
            result = runner.invoke(app, ["silence", *args, "--state", str(state)])
            assert result.exit_code == 2 and "another mlmon check is using" in result.stderr
    assert not silences_path(state).exists()


def test_a_corrupt_file_stops_silence_commands_and_is_kept(tmp_path):
    state = tmp_path / "s.json"
    silences_path(state).write_text("{not json")
    for args in (["add", "--match", "model=churn", "--for", "2h"], ["list"], ["expire", "x"]):
        proc = mlmon("silence", *args, "--state", str(state))
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert f"silences file {silences_path(state)} is corrupt" in proc.stderr and "never drops" in proc.stderr
    assert silences_path(state).read_text() == "{not json"


def test_silence_values_from_users_are_escaped_in_the_table(tmp_path):
    state = tmp_path / "s.json"
    runner.invoke(app, ["silence", "add", "--state", str(state), "--match", "model=\x1b[31mred", "--for", "2h",
                        "--comment", "a\x1b]8;;evil\x07b"])
    table = runner.invoke(app, ["silence", "list", "--state", str(state)]).stdout
    assert "\x1b" not in table and "\\x1b" in table


# --- check with silences -----------------------------------------------------------------------

RULES = """\
rules:
  - name: error-rate
    expr: error_rate > 0.1
    by: [model]
    min_requests: 3
"""
NOW = "2026-11-27T03:00:00Z"


def check(tmp_path, state, *extra, now=NOW):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    log = tmp_path / "app.jsonl"
    if not log.exists():
        issue_logs(tmp_path)
        healthy = [json.dumps(record(f"2026-11-27T03:{m:02d}:00Z", request_id=f"h{m}", model="fraud")) for m in range(10)]
        with open(log, "a") as handle:  # after NOW: only a later run sees fraud recover
            handle.write("\n".join(healthy) + "\n")
    return mlmon("check", str(log), "--rules", str(rules), "--since", "3h", "--now", now, "--state", str(state),
                 "--format", "json", *extra)


def add(state, *matchers, now=NOW, hours="2h"):
    args = [a for m in matchers for a in ("--match", m)]
    proc = mlmon("silence", "add", "--state", str(state), *args, "--for", hours, "--now", now)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_a_silenced_alert_is_marked_does_not_gate_and_sends_nothing(tmp_path):
    state = tmp_path / "state.json"
    sid = add(state, "model=fraud", 'alertname=~"error-.*"', now="2026-11-27T02:30:00Z")
    with Receiver() as receiver:
        proc = check(tmp_path, state, "--notify", receiver.url)
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        [alert] = doc["alerts"]
        assert alert["segment"] == {"model": "fraud"} and alert["active"] and alert["silenced_by"] == [sid]
        assert doc["status"] == "ok"
        assert receiver.requests == []
        assert json.loads(state.read_text())["alerts"] == {}
        # the silence is expired: the alert fires and is sent
        assert mlmon("silence", "expire", "--state", str(state), sid, "--now", NOW).returncode == 0
        proc = check(tmp_path, state, "--notify", receiver.url, now="2026-11-27T03:00:01Z")
        assert proc.returncode == 1
        assert [p["status"] for p in receiver.delivered] == ["firing"]


def test_a_silenced_alert_that_resolves_sends_no_resolved(tmp_path):
    after = "2026-11-27T04:00:00Z"  # fraud's errors are out of the latest window: resolved
    with Receiver() as receiver:
        plain = tmp_path / "plain.json"
        check(tmp_path, plain, "--notify", receiver.url)
        check(tmp_path, plain, "--notify", receiver.url, now=after)
        assert [p["status"] for p in receiver.delivered] == ["firing", "resolved"]  # without a silence
        silenced = tmp_path / "silenced.json"
        add(silenced, "model=fraud")
        check(tmp_path, silenced, "--notify", receiver.url)
        check(tmp_path, silenced, "--notify", receiver.url, now=after)
        assert [p["status"] for p in receiver.delivered] == ["firing", "resolved"]  # nothing more


def test_a_pending_silence_mutes_nothing(tmp_path):
    state = tmp_path / "state.json"
    mlmon("silence", "add", "--state", str(state), "--match", "model=fraud", "--start", "2026-11-27T03:00:01Z",
          "--for", "1h", "--now", NOW)
    proc = check(tmp_path, state)
    assert proc.returncode == 1 and json.loads(proc.stdout)["alerts"][0]["silenced_by"] == []


def test_check_warns_about_a_corrupt_silences_file_and_goes_on(tmp_path):
    state = tmp_path / "state.json"
    silences_path(state).write_text("garbage")
    proc = check(tmp_path, state)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"mlmon: warning: silences file {silences_path(state)} is corrupt" in proc.stderr
    assert "checking without silences" in proc.stderr
    assert silences_path(state).read_text() == "garbage"


def test_every_problem_of_a_hand_edited_file_at_its_line_and_column(tmp_path):
    state = tmp_path / "b.json"
    silences_path(state).write_text(
        '{"version": 1, "silences": [\n'
        '  {"id": "a", "matchers": ["model=churn", "x=~["], "starts_at": "2026-11-27T10:00:00Z",\n'
        '   "ends_at": "soon", "updated_at": "2026-11-27T10:00:00Z"},\n'
        '  {"id": "a", "matchers": [], "starts_at": "2026-11-27T10:00:00Z", "ends_at": "2026-11-27T12:00:00Z"},\n'
        '  5\n'
        ']}\n')
    result = runner.invoke(app, ["silence", "list", "--state", str(state)])
    assert result.exit_code == 2
    name = silences_path(state)
    assert result.stderr.splitlines()[:-1] == [
        f"{name}:2:47: silence #1: matcher: regex does not compile: missing ] at [",
        f"{name}:3:4: silence #1: 'ends_at' must be an ISO time such as 2026-11-27T10:00:00Z",
        f"{name}:4:3: silence #2: missing 'updated_at'",
        f"{name}:4:4: silence #2: id 'a' is given twice",
        f"{name}:4:15: silence #2: 'matchers' must be a non-empty list of matcher texts",
        f"{name}:5:3: silence #3: not an object",
    ]
    assert result.stderr.splitlines()[-1].startswith(f"mlmon: error: silences file {name} is corrupt (6 problems")
    silences_path(state).write_text('{"version": 1,\n "silences": [')
    result = runner.invoke(app, ["silence", "list", "--state", str(state)])
    assert result.exit_code == 2 and result.stderr.startswith(f"{name}:2:15: not valid JSON: Expecting value")


def test_a_silenced_alert_is_left_out_of_its_routes_group_messages(tmp_path):
    """Routed, grouped notifications (notify:) send nothing for a silenced alert either, not even as a repeat."""
    later = "2026-11-27T03:02:00Z"  # past the route's 1m repeat_interval; fraud still fires

    def run(state, receiver, now):
        rules = tmp_path / "routed.yaml"
        rules.write_text(RULES + "notify:\n  receivers: [{name: hook, webhook: '" + receiver.url + "'}]\n"
                         "  route: {receiver: hook, group_by: [alertname], repeat_interval: 1m}\n")
        check(tmp_path, tmp_path / "scratch.json")  # writes the log once
        return mlmon("check", str(tmp_path / "app.jsonl"), "--rules", str(rules), "--since", "3h", "--now", now,
                     "--state", str(state), "--format", "json")

    with Receiver() as receiver:
        plain = tmp_path / "plain.json"
        for now in (NOW, later):
            assert run(plain, receiver, now).returncode == 1
        assert [p["status"] for p in receiver.delivered] == ["firing", "still_firing"]  # without a silence
    with Receiver() as receiver:
        silenced = tmp_path / "silenced.json"
        assert run(silenced, receiver, NOW).returncode == 1
        add(silenced, "model=fraud")
        proc = run(silenced, receiver, later)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["alerts"][0]["silenced_by"]
        assert [p["status"] for p in receiver.delivered] == ["firing"]  # no repeat for the silenced alert
