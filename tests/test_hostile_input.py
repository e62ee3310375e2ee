"""Hostile input (issue 11): every case ends as a skipped line, a clean result or one line with exit 2.

Never a traceback (which exits 1, the code that says "the gate fired"), never a secret in
the output, never an overwritten input. Each case names what it guards against.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ROOT, record, write_jsonl
from mlmon.cli import app

MLMON = str(Path(sys.executable).parent / "mlmon")
RULES = str(ROOT / "rules.example.yaml")
NOW = "2026-11-27T12:00:00Z"
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def entry_point(*args, **kwargs):
    env = {**os.environ, "COLUMNS": "80", **kwargs.pop("env", {})}
    env.pop("FORCE_COLOR", None)
    kwargs.setdefault("text", True)
    return subprocess.run([MLMON, *map(str, args)], capture_output=True, env=env, timeout=120, **kwargs)


@pytest.fixture
def log(tmp_path) -> Path:
    return write_jsonl(tmp_path / "app.jsonl", [record(ts=f"2026-11-27T10:{i:02d}:00Z", request_id=f"r{i}")
                                                 for i in range(10)])


def assert_one_line_error(result, *needles):
    """Exit 2, nothing on stdout, one line on stderr holding each needle, no traceback."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlmon: error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


# --- item 10: values that overflow Python's dates and ints -----------------------------------

@pytest.mark.parametrize("args,needles", [
    (["report", "{log}", "--every", "9999999999999d"], ["--every '9999999999999d' is too long", "36,525d"]),
    (["report", "{log}", "--since", "999999999d"], ["--since '999999999d' is too long"]),
    (["check", "{log}", "--rules", RULES, "--repeat-interval", "99999999999999999999d"],
     ["--repeat-interval '99999999999999999999d' is too long"]),
    (["report", "{log}", "--now", "0001-01-01", "--since", "24h"],
     ["--since '24h' back from 0001-01-01T00:00:00Z is before the year 1"]),
    (["check", "{log}", "--rules", RULES, "--now", "0001-01-01T01:00:00Z", "--since", "2h"], ["is before the year 1"]),
])
def test_overflowing_durations_and_times_are_usage_errors(log, args, needles):
    assert_one_line_error(invoke(*(a.format(log=log) for a in args)), *needles)


def test_a_rule_every_that_overflows_is_a_problem_at_its_line(tmp_path, log):
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - name: a\n    expr: error_rate > 1\n    every: 9999999999999d\n")
    for command in (["rules", "validate", rules], ["check", log, "--rules", rules]):
        result = invoke(*command)
        assert result.exit_code == 2
        assert f"{rules}:4:5: rule \"a\": every '9999999999999d' is too long" in result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize("url,needle", [
    ("notaurl", "--notify 'notaurl' is not an http or https URL"),
    ("file:///etc/passwd", "--notify 'file:///…' is not an http or https URL"),
    ("http://[::1", "--notify 'http://[::1' is not a valid URL"),
    ("http://127.0.0.1:99999/x", "--notify 'http://127.0.0.1:99999/…' is not a valid URL"),
])
def test_notify_urls_that_are_not_http_are_refused_before_reading(tmp_path, log, url, needle):
    result = invoke("check", log, "--rules", RULES, "--state", tmp_path / "s.json", "--notify", url)
    assert_one_line_error(result, needle)
    assert not (tmp_path / "s.json").exists()


class GarbageServer:
    """Answers every connection with bytes that are not HTTP, terminal escapes included."""

    def __init__(self):
        import socket
        import threading

        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.hits = 0

        def serve():
            while True:
                try:
                    conn, _ = self.sock.accept()
                except OSError:
                    return
                with conn:
                    self.hits += 1
                    conn.recv(65536)
                    conn.sendall(b"\x1b[31mGARBAGE\x07 not http\r\n\r\n")

        threading.Thread(target=serve, daemon=True).start()

    def close(self):
        self.sock.close()


