"""Issue 11's "done when": every hostile log line, through every command that reads logs and every
output format, ends as a clean result or a one-line error: never a traceback, never a secret in what
mlmon prints or writes, never a run past its bound.

Each hostile line sits between good lines, so the good lines must still be read (a bad line never
costs a good one). Runs go through typer's runner for speed; the entry point is covered per class
in the other tests/test_hostile_*.py files.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from conftest import ROOT, record
from mlmon.cli import app

runner = CliRunner()
SECRET = "hunter2-SECRET-9f3a"
GOOD = [json.dumps(record(ts=f"2026-11-27T10:{i:02d}:00Z", request_id=f"g{i}",
                          request={"country": "DE", "age": 30 + i})) for i in range(6)]

#: One hostile line (or a few) per class, named by what it guards.
HOSTILE = {
    "year 0": '{"ts": "0000-06-01T00:00:00Z", "latency_ms": 1}',
    "negative year": '{"ts": "-0001-06-01T00:00:00Z", "latency_ms": 1}',
    "year 9999 end": '{"ts": "9999-12-31T23:59:59.999999Z", "latency_ms": 1}',
    "epoch overflow": '{"ts": 1e300, "latency_ms": 1}',
    "negative epoch": '{"ts": -9e18, "latency_ms": 1}',
    "huge number": '{"ts": "2026-11-27T10:30:00Z", "request": {"age": 1e39, "country": "FR"}}',
    "64-bit overflow": '{"ts": "2026-11-27T10:31:00Z", "request": {"age": 99999999999999999999, "country": "FR"}}',
    "infinity text": '{"ts": "2026-11-27T10:32:00Z", "request": {"age": "-Infinity", "country": "FR"}}',
    "nan text": '{"ts": "2026-11-27T10:33:00Z", "request": {"age": "NaN", "country": "FR"}}',
    "infinity in a whole-number field": '{"ts": "2026-11-27T10:33:30Z", "request": {"age": "Infinity"}}',
    "deep nesting": '{"ts": "2026-11-27T10:34:00Z", "deep": ' + "[" * 200 + "]" * 200 + "}",
    "number line": "42",
    "null line": "null",
    "broken string line": '"path": "/",',
    "status overflow": '{"ts": "2026-11-27T10:35:00Z", "status": 99999999999999999999999}',
    "nested secret": '{"ts": "2026-11-27T10:36:00Z", "request": {"age": 40, "country": {"token": "' + SECRET + '"}}}',
    "header secret": ('{"ts": "2026-11-27T10:37:00Z", "request": {"age": 41, "country": "DE", '
                      '"headers": {"Authorization": "Bearer ' + SECRET + '"}}}'),
    "escaped secret key": '{"ts": "bad", "request": {"api\\u005fkey": "' + SECRET + '"}}',
    "single-quoted secret": "{'password': '" + SECRET + "'}",
    "url secret": '{"ts": "bad", "url": "https://user:' + SECRET + '@example.com/x"}',
    "control characters": '{"ts": "2026-11-27T10:38:00Z", "model": "\\u001b[31mred\\u0007", "request": {"age": 42}}',
    "markup": '{"ts": "2026-11-27T10:39:00Z", "model": "[bold red]x[/]", "request": {"age": 43}}',
    "formula": '{"ts": "2026-11-27T10:40:00Z", "model": "=cmd|\' /C calc\'!A0", "request": {"age": 44}}',
}

COMMANDS = {
    "report table": ["report", "{log}", "--by", "model"],
    "report json": ["report", "{log}", "--by", "model", "--every", "1h", "--format", "json"],
    "report csv": ["report", "{log}", "--by", "model", "--format", "csv"],
    "report markdown": ["report", "{log}", "--by", "model", "--format", "markdown"],
    "report drift": ["report", "{log}", "--baseline-range", "2026-11-27T10:00Z..2026-11-27T10:03Z", "--format", "json"],
    "report drift table": ["report", "{log}", "--baseline-range", "2026-11-27T10:00Z..2026-11-27T10:03Z"],
    "check": ["check", "{log}", "--rules", str(ROOT / "rules.example.yaml"), "--format", "json"],
    "baseline save": ["baseline", "save", "{log}", "-o", "{tmp}/profile.json", "--rejects", "{tmp}/rejects.jsonl"],
    "replay dry run": ["replay", "{log}", "--dry-run"],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_line_through_every_command(tmp_path, case, command):
    log = tmp_path / "hostile.jsonl"
    log.write_text("\n".join([*GOOD[:3], HOSTILE[case], *GOOD[3:]]) + "\n", encoding="utf-8")
    args = [a.format(log=log, tmp=tmp_path) for a in COMMANDS[command]]
    result = runner.invoke(app, [*args, "--now", "2026-11-28T00:00:00Z"] if command != "replay dry run" else args)
    assert result.exception is None or isinstance(result.exception, SystemExit), (case, result.exception)
    assert result.exit_code in (0, 1, 2), (case, result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr
    if result.exit_code == 2:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    written = "".join(p.read_text(errors="replace") for p in tmp_path.iterdir() if p != log)
    for where, text in (("stdout", result.stdout), ("stderr", result.stderr), ("files", written)):
        assert SECRET not in text, (case, where)
    if command == "report json" and result.exit_code == 0:
        doc = json.loads(result.stdout)
        assert sum(w["metrics"]["request_count"] for w in doc["windows"]) >= len(GOOD)  # no good line lost
