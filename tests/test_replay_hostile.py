"""``mlmon replay`` against targets and logs that misbehave.

A model that calls ``sys.exit()``, answers ``inf`` or a datetime or a dict that contains
itself, raises an exception that cannot be printed; a server that redirects or answers
30 MB; logged text with tabs, ESC and NUL; secrets in URLs, headers and error text;
Ctrl-C in the middle. Each is an outcome, a one-line error, or a clean stop: never a
traceback, never a silent pass. HTTP targets are real servers on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import record, write_jsonl
from replay_servers import ANSWER, ModelServer, free_port, small_log
from typer.testing import CliRunner

from mlmon.cli import app
from mlmon.logs.mapping import load_mapping
from mlmon.render.replay import render_replay_json, render_replay_table
from mlmon.replay.compare import Tolerance, differences, side_by_side
from mlmon.replay.output import gate_fired, summary_document, write_results
from mlmon.replay.run import ERROR, MATCH, MISMATCH, Pace
from mlmon.replay.select import Selection
from mlmon.replay.session import TargetSpec, dry_run_lines, run_replay
from mlmon.replay.targets import SetupError, load_callable

MLMON = str(Path(sys.executable).parent / "mlmon")
MAPPING = load_mapping(None)
runner = CliRunner()


def go(log, target: TargetSpec, pace: Pace | None = None):
    run, _ = run_replay([str(log)], mapping=MAPPING, selection=Selection(), target=target,
                        pace=pace or Pace(timeout=5.0), tolerance=Tolerance())
    assert run is not None
    return run


def invoke(*args):
    return runner.invoke(app, ["replay", *map(str, args)])


def entry_point(*args, timeout=60, **kwargs):
    env = {**os.environ, "COLUMNS": "100"}
    env.pop("FORCE_COLOR", None)
    return subprocess.run([MLMON, "replay", *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False, **kwargs)


def model_file(tmp_path: Path, body: str, name: str = "hostile_model.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def written(run, tmp_path: Path) -> str:
    """Everything replay writes and prints about ``run``: results file, JSON and table summaries."""
    out = tmp_path / "results.jsonl"
    write_results(run, out)
    return "\n".join([out.read_text(), render_replay_json(run, 0.0, 10), render_replay_table(run, 0.0, 10)])


# --- 3: a model that exits ------------------------------------------------------------------------------

EXITING = """
import sys, asyncio

class Stop(BaseException):
    pass

def candidate(req):
    if req["i"] == 2:
        sys.exit()
    if req["i"] == 3:
        raise Stop("custom BaseException")
    return {"label": "WRONG", "p": 0.1}

async def acandidate(req):
    await asyncio.sleep(0)
    return candidate(req)
