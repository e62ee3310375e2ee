"""The command line, through typer's runner and through the installed entry point."""

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import DATA, ROOT, SAMPLE_LOGS, record, write_jsonl
from mlmon import __version__
from mlmon.cli import app

runner = CliRunner()
NOW = "2026-11-27T00:00:00Z"
MLMON = str(Path(sys.executable).parent / "mlmon")


def run(*args, env=None, input=None):
    """The installed ``mlmon`` in a subprocess, as a user or cron runs it."""
    full_env = {**os.environ, "COLUMNS": "80", **(env or {})}
    full_env.pop("FORCE_COLOR", None)
    return subprocess.run([MLMON, *args], capture_output=True, text=True, env=full_env, input=input, timeout=120)


def invoke(*args):
    return runner.invoke(app, list(args))


def test_version_and_help():
    assert invoke("--version").stdout.strip() == f"mlmon {__version__}"
    assert run("--version").stdout.strip() == f"mlmon {__version__}"
    assert "report" in invoke("--help").stdout


def test_every_command_has_help_with_an_example():
    import typer.main

    from test_docs import _commands

    commands = list(_commands(typer.main.get_command(app)))
    assert len(commands) >= 4
    for name, command in commands:
        assert command.help, name
        assert "Examples:" in (command.epilog or ""), f"{name} has no example in its help"
        assert name in command.epilog