def test_a_webhook_that_answers_garbage_is_a_failed_delivery(tmp_path):
    from conftest import SAMPLE_LOGS

    logs = [str(p) for p in sorted(SAMPLE_LOGS.glob("*.jsonl.gz"))]
    state = tmp_path / "state.json"
    server = GarbageServer()
    try:
        for _ in range(2):  # the outbox keeps it, and the next run must not crash on it either
            proc = entry_point("check", *logs, "--rules", RULES, "--now", "2026-11-27T00:00:00Z", "--state", state,
                               "--notify", server.url)
            assert proc.returncode == 1, proc.stderr  # the alerts fire; the failed delivery is not a crash
            assert "Traceback" not in proc.stderr and "\x1b" not in proc.stderr and "\x07" not in proc.stderr
            host = server.url.split("/")[2]  # the URL is shown as scheme, host and port: its path could be a token
            assert f"notification to 'http://{host}" in proc.stderr
            assert "failed (invalid answer: BadStatusLine" in proc.stderr
            assert "it will be retried on the next run" in proc.stderr
        assert len(json.loads(state.read_text())["outbox"]) == 2
    finally:
        server.close()


# --- mappings: paths too deep to decode, keys given twice -------------------------------------

DEEP = ".".join(["a"] * 5000)


def test_a_mapping_path_with_thousands_of_keys_is_a_problem_at_its_line(tmp_path, log):
    mapping = tmp_path / "m.yaml"
    mapping.write_text(f"fields:\n  ts: {DEEP}\ninputs: [{', '.join(['k'] * 100)}]\n")
    result = invoke("report", log, "--mapping", mapping)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert f"{mapping}:2:3: field 'ts' path has 5,000 keys; a path may have at most 64" in result.stderr
    assert f"{mapping}:3:1: 'inputs' path has 100 keys; a path may have at most 64" in result.stderr


@pytest.mark.parametrize("args,needle", [
    (["report", "{log}", "--by", f"input.{DEEP}"], "it has 5,001 dotted parts"),
    (["report", "{log}", "--by", f"input.{DEEP}", "--baseline-range", "2026-11-27..2026-11-28"], "5,001 dotted parts"),
    (["replay", "{log}", "--model", f"{ROOT / 'demo' / 'model.py'}:churn_v2", "--where", f"input.{DEEP} == 1"],
     "has 5,001 dotted parts; a name may have at most 64"),
    (["replay", "{log}", "--dry-run", "--where", f"output.{DEEP} == 1"], "has 5,001 dotted parts"),
])
def test_fields_thousands_of_keys_deep_are_refused(log, args, needle):
    """Such a name once overflowed the stack of Python (RecursionError) or of Polars (a segfault)."""
    result = invoke(*(a.format(log=log) for a in args))
    assert_one_line_error(result, needle)


def test_a_rule_naming_a_field_thousands_of_keys_deep_is_a_problem_at_its_column(tmp_path, log):
    rules = tmp_path / "r.yaml"
    rules.write_text(f"rules:\n  - name: a\n    expr: error_rate > 1\n    where: input.{DEEP} == 1\n")
    result = invoke("check", log, "--rules", rules)
    assert result.exit_code == 2
    assert f"{rules}:4:12: rule \"a\": where does not parse: the name input.a.a" in result.stderr
    assert "has 5,001 dotted parts; a name may have at most 64" in result.stderr


def test_a_key_given_twice_in_a_mapping_is_refused_as_in_rules_files(tmp_path, log):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("fields:\n  ts: meta.ts\n  ts: ts\nlatency_unit: s\nlatency_unit: ms\n")
    result = invoke("report", log, "--mapping", mapping)
    assert result.exit_code == 2
    assert f"{mapping}:3:3: key 'fields.ts' is given twice; only the last one would count" in result.stderr
    assert f"{mapping}:5:1: key 'latency_unit' is given twice; only the last one would count" in result.stderr
    assert "has 2 problems" in result.stderr


# --- CSV formula injection ---------------------------------------------------------------------