"""


@pytest.mark.parametrize("function, pace", [
    ("candidate", Pace()),                              # the plain in-process loop
    ("candidate", Pace(concurrency=2, timeout=5.0)),    # a plain function on the event loop
    ("acandidate", Pace(timeout=5.0)),                  # an async function, in a task
])
def test_a_model_that_calls_sys_exit_is_an_error_of_that_request(tmp_path, function, pace):
    model = model_file(tmp_path, EXITING)
    run = go(small_log(tmp_path), TargetSpec(model=f"{model}:{function}"), pace)
    assert [o.outcome for o in run.outcomes] == [MISMATCH, MISMATCH, ERROR, ERROR, MISMATCH]
    assert run.outcomes[2].reply.error == "SystemExit: the model called sys.exit()"
    assert run.outcomes[3].reply.error == "Stop: custom BaseException"
    assert gate_fired(run, 0.0)


def test_sys_exit_in_a_model_fails_the_gate_through_the_entry_point(tmp_path):
    model = model_file(tmp_path, EXITING)
    out = tmp_path / "out.jsonl"
    proc = entry_point(small_log(tmp_path), "--model", f"{model}:candidate", "-f", "json", "-o", out)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["counts"] == {"match": 0, "mismatch": 3, "error": 2, "timeout": 0, "failed_before": 0} and doc["failed"] is True
    assert len(out.read_text().splitlines()) == 5


def test_a_model_module_that_exits_at_import_is_a_setup_error(tmp_path):
    model = model_file(tmp_path, "import sys\nsys.exit(0)\n", name="exits_at_import.py")
    with pytest.raises(SetupError, match=r"cannot import .*exits_at_import.py: SystemExit"):
        load_callable(f"{model}:predict")
    proc = entry_point(small_log(tmp_path), "--model", f"{model}:predict")
    assert proc.returncode == 2 and "mlmon: error: cannot import" in proc.stderr and proc.stdout == ""


# --- 4: infinity is not close to anything finite ----------------------------------------------------------


def test_a_model_answering_infinity_does_not_pass_the_gate(tmp_path):
    model = model_file(tmp_path, """
        def inf(req):
            return {"label": "stay", "p": float("inf")}
    """)
    result = invoke(small_log(tmp_path), "--model", f"{model}:inf", "--rtol", "0.5", "-f", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["counts"]["mismatch"] == 5
    # strict JSON: a non-finite answer is written as text, never as a bare Infinity literal
    assert doc["mismatches"][0]["diff"] == [{"path": "p", "logged": 0.1, "replayed": "Infinity", "missing": None}]


# --- 5: control characters in logged strings ----------------------------------------------------------------

TRICKY = ["a\tb", "a\nb", "a\rb", "a\x1bb", "a\x00b", "a\x07\x1f", 'say "hi"', "é ü 中 \u2028"]


def tricky_log(tmp_path: Path) -> tuple[Path, list[dict]]:
    requests = [{"i": i, "comment": text, "nested": {"list": [text]}} for i, text in enumerate(TRICKY)]
    rows = [record(ts=f"2026-11-27T10:00:0{i}Z", request_id=f"t{i}", request=req,
                   response={"echo": req["comment"]}) for i, req in enumerate(requests)]
    return write_jsonl(tmp_path / "tricky.jsonl", rows), requests  # valid JSONL: json.dumps escapes them


def test_http_bodies_are_valid_json_equal_to_the_logged_requests(tmp_path):
    log, requests = tricky_log(tmp_path)
    with ModelServer(answer=lambda body: {"echo": body["comment"]} if isinstance(body, dict) else "not JSON") as server:
        run = go(log, TargetSpec(url=server.url))
    assert server.bodies == requests  # the server parsed each body with strict json.loads
    assert [o.outcome for o in run.outcomes] == [MATCH] * len(TRICKY)


def test_a_model_gets_the_logged_request_as_a_dict(tmp_path):
    log, requests = tricky_log(tmp_path)
    seen = tmp_path / "seen.jsonl"
    model = model_file(tmp_path, f"""
        import json
        def echo(req):
            with open({str(seen)!r}, "a") as out:
                out.write(json.dumps({{"type": type(req).__name__, "req": req}}) + "\\n")
            return {{"echo": req["comment"]}}
    """)
    run = go(log, TargetSpec(model=f"{model}:echo"))
    got = [json.loads(line) for line in seen.read_text().splitlines()]
    assert [g["type"] for g in got] == ["dict"] * len(TRICKY)
    assert [g["req"] for g in got] == requests
    assert run.count(MATCH) == len(TRICKY)


def test_a_command_gets_valid_json_lines(tmp_path):
    log, requests = tricky_log(tmp_path)
    seen = tmp_path / "seen.jsonl"
    model = model_file(tmp_path, f"""
        import json, sys
        with open({str(seen)!r}, "w") as out:
            for line in sys.stdin:
                out.write(line)
                out.flush()
                print(json.dumps({{"echo": json.loads(line)["comment"]}}), flush=True)
    """, name="echo_cmd.py")
    run = go(log, TargetSpec(command=shlex.join([sys.executable, model])))
    assert [json.loads(line) for line in seen.read_text().splitlines()] == requests
    assert run.count(MATCH) == len(TRICKY)


def test_dry_run_shows_the_logged_requests(tmp_path):
    log, requests = tricky_log(tmp_path)
    frame = run_replay([str(log)], mapping=MAPPING, selection=Selection(), target=TargetSpec(url="http://127.0.0.1:9/"),
                       pace=Pace(), tolerance=Tolerance(), dry_run=True)[1]
    lines = dry_run_lines(frame, TargetSpec(url="http://127.0.0.1:9/"))
    assert [json.loads(line)["body"] for line in lines] == requests
    result = invoke(log, "--dry-run", "--target", "http://127.0.0.1:9/")
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["body"] for line in result.stdout.rstrip("\n").split("\n")] == requests


def test_where_sees_the_logged_strings(tmp_path):
    log, _ = tricky_log(tmp_path)
    result = invoke(log, "--dry-run", "--target", "http://127.0.0.1:9/", "--where", 'input.comment == "a\tb"')
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["request_id"] for line in result.stdout.rstrip("\n").split("\n")] == ["t0"]


# --- 6: redirects are answers, not directions ---------------------------------------------------------------


def test_a_redirect_is_the_answer_and_is_never_followed(tmp_path):
    log = write_jsonl(tmp_path / "moved.jsonl", [
        record(ts="2026-11-27T10:00:00Z", request_id="ok-before", request={"i": 0}),
        record(ts="2026-11-27T10:00:01Z", request_id="moved-before", request={"i": 1}, status=307,
               response={"moved": True}),
    ])
    with ModelServer() as elsewhere:
        def moved(handler, body):
            return 307, {"moved": True}, {"Location": elsewhere.url + "?token=LOCSECRET"}

        with ModelServer(moved) as server:
            run = go(log, TargetSpec(url=server.url, headers=(("X-Api-Key", "KEY123"),)))
        assert elsewhere.requests == []  # neither the body nor the -H headers went anywhere else
    assert len(server.requests) == 2
    first, second = run.outcomes
    assert (first.outcome, first.reply.status) == (ERROR, 307)
    assert first.reply.error == ("HTTP 307: a redirect, which replay does not follow; "
                                 f"Location: {elsewhere.url}?token=[REDACTED]")
    assert (second.outcome, second.reply.status) == (MATCH, 307)  # compared like any answer with the logged status


# --- 7: answers that are not JSON ---------------------------------------------------------------------------

ODD_MODELS = """
import datetime, decimal