def test_report_on_sample_logs_through_the_entry_point():
    proc = run("report", *map(str, sorted(SAMPLE_LOGS.glob("*.jsonl.gz"))), "--by", "model,model_version", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    segments = {(w["segment"]["model"], w["segment"]["model_version"]): w["metrics"] for w in doc["windows"]}
    assert set(segments) == {("churn", "v1"), ("churn", "v2"), ("fraud", "v1")}
    assert sum(m["request_count"] for m in segments.values()) == doc["source"]["records"] == 31540
    # The scripted incident: v2's p95 latency is about double v1's.
    assert 1.7 < segments[("churn", "v2")]["latency_p95_ms"] / segments[("churn", "v1")]["latency_p95_ms"] < 2.3
    assert proc.stderr == ""


def test_json_document_shape():
    result = invoke("report", str(DATA / "hard.jsonl"), "--every", "1h", "--format", "json", "--now", NOW)
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert list(doc) == ["mlmon_version", "generated_at", "source", "every", "by", "since", "until", "windows"]
    assert list(doc["source"]) == ["files", "records", "skipped", "skipped_by_reason"]
    assert all(list(w) == ["start", "end", "segment", "metrics"] for w in doc["windows"])
    assert doc["generated_at"] == NOW and doc["every"] == "1h"


def test_csv_columns():
    result = invoke("report", str(DATA / "hard.jsonl"), "--by", "model_version", "--format", "csv")
    header = result.stdout.splitlines()[0].split(",")
    assert header[:3] == ["window_start", "window_end", "model_version"]
    assert header[3:5] == ["request_count", "throughput_rps"]


def test_since_and_until_accept_durations_back_from_now(tmp_path):
    rows = [record(ts=f"2026-11-27T{h:02d}:00:00Z", request_id=str(h)) for h in range(24)]
    path = write_jsonl(tmp_path / "day.jsonl", rows)
    result = invoke("report", str(path), "--since", "6h", "--until", "2h", "--now", "2026-11-27T23:30:00Z", "--format", "json")
    doc = json.loads(result.stdout)
    assert doc["since"] == "2026-11-27T17:30:00Z" and doc["until"] == "2026-11-27T21:30:00Z"
    assert doc["windows"][0]["metrics"]["request_count"] == 4  # 18:00, 19:00, 20:00, 21:00


@pytest.mark.parametrize(
    "args,message",
    [
        (["report", "nope/*.jsonl"], "no log files match"),
        (["report", "{hard}", "--every", "soon"], "--every 'soon' is not a duration"),
        (["report", "{hard}", "--since", "yesterday"], "--since 'yesterday' is neither an ISO time nor a duration"),
        (["report", "{hard}", "--by", "modle"], "cannot segment by 'modle': did you mean 'model'?"),
        (["report", "{hard}", "--mapping", "{missing}"], "mapping file"),
        (["report", "{hard}", "--strict"], "hard.jsonl:14: bad log line (malformed JSON)"),
        (["report", "{hard}", "--since", "2026-11-28", "--until", "2026-11-27"], "--since must be earlier than --until"),
        (["report", "{hard}", "--format", "yaml"],
         "invalid value for --format: 'yaml' is not one of 'table', 'json', 'csv', 'markdown'"),
        (["report", "{hard}", "--no-such-option"], "mlmon report has no option --no-such-option"),
        (["report", "{hard}", "--formt", "json"], "has no option --formt (did you mean --format?)"),
        (["report"], "mlmon report needs LOGS... or --store DIR. Run 'mlmon report --help'"),
        (["check", "{hard}"], "mlmon check needs --rules"),
        (["check", "{hard}", "--rules", "r.yaml", "--fail-on", "bad"], "invalid value for --fail-on: 'bad' is not one of"),
        (["report", "{hard}", "--max-line-bytes", "0"], "invalid value for --max-line-bytes: it must be at least 1"),
        (["report", "{hard}", "--max-line-bytes", "many"], "invalid value for --max-line-bytes: it must be a whole number"),
        (["replay", "{hard}", "--rate", "0"], "invalid value for --rate: it must be at least 0.001"),
        (["replay", "{hard}", "--timeout", "nan"], "invalid value for --timeout"),
        (["replay", "{hard}", "--fail-over", "2"], "invalid value for --fail-over: it must be at most 1"),
        (["repot", "{hard}"], "mlmon has no command 'repot' (did you mean report?)"),
        (["baseline", "sve"], "mlmon baseline has no command 'sve' (did you mean save?)"),
    ],
)
def test_errors_exit_2_with_one_clear_line(tmp_path, args, message):
    args = [a.format(hard=DATA / "hard.jsonl", missing=tmp_path / "missing.yaml") for a in args]
    proc = run(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and "╭" not in proc.stderr  # no Rich box
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("mlmon: error: ")


def test_empty_log_gives_zero_requests_and_exit_0(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    proc = run("report", str(path), "--format", "json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["windows"][0]["metrics"]["request_count"] == 0
    proc = run("report", str(path))
    assert proc.returncode == 0 and "No requests" in proc.stdout or "0" in proc.stdout


def test_output_file_is_written_atomically(tmp_path):
    out = tmp_path / "report.json"
    out.write_text("old")
    proc = run("report", str(DATA / "hard.jsonl"), "--format", "json", "-o", str(out))
    assert proc.returncode == 0 and proc.stdout == ""
    assert json.loads(out.read_text())["source"]["records"] == 13
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_output_to_missing_directory_is_an_error(tmp_path):
    proc = run("report", str(DATA / "hard.jsonl"), "-o", str(tmp_path / "no" / "dir" / "r.json"))
    assert proc.returncode == 2 and "cannot write" in proc.stderr


def test_rejects_file_lists_bad_lines_with_secrets_redacted(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [
        record(),
        b'{"ts": "2026-11-27T10:00:00Z", "headers": {"Authorization": "Bearer sk-123"}, "cookie": "s=1", ',
    ])
    rejects = tmp_path / "rejects.jsonl"
    proc = run("report", str(path), "--rejects", str(rejects), "--format", "json")
    assert proc.returncode == 0
    assert "skipped 1 bad line" in proc.stderr
    rows = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert rows[0]["line"] == 2 and rows[0]["reason"] == "malformed JSON" and rows[0]["file"] == str(path)
    assert "sk-123" not in rejects.read_text() and "s=1" not in rejects.read_text()
    assert '"Authorization": "[REDACTED]"' in rows[0]["raw"]


def test_stdin_input():
    data = (DATA / "hard.jsonl").read_text()
    proc = run("report", "-", "--format", "json", input=data)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["source"]["records"] == 13


def test_no_colour_and_no_progress_when_not_a_terminal():
    proc = run("report", str(DATA / "hard.jsonl"))
    assert proc.returncode == 0
    assert "\x1b[" not in proc.stdout and proc.stderr == ""


def _run_in_terminal(args, env):
    """Run mlmon with stdout and stderr on a pseudo-terminal; return what it printed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([MLMON, *args], stdout=slave, stderr=slave, env={**os.environ, "COLUMNS": "100", **env})
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    os.close(master)
    return proc.returncode, out.decode("utf-8", "replace")


def test_colour_on_a_terminal_unless_no_color():
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    code, out = _run_in_terminal(["report", str(DATA / "hard.jsonl")], {**env, "TERM": "xterm-256color"})
    assert code == 0 and "\x1b[" in out
    code, out = _run_in_terminal(["report", str(DATA / "hard.jsonl")], {**env, "TERM": "xterm-256color", "NO_COLOR": "1"})
    assert code == 0 and "\x1b[" not in out


def test_table_fits_80_columns_through_the_entry_point():
    proc = run("report", *map(str, sorted(SAMPLE_LOGS.glob("*.jsonl.gz"))), "--every", "6h", "--by", "model,model_version")
    assert proc.returncode == 0
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80


def test_the_entry_point_exits_fast_yet_flushes_output_and_runs_exit_handlers():
    # main() leaves with os._exit to skip the interpreter's teardown; nothing may be lost by it.
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('exit handler ran', file=sys.stderr))\n"
        "from mlmon.cli import main\n"
        "sys.argv = ['mlmon', *sys.argv[1:]]\n"
        "main()\n"
    )
    logs = str(sorted(SAMPLE_LOGS.glob("*.jsonl.gz"))[0])
    ok = subprocess.run([sys.executable, "-c", script, "report", logs, "--format", "json"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["source"]["records"] > 0  # a piped stdout is block-buffered: flushed at exit
    assert "exit handler ran" in ok.stderr
    bad = subprocess.run([sys.executable, "-c", script, "report", logs, "--every", "fortnight"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "exit handler ran" in bad.stderr


def test_output_into_a_reader_that_stops_early_is_not_an_error(tmp_path):
    logs = sorted(SAMPLE_LOGS.glob("*.jsonl.gz"))
    proc = subprocess.Popen([MLMON, "report", *map(str, logs), "--every", "5m", "--format", "csv"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.read(10)
    proc.stdout.close()  # as `| head -c 10` does
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


def test_output_to_a_directory_a_full_disk_or_dash(tmp_path):
    logs = str(sorted(SAMPLE_LOGS.glob("*.jsonl.gz"))[0])
    (tmp_path / "odir").mkdir()
    for args in (["-o", str(tmp_path / "odir")], ["--rejects", str(tmp_path / "odir")]):
        proc = run("report", logs, *args)
        assert proc.returncode == 2 and "is a directory" in proc.stderr and "Traceback" not in proc.stderr
    dash = run("report", logs, "--format", "json", "-o", "-")
    assert dash.returncode == 0 and json.loads(dash.stdout)["source"]["records"] > 0
    assert not Path("-").exists()
    if os.path.exists("/dev/full"):
        with open("/dev/full", "w") as full:
            proc = subprocess.run([MLMON, "report", logs], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
        assert proc.returncode == 2 and "No space left" in proc.stderr and "Traceback" not in proc.stderr


def test_task_must_be_one_of_three_and_now_takes_only_a_time():
    logs = str(sorted(SAMPLE_LOGS.glob("*.jsonl.gz"))[0])
    typo = invoke("report", logs, "--labels", str(SAMPLE_LOGS / "labels.csv"), "--task", "regresion")
    assert typo.exit_code == 2 and "regresion" in typo.output
    now = invoke("report", logs, "--now", "24h")
    assert now.exit_code == 2
    assert "--now '24h' is not an ISO time" in now.output and "duration" not in now.output
    since = invoke("report", logs, "--since", "yesterday")
    assert since.exit_code == 2 and "neither an ISO time nor a duration" in since.output


def test_rules_validate_ends_with_the_summary_line_the_readme_shows(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules:\n  - name: high-errors\n    expr: error_rate > 0.05 or latncy_p95_ms > 300\n"
                      "    every: 1h\n    severity: critcal\n    fro: 2\n")
    proc = run("rules", "validate", str(broken))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 4 and lines[-1] == (f"mlmon: error: rules file {broken} has 3 problems. "
                                             "Fix the lines listed above; 'mlmon rules validate' checks a file.")


def test_the_table_footer_says_where_the_rejects_went(tmp_path):
    rejects = tmp_path / "rej.jsonl"
    listed = invoke("report", str(SAMPLE_LOGS / "bad_lines.jsonl"), "--rejects", str(rejects))
    assert listed.exit_code == 0
    assert "Listed in" in listed.output and "rej.jsonl" in listed.output and "Use --rejects" not in listed.output
    unlisted = invoke("report", str(SAMPLE_LOGS / "bad_lines.jsonl"))
    assert "Use --rejects FILE to list them." in unlisted.output


def test_a_closed_stdout_or_a_full_stderr_keeps_the_exit_codes(tmp_path):
    logs = str(sorted(SAMPLE_LOGS.glob("*.jsonl.gz"))[0])
    closed = subprocess.run([MLMON, "report", logs, "-o", str(tmp_path / "r.txt")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, timeout=120, close_fds=True,
                            preexec_fn=lambda: os.close(1))
    assert closed.returncode == 0 and "Traceback" not in closed.stderr, closed.stderr
    assert (tmp_path / "r.txt").exists()
    if os.path.exists("/dev/full"):
        with open("/dev/full", "w") as full:
            proc = subprocess.run([MLMON, "report", str(tmp_path / "missing.jsonl")], stdout=subprocess.PIPE,
                                  stderr=full, timeout=120)
        assert proc.returncode == 2


def test_usage_errors_read_the_same_in_process():
    result = invoke("report", str(DATA / "hard.jsonl"), "--formt", "json")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("mlmon: error: mlmon report has no option --formt (did you mean --format?). "
                                     "Run 'mlmon report --help' to see its options.")


def test_dash_is_stdout_for_every_file_mlmon_writes(tmp_path):
    """`-o -`, `--rejects -` and `replay --output -` write to stdout, never a file named '-'."""
    bad = str(SAMPLE_LOGS / "bad_lines.jsonl")
    proc = subprocess.run([MLMON, "baseline", "save", bad, "-o", "-"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["format"] == "mlmon-profile"
    assert "standard output: profile of" in proc.stderr  # the status line is on stderr, never in the JSON

    out = tmp_path / "report.json"
    proc = subprocess.run([MLMON, "report", bad, "--rejects", "-", "-o", str(out), "--format", "json"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rejects = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rejects) == json.loads(out.read_text())["source"]["skipped"] == 8
    assert "listed in standard output" in proc.stderr

    proc = subprocess.run([MLMON, "replay", str(SAMPLE_LOGS / "churn.jsonl.gz"), "--limit", "3", "--model",
                           f"{ROOT / 'demo' / 'model.py'}:churn_v1", "--output", "-"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr  # the first requests were served by v1: they match
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == 3 and all("replay" in r for r in results)
    assert "replayed 3 requests" in proc.stderr  # the summary moved to stderr
    assert not (tmp_path / "-").exists()


def test_two_outputs_on_stdout_are_refused(tmp_path):
    bad = str(SAMPLE_LOGS / "bad_lines.jsonl")
    proc = subprocess.run([MLMON, "report", bad, "--rejects", "-"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "the report and --rejects would both go to standard output" in proc.stderr
    proc = subprocess.run([MLMON, "baseline", "save", bad, "-o", "-", "--rejects", "-"], capture_output=True,
                          text=True, cwd=tmp_path)
    assert proc.returncode == 2 and "the profile and --rejects would both go to standard output" in proc.stderr
    assert not (tmp_path / "-").exists()


# --- what reading the logs found: the verdict, warnings, notes -----------------------------


def _foreign_log(tmp_path, good: int = 0, bad: int = 3):
    """A log of another shape (its time is not in ts), after ``good`` records in mlmon's own."""
    rows = [record(request_id=f"g{i}") for i in range(good)]
    rows += [{"timestamp": "2026-11-27T10:00:00Z", "duration": 3, "request": {"x": i}} for i in range(bad)]
    return write_jsonl(tmp_path / "foreign.jsonl", rows)


def test_a_log_with_no_good_record_is_exit_2_for_every_command(tmp_path):
    path = str(_foreign_log(tmp_path))
    expected = f"mlmon: error: no good log record in {path}: 3 bad lines (missing ts 3). mlmon reads JSON lines"
    # With --preset auto (the default) the records fit no format: said before reading, with what was seen.
    unknown = (f"mlmon: error: {path} holds JSON records in no format mlmon knows (top-level keys: timestamp, "
               f"duration, request). Run 'mlmon inspect {path}'")
    commands = [
        ["report", path],
        ["check", path, "--rules", str(ROOT / "rules.example.yaml")],
        ["baseline", "save", path, "-o", str(tmp_path / "b.json")],
        ["replay", path, "--dry-run", "--model", "m:f"],
    ]
    for args in commands:
        # baseline save takes one file of records in no known format for a dataset, unless they look
        # like logs (a request object): then it reads them as logs, and finds no good record.
        auto = expected if args[0] == "baseline" else unknown
        for preset, message in (("auto", auto), ("mlmon", expected)):
            result = invoke(*args, "--preset", preset)
            assert result.exit_code == 2, args
            assert result.stderr.startswith(message) and "--mapping FILE" in result.stderr, (args, result.stderr)
            assert "mlmon inspect" in result.stderr, args
            assert len(result.stderr.splitlines()) == 1 and result.stdout == "", args
    result = invoke("report", str(DATA / "hard.jsonl"), "--baseline", path)
    assert result.exit_code == 2 and result.stderr.startswith(expected), result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""
    assert not (tmp_path / "b.json").exists()
    # As cron runs it: nothing on stdout to mistake for "all quiet".
    proc = run("report", path, "--format", "json")
    assert proc.returncode == 2 and proc.stdout == "" and proc.stderr.startswith(unknown)


def test_a_file_mostly_bad_is_a_warning_from_every_command(tmp_path):
    path = str(_foreign_log(tmp_path, good=1, bad=2))
    warning = f"mlmon: warning: {path}: 2 of 3 lines are bad (missing ts 2)"
    commands = [
        ["report", path],
        ["check", path, "--rules", str(ROOT / "rules.example.yaml")],
        ["baseline", "save", path, "-o", str(tmp_path / "b.json")],  # it refused such a file before
        ["replay", path, "--dry-run", "--model", "m:f"],
    ]
    for args in commands:
        result = invoke(*args)
        assert result.exit_code == 0, (args, result.output)
        assert warning in result.stderr.splitlines(), args
    with_baseline = invoke("report", str(DATA / "hard.jsonl"), "--baseline", path, "--format", "json")
    assert with_baseline.exit_code == 0
    assert f"mlmon: warning: baseline {path}: 2 of 3 lines are bad (missing ts 2)" in with_baseline.stderr.splitlines()


def test_a_log_directory_says_what_it_skipped_and_never_waits_on_a_fifo(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    write_jsonl(logs / "app.log.2.gz", [record(request_id="oldest")], gz=True)
    write_jsonl(logs / "app.log.1", [record(request_id="older")])
    write_jsonl(logs / "app.log", [record(request_id="newest")])
    (logs / "README.txt").write_text("x")
    os.mkfifo(logs / "pipe.jsonl")
    note = f"mlmon: note: {logs}: skipped 2 files: 1 not named like logs (README.txt), 1 not a regular file (pipe.jsonl)"
    proc = run("report", str(logs), "--format", "json")  # before, this waited forever for a writer to the FIFO
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["source"]["files"] == [str(logs / n) for n in ("app.log.2.gz", "app.log.1", "app.log")]
    assert proc.stderr.splitlines() == [note]
    dry = invoke("replay", str(logs), "--dry-run", "--model", "m:f")
    assert [json.loads(line)["request_id"] for line in dry.stdout.splitlines()] == ["oldest", "older", "newest"]
    assert note in dry.stderr.splitlines()
    saved = invoke("baseline", "save", str(logs), "-o", str(tmp_path / "b.json"))
    assert saved.exit_code == 0 and note in saved.stderr.splitlines()
    checked = invoke("check", str(logs), "--rules", str(ROOT / "rules.example.yaml"))
    assert checked.exit_code == 0 and note in checked.stderr.splitlines()
    against = invoke("report", str(DATA / "hard.jsonl"), "--baseline", str(logs), "--format", "json")
    assert against.exit_code == 0 and note.replace("note: ", "note: baseline ") in against.stderr.splitlines()


def test_the_readme_shows_the_error_a_file_that_is_not_logs_gives():
    proc = subprocess.run([MLMON, "report", "sample_logs/labels.csv"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and proc.stdout == ""
    line = proc.stderr.rstrip("\n")
    assert "\n" not in line and line in (ROOT / "README.md").read_text()
    help_text = " ".join(invoke("report", "--help").stdout.replace("│", " ").split())
    assert "Bad lines with not one good record are an error (exit 2)." in help_text
    assert "rotated siblings such as app.log.1" in help_text
