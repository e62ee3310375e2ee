"""``mlmon replay`` on the command line: typer's runner, and the installed entry point in a subprocess."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ROOT, SAMPLE_LOGS, record, write_jsonl
from mlmon.cli import app
from replay_servers import (
    ANSWER,
    DEMO_MODEL,
    ModelServer,
    churn_records,
    firing_windows_by_hand,
    free_port,
    listening,
    processes_with,
    small_log,
    start_demo_server,
    stop,
)

runner = CliRunner()
MLMON = str(Path(sys.executable).parent / "mlmon")
CHURN = str(SAMPLE_LOGS / "churn.jsonl.gz")
RULES = str(ROOT / "rules.example.yaml")
V2_OK = 'model_version == "v2" and status == 200'
SUMMARY_KEYS = ["mlmon_version", "target", "requests", "skipped_without_request", "interrupted", "not_replayed",
                "counts", "rates", "failed", "fail_over", "seconds", "throughput_rps", "latency_ms", "resources",
                "mismatches", "mismatches_truncated", "errors", "errors_truncated",
                "include_failed", "gate_rates", "failed_before"]  # added after 0.1.0: keys are only ever added


def invoke(*args):
    return runner.invoke(app, ["replay", *map(str, args)])


def run(*args, cwd=None, timeout=60):
    """The installed ``mlmon`` in a subprocess, as a user or CI runs it."""
    env = {**os.environ, "COLUMNS": "100"}
    env.pop("FORCE_COLOR", None)
    return subprocess.run([MLMON, "replay", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)


def doc_of(result) -> dict:
    doc = json.loads(result.stdout)
    assert list(doc) == SUMMARY_KEYS
    return doc


def one_error_line(stderr: str, message: str) -> None:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("mlmon: error: ") and message in lines[0], stderr


# --- the demo -------------------------------------------------------------------------------------


def test_demo_churn_v2_matches_all_its_own_traffic_through_the_entry_point():
    proc = run(CHURN, "--where", V2_OK, "--model", f"{DEMO_MODEL}:churn_v2", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    expected = sum(1 for r in churn_records() if r["model_version"] == "v2" and r["status"] == 200)
    assert doc["requests"] == expected > 3000
    assert doc["counts"] == {"match": expected, "mismatch": 0, "error": 0, "timeout": 0, "failed_before": 0}
    assert doc["rates"]["match"] == 1.0 and doc["failed"] is False
    assert doc["mismatches"] == [] and doc["errors"] == []
    assert proc.stderr == ""


def test_demo_candidate_shows_mismatches_and_exits_1():
    result = invoke(CHURN, "--where", V2_OK, "--limit", 200, "--model", f"{DEMO_MODEL}:churn_candidate", "--show", 2)
    assert result.exit_code == 1
    out = result.stdout
    assert out.startswith("FAILED: replayed 200 requests against ")
    assert out.count("mismatch: request ") == 2
    assert "churn_probability" in out
    n = doc_of(invoke(CHURN, "--where", V2_OK, "--limit", 200, "--model", f"{DEMO_MODEL}:churn_candidate",
                      "--format", "json"))["counts"]["mismatch"]
    assert 0 < n < 200
    assert f"{n - 2:,} more mismatches; --output FILE writes every result." in out


def test_demo_churn_v1_mismatches():
    result = invoke(CHURN, "--where", V2_OK, "--limit", 200, "--model", f"{DEMO_MODEL}:churn_v1", "--format", "json")
    assert result.exit_code == 1
    doc = doc_of(result)
    assert doc["counts"]["match"] == 0 and doc["counts"]["mismatch"] + doc["counts"]["error"] == 200
    assert doc["failed"] is True
    assert {d["path"] for m in doc["mismatches"] for d in m["diff"]} >= {"churn_probability"}


def test_demo_over_http_with_a_server_started_by_hand():
    proc, port = start_demo_server("churn_candidate")
    try:
        result = invoke(CHURN, "--where", V2_OK, "--limit", 30, "--target", f"http://127.0.0.1:{port}/predict",
                        "--pid", proc.pid, "--rate", 60, "--format", "json")
    finally:
        stop(proc)
    assert result.exit_code == 1, result.stderr
    doc = doc_of(result)
    assert doc["counts"]["mismatch"] > 0 and doc["counts"]["error"] == 0
    assert doc["resources"]["samples"] > 0 and doc["resources"]["memory_mb_max"] > 1


def incident_by_hand() -> tuple[list[str], list[str], list[str]]:
    """The requests of the churn-error-spike windows (plain Python over the log): all of them, those that
    failed when logged, and those of these that demo churn_v2, called directly, fails on again."""
    import runpy

    churn_v2 = runpy.run_path(str(DEMO_MODEL))["churn_v2"]
    _, chosen = firing_windows_by_hand()
    by_id = {r["request_id"]: r for r in churn_records()}
    failed = [i for i in chosen if by_id[i]["status"] >= 400 or by_id[i]["error"] is not None]

    def fails(body: dict) -> bool:
        try:
            churn_v2(body)
        except Exception:
            return True
        return False

    return chosen, failed, [i for i in failed if fails(by_id[i]["request"])]


def test_the_model_that_served_the_incident_passes_the_gate_through_the_entry_point():
    chosen, failed, again = incident_by_hand()
    assert len(failed) == 19 and len(again) == 1  # the sample incident: 17 5xx, a 400 and a 422; the 422 fails again
    args = (CHURN, "--alert", "churn-error-spike", "--rules", RULES, "--model", f"{DEMO_MODEL}:churn_v2")
    proc = run(*args, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    n = len(chosen)
    assert doc["counts"] == {"match": n - len(failed), "mismatch": 0, "error": 0, "timeout": 0,
                             "failed_before": len(failed)}
    assert doc["failed"] is False and doc["include_failed"] is False
    assert doc["gate_rates"] == {"mismatch": 0.0, "error": 0.0}
    before = doc["failed_before"]
    assert (before["reproduced"], before["answered"]) == (len(again), len(failed) - len(again))
    assert [r["request_id"] for r in before["requests"]] == again + [i for i in failed if i not in again][:4]
    assert before["requests"][0]["traceback"].endswith("\nTypeError: unsupported operand type(s) for -: "
                                                       "'NoneType' and 'float'")
    # --include-failed gates them as before: answered now is a mismatch, failed again an error.
    proc = run(*args, "--format", "json", "--include-failed")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["failed"] is True and doc["include_failed"] is True
    assert doc["gate_rates"] == pytest.approx({"mismatch": (len(failed) - len(again)) / n, "error": len(again) / n},
                                              rel=1e-11)  # JSON keeps 12 significant digits


def test_the_table_says_what_failed_before_and_shows_the_models_traceback():
    _, failed, again = incident_by_hand()
    generate = (ROOT / "sample_logs" / "generate.py").read_text().splitlines()
    line = next(i for i, text in enumerate(generate, 1) if '+ 0.06 * (features["monthly_charges"] - 60.0)' in text)
    args = (CHURN, "--alert", "churn-error-spike", "--rules", RULES, "--model", "demo/model.py:churn_v2")
    proc = run(*args, "--show", 2, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    words = " ".join(out.split())  # however the terminal width wraps the sentences
    assert out.startswith("OK: replayed 580 requests against demo/model.py:churn_v2")
    assert "19 requests had failed when logged (status 400 or more, or an error): 1 failed again, 18 are " \
           "answered now; the gate leaves them out (--include-failed counts them)." in words
    shown = [text for text in out.splitlines() if text.startswith("failed_before: request ")]
    assert [text.split()[2].rstrip(",") for text in shown] == (again + failed)[:2]
    assert ", logged 422: failed again: TypeError:" in shown[0]
    # The last three frames of the model's traceback, below the error, as Python prints them.
    assert f'  File "sample_logs/generate.py", line {line}, in churn_logit\n' \
           f'    + 0.06 * (features["monthly_charges"] - 60.0)\n' in out
    assert out.count('  File "') == 3
    assert "17 more requests that failed before; --output FILE writes every result." in words
    included = run(*args, "--include-failed", "--show", 0, cwd=ROOT)
    assert included.returncode == 1
    assert "the gate counts them (--include-failed): mismatch rate 3.10%, error rate 0.17%." in \
        " ".join(included.stdout.split())
    assert 'File "' not in included.stdout  # --show 0 shows no error, so no traceback either


def test_failed_before_against_a_real_server_through_the_cli(tmp_path):
    log = write_jsonl(tmp_path / "f.jsonl", [
        record(ts="2026-11-27T10:00:00Z", request_id="ok", request={"kind": "ok"}),
        record(ts="2026-11-27T10:00:01Z", request_id="was503", request={"kind": "was503"}, status=503,
               response=None, error="upstream timeout"),
        record(ts="2026-11-27T10:00:02Z", request_id="was500", request={"kind": "was500"}, status=500,
               response={"error": "boom"}, error="boom"),
    ])

    def behave(handler, body):  # the 503 is answered now; the 500 fails again, with another body
        return (500, {"error": "still broken"}) if body["kind"] == "was500" else (200, ANSWER)

    out = tmp_path / "results.jsonl"
    with ModelServer(behave) as server:
        left_out = invoke(log, "--target", server.url, "-o", out)
        included = invoke(log, "--target", server.url, "--include-failed", "-f", "json")
    assert left_out.exit_code == 0, left_out.stderr
    assert left_out.stdout.startswith("OK: replayed 3 requests")
    words = " ".join(left_out.stdout.split())
    assert "failed_before: request was500, logged 500 (boom): failed again: HTTP 500" in words
    assert "failed_before: request was503, logged 503 (upstream timeout): answered now" in words
    rows = {r["request_id"]: r["replay"] for r in map(json.loads, out.read_text().splitlines())}
    assert {k: (r["outcome"], r["reproduced"]) for k, r in rows.items()} == \
        {"ok": ("match", None), "was503": ("failed_before", False), "was500": ("failed_before", True)}
    assert included.exit_code == 1
    doc = doc_of(included)
    assert doc["counts"]["failed_before"] == 2 and doc["gate_rates"] == pytest.approx({"mismatch": 2 / 3, "error": 0.0}, rel=1e-11)


def test_show_prints_the_last_frames_of_a_model_traceback_and_output_keeps_them_all(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a model file below the current directory shows by its relative path
    model = Path("nested.py")
    model.write_text("def predict(x):\n    return a(x)\ndef a(x):\n    return b(x)\ndef b(x):\n    return c(x)\n"
                     "def c(x):\n    return d(x)\ndef d(x):\n    return 1 / 0\n")
    out = tmp_path / "results.jsonl"
    result = invoke(small_log(tmp_path, n=2), "--model", f"{model}:predict", "--show", 1, "-o", out)
    assert result.exit_code == 1
    frames = [line.strip() for line in result.stdout.splitlines() if line.startswith("  File ")]
    assert frames == [f'File "{model}", line {n}, in {f}' for n, f in ((6, "b"), (8, "c"), (10, "d"))]
    assert "error: request r0: ZeroDivisionError: division by zero\n" in result.stdout
    assert "    return 1 / 0\n" in result.stdout and "request r1" not in result.stdout
    for row in map(json.loads, out.read_text().splitlines()):
        assert row["replay"]["traceback"].splitlines() == [
            "Traceback (most recent call last):",
            *[text for n, f, code in ((2, "predict", "return a(x)"), (4, "a", "return b(x)"), (6, "b", "return c(x)"),
                                      (8, "c", "return d(x)"), (10, "d", "return 1 / 0"))
              for text in (f'  File "{model}", line {n}, in {f}', f"    {code}")],
            "ZeroDivisionError: division by zero"]


# --- choosing through the CLI -----------------------------------------------------------------------


def dry_ids(result) -> list[str]:
    return [json.loads(line)["request_id"] for line in result.stdout.splitlines()]


def test_alert_through_the_entry_point_picks_only_the_firing_window():
    _, expected = firing_windows_by_hand()
    proc = run(CHURN, "--alert", "churn-error-spike", "--rules", RULES, "--model", f"{DEMO_MODEL}:churn_v2",
               "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert dry_ids(proc) == expected
    by_id = {r["request_id"]: r for r in churn_records()}
    assert {(by_id[i]["model"], by_id[i]["model_version"]) for i in expected} == {("churn", "v2")}
    assert all("2026-11-26T14:00" <= by_id[i]["ts"] < "2026-11-26T15:00" for i in expected)
    assert proc.stderr.strip() == f"mlmon: dry run: {len(expected)} requests would be sent to " \
                                  f"{DEMO_MODEL}:churn_v2; nothing was sent"


def test_request_id_since_until_limit_sample_on_the_command_line(tmp_path):
    times = ["10:00", "10:30", "11:00", "11:30", "12:00"]
    log = write_jsonl(tmp_path / "times.jsonl", [record(ts=f"2026-11-27T{t}:00Z", request_id=t) for t in times])
    model = ("--model", f"{DEMO_MODEL}:churn_v2", "--dry-run")
    assert dry_ids(invoke(log, "--request-id", "11:30", "--request-id", "10:00", *model)) == ["10:00", "11:30"]
    assert dry_ids(invoke(log, "--since", "2026-11-27T10:30:00Z", "--until", "2026-11-27T11:30:00Z", *model)) == \
        ["10:30", "11:00"]
    assert dry_ids(invoke(log, "--since", "1h", "--now", "2026-11-27T12:00:00Z", *model)) == ["11:00", "11:30", "12:00"]
    assert dry_ids(invoke(log, "--limit", 2, *model)) == ["10:00", "10:30"]
    first = dry_ids(invoke(log, "--sample", 3, "--seed", 7, *model))
    assert first == dry_ids(invoke(log, "--sample", 3, "--seed", 7, *model)) and len(first) == 3
    assert first == sorted(first)
    assert dry_ids(invoke(log, "--where", 'status == 200 and input.country == "DE"', "--limit", 1, *model)) == ["10:00"]


def test_sample_seeds_on_the_sample_logs():
    args = (CHURN, "--where", 'model_version == "v2"', "--model", f"{DEMO_MODEL}:churn_v2", "--dry-run", "--sample", 10)
    one, same, other = (dry_ids(invoke(*args, "--seed", s)) for s in (1, 1, 2))
    assert one == same and one != other and len(one) == len(other) == 10


# --- targets through the CLI ---------------------------------------------------------------------------


def test_http_target_with_headers_through_the_cli(tmp_path):
    log = write_jsonl(tmp_path / "h.jsonl", [
        record(ts=f"2026-11-27T10:00:0{i}Z", request_id=f"h{i}", request={"i": i},
               headers={"Authorization": "Bearer logged", "Cookie": "s=1"}) for i in range(10)])
    with ModelServer() as server:
        result = invoke(log, "--target", server.url, "-H", "X-Debug: 1", "--header", "X-Team: ml", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert doc_of(result)["counts"]["match"] == 10
    assert server.bodies == [{"i": i} for i in range(10)]
    for got in server.requests:
        assert got["headers"]["X-Debug"] == "1" and got["headers"]["X-Team"] == "ml"
        assert not {"authorization", "cookie"} & {k.lower() for k in got["headers"]}
    assert len(server.connections_with_requests) == 1  # keep-alive at --concurrency 1


def test_a_content_type_header_replaces_the_default(tmp_path):
    with ModelServer() as server:
        result = invoke(small_log(tmp_path, n=1), "--target", server.url, "-H", "content-type: application/x-test")
    assert result.exit_code == 0
    values = [v for k, v in server.requests[0]["headers"].items() if k.lower() == "content-type"]
    assert values == ["application/x-test"]


def test_http_failures_through_the_cli(tmp_path):
    log = small_log(tmp_path, n=2)
    with ModelServer("status500") as server:
        result = invoke(log, "--target", server.url)
    assert result.exit_code == 1
    assert "error: request r0: HTTP 500" in result.stdout
    with ModelServer("hang") as server:
        result = invoke(log, "--target", server.url, "--timeout", 0.3, "--format", "json")
    assert result.exit_code == 1
    doc = doc_of(result)
    assert doc["counts"]["timeout"] == 2 and doc["rates"]["timeout"] == 1.0
    assert doc["errors"][0] == {"request_id": "r0", "outcome": "timeout", "error": "no answer within 0.3s",
                             "traceback": None}
    with ModelServer("close") as server:
        doc = doc_of(invoke(log, "--target", server.url, "--timeout", 2, "--format", "json"))
    assert doc["counts"]["error"] == 2 and "Server disconnected" in doc["errors"][0]["error"]


def test_unreachable_target_exits_2_with_one_line_through_the_entry_point(tmp_path):
    port = free_port()
    proc = run(small_log(tmp_path), "--target", f"http://127.0.0.1:{port}/predict")
    assert proc.returncode == 2
    one_error_line(proc.stderr, f"cannot connect to 127.0.0.1:{port} for --target http://127.0.0.1:{port}/predict")
    assert proc.stdout == ""


def test_serve_through_the_entry_point_starts_and_stops_the_demo_server():
    port = free_port()
    serve = shlex.join([sys.executable, str(DEMO_MODEL), "--port", str(port), "--model", "churn_v2"])
    proc = run(CHURN, "--where", V2_OK, "--limit", 15, "--target", f"http://127.0.0.1:{port}/predict",
               "--serve", serve, "--rate", 50)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"OK: replayed 15 requests against http://127.0.0.1:{port}/predict")
    assert "target resources: CPU mean" in proc.stdout
    assert not listening(port)
    assert processes_with(str(DEMO_MODEL), f"--port {port}") == []


def test_model_module_function_from_the_current_directory(tmp_path):
    (tmp_path / "my_replay_model.py").write_text(textwrap.dedent("""
        import asyncio

        def predict(x):
            return {"label": "stay", "p": 0.1}

        async def apredict(x):
            await asyncio.sleep(0)
            return {"label": "stay", "p": 0.1}
    """))
    proc = run(small_log(tmp_path), "--model", "my_replay_model:apredict", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"]["match"] == 5
    result = invoke(small_log(tmp_path), "--model", "my_replay_model:predict")  # not importable from here
    assert result.exit_code == 2 and "No module named 'my_replay_model'" in result.stderr


def test_command_target_through_the_cli(tmp_path):
    model = tmp_path / "jsonl_model.py"
    model.write_text(textwrap.dedent("""
        import json, sys
        for line in sys.stdin:
            json.loads(line)
            print(json.dumps({"label": "stay", "p": 0.1}), flush=True)
    """))
    result = invoke(small_log(tmp_path), "--command", shlex.join([sys.executable, str(model)]), "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert doc_of(result)["counts"]["match"] == 5


# --- setup errors: exit 2, one line ------------------------------------------------------------------


def setup_error_cases(tmp_path: Path) -> dict[str, tuple[list, str]]:
    (tmp_path / "raises_at_import.py").write_text("raise RuntimeError('weights missing')\n")
    (tmp_path / "fine.py").write_text("def predict(x):\n    return x\n")
    (tmp_path / "dies.py").write_text("import sys\nsys.stderr.write('cannot load weights\\n')\nsys.exit(3)\n")
    (tmp_path / "crashes.py").write_text(textwrap.dedent("""
        import json, sys
        for n, line in enumerate(sys.stdin):
            if n == 1:
                raise RuntimeError("model exploded")
            print(json.dumps({"label": "stay", "p": 0.1}), flush=True)
    """))
    py = sys.executable
    return {
        "no target": ([], "name exactly one target"),
        "two targets": (["--model", f"{tmp_path}/fine.py:predict", "--command", "cat"], "name exactly one target"),
        "module raising at import": (["--model", f"{tmp_path}/raises_at_import.py:predict"],
                                     "RuntimeError: weights missing"),
        "missing attribute": (["--model", f"{tmp_path}/fine.py:nope"], "has no attribute 'nope'"),
        "missing file": (["--model", f"{tmp_path}/absent.py:predict"], "does not exist"),
        "command exits at once": (["--command", f"{py} {tmp_path}/dies.py"], "died (exit code 3): cannot load weights"),
        "command crashes mid-run": (["--command", f"{py} {tmp_path}/crashes.py"],
                                    "died (exit code 1): RuntimeError: model exploded"),
        "command not found": (["--command", "replay-test-no-such-binary"], "cannot start --command"),
        "alert without rules": (["--model", f"{tmp_path}/fine.py:predict", "--alert", "x"], "--alert needs --rules"),
        "unknown rule": (["--model", f"{tmp_path}/fine.py:predict", "--alert", "x", "--rules", RULES],
                         "no rule named 'x'"),
        "bad header": (["--target", "http://127.0.0.1:9/", "-H", "NoColon"], "needs the form 'Name: value'"),
        "bad where": (["--model", f"{tmp_path}/fine.py:predict", "--where", "status = 500"], "use == to compare"),
        "rate and speed": (["--model", f"{tmp_path}/fine.py:predict", "--rate", "1", "--speed", "1"],
                           "either --rate or --speed"),
        "pid without target": (["--model", f"{tmp_path}/fine.py:predict", "--pid", "1"], "go with --target"),
        "since after until": (["--model", f"{tmp_path}/fine.py:predict", "--since", "2026-11-28T00:00:00Z",
                               "--until", "2026-11-27T00:00:00Z"], "--since must be earlier than --until"),
        "not a URL": (["--target", "127.0.0.1:8000"], "is not an http:// or https:// URL"),
    }


def test_setup_errors_exit_2_with_one_line(tmp_path):
    log = small_log(tmp_path)
    for name, (args, message) in setup_error_cases(tmp_path).items():
        result = invoke(log, *args)
        assert result.exit_code == 2, (name, result.stdout, result.exception)
        assert result.stdout == "", name
        assert "Traceback" not in result.stderr, name
        assert result.stderr.strip().splitlines()[-1].startswith("mlmon: error: "), (name, result.stderr)
        assert message in result.stderr, (name, result.stderr)


def test_setup_error_through_the_entry_point(tmp_path):
    args, message = setup_error_cases(tmp_path)["module raising at import"]
    proc = run(small_log(tmp_path), *args)
    assert proc.returncode == 2
    one_error_line(proc.stderr, message)


def test_where_on_an_unknown_field_is_a_clear_error(tmp_path):
    result = invoke(small_log(tmp_path), "--where", "foo == 1", "--model", f"{DEMO_MODEL}:churn_v2")
    assert result.exit_code == 2, repr(result.exception)
    assert result.stderr.startswith("mlmon: error: --where names 'foo', which is not a record field. ")
    assert "input.FIELD / output.FIELD" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize("where", ["status", "latency_ms * 2"])
def test_where_that_is_not_a_condition_is_a_clear_error(tmp_path, where):
    result = invoke(small_log(tmp_path), "--where", where, "--model", f"{DEMO_MODEL}:churn_v2")
    assert result.exit_code == 2, repr(result.exception)
    assert result.stderr == "mlmon: error: --where must be a condition, such as status >= 500 or latency_ms > 1000\n"


def test_a_string_request_body_does_not_crash(tmp_path):
    (tmp_path / "echo.py").write_text("def echo(x):\n    return x\n")
    log = write_jsonl(tmp_path / "text.jsonl", [record(request_id="t1", request="hello there", response="hello there")])
    result = invoke(log, "--model", f"{tmp_path}/echo.py:echo", "--format", "json")
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 0 and doc_of(result)["counts"]["match"] == 1


# --- comparing through the CLI --------------------------------------------------------------------------


def test_tolerances_and_ignore_on_the_command_line(tmp_path):
    log = write_jsonl(tmp_path / "cmp.jsonl", [
        record(request_id=f"c{i}", request={"i": i},
               response={"label": "stay", "p": 0.5, "id": f"old-{i}", "meta": {"ts": "2026-11-27T10:00:00Z", "v": 1}})
        for i in range(3)])
    model = tmp_path / "near.py"
    model.write_text(textwrap.dedent("""
        import uuid
        def predict(x):
            return {"label": "stay", "p": 0.5004, "id": str(uuid.uuid4()), "meta": {"ts": "now", "v": 1}}
    """))
    target = ("--model", f"{model}:predict", "--format", "json")
    strict = doc_of(invoke(log, *target))
    assert strict["counts"]["mismatch"] == 3
    assert [d["path"] for d in strict["mismatches"][0]["diff"]] == ["p", "id", "meta.ts"]
    ignoring = doc_of(invoke(log, *target, "--ignore", "id", "--ignore", "meta.ts"))
    assert [d["path"] for d in ignoring["mismatches"][0]["diff"]] == ["p"]
    assert invoke(log, *target, "--ignore", "id", "--ignore", "meta.ts", "--atol", 0.001).exit_code == 0
    assert invoke(log, *target, "--ignore", "id", "--ignore", "meta.ts", "--rtol", 0.01).exit_code == 0
    assert invoke(log, *target, "--ignore", "id", "--ignore", "meta.ts", "--atol", 0.0001).exit_code == 1
    assert invoke(log, *target, "--ignore", "id", "--ignore", "meta", "--rtol", 0.01).exit_code == 0


def test_show_k_limits_the_diffs(tmp_path):
    args = (CHURN, "--where", V2_OK, "--limit", 50, "--model", f"{DEMO_MODEL}:churn_candidate")
    for k in (0, 1, 3):
        table = invoke(*args, "--show", k).stdout
        assert table.count("mismatch: request ") == k
        doc = doc_of(invoke(*args, "--show", k, "--format", "json"))
        assert len(doc["mismatches"]) == k
    shown = doc_of(invoke(*args, "--show", 3, "--format", "json"))["mismatches"]
    table = invoke(*args, "--show", 3).stdout
    assert [line.split("mismatch: request ")[1].strip() for line in table.splitlines() if "mismatch: request" in line] \
        == [m["request_id"] for m in shown]  # the first K, in logged order, side by side
    assert "field" in table and "logged" in table and "replayed" in table


def test_logged_latency_percentiles_in_the_json_are_numpys():
    import numpy as np

    doc = doc_of(invoke(CHURN, "--where", V2_OK, "--limit", 120, "--model", f"{DEMO_MODEL}:churn_v2",
                        "--format", "json"))
    chosen = [r["latency_ms"] for r in churn_records() if r["model_version"] == "v2" and r["status"] == 200][:120]
    for q in (50, 95, 99):
        assert doc["latency_ms"]["logged"][f"p{q}"] == pytest.approx(np.percentile(chosen, q), rel=1e-12)
    assert all(doc["latency_ms"]["replayed"][f"p{q}"] >= 0 for q in (50, 95, 99))
    assert doc["throughput_rps"] > 0 and doc["seconds"] > 0


@pytest.mark.parametrize("fail_over, code", [(None, 1), ("0.2", 1), ("0.25", 0), ("1", 0)])
def test_fail_over(tmp_path, fail_over, code):
    kinds = ["bad", "ok", "ok", "ok"]
    log = write_jsonl(tmp_path / "g.jsonl", [record(ts=f"2026-11-27T10:00:0{i}Z", request_id=f"g{i}",
                                                    request={"kind": k}) for i, k in enumerate(kinds)])
    model = tmp_path / "m.py"
    model.write_text("def predict(x):\n    return {'label': 'churn' if x['kind'] == 'bad' else 'stay', 'p': 0.1}\n")
    args = [log, "--model", f"{model}:predict", "--format", "json"]
    if fail_over is not None:
        args += ["--fail-over", fail_over]
    result = invoke(*args)
    assert result.exit_code == code
    doc = doc_of(result)
    assert doc["failed"] is (code == 1) and doc["rates"]["mismatch"] == 0.25
    assert doc["fail_over"] == float(fail_over or 0)


def test_fail_over_out_of_range_is_a_usage_error(tmp_path):
    result = invoke(small_log(tmp_path), "--model", f"{DEMO_MODEL}:churn_v2", "--fail-over", 1.5)
    assert result.exit_code == 2
    assert result.stderr == ("mlmon: error: invalid value for --fail-over: it must be at most 1. "
                             "Run 'mlmon replay --help' to see its options.\n") and result.stdout == ""


# --- dry run --------------------------------------------------------------------------------------------


def test_dry_run_sends_nothing_and_redacts(tmp_path):
    log = write_jsonl(tmp_path / "d.jsonl", [
        record(ts="2026-11-27T10:00:00Z", request_id="d1",
               request={"user": "ann", "password": "hunter2", "authorization": "Bearer abc123"}),
        record(ts="2026-11-27T10:00:01Z", request_id="d2", request={"nested": {"Password": "pw2", "ok": 1}}),
        record(ts="2026-11-27T10:00:02Z", request_id="d3"),
    ])
    with ModelServer() as server:
        result = invoke(log, "--target", server.url, "--dry-run", "-H", "Authorization: Bearer from-cli")
    assert result.exit_code == 0
    assert server.requests == [] and server.connections == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [x["request_id"] for x in lines] == ["d1", "d2", "d3"]
    assert lines[0]["body"] == {"user": "ann", "password": "[REDACTED]", "authorization": "[REDACTED]"}
    assert lines[1]["body"] == {"nested": {"Password": "[REDACTED]", "ok": 1}}
    assert lines[0]["headers"]["Authorization"] == "[REDACTED]"
    for secret in ("hunter2", "abc123", "pw2", "from-cli"):
        assert secret not in result.stdout and secret not in result.stderr
    assert result.stderr.strip() == f"mlmon: dry run: 3 requests would be sent to {server.url}; nothing was sent"


def test_dry_run_needs_no_target(tmp_path):
    log = small_log(tmp_path, n=3)
    result = invoke(log, "--dry-run")
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == [{"request_id": f"r{i}", "body": {"i": i, "country": "DE"}} for i in range(3)]
    assert result.stderr.strip() == "mlmon: dry run: 3 requests would be sent; nothing was sent"
    proc = run(log, "--dry-run", "--limit", 1)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == '{"request_id": "r0", "body": {"i": 0, "country": "DE"}}\n'
    assert proc.stderr == "mlmon: dry run: 1 request would be sent; nothing was sent\n"
    # Two targets are still one too many, and a real run still needs one.
    one_error_line(invoke(log, "--dry-run", "--model", "m:f", "--command", "x").stderr, "name exactly one target")
    one_error_line(invoke(log).stderr, "name exactly one target")


def test_a_password_in_the_target_url_is_not_printed(tmp_path):
    with ModelServer() as server:
        url = server.url.replace("127.0.0.1", "user:pa55word@127.0.0.1")
        dry = invoke(small_log(tmp_path, n=1), "--target", url, "--dry-run")
        real = invoke(small_log(tmp_path, n=1), "--target", url, "--format", "json")
    assert real.exit_code == 0
    assert "pa55word" not in dry.stdout + dry.stderr + real.stdout


# --- output ----------------------------------------------------------------------------------------------


def test_output_file_is_mlmon_log_shape_and_report_reads_it(tmp_path):
    kinds = ["ok", "other", "500", "ok", "ok"]
    log = write_jsonl(tmp_path / "o.jsonl", [
        record(ts=f"2026-11-27T10:00:0{i}Z", request_id=f"o{i}", request={"kind": k, "password": "hunter2"})
        for i, k in enumerate(kinds)] + [{"ts": "2026-11-27T10:00:09Z", "request_id": "nobody", "status": 200}])

    def behave(handler, body):
        if body["kind"] == "500":
            return 500, {"error": "boom", "token": "srv-secret"}
        return 200, ANSWER if body["kind"] == "ok" else {"label": "churn", "p": 0.1}

    out = tmp_path / "results.jsonl"
    with ModelServer(behave) as server:
        result = invoke(log, "--target", server.url, "--output", out, "--format", "json")
    assert result.exit_code == 1
    doc = doc_of(result)
    assert doc["requests"] == 5 and doc["skipped_without_request"] == 1
    text = out.read_text()
    assert "hunter2" not in text and "srv-secret" not in text
    rows = [json.loads(line) for line in text.splitlines()]
    assert [r["request_id"] for r in rows] == [f"o{i}" for i in range(5)]
    assert [r["replay"]["outcome"] for r in rows] == ["match", "mismatch", "error", "match", "match"]
    assert [r["replay"]["match"] for r in rows] == [True, False, False, True, True]
    assert rows[1]["replay"]["diff"] == [{"path": "label", "logged": "stay", "replayed": "churn", "missing": None}]
    assert rows[2]["status"] == 500 and rows[2]["error"] == "HTTP 500"
    assert rows[2]["response"] == {"error": "boom", "token": "[REDACTED]"}
    assert all(set(r["replay"]["original"]) == {"ts", "status", "latency_ms", "error"} for r in rows)
    assert rows[0]["replay"]["original"]["ts"] == "2026-11-27T10:00:00Z"

    report = runner.invoke(app, ["report", str(out), "--format", "json"])
    assert report.exit_code == 0, report.stderr
    rep = json.loads(report.stdout)
    assert rep["source"]["records"] == 5 and rep["source"]["skipped"] == 0
    (window,) = rep["windows"]
    assert window["metrics"]["request_count"] == doc["requests"] == 5
    assert window["metrics"]["error_count"] == doc["counts"]["error"] + doc["counts"]["timeout"] == 1


def test_output_results_through_the_entry_point(tmp_path):
    out = tmp_path / "results.jsonl"
    proc = run(CHURN, "--where", V2_OK, "--limit", 40, "--model", f"{DEMO_MODEL}:churn_candidate",
               "--output", out, "--fail-over", 1)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("OK: replayed 40 requests")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 40 and all(set(r["replay"]) == {"outcome", "match", "diff", "original", "reproduced", "traceback"} for r in rows)
    rep = runner.invoke(app, ["report", str(out), "--format", "json"])
    assert rep.exit_code == 0, rep.stderr
    assert json.loads(rep.stdout)["windows"][0]["metrics"]["request_count"] == 40


def test_an_empty_selection_says_so_and_exits_2(tmp_path):
    result = invoke(small_log(tmp_path), "--request-id", "nope", "--model", f"{DEMO_MODEL}:churn_v2")
    assert result.exit_code == 2
    assert "nothing to replay" in result.stderr and result.stdout == ""