def when(req):
    return {"label": "stay", "p": 0.1, "meta": {"at": [datetime.datetime(2020, 1, 1)]}}

def money(req):
    return {"label": "stay", "p": decimal.Decimal("0.1")}

def raw(req):
    return {"label": b"stay", "p": 0.1}

def labels(req):
    return {"label": {"stay"}, "p": 0.1}

def itself(req):
    d = {"label": "stay"}
    d["again"] = d
    return d

def deep(req):
    d = 1
    for _ in range(900):
        d = {"n": d}
    return d

def object_key(req):
    return {object(): 1}

def huge_int(req):
    return {"label": "stay", "p": 10 ** 5000}

class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no text for you")

def unprintable(req):
    raise Unprintable()

def python_types(req):  # what a JSON server would send for these is the logged answer
    import numpy
    return {"label": "stay", "p": numpy.float64(0.1), "pair": (1, 2), 3: "three"}
"""

ODD_ANSWERS = {
    "when": "the answer is not JSON: datetime at meta.at[0]",
    "money": "the answer is not JSON: Decimal at p",
    "raw": "the answer is not JSON: bytes at label",
    "labels": "the answer is not JSON: set at label",
    "itself": "the answer is not JSON: it contains itself (at again)",
    "deep": "the answer is not JSON: it is nested more than 128 levels deep",
    "object_key": "the answer is not JSON: a key of type object at $",
    "huge_int": "the answer is not JSON: the integer at p is too large to write",
    "unprintable": "Unprintable (its message cannot be shown: str() raised RuntimeError)",
}


@pytest.mark.parametrize("function", list(ODD_ANSWERS))
def test_an_answer_that_is_not_json_is_an_error_with_the_reason(tmp_path, function):
    model = model_file(tmp_path, ODD_MODELS)
    run = go(small_log(tmp_path, n=2), TargetSpec(model=f"{model}:{function}"))
    assert [o.outcome for o in run.outcomes] == [ERROR, ERROR]
    assert run.outcomes[0].reply.error == ODD_ANSWERS[function]
    text = written(run, tmp_path)  # writing and rendering do not trip over it either
    assert ODD_ANSWERS[function] in text


def test_python_values_json_spells_differently_are_compared_as_sent(tmp_path):
    model = model_file(tmp_path, ODD_MODELS)
    log = write_jsonl(tmp_path / "py.jsonl", [record(response={"label": "stay", "p": 0.1, "pair": [1, 2], "3": "three"})])
    run = go(log, TargetSpec(model=f"{model}:python_types"))
    assert [o.outcome for o in run.outcomes] == [MATCH]
    assert run.outcomes[0].reply.response == {"label": "stay", "p": 0.1, "pair": [1, 2], "3": "three"}


def test_odd_answers_through_the_entry_point_exit_1_without_a_traceback(tmp_path):
    model = model_file(tmp_path, ODD_MODELS)
    for function in ODD_ANSWERS:
        proc = entry_point(small_log(tmp_path, n=2), "--model", f"{model}:{function}")
        assert proc.returncode == 1, (function, proc.stderr)
        assert "Traceback" not in proc.stderr and proc.stdout.startswith("FAILED: replayed 2 requests"), function


DEEP = '{"n":' * 900 + "1" + "}" * 900


def test_a_command_answering_900_levels_deep_is_an_error(tmp_path):
    cmd = model_file(tmp_path, f"""
        import sys
        for line in sys.stdin:
            print({DEEP!r}, flush=True)
    """, name="deep_cmd.py")
    proc = entry_point(small_log(tmp_path, n=2), "--command", shlex.join([sys.executable, cmd]), "-f", "json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["counts"]["error"] == 2
    assert doc["errors"][0]["error"] == "the answer is not JSON: it is nested more than 128 levels deep"


def test_a_server_answering_900_levels_deep_is_an_error(tmp_path):
    deep = json.loads(DEEP)
    with ModelServer(answer=lambda body: deep) as server:
        run = go(small_log(tmp_path, n=2), TargetSpec(url=server.url))
    assert [o.outcome for o in run.outcomes] == [ERROR, ERROR]
    assert run.outcomes[0].reply.error == "the answer is not JSON: it is nested more than 128 levels deep"
    assert run.outcomes[0].reply.status == 200
    written(run, tmp_path)


# --- 8: secrets in what replay prints --------------------------------------------------------------------------


def test_secret_query_parameters_of_the_target_are_never_printed(tmp_path):
    log = small_log(tmp_path, n=2)
    with ModelServer() as server:
        url = server.url.replace("http://", "http://u:PASSWD@") + "?api_key=QUERYSECRET&token=TOKSECRET&v=2"
        result = invoke(log, "--target", url, "-f", "json")
        table = invoke(log, "--target", url)
        dry = invoke(log, "--target", url, "--dry-run")
    assert result.exit_code == 0 and table.exit_code == 0 and dry.exit_code == 0
    shown = server.url.replace("http://", "http://u:[REDACTED]@") + "?api_key=[REDACTED]&token=[REDACTED]&v=2"
    assert json.loads(result.stdout)["target"] == shown
    assert f"OK: replayed 2 requests against {shown}" in table.stdout.replace("\n", "")
    assert json.loads(dry.stdout.splitlines()[0])["target"] == shown
    for text in (result.stdout, table.stdout, dry.stdout, dry.stderr):
        assert "QUERYSECRET" not in text and "TOKSECRET" not in text and "PASSWD" not in text
    port = free_port()
    unreachable = invoke(log, "--target", f"http://127.0.0.1:{port}/p?api_key=QUERYSECRET")
    assert unreachable.exit_code == 2 and "QUERYSECRET" not in unreachable.stderr
    assert f"--target http://127.0.0.1:{port}/p?api_key=[REDACTED]" in unreachable.stderr


def test_secret_headers_are_redacted_in_the_dry_run(tmp_path):
    headers = {"X-Auth-Token": "XAT", "X-Client-Secret": "XCS", "X-Api-Key": "XAK", "Authorization": "Bearer AUTH",
               "Cookie": "session=COOK", "X-Session-Token": "XST", "X-Trace": "visible"}
    args = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    result = invoke(small_log(tmp_path, n=1), "--dry-run", "--target", "http://127.0.0.1:9/", *args)
    assert result.exit_code == 0, result.stderr
    sent = json.loads(result.stdout)["headers"]
    assert sent == {"Content-Type": "application/json", **{n: "[REDACTED]" for n in headers if n != "X-Trace"},
                    "X-Trace": "visible"}


def test_command_stderr_is_redacted_and_escaped(tmp_path):
    crash = model_file(tmp_path, """
        import sys
        sys.stdin.readline()
        sys.stderr.write('boom {"Authorization": "Bearer JSON-SECRET"} password=PW1 \\x1b[2J\\x07 done\\n')
        sys.exit(1)
    """, name="crash_cmd.py")
    proc = entry_point(small_log(tmp_path, n=1), "--command", shlex.join([sys.executable, crash]))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlmon: error: ")
    assert "JSON-SECRET" not in proc.stderr and "PW1" not in proc.stderr
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr
    assert 'died (exit code 1): boom {"Authorization": "[REDACTED]"} password=[REDACTED] \\x1b[2J\\x07 done' in lines[0]


def test_model_exception_text_is_redacted_and_escaped(tmp_path):
    log = write_jsonl(tmp_path / "pw.jsonl", [record(request={"x": 1, "password": "PW-SECRET", "db_password": "DBPW",
                                                              "id_token": "IDT"})])
    model = model_file(tmp_path, """
        def raiser(req):
            raise ValueError(f"bad request {req} \\x1b[31m")
    """)
    run = go(log, TargetSpec(model=f"{model}:raiser"))
    error = run.outcomes[0].reply.error
    assert error == ("ValueError: bad request {'x': 1, 'password': '[REDACTED]', 'db_password': '[REDACTED]', "
                     "'id_token': '[REDACTED]'} \\x1b[31m")
    text = written(run, tmp_path)
    assert "PW-SECRET" not in text and "DBPW" not in text and "IDT" not in text and "\x1b" not in text


def test_a_model_traceback_is_redacted_and_escaped_wherever_it_shows(tmp_path):
    log = write_jsonl(tmp_path / "pw.jsonl", [record(request={"x": 1, "password": "PW-SECRET"})])
    # A file name with ESC in it, a secret in the failing line of code, and one in the exception's message.
    model = model_file(tmp_path, """
        def leaky(req):
            return check(req)

        def check(req):
            api_key = "sk-SOURCE-1"; raise ValueError(f"bad request {req}")  # \x1b[2J
    """, name="evil\x1b[31mname.py")
    run = go(log, TargetSpec(model=f"{model}:leaky"))
    lines = run.outcomes[0].reply.traceback.lines()
    assert lines[-1] == '    api_key = "[REDACTED]"; raise ValueError(f"bad request {req}")  # \\x1b[2J'
    assert all("\x1b" not in line and "\\x1b[31mname.py" in line for line in lines[::2])
    text = written(run, tmp_path)
    assert "sk-SOURCE-1" not in text and "PW-SECRET" not in text and "\x1b" not in text
    assert text.count("in check") == 3  # the results file, the JSON summary and the table each show it
    table = render_replay_table(run, 0.0, 10, width=200)
    assert "'password': '[REDACTED]'" in table and 'api_key = "[REDACTED]"' in table


def test_a_logged_error_is_redacted_and_escaped_wherever_it_shows(tmp_path):
    log = write_jsonl(tmp_path / "e.jsonl", [record(status=401, response=None,
                                                    error="rejected api_key=LOGGED-SECRET \x1b[2J")])
    model = model_file(tmp_path, "def ok(x):\n    return 1\n")
    run = go(log, TargetSpec(model=f"{model}:ok"))
    assert run.outcomes[0].outcome == "failed_before"
    text = written(run, tmp_path)
    assert "LOGGED-SECRET" not in text and "\x1b" not in text
    # The results file (the diff and the original), the JSON summary and the table each show it.
    assert text.count("rejected api_key=[REDACTED] \\") == 4


# --- 11: -H on the command line ---------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["X-A: a\r\nEvil: b", "X-A: a\nb", "X-A\r\n: b", "X-A: \x1b[2J"])
def test_a_header_with_control_characters_is_a_usage_error(tmp_path, header):
    with ModelServer() as server:
        proc = entry_point(small_log(tmp_path, n=1), "--target", server.url, "-H", header)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlmon: error: ") and "Traceback" not in proc.stderr
    assert "\x1b" not in proc.stderr and proc.stdout == ""
    assert server.requests == []


# --- 15: Ctrl-C -------------------------------------------------------------------------------------------------


def test_keyboard_interrupt_keeps_what_completed(tmp_path):
    model = model_file(tmp_path, """
        def stops(req):
            if req["i"] == 3:
                raise KeyboardInterrupt
            return {"label": "stay", "p": 0.1}
    """)
    run = go(small_log(tmp_path, n=6), TargetSpec(model=f"{model}:stops"))
    assert run.interrupted and run.not_replayed == 3
    assert [o.record["request_id"] for o in run.outcomes] == ["r0", "r1", "r2"] and run.count(MATCH) == 3
    assert gate_fired(run, 1.0)  # an interrupted run never passes the gate
    doc = summary_document(run, 0.0, 5)
    assert doc["interrupted"] is True and doc["not_replayed"] == 3 and doc["requests"] == 3
    out = tmp_path / "out.jsonl"
    write_results(run, out)
    assert [json.loads(line)["request_id"] for line in out.read_text().splitlines()] == ["r0", "r1", "r2"]


SLOW_MODELS = """
import asyncio, os, time

