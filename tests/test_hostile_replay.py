"""Hostile input to ``mlmon replay`` (issue 11): targets, options and models that misbehave.

Each case ends as an outcome of the request, a documented result, or one line on stderr with
exit 2: never a traceback (exit 1, which says "the gate fired"), never mlmon's stdout mixed with a
model's. HTTP targets are real servers on 127.0.0.1; what a model does to the process's stdout is
checked through the installed ``mlmon`` in a subprocess, since typer's runner swaps ``sys.stdout``.
"""

from __future__ import annotations

import functools
import json
import shlex
import sys
import textwrap
from pathlib import Path

import pytest
from replay_servers import ModelServer, free_port, small_log
from test_hostile_input import assert_one_line_error, entry_point, invoke
from test_replay_hostile import entry_point as replay_entry_point

from mlmon.errors import UsageError
from mlmon.logs.mapping import load_mapping
from mlmon.replay.compare import Tolerance
from mlmon.replay.run import Pace
from mlmon.replay.select import Selection
from mlmon.replay.session import TargetSpec, run_replay
from mlmon.replay.targets import SetupError

MAPPING = load_mapping(None)


def replay(*args):
    return invoke("replay", *args)


# --- item 10: --seed beyond what --sample can draw with ---------------------------------------------

@pytest.mark.parametrize("seed,needle", [
    ("999999999999999999999999", "invalid value for --seed: it must be at most 18446744073709551615"),
    ("-1", "invalid value for --seed: it must be at least 0"),
])
def test_a_seed_out_of_range_is_a_usage_error(tmp_path, seed, needle):
    """Item 10: `replay --seed 999999999999999999999999` ended in OverflowError; negative seeds too."""
    assert_one_line_error(replay(small_log(tmp_path), "--dry-run", "--sample", "2", "--seed", seed), needle)


def test_the_ends_of_the_seed_range_draw_a_sample(tmp_path):
    """Item 10: the range is Polars' (unsigned 64-bit); its ends work, and a library caller gets the same check."""
    log = small_log(tmp_path, n=8)
    result = replay(log, "--dry-run", "--sample", "3", "--seed", str(2**64 - 1))
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3
    with pytest.raises(UsageError) as info:
        Selection(sample=3, seed=2**64)
    assert "--seed 18446744073709551616 is out of range: a seed is a whole number from 0 to 18446744073709551615" \
        in str(info.value)


# --- item 10: --target URLs that do not parse, or name no usable host or port ------------------------

BAD_URLS = [
    ("http://[::1", "--target 'http://[::1' is not a valid URL: Invalid IPv6 URL"),
    ("http://127.0.0.1:99999/", "is not a valid URL: its port must be a whole number from 1 to 65535"),
    ("http://127.0.0.1:0/", "is not a valid URL: its port must be a whole number from 1 to 65535"),
    ("http://127.0.0.1:-1/", "its port must be a whole number from 1 to 65535"),
    ("http://127.0.0.1:8000:1/", "its port must be a whole number from 1 to 65535"),
    ("http://[zz]/p", "'zz' does not appear to be an IPv4 or IPv6 address"),
    ("http:///predict", "--target 'http:///predict' names no host"),
    ("http://:8000/predict", "names no host"),
    ("ftp://127.0.0.1/predict", "--target 'ftp://127.0.0.1/predict' is not an http:// or https:// URL"),
    ("file:///etc/passwd", "is not an http:// or https:// URL"),
    ("127.0.0.1:8000", "is not an http:// or https:// URL"),
    ("http://" + "a" * 70 + ".example/", "has a host name that is not valid (label"),
    ("http://a..b/", "has a host name that is not valid (label empty or too long)"),
    ("http://127.0.0.1:1/\x1b[31mred", "--target holds the character \\x1b (character 20), which a URL never holds raw"),
    ("http://127.0.0.1:1/\u202eevil", "--target holds the character \\u202e (character 20)"),
]


