"""Hostile input, issue 11 items 5 to 8: a secret in the logs is never printed or written.

Each case runs the command that leaked it and looks for the secret string in everything the
command printed or wrote: stdout, stderr, the output file, the state file, a notification,
a profile, the rejects. Each case names the item it guards.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from conftest import record, write_jsonl
from test_hostile_input import assert_one_line_error, entry_point, invoke

NOW = "2026-11-27T12:00:00Z"
REPORT_FORMATS = ("table", "json", "csv", "markdown")
CHECK_FORMATS = ("table", "json", "junit", "markdown", "github")


def leaks(secrets, *texts) -> list[str]:
    """The secrets that appear in any of ``texts``."""
    return [s for s in secrets if any(s in t for t in texts)]


def written(*paths: Path) -> list[str]:
    return [p.read_text() for p in paths if p.exists()]


@pytest.fixture
def secret_log(tmp_path) -> Path:
    """Secrets in every shape: top-level, nested, configured (ssn), and inside fields that are an
    object in one record and a scalar in another (read as JSON text)."""
    rows = []
    for i in range(4):
        odd = i % 2
        rows.append(record(
            ts=f"2026-11-27T10:0{i}:00Z", request_id=f"r{i}", status=500 if odd else 200,
            request={"api_key": f"APIKEY{i}", "headers": {"Authorization": f"Bearer BEARER{i}"}, "ssn": f"SSN{i}",
                     "x": 5 if odd else {"token": f"NESTEDTOKEN{i}"},
                     "h": "scalar" if odd else {"Authorization": f"Bearer MIXEDBEARER{i}"},
                     "note": f"retry with password=NOTEPW{i}", "country": "DE"},
        ))
    return write_jsonl(tmp_path / "secrets.jsonl", rows)


SECRETS = [f"{word}{i}" for word in ("APIKEY", "BEARER", "SSN", "NESTEDTOKEN", "MIXEDBEARER", "NOTEPW")
           for i in range(4)]


@pytest.fixture
def redact_mapping(tmp_path) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text("redact: [ssn]\nfields:\n  model_version: request.api_key\n")
    return path


# --- item 5: --by a secret field is refused, and why -------------------------------------------------

@pytest.mark.parametrize("fmt", REPORT_FORMATS)
@pytest.mark.parametrize("by,needle", [
    ("input.api_key", "'api_key' names a secret"),
    ("input.headers.Authorization", "'Authorization' names a secret"),
    ("input.sessionToken", "'sessionToken' names a secret"),
])
def test_report_refuses_to_segment_by_a_secret_in_every_format(secret_log, fmt, by, needle):
    """Item 5: a segment's value is printed, so a secret field cannot be one."""
    result = invoke("report", secret_log, "--by", by, "--format", fmt, "--now", NOW)
    assert_one_line_error(result, needle, "can be reversed from a dictionary")
    assert leaks(SECRETS, result.stdout, result.stderr) == []


@pytest.mark.parametrize("by,needle", [
    ("input.ssn", "'ssn' names a secret"),
    ("model_version", "it is read from 'request.api_key', and 'api_key' names a secret"),
])
def test_report_refuses_a_field_the_mapping_makes_secret(secret_log, redact_mapping, by, needle):
    """Item 5: keys under the mapping's redact:, and a field mapped from a secret path."""
    for fmt in REPORT_FORMATS:
        result = invoke("report", secret_log, "--by", by, "-m", redact_mapping, "--format", fmt, "--now", NOW)
        assert_one_line_error(result, needle)
        assert leaks(SECRETS, result.stdout, result.stderr) == []


def rules_file(tmp_path: Path, by: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(f"""\
        rules:
          - name: any-traffic
            expr: request_count > 0
            every: 1h
            by: {by}
            summary: "{{{{ value }}}} requests"
        """))
    return path


def test_a_rule_by_a_secret_is_refused_at_validation_with_its_line(tmp_path, secret_log):
    """Item 5: rules validate and check both name the rule's 'by' line."""
    rules = rules_file(tmp_path, "[model, input.headers.Authorization]")
    for args in (["rules", "validate", rules], ["check", secret_log, "--rules", rules, "--now", NOW]):
        result = invoke(*args)
        assert result.exit_code == 2 and result.stdout == ""
        assert (f"{rules}:5:5: rule \"any-traffic\": cannot segment by 'input.headers.Authorization': "
                "'Authorization' names a secret") in result.stderr
        assert leaks(SECRETS, result.stderr) == []