def answered():  # one line per answer, so the test knows when to press Ctrl-C
    with open(os.environ["REPLAY_TEST_PROGRESS"], "a") as progress:
        progress.write("x\\n")
    return {"label": "stay", "p": 0.1}

def slow(req):
    time.sleep(0.2)
    return answered()

async def aslow(req):
    await asyncio.sleep(0.2)
    return answered()

if __name__ == "__main__":  # as a --command
    import json, sys
    for line in sys.stdin:
        time.sleep(0.2)
        print(json.dumps(answered()), flush=True)
"""


def interrupted_run(tmp_path: Path, kind: str, sig=signal.SIGINT) -> tuple[subprocess.CompletedProcess, Path]:
    """The entry point replaying 60 slow requests, sent SIGINT (Ctrl-C) once four have been answered."""
    model = model_file(tmp_path, SLOW_MODELS, name="slow_model.py")
    out = tmp_path / "partial.jsonl"
    progress = tmp_path / "progress.txt"
    progress.touch()
    log = small_log(tmp_path, n=60)

    def slow_http(handler, body):
        time.sleep(0.2)
        return 200, dict(ANSWER)

    with ModelServer(slow_http) as server:
        target = {"http": ["--target", server.url], "model": ["--model", f"{model}:slow"],
                  "async": ["--model", f"{model}:aslow", "--concurrency", "2"],
                  "sync2": ["--model", f"{model}:slow", "--concurrency", "2"],
                  "command": ["--command", shlex.join([sys.executable, model])]}[kind]
        env = {**os.environ, "COLUMNS": "100", "REPLAY_TEST_PROGRESS": str(progress)}
        proc = subprocess.Popen([MLMON, "replay", str(log), *target, "-f", "json", "-o", str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

        def answers() -> int:  # a fifth HTTP request is sent only once the fourth answer is in
            return len(server.requests) - 1 if kind == "http" else len(progress.read_text().splitlines())

        deadline = time.monotonic() + 60
        while answers() < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=30)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), out


@pytest.mark.parametrize("kind", ["http", "model", "async", "sync2", "command"])
def test_ctrl_c_prints_the_summary_and_keeps_the_results_so_far(tmp_path, kind):
    proc, out = interrupted_run(tmp_path, kind)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode != 0  # never a pass
    doc = json.loads(proc.stdout)
    assert doc["interrupted"] is True and doc["failed"] is True
    assert 3 <= doc["requests"] < 60 and doc["requests"] + doc["not_replayed"] == 60
    assert doc["counts"]["match"] == doc["requests"]  # the answers cut off are not counted as errors
    ids = [json.loads(line)["request_id"] for line in out.read_text().splitlines()]
    assert len(ids) == doc["requests"] and ids == sorted(ids, key=lambda i: int(i[1:]))  # in logged order
    if kind != "async":  # one at a time: the first ones
        assert ids == [f"r{i}" for i in range(doc["requests"])]
    assert not list(tmp_path.glob(".partial.jsonl.*"))  # written atomically, no temporary file left


def test_ctrl_c_exits_130(tmp_path):
    proc, _ = interrupted_run(tmp_path, "http")
    assert proc.returncode == 130
    assert proc.stderr.strip().startswith("mlmon: interrupted")


# --- 16: the JSON says when its lists are cut ----------------------------------------------------------------------


def test_json_lists_say_when_show_cut_them(tmp_path):
    rows = [record(ts=f"2026-11-27T10:00:0{i}Z", request_id=f"j{i}", request={"kind": kind})
            for i, kind in enumerate(["bad", "bad", "bad", "err", "err", "ok"])]
    log = write_jsonl(tmp_path / "kinds.jsonl", rows)
    model = model_file(tmp_path, """
        def predict(x):
            if x["kind"] == "err":
                raise RuntimeError("no")
            return {"label": "churn" if x["kind"] == "bad" else "stay", "p": 0.1}
    """)
    for show, cut in ((1, True), (2, True), (3, False), (10, False)):
        doc = json.loads(invoke(log, "--model", f"{model}:predict", "-f", "json", "--show", show).stdout)
        assert doc["counts"] == {"match": 1, "mismatch": 3, "error": 2, "timeout": 0, "failed_before": 0}
        assert len(doc["mismatches"]) == min(show, 3) and len(doc["errors"]) == min(show, 2)
        assert doc["mismatches_truncated"] is cut and doc["errors_truncated"] is (show < 2)


# --- 19: huge fields in diffs -----------------------------------------------------------------------------------------


def test_huge_fields_are_cut_in_the_table_and_kept_whole_in_the_results(tmp_path):
    blob = "A" * 3_000_000
    log = write_jsonl(tmp_path / "huge.jsonl", [
        record(ts=f"2026-11-27T10:00:0{i}Z", request_id=f"h{i}", response={"label": "stay", "blob": "B"})
        for i in range(2)])
    out = tmp_path / "out.jsonl"
    with ModelServer(answer=lambda body: {"label": "stay", "blob": blob}) as server:
        result = invoke(log, "--target", server.url, "-o", out)
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) < 40
    assert result.stdout.count("… (2,999,802 more characters)") == 2
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert results[0]["response"]["blob"] == blob and results[0]["replay"]["diff"][0]["replayed"] == blob


def test_side_by_side_cuts_each_cell():
    diffs = differences({"text": "x" * 1000, "k" * 300: 1}, {"text": "y" * 1000, "k" * 300: 2})
    rows = side_by_side(diffs)
    assert rows[0] == ("text", '"' + "x" * 199 + "… (802 more characters)", '"' + "y" * 199 + "… (802 more characters)")
    assert rows[1][0] == "k" * 200 + "… (100 more characters)"
    assert side_by_side(diffs, limit=None)[0][1] == '"' + "x" * 1000 + '"'


def test_sigterm_stops_like_ctrl_c_and_leaves_no_command_running(tmp_path):
    # --command children run in their own session: `timeout` or a closed terminal signals mlmon only.
    import psutil

    proc, out = interrupted_run(tmp_path, "command", sig=signal.SIGTERM)
    assert proc.returncode == 130 and "Traceback" not in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["interrupted"] is True and out.exists()
    model = str(tmp_path / "slow_model.py")
    left = [p for p in psutil.process_iter(["cmdline"]) if model in " ".join(p.info["cmdline"] or [])]
    assert not left