def test_csv_cells_a_spreadsheet_would_run_are_prefixed(tmp_path):
    import csv
    import io

    values = ["=cmd|' /C calc'!A0", "+SUM(1+1)", "@SUM(A1)", "-2+3", "-5", "plain", "=1"]
    rows = [record(ts=f"2026-11-27T10:{i:02d}:00Z", request_id=f"r{i}", model=v) for i, v in enumerate(values)]
    log = write_jsonl(tmp_path / "f.jsonl", rows)
    result = invoke("report", log, "--by", "model", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    cells = sorted(row["model"] for row in csv.DictReader(io.StringIO(result.stdout)))
    assert cells == sorted(["'=cmd|' /C calc'!A0", "'+SUM(1+1)", "'@SUM(A1)", "'-2+3", "-5", "plain", "'=1"])


# --- output streams that are not UTF-8 ---------------------------------------------------------

@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_an_ascii_or_latin1_stdout_degrades_instead_of_crashing(encoding):
    from conftest import SAMPLE_LOGS

    logs = [str(p) for p in sorted(SAMPLE_LOGS.glob("*.jsonl.gz"))]
    env = {"PYTHONIOENCODING": encoding}
    proc = entry_point("report", *logs, "--by", "model", env=env, encoding=encoding)
    assert proc.returncode == 0, proc.stderr
    assert "2026-11-25 00:00:00 -> 2026-11-26 23:59:57 UTC" in proc.stdout
    assert "-" * 20 in proc.stdout  # the header rule, in ASCII
    proc = entry_point("check", *logs, "--rules", RULES, env=env, encoding=encoding)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "fired 2026-11-26 15:00 -> 2026-11-26 23:00 UTC" in proc.stdout
    proc = entry_point("report", "nope.jsonl", env={**env, "LANG": "C", "LC_ALL": "C"})
    assert proc.returncode == 2 and proc.stderr.startswith("mlmon: error: ")


# --- item 9: an output never replaces an input ---------------------------------------------------

@pytest.mark.parametrize("command,option", [
    (["report", "{log}"], "-o"), (["report", "{log}"], "--rejects"), (["baseline", "save", "{log}"], "-o"),
    (["check", "{log}", "--rules", RULES], "-o"), (["check", "{log}", "--rules", RULES], "--state"),
    (["replay", "{log}", "--model", f"{ROOT / 'demo' / 'model.py'}:churn_v1"], "--output"),
])
@pytest.mark.parametrize("how", ["same path", "symbolic link", "hard link"])
def test_an_output_naming_an_input_log_is_refused_and_the_log_kept(tmp_path, log, command, option, how):
    before = log.read_bytes()
    target = {"same path": log, "symbolic link": tmp_path / "sym.jsonl", "hard link": tmp_path / "hard.jsonl"}[how]
    if how == "symbolic link":
        target.symlink_to(log)
    elif how == "hard link":
        os.link(log, target)
    args = [a.format(log=log) if isinstance(a, str) else a for a in command]
    result = invoke(*args, option, target)
    assert_one_line_error(result, f"{option} {target} names a file this run reads", "Write the output elsewhere.")
    assert log.read_bytes() == before


def test_outputs_naming_the_rules_file_or_each_other_are_refused(tmp_path, log):
    rules = tmp_path / "rules.yaml"
    rules.write_text((ROOT / "rules.example.yaml").read_text())
    result = invoke("check", log, "--rules", rules, "-o", rules)
    assert_one_line_error(result, f"-o {rules} names a file this run reads")
    out = tmp_path / "out.json"
    out.write_text("{}")
    result = invoke("report", log, "-o", out, "--rejects", out)
    assert_one_line_error(result, f"--rejects {out} names the same file as -o")


def test_the_installed_command_keeps_the_log(tmp_path, log):
    before = log.read_bytes()
    proc = entry_point("report", log, "--format", "json", "-o", log)
    assert proc.returncode == 2 and proc.stdout == "" and "names a file this run reads" in proc.stderr
    assert log.read_bytes() == before


@pytest.mark.parametrize("args,code", [(["report", "{log}", "--format", "json"], 0), (["report", "nope.jsonl"], 2),
                                       (["check", "{log}", "--rules", RULES], 0)])
def test_a_closed_stderr_keeps_the_exit_code(log, args, code):
    """With stderr closed (`2>&-`), notes and errors go nowhere, but the exit code still says what happened."""
    proc = subprocess.run([MLMON, *(a.format(log=log) for a in args)], stderr=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          timeout=120, preexec_fn=lambda: os.close(2))
    assert proc.returncode == code