def test_a_rule_by_a_field_the_mapping_makes_secret_is_refused_when_it_runs(tmp_path, secret_log, redact_mapping):
    """Item 5: 'rules validate' cannot know the mapping; check refuses before reading the logs."""
    rules = rules_file(tmp_path, "input.ssn")
    assert invoke("rules", "validate", rules).exit_code == 0
    state = tmp_path / "state.json"
    result = invoke("check", secret_log, "--rules", rules, "-m", redact_mapping, "--now", NOW, "--state", state)
    assert result.exit_code == 2 and result.stdout == ""
    assert f"{rules}:5:5: rule \"any-traffic\": cannot segment by 'input.ssn': 'ssn' names a secret" in result.stderr
    assert "segments by 1 secret field" in result.stderr
    assert not state.exists() and leaks(SECRETS, result.stderr) == []


# --- item 6: secrets inside JSON-text values ------------------------------------------------------------

@pytest.mark.parametrize("fmt", REPORT_FORMATS)
def test_report_by_a_field_holding_json_text_redacts_the_secrets_in_it(secret_log, tmp_path, fmt):
    """Item 6: {"token": …} and {"Authorization": …} read as JSON text become [REDACTED] in the segment values."""
    out = tmp_path / f"report.{fmt}"
    result = invoke("report", secret_log, "--by", "input.x,input.h,input.note", "--format", fmt, "--now", NOW,
                    "-o", out)
    assert result.exit_code == 0, result.stderr
    text = out.read_text()
    assert leaks(SECRETS, result.stdout, result.stderr, text) == []
    assert "REDACTED" in text  # Markdown escapes the brackets
    if fmt == "json":
        segments = {json.dumps(w["segment"], sort_keys=True) for w in json.loads(text)["windows"]}
        assert segments == {
            json.dumps({"input.x": '{"token": "[REDACTED]"}', "input.h": '{"Authorization": "[REDACTED]"}',
                        "input.note": "retry with password=[REDACTED]"}, sort_keys=True),
            json.dumps({"input.x": "5", "input.h": "scalar", "input.note": "retry with password=[REDACTED]"},
                       sort_keys=True),
        }


def test_the_installed_mlmon_prints_no_secret_segment(secret_log):
    """Items 5 and 6 through the entry point: a secret --by is one line; JSON text is redacted."""
    refused = entry_point("report", secret_log, "--by", "input.api_key", "--now", NOW)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.startswith("mlmon: error: cannot segment by 'input.api_key'")
    shown = entry_point("report", secret_log, "--by", "input.x", "--format", "csv", "--now", NOW)
    assert shown.returncode == 0 and '"{""token"": ""[REDACTED]""}"' in shown.stdout
    assert leaks(SECRETS, refused.stdout, refused.stderr, shown.stdout, shown.stderr) == []


@pytest.mark.parametrize("fmt", CHECK_FORMATS)
def test_check_alerts_state_and_notifications_hold_no_secret(tmp_path, secret_log, fmt):
    """Item 6 in check: outputs, the stderr transition lines, the state file and a notify payload."""
    rules = rules_file(tmp_path, "[input.x, input.h]")
    state, payloads, out = tmp_path / "state.json", tmp_path / "payloads.jsonl", tmp_path / "alerts.out"
    # Now is inside the window of the records, so the alerts are active: a transition, a notification.
    result = invoke("check", secret_log, "--rules", rules, "--now", "2026-11-27T10:30:00Z", "--since", "1h",
                    "--format", fmt, "-o", out,
                    "--state", state, "--notify-command", f"cat >> {payloads}")
    assert result.exit_code == 1, result.stderr  # the rule fired: the gate says so
    texts = [result.stdout, result.stderr, *written(out, state, payloads)]
    assert payloads.exists() and "firing" in result.stderr
    assert leaks(SECRETS, *texts) == []
    assert all("REDACTED" in t for t in written(out, state, payloads))


@pytest.fixture
def profile_sources(tmp_path) -> dict[str, Path]:
    """Logs whose x and headers are objects in one record and scalars in another, and a dataset
    .jsonl whose user object holds a token."""
    logs = write_jsonl(tmp_path / "logs.jsonl", [
        record(request_id="a", request={"x": {"token": "CCCTOKEN"}, "headers": {"Authorization": "Bearer BBBTOKEN"}}),
        record(request_id="b", ts="2026-11-27T10:01:00Z", request={"x": 5, "headers": "none"}),
    ])
    dataset = write_jsonl(tmp_path / "train.jsonl", [
        {"age": 30, "user": {"token": "DSTOKEN1", "name": "ann"}, "meta": {"api_key": "DSKEY1"}},
        {"age": 41, "user": {"token": "DSTOKEN2", "name": "bob"}, "meta": "plain"},
    ])
    return {"logs": logs, "dataset": dataset}


PROFILE_SECRETS = ["CCCTOKEN", "BBBTOKEN", "DSTOKEN1", "DSTOKEN2", "DSKEY1"]