@pytest.mark.parametrize("url,needle", BAD_URLS)
def test_a_target_url_that_cannot_be_used_is_one_line_before_anything_is_read(tmp_path, url, needle):
    """Item 10: `--target 'http://[::1'` and `http://127.0.0.1:99999/` ended in ValueError tracebacks;
    so did a port of -1 or 0 (0 was taken for 80), a bracketed host that is no address, and a host
    label over 63 characters (UnicodeError from the resolver). A dry run checks the URL too."""
    for args in (["--target", url], ["--target", url, "--dry-run"]):
        assert_one_line_error(replay(tmp_path / "never-read.jsonl", *args), needle)


def test_a_password_in_a_url_that_does_not_parse_is_not_printed(tmp_path):
    """Item 10 (with the secrets items): the error quotes the URL without its user info or secret query values."""
    for url in ("http://alice:S3CRET-PW@[::1/predict?api_key=K3Y", "http://alice:S3CRET-PW@127.0.0.1:99999/?token=K3Y"):
        result = replay(small_log(tmp_path), "--target", url)
        assert_one_line_error(result, "is not a valid URL")
        assert "S3CRET-PW" not in result.stderr and "K3Y" not in result.stderr


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:99999/"])
def test_bad_target_urls_through_the_entry_point(tmp_path, url):
    """Item 10, as users run it: exit 2 and one line, never a traceback."""
    proc = entry_point("replay", small_log(tmp_path), "--target", url)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("mlmon: error: --target "), proc.stderr


def test_the_library_refuses_a_bad_target_url_as_a_setup_error(tmp_path):
    with pytest.raises(SetupError, match="is not a valid URL: its port must be"):
        run_replay([str(small_log(tmp_path))], mapping=MAPPING, selection=Selection(),
                   target=TargetSpec(url="http://127.0.0.1:70000/"), pace=Pace(), tolerance=Tolerance())


def test_urls_that_are_fine_still_reach_the_server(tmp_path):
    """The checks refuse nothing a server could answer: IPv4 and a path with a space, a query, upper-case scheme."""
    with ModelServer() as server:
        url = f"HTTP://127.0.0.1:{server.port}/pre dict?x=1"
        result = replay(small_log(tmp_path, n=2), "--target", url)
        assert result.exit_code == 0, result.stderr
        assert [r["path"] for r in server.requests] == ["/pre%20dict?x=1"] * 2


# --- other replay options at their extremes (found beside item 10) -----------------------------------

HUGE = "99999999999999999999"


def test_a_huge_limit_replays_everything(tmp_path):
    """Beside item 10: `--limit 99999999999999999999` ended in OverflowError (Polars' head)."""
    result = replay(small_log(tmp_path, n=3), "--dry-run", "--limit", HUGE)
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3


@pytest.mark.parametrize("target", ["async_model", "http"])
def test_a_huge_concurrency_makes_no_more_workers_than_requests(tmp_path, target):
    """Beside item 10: `--concurrency 99999999999999999999` hung making workers, and 1,000,000 took 1.3 GB
    for three requests. Each request gets at most one worker."""
    log = small_log(tmp_path, n=3)
    run = functools.partial(replay_entry_point, log, "--concurrency", HUGE, "--format", "json", timeout=60)
    if target == "http":
        with ModelServer() as server:
            proc = run("--target", server.url)
    else:
        path = tmp_path / "async_model.py"
        path.write_text("async def predict(req):\n    return {'label': 'stay', 'p': 0.1}\n")
        proc = run("--model", f"{path}:predict")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"]["match"] == 3


def test_timeout_inf_waits_as_long_as_it_takes(tmp_path):
    """Beside item 10: `--timeout inf` against an HTTP target ended in OverflowError (aiohttp); it now
    sets no deadline, as it already did for commands and async models."""
    with ModelServer() as server:
        result = replay(small_log(tmp_path, n=2), "--target", server.url, "--timeout", "inf", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["counts"]["match"] == 2


@pytest.mark.parametrize("pid", [HUGE, "-5", "0"])
def test_a_pid_that_no_process_can_have_is_no_such_process(tmp_path, pid):
    """Beside item 10: `--pid 99999999999999999999` ended in OverflowError (os.kill)."""
    with ModelServer() as server:
        result = replay(small_log(tmp_path), "--target", server.url, "--pid", pid)
    assert_one_line_error(result, f"--pid {pid}: no such process")


@pytest.mark.parametrize("option", ["--command", "--serve"])
def test_a_command_line_of_blanks_is_one_line(tmp_path, option):
    """Beside item 10: `--command '  '` (TypeError) and `--serve '  '` (IndexError) ended in tracebacks."""
    target = ["--target", f"http://127.0.0.1:{free_port()}/p"] if option == "--serve" else []
    result = replay(small_log(tmp_path), *target, option, "   ")
    assert_one_line_error(result, f"{option} '   ' names no program to start")


# --- "Smaller": an answer that is not JSON is an error, whatever the target -------------------------

def raw_answer(status: int, body: bytes, headers: dict[str, str] | None = None):
    """A ModelServer behaviour that answers these exact bytes, whatever was asked."""

    def answer(handler, request_body):
        handler.send_response(status)
        for name, value in {"Content-Type": "text/html", "Connection": "close", **(headers or {})}.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        return None  # answered: close the connection

    return answer


PAGE = b"<html><head><title>502 Bad Gateway</title></head>\n<body>\x1b[2J nginx</body></html>" * 20


@pytest.mark.parametrize("status,body,error", [
    (200, PAGE, "HTTP 200 but the answer is not JSON: '<html><head><title>502 Bad Gateway</title></head>\\n<body>\\x1b[2J "
                "nginx</body></html><html><head><title>5'… (1,600 bytes)"),
    (200, b"", "HTTP 200 but the answer is empty"),
    (200, b"  \r\n", "HTTP 200 but the answer is empty"),
    (204, b"", "HTTP 204 but the answer is empty"),
    (200, b"{\"label\": \"stay\"", "HTTP 200 but the answer is not JSON: '{\"label\": \"stay\"'"),
    (200, b"\xff\xfe not utf-8", "HTTP 200 but the answer is not JSON: '\ufffd\ufffd not utf-8'"),
])
def test_an_http_2xx_whose_body_is_not_json_is_an_error(tmp_path, status, body, error):
    """Smaller: an HTTP 200 with an HTML or empty body counted as a mismatch, though the README says an
    answer that is not JSON is an error. It is an error now, quoting the start of the body, escaped and
    redacted, in the table, the JSON and --output."""
    log = small_log(tmp_path, n=2)
    out = tmp_path / "results.jsonl"
    with ModelServer(raw_answer(status, body)) as server:
        result = replay(log, "--target", server.url, "--format", "json", "--output", out)
    assert result.exit_code == 1, result.stderr
    doc = json.loads(result.stdout)
    assert doc["counts"] == {"match": 0, "mismatch": 0, "error": 2, "timeout": 0, "failed_before": 0}
    assert [e["error"] for e in doc["errors"]] == [error, error]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["status"], r["response"], r["error"], r["replay"]["outcome"]) for r in lines] == [
        (status, None, error, "error")] * 2
    assert "\x1b" not in result.stdout + out.read_text()


def test_a_secret_in_a_page_that_is_not_json_is_redacted(tmp_path):
    """Smaller, with the secrets items: the quoted start of a page is cleaned like every error text."""
    with ModelServer(raw_answer(200, b'<p>debug: password=HUNTER2 {"api_key": "T0KEN"}</p>')) as server:
        result = replay(small_log(tmp_path, n=1), "--target", server.url)
    assert "error: request r0: HTTP 200 but the answer is not JSON: '<p>debug: password=[REDACTED]" in result.stdout
    assert "HUNTER2" not in result.stdout and "T0KEN" not in result.stdout


def test_an_html_answer_in_the_table_through_the_entry_point(tmp_path):
    """Smaller, as users run it: the table's error line quotes the page; exit 1 (the gate), no traceback."""
    with ModelServer(raw_answer(200, b"<html>maintenance</html>")) as server:
        proc = entry_point("replay", small_log(tmp_path, n=1), "--target", server.url)
    assert proc.returncode == 1, proc.stderr
    assert "error: request r0: HTTP 200 but the answer is not JSON: '<html>maintenance</html>'" in proc.stdout
    assert proc.stderr == ""