@pytest.mark.parametrize("source", ["logs", "dataset"])
def test_a_profile_holds_no_nested_secret(tmp_path, profile_sources, source):
    """Item 6: baseline save redacts JSON text, and reads a dataset's nested objects as dotted fields."""
    profile = tmp_path / "profile.json"
    result = invoke("baseline", "save", profile_sources[source], "-o", profile)
    assert result.exit_code == 0, result.stderr
    text = profile.read_text()
    assert leaks(PROFILE_SECRETS, result.stdout, result.stderr, text) == []
    fields = json.loads(text)["fields"]
    if source == "logs":
        assert fields["input.x"]["frequencies"] == {"5": 1, '{"token": "[REDACTED]"}': 1}
        assert fields["input.headers"]["frequencies"] == {"none": 1, '{"Authorization": "[REDACTED]"}': 1}
    else:
        assert fields["input.user.token"] == {"type": "identifier", "count": 2, "nulls": 0, "null_rate": 0.0}
        assert fields["input.user.name"]["frequencies"] == {"ann": 1, "bob": 1}
        assert fields["input.meta"]["frequencies"] == {"plain": 1, '{"api_key": "[REDACTED]"}': 1}


def test_drift_compares_redacted_categories_on_both_sides(tmp_path, profile_sources):
    """Item 6: the logs against their own profile: redacted alike, so no category is new."""
    profile = tmp_path / "profile.json"
    assert invoke("baseline", "save", profile_sources["logs"], "-o", profile).exit_code == 0
    for baseline in (profile, profile_sources["logs"]):
        result = invoke("report", profile_sources["logs"], "--baseline", baseline, "--format", "json", "--now", NOW)
        assert result.exit_code == 0, result.stderr
        metrics = json.loads(result.stdout)["windows"][0]["metrics"]
        assert metrics["new_category_rate.x"] == 0 and metrics["new_category_rate.headers"] == 0
        table = invoke("report", profile_sources["logs"], "--baseline", baseline, "--now", NOW)
        assert leaks(PROFILE_SECRETS, result.stdout, result.stderr, table.stdout, table.stderr) == []


def test_replay_dry_run_redacts_json_text_and_configured_keys(tmp_path):
    """Item 6: a request logged as JSON text inside a string, and a key under the mapping's redact:."""
    log = write_jsonl(tmp_path / "req.jsonl", [
        record(request={"payload": json.dumps({"token": "DRYTOKEN", "q": 1}), "ssn": "DRYSSN", "q": 2}),
    ])
    mapping = tmp_path / "m.yaml"
    mapping.write_text("redact: [ssn]\n")
    result = invoke("replay", log, "--dry-run", "-m", mapping)
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)["body"]
    assert body == {"payload": '{"token": "[REDACTED]", "q": 1}', "ssn": "[REDACTED]", "q": 2}
    assert leaks(["DRYTOKEN", "DRYSSN"], result.stdout, result.stderr) == []


# --- item 7: a model's exception quotes the request -----------------------------------------------------

def test_replay_error_text_redacts_nested_secrets_everywhere(tmp_path):
    """Item 7: a Python repr of the request in the message; table, JSON and --output."""
    log = write_jsonl(tmp_path / "req.jsonl", [record(request={
        "api_key": "TOPKEY", "headers": {"Authorization": "Bearer NESTEDAUTH"},
        "user": {"password": "NESTEDPW", "name": "ann"}, "pairs": [["X-Api-Key", "PAIRKEY"]]})])
    model = tmp_path / "leaky.py"
    model.write_text("def predict(request):\n    raise ValueError(f'bad input {request}')\n")
    secrets = ["TOPKEY", "NESTEDAUTH", "NESTEDPW", "PAIRKEY"]
    out = tmp_path / "results.jsonl"
    texts = []
    for fmt in ("table", "json"):
        result = invoke("replay", log, "--model", f"{model}:predict", "--format", fmt, "--output", out)
        assert result.exit_code == 1, result.stderr  # an error: the gate fired
        texts += [result.stdout, result.stderr, out.read_text()]
    assert leaks(secrets, *texts) == []
    error = json.loads(out.read_text())["error"]
    assert error == ("ValueError: bad input {'api_key': '[REDACTED]', 'headers': {'Authorization': '[REDACTED]'}, "
                     "'user': {'password': '[REDACTED]', 'name': 'ann'}, 'pairs': [['X-Api-Key', '[REDACTED]']]}")
    proc = entry_point("replay", log, "--model", f"{model}:predict", "--format", "json")
    assert proc.returncode == 1 and leaks(secrets, proc.stdout, proc.stderr) == []


# --- item 8: --rejects --------------------------------------------------------------------------------