def test_an_error_page_that_is_not_json_stays_an_http_error(tmp_path):
    """Only a 2xx must hold JSON: a 503 page is the error "HTTP 503", as before."""
    with ModelServer(raw_answer(503, b"<html>down</html>")) as server:
        doc = json.loads(replay(small_log(tmp_path, n=1), "--target", server.url, "--format", "json").stdout)
    assert doc["errors"][0]["error"] == "HTTP 503"


def test_a_redirect_to_a_location_that_does_not_parse_is_an_error_not_a_traceback(tmp_path):
    """Hostile target: a Location that is no URL, with a password in it, is quoted with the password hidden."""
    location = "http://bob:L0CATION-PW@[::1/next"
    with ModelServer(raw_answer(302, b"", {"Location": location})) as server:
        result = replay(small_log(tmp_path, n=1), "--target", server.url, "--format", "json")
    assert result.exit_code == 1, result.stderr
    error = json.loads(result.stdout)["errors"][0]["error"]
    assert error == "HTTP 302: a redirect, which replay does not follow; Location: http://[REDACTED]@[::1/next"


def command_file(tmp_path: Path, body: str) -> str:
    path = tmp_path / "model_cmd.py"
    path.write_text(textwrap.dedent(body))
    return shlex.join([sys.executable, str(path)])


def test_a_command_answering_a_line_that_is_not_json_is_an_error(tmp_path):
    """Smaller, for commands alike: the same words as for HTTP targets; a blank line is an empty answer."""
    command = command_file(tmp_path, """
        import sys
        for n, line in enumerate(sys.stdin):
            print(["<html>oops</html>", "", "{\\"label\\": \\"stay\\", \\"p\\": 0.1}"][n % 3], flush=True)
    """)
    result = replay(small_log(tmp_path, n=3), "--command", command, "--format", "json")
    doc = json.loads(result.stdout)
    assert doc["counts"]["error"] == 2 and doc["counts"]["match"] == 1
    assert [e["error"] for e in doc["errors"]] == ["the answer is not JSON: '<html>oops</html>'",
                                                   "the answer is empty"]


def test_a_model_returning_what_json_cannot_hold_is_an_error(tmp_path):
    """Smaller: --model was already right (the answer is checked before it is compared); kept so."""
    path = tmp_path / "bytes_model.py"
    path.write_text("def predict(req):\n    return b'<html>'\n")
    doc = json.loads(replay(small_log(tmp_path, n=1), "--model", f"{path}:predict", "--format", "json").stdout)
    assert doc["errors"][0]["error"] == "the answer is not JSON: bytes at $"


# --- "Smaller": what a --command writes to stderr -----------------------------------------------------

def test_a_command_that_writes_much_to_stderr_is_neither_blocked_nor_shown(tmp_path):
    """Smaller (a command's stderr, "check what happens today"): it was piped and read only when the
    command died, so mlmon buffered it all, and past 128 MB the command blocked on a full pipe and
    every later request timed out. Now mlmon reads it as it comes and keeps only its last 4,000 bytes
    (to say why the command died); like --serve's output, it is not shown."""
    command = command_file(tmp_path, """
        import json, sys
        for line in sys.stdin:
            sys.stderr.buffer.write((b"x" * 1023 + b"\\n") * 140_000)  # 140 MB of log lines
            sys.stderr.flush()
            print(json.dumps({"label": "stay", "p": 0.1}), flush=True)
    """)
    proc = entry_point("replay", small_log(tmp_path, n=1), "--command", command, "--timeout", "30", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"]["match"] == 1
    assert proc.stderr == ""


# --- "Smaller": a model that prints, closes or replaces the process's stdout and stderr --------------

HOSTILE_MODEL = '''
import os, sys, threading, time

print("model: imported")  # at import, before mlmon prints anything
ANSWER = {"label": "stay", "p": 0.1}


class Broken:
    """A stream that raises on every use."""

    def write(self, text):
        raise RuntimeError("broken stream")

    def flush(self):
        raise RuntimeError("broken flush")


def prints(req):
    print("model: called with", req)
    return ANSWER


def writes_descriptor_1(req):
    os.write(1, b"model: os.write(1)\\n")
    sys.__stdout__.write("model: sys.__stdout__\\n")
    return ANSWER


def closes_stdout(req):
    sys.stdout.close()
    return ANSWER


def closes_stderr(req):
    sys.stderr.close()
    return ANSWER


def breaks_stdout(req):
    sys.stdout = Broken()
    return ANSWER


def breaks_stderr(req):
    sys.stderr = Broken()
    return ANSWER


def unsets_both(req):
    sys.stdout = sys.stderr = None
    return ANSWER


def closes_descriptors(req):
    for fd in (1, 2):
        try:
            os.close(fd)
        except OSError:
            pass  # closed by the call before
    return ANSWER


_STANDARD = {fd: (os.fstat(fd).st_dev, os.fstat(fd).st_ino) for fd in (1, 2)}  # at import: mlmon's own


def closes_descriptors_and_waits(req):
    # each call first finds 1 and 2 as mlmon had them (mended after the call before), or answers otherwise
    for fd, identity in _STANDARD.items():
        try:
            if (os.fstat(fd).st_dev, os.fstat(fd).st_ino) != identity:
                return {"descriptor": fd, "is": "another file"}
        except OSError:
            return {"descriptor": fd, "is": "closed"}
    closes_descriptors(req)
    time.sleep(0.25)  # 2.5 of the resource sampler's intervals: it would open /proc files on 1 and 2 meanwhile
    return ANSWER


def reopens_descriptor_1(req):
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    return ANSWER


def _spam():
    while True:
        time.sleep(0.0005)
        print("model: a thread still printing", flush=True)
        os.write(1, b"model: a thread writing to descriptor 1\\n")


async def prints_async(req):
    print("model: awaited with", req)
    return ANSWER


def leaves_a_thread_printing(req):
    if not getattr(leaves_a_thread_printing, "started", False):
        leaves_a_thread_printing.started = True
        threading.Thread(target=_spam, daemon=True).start()
    return ANSWER
'''

STREAM_BREAKERS = ["prints", "writes_descriptor_1", "closes_stdout", "closes_stderr", "breaks_stdout",
                   "breaks_stderr", "unsets_both", "closes_descriptors", "closes_descriptors_and_waits",
                   "reopens_descriptor_1",
                   "leaves_a_thread_printing"]


@pytest.fixture
def hostile_model(tmp_path) -> str:
    path = tmp_path / "hostile_streams.py"
    path.write_text(HOSTILE_MODEL)
    return str(path)


def no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr and "Error" not in stderr.replace("mlmon: error", ""), stderr


@pytest.mark.parametrize("function", STREAM_BREAKERS)
def test_stdout_carries_only_the_summary_whatever_the_model_does_to_it(tmp_path, hostile_model, function):
    """Smaller: a model that printed (at import or per call) corrupted `replay --format json`, and one
    that closed sys.stdout ended in a traceback. The model's stdout now goes to stderr, whatever route
    it takes (print, descriptor 1, sys.__stdout__, a thread left printing after the call); closed,
    replaced and broken streams are put back after the model ran, and mlmon prints its summary."""
    log = small_log(tmp_path, n=3)
    proc = entry_point("replay", log, "--model", f"{hostile_model}:{function}", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # the whole of stdout is the one document
    assert doc["counts"]["match"] == 3
    no_traceback(proc.stderr)
    assert proc.stderr.startswith("model: imported\n")
    if function == "prints":
        assert "model: called with {'i': 2, 'country': 'DE'}\n" in proc.stderr
    if function == "writes_descriptor_1":
        assert proc.stderr.count("model: os.write(1)\n") == 3 and proc.stderr.count("model: sys.__stdout__\n") == 3


@pytest.mark.parametrize("function", STREAM_BREAKERS)
def test_output_dash_stays_json_lines_and_the_summary_reaches_stderr(tmp_path, hostile_model, function):
    """Smaller: the `--output -` stream is stdout too; its summary goes to stderr, which the model may
    have closed or replaced, and still shows."""
    proc = entry_point("replay", small_log(tmp_path, n=3), "--model", f"{hostile_model}:{function}", "--output", "-")
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["replay"]["outcome"] for r in results] == ["match"] * 3
    assert "OK: replayed 3 requests against" in proc.stderr
    no_traceback(proc.stderr)


def test_an_async_model_printing_at_concurrency_3(tmp_path, hostile_model):
    """Smaller: the event loop's path (async functions, --concurrency) is kept apart the same way."""
    proc = entry_point("replay", small_log(tmp_path, n=6), "--model", f"{hostile_model}:prints_async",
                       "--concurrency", "3", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"]["match"] == 6
    assert proc.stderr.count("model: awaited with") == 6


def test_closed_descriptors_at_concurrency_2_too(tmp_path, hostile_model):
    """Smaller: a sync model at --concurrency 2 runs on the event loop's path; descriptors it closes are
    mended after each call there as well (flaky before: the resource sampler's /proc file took
    descriptor 2, and mlmon's next write to stderr failed, or dup2 answered EBUSY)."""
    proc = entry_point("replay", small_log(tmp_path, n=3), "--model", f"{hostile_model}:closes_descriptors_and_waits",
                       "--concurrency", "2", "--output", "-")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 3 and "OK: replayed 3 requests against" in proc.stderr
    no_traceback(proc.stderr)


def test_the_table_is_clean_too(tmp_path, hostile_model):
    """Smaller: the table on stdout holds no line of the model's."""
    proc = entry_point("replay", small_log(tmp_path, n=2), "--model", f"{hostile_model}:prints")
    assert proc.returncode == 0 and proc.stdout.startswith("OK: replayed 2 requests against")
    assert "model:" not in proc.stdout and proc.stderr.count("model: called with") == 2


def test_a_model_that_breaks_stderr_at_import_still_lets_mlmon_warn(tmp_path):
    """Smaller: what a module does to the streams at import is undone before mlmon prints its reading
    notes (here, a bad log line skipped), which come after the import."""
    path = tmp_path / "breaks_at_import.py"
    path.write_text("import os, sys\nsys.stderr.close()\nos.close(1)\nsys.stdout = None\n"
                    "def predict(req):\n    return {'label': 'stay', 'p': 0.1}\n")
    log = small_log(tmp_path, n=2)
    log.write_text(log.read_text() + "not json\n")
    proc = entry_point("replay", log, "--model", f"{path}:predict", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"]["match"] == 2
    assert "mlmon: skipped 1 bad log line" in proc.stderr
    no_traceback(proc.stderr)


def test_a_model_that_writes_to_descriptor_1_when_stdout_was_closed_before_mlmon_started(tmp_path):
    """Smaller ("if stdout is really gone"): `mlmon replay … >&-` exits with the gate's code, no traceback.
    Descriptor 1 then leads to stderr, so what the model writes there never lands in a file mlmon
    opens later (the --output file would have taken descriptor 1). print() does nothing, as Python
    makes it with no stdout."""
    import os
    import subprocess

    from test_hostile_input import MLMON

    path = tmp_path / "fd1_model.py"
    path.write_text("import os\ndef predict(req):\n    print('model: print')\n"
                    "    os.write(1, b'model: descriptor 1\\n')\n    return {'label': 'stay', 'p': 0.1}\n")
    out = tmp_path / "results.jsonl"
    proc = subprocess.run([MLMON, "replay", str(small_log(tmp_path, n=2)), "--model", f"{path}:predict",
                           "--output", str(out)], stderr=subprocess.PIPE, text=True, timeout=120,
                          preexec_fn=lambda: os.close(1))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "model: descriptor 1\n" * 2
    assert [json.loads(line)["replay"]["outcome"] for line in out.read_text().splitlines()] == ["match", "match"]


def test_through_the_runner_the_model_prints_to_stderr_too(tmp_path, hostile_model):
    """Smaller, in process (typer's runner, whose stdout has no descriptor): the same split."""
    result = replay(small_log(tmp_path, n=2), "--model", f"{hostile_model}:prints", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["counts"]["match"] == 2
    assert result.stderr.count("model: called with") == 2


def test_a_command_answering_a_line_longer_than_64_mb_is_an_error_and_restarts(tmp_path):
    """Hostile target: a line past the 64 MB the reader takes ended in a ValueError traceback. It is
    an error of that request, and the command is restarted, since the rest of the line would be
    taken for the next answer."""
    command = command_file(tmp_path, """
        import json, sys
        for line in sys.stdin:
            if json.loads(line)["i"] == 0:
                sys.stdout.write('"' + "x" * (65 * 1024 * 1024) + '"\\n')
            else:
                print(json.dumps({"label": "stay", "p": 0.1}))
            sys.stdout.flush()
    """)
    result = replay(small_log(tmp_path, n=2), "--command", command, "--format", "json")
    doc = json.loads(result.stdout)
    assert doc["counts"]["error"] == 1 and doc["counts"]["match"] == 1
    assert doc["errors"][0]["error"] == "the answer is a line longer than 64 MB, more than replay reads"


# --- answers holding lone surrogates, which no UTF-8 output can carry raw ---------------------------

def test_a_lone_surrogate_in_an_answer_is_written_as_a_json_escape_everywhere(tmp_path):
    """Hostile model and target: an answer holding "\\udcff" (a model's str, or a JSON escape a server
    sent) made `--output FILE` end in UnicodeEncodeError and put bytes that are not UTF-8 into the
    JSON summary. JSON outputs now write it as the escape \\udcff (the same value), the table as text."""
    path = tmp_path / "surrogate_model.py"
    path.write_text("def predict(req):\n    return {'label': '\\udcff', 'p': 0.1}\n")
    log = small_log(tmp_path, n=1)
    out = tmp_path / "results.jsonl"
    proc = entry_point("replay", log, "--model", f"{path}:predict", "--format", "json", "--output", out,
                       env={"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"})
    assert proc.returncode == 1, proc.stderr
    diff = json.loads(proc.stdout)["mismatches"][0]["diff"]
    assert diff == [{"path": "label", "logged": "stay", "replayed": "\udcff", "missing": None}]
    assert '"replayed": "\\udcff"' in proc.stdout
    assert json.loads(out.read_text())["response"] == {"label": "\udcff", "p": 0.1}
    with ModelServer(raw_answer(200, b'{"label": "\\udcff", "p": 0.1}')) as server:
        proc = entry_point("replay", log, "--target", server.url, env={"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"})
    assert proc.returncode == 1, proc.stderr
    assert 'label   "stay"   "\\udcff"' in proc.stdout


def test_a_location_header_that_is_not_utf8_is_escaped(tmp_path):
    """Hostile target: a redirect whose Location holds a byte that is not UTF-8 reached the output raw."""
    with ModelServer(raw_answer(302, b"", {"Location": "http://x/\xff\x1b[31m"})) as server:
        proc = entry_point("replay", small_log(tmp_path, n=1), "--target", server.url, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    error = json.loads(proc.stdout)["errors"][0]["error"]
    assert error == "HTTP 302: a redirect, which replay does not follow; Location: http://x/\\udcff\\x1b[31m"


def test_a_model_that_sends_its_prints_to_a_file_of_its_own_keeps_doing_so(tmp_path):
    """Smaller: only what a model closed or broke is put back; a working stream it set stays its own."""
    own_log = tmp_path / "model_own.log"
    path = tmp_path / "tee_model.py"
    path.write_text(f"import sys\nsys.stdout = open({str(own_log)!r}, 'w', buffering=1)\n"
                    "def predict(req):\n    print('model: to my own log', req['i'])\n"
                    "    return {'label': 'stay', 'p': 0.1}\n")
    proc = entry_point("replay", small_log(tmp_path, n=2), "--model", f"{path}:predict", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"]["match"] == 2 and proc.stderr == ""
    assert own_log.read_text() == "model: to my own log 0\nmodel: to my own log 1\n"