REJECTED = [  # (bad line, its secret)
    ('{"ts": 5, "api\\u005fkey": "ESCAPEDKEY"', "ESCAPEDKEY"),
    ('{"ts": 5, "' + "a" * 80 + '_password": "LONGKEYPW"', "LONGKEYPW"),
    ("{'ts': 1, 'password': 'SINGLEQUOTED'}", "SINGLEQUOTED"),
    ('not json ["Authorization", "Bearer PAIRBEARER"]', "PAIRBEARER"),
    ("GET https://ann:URLPASSWORD@db.example/x failed", "URLPASSWORD"),
    ('{"ts": 5, "sessionToken": "CAMELTOKEN"', "CAMELTOKEN"),
]


@pytest.mark.parametrize("command", ["report", "baseline"])
def test_rejects_hold_no_secret_in_any_form(tmp_path, command):
    """Item 8: the forms that leaked, beside good records so that the run succeeds."""
    log = write_jsonl(tmp_path / "mixed.jsonl", [record(request_id=f"g{i}") for i in range(len(REJECTED))]
                      + [line for line, _ in REJECTED])
    rejects = tmp_path / "rejects.jsonl"
    args = ["report", log, "--now", NOW] if command == "report" else ["baseline", "save", log, "-o", tmp_path / "p.json"]
    result = invoke(*args, "--rejects", rejects)
    assert result.exit_code == 0, result.stderr
    listed = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert len(listed) == len(REJECTED) and all("[REDACTED]" in r["raw"] for r in listed)
    assert leaks([s for _, s in REJECTED], result.stdout, result.stderr, rejects.read_text()) == []


def test_rejects_are_written_when_no_line_is_good(tmp_path):
    """Item 8: every line bad is exit 2, and --rejects still lists them (redacted): then they matter most."""
    log = write_jsonl(tmp_path / "bad.jsonl", [line for line, _ in REJECTED])
    for args in (["report", log], ["baseline", "save", log, "-o", tmp_path / "p.json"]):
        rejects = tmp_path / "rejects.jsonl"
        result = invoke(*args, "--rejects", rejects)
        assert_one_line_error(result, "no good log record", f"{len(REJECTED)} bad lines", f"listed in {rejects}")
        assert [json.loads(line)["line"] for line in rejects.read_text().splitlines()] == list(range(1, 7))
        assert leaks([s for _, s in REJECTED], rejects.read_text(), result.stderr) == []
        rejects.unlink()
    assert not (tmp_path / "p.json").exists()


def test_replay_outputs_redact_the_mapping_keys(tmp_path):
    """Item 6: the mapping's redact: keys in the results file, the JSON and the table (request, diffs, errors)."""
    log = write_jsonl(tmp_path / "req.jsonl", [
        record(request_id="m", request={"ssn": "REQSSN", "q": 1}, response={"label": "stay", "ssn": "OLDSSN"}),
        record(request_id="e", ts="2026-11-27T10:00:01Z", request={"ssn": "ERRSSN", "q": 2}),
    ])
    mapping = tmp_path / "m.yaml"
    mapping.write_text("redact: [ssn]\n")
    model = tmp_path / "echo.py"
    model.write_text("def predict(request):\n"
                     "    if request['q'] == 2:\n"
                     "        raise ValueError(f\"ssn={request['ssn']} rejected\")\n"
                     "    return {'label': 'go', 'ssn': 'NEWSSN'}\n")
    out = tmp_path / "results.jsonl"
    texts = []
    for fmt in ("table", "json"):
        result = invoke("replay", log, "--model", f"{model}:predict", "-m", mapping, "--format", fmt, "--output", out)
        assert result.exit_code == 1, result.stderr
        texts += [result.stdout, result.stderr, out.read_text()]
    assert leaks(["REQSSN", "OLDSSN", "NEWSSN", "ERRSSN"], *texts) == []
    first, second = (json.loads(line) for line in out.read_text().splitlines())
    assert first["request"] == {"ssn": "[REDACTED]", "q": 1}
    assert {d["path"]: d["replayed"] for d in first["replay"]["diff"]} == {"label": "go", "ssn": "[REDACTED]"}
    assert second["error"] == "ValueError: ssn=[REDACTED] rejected"


def test_a_diff_value_cut_short_is_still_redacted(tmp_path):
    """A mismatch's values are cut at 200 characters, after which they are no longer JSON; a model echoing a
    long object that holds a secret must still not show it (redacted before the cut, and as text after it)."""
    log = write_jsonl(tmp_path / "req.jsonl", [record(response={"text": "x"})])
    model = tmp_path / "echo.py"
    model.write_text("def predict(request):\n"
                     "    return {'text': {'password': 'CUTSECRET', 'pad': 'y' * 500}}\n")
    result = invoke("replay", log, "--model", f"{model}:predict")
    assert result.exit_code == 1, result.stderr  # a mismatch
    assert "password" in result.stdout and leaks(["CUTSECRET"], result.stdout, result.stderr) == []
