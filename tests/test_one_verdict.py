"""One reader, one verdict: whether a line is bad never depends on the command that reads it.

Each command asks the reader for other fields (baseline save never asked for
latency_ms, so ``"latency_ms": "fast"`` passed there and failed in report). The
counts and reasons of every command are checked against a plain-Python oracle
written from the README's "Bad lines" rules, not with mlmon's code.
"""

import json
import math
from collections import Counter
from datetime import datetime

import pytest

from conftest import DATA, ROOT, SAMPLE_LOGS
from test_cli import invoke, run

MAX_LINE_BYTES = 1024 * 1024
#: Lines that only a check of a field some command does not ask for finds bad (the issue's
#: 23-digit status, say), beside good lines with odd but valid values.
ODD_LINES = [
    '{"ts": "2026-11-27T10:00:00Z", "request_id": "a", "status": 99999999999999999999999, "request": {"x": 1}}',
    '{"ts": "2026-11-27T10:00:01Z", "request_id": "b", "status": "503", "latency_ms": "7.5", "request": {"x": 2}}',
    '{"ts": "2026-11-27T10:00:02Z", "request_id": "c", "cpu_percent": "busy", "request": {"x": 3}}',
    '{"ts": "2026-11-27T10:00:03Z", "request_id": "d", "memory_mb": -1, "request": {"x": 4}}',
    '{"ts": 1795000000, "request_id": "e", "status": 200.0, "memory_mb": null, "request": {"x": 5}}',
    '{"ts": "2026-11-27T10:00:05Z", "request_id": "f", "latency_ms": [1], "request": {"x": 6}}',
    '{"ts": "2026-11-27T10:00:06Z", "request_id": "g", "status": 2.5, "request": {"x": 7}}',
    '{"ts": "2026-11-27T10:00:07Z", "request_id": "h", "error": "boom", "request": {"x": 8}}',
    '{"ts": "2026-11-27T10:00:08Z", "request_id": "i", "latency_ms": true, "request": {"x": 9}}',
    '{"ts": "2026-11-27T12:00:09+02:00", "request_id": "j", "latency_ms": "0", "cpu_percent": 0, "request": {"x": 10}}',
    '{"ts": "1795000000000", "request_id": "k", "status": "200", "request": {"x": 11}}',
    '{"ts": "2026-11-27T10:00:11.5Z", "request_id": "l", "latency_ms": 1e3, "memory_mb": "512.5", "request": {"x": 12}}',
]
FILES = ["bad_lines.jsonl", "hard.jsonl", "odd.jsonl"]
RULES = ROOT / "rules.example.yaml"
NOW = "2026-11-28T00:00:00Z"


def _reject_constants(name):
    raise ValueError(name)  # NaN and Infinity are not JSON


def _number(value):
    """The value as a float when the README allows it in a numeric field (a JSON number or numeric text)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _ts_ok(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
        return True
    except ValueError:
        return _number(value) is not None


def oracle_reason(raw: bytes) -> str | None:
    """Why the README calls this line bad; None for a good line, "blank" for a line that is not counted."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid UTF-8"
    if len(raw) > MAX_LINE_BYTES:
        return f"line longer than {MAX_LINE_BYTES} bytes"
    if not text.strip():
        return "blank"
    try:
        value = json.loads(text, parse_constant=_reject_constants)
    except ValueError:
        return "malformed JSON"
    if not isinstance(value, dict):
        return "not a JSON object"
    if value.get("ts") is None:
        return "missing ts"
    if not _ts_ok(value["ts"]):
        return "unparseable ts"
    status = value.get("status")
    if status is not None:
        number = _number(status)
        if number is None or number != int(number) or abs(number) >= 2**63:
            return "wrong type for status (expected an integer)"
    for name in ("latency_ms", "cpu_percent", "memory_mb"):
        if value.get(name) is None:
            continue
        number = _number(value[name])
        if number is None:
            return f"wrong type for {name} (expected a number)"
        if number < 0:
            return f"negative {name}"
    return None


def oracle(path):
    """(good records, {line number: reason}) of one file, line by line in plain Python."""
    good, bad = 0, {}
    for number, raw in enumerate(path.read_bytes().split(b"\n"), 1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        reason = oracle_reason(raw)
        if reason is None:
            good += 1
        elif reason != "blank":
            bad[number] = reason
    return good, bad


def _file(name, tmp_path):
    if name == "odd.jsonl":
        path = tmp_path / name
        path.write_text("\n".join(ODD_LINES) + "\n")
        return path
    return SAMPLE_LOGS / name if (SAMPLE_LOGS / name).exists() else DATA / name


def test_the_oracle_sees_what_the_issue_saw(tmp_path):
    good, bad = oracle(SAMPLE_LOGS / "bad_lines.jsonl")
    assert len(bad) == 8 and "wrong type for latency_ms (expected a number)" in bad.values()
    good, bad = oracle(_file("odd.jsonl", tmp_path))
    assert (good, sorted(bad)) == (6, [1, 3, 4, 6, 7, 9])


@pytest.mark.parametrize("name", FILES)
def test_every_command_core_gives_the_oracles_verdict(tmp_path, name):
    from mlmon.baseline.save import save_baseline
    from mlmon.check import run_check
    from mlmon.logs.mapping import DEFAULT_MAPPING
    from mlmon.metrics.windows import WindowSpec
    from mlmon.replay.compare import Tolerance
    from mlmon.replay.run import Pace
    from mlmon.replay.select import Selection
    from mlmon.replay.session import TargetSpec, run_replay
    from mlmon.report import build_report
    from mlmon.rules.load import load_rules
    from mlmon.timeparse import parse_instant

    def verdict(result):
        return dict(zip(result.rejects["line"].to_list(), result.rejects["reason"].to_list()))

    path, now = _file(name, tmp_path), parse_instant(NOW)
    good, bad = oracle(path)
    _, data = build_report([str(path)], mapping=DEFAULT_MAPPING, spec=WindowSpec(), now=now)
    assert (data.records.height, verdict(data)) == (good, bad)
    _, data = run_check([str(path)], load_rules(RULES), mapping=DEFAULT_MAPPING, now=now)
    assert (data.records.height, verdict(data)) == (good, bad)
    saved = save_baseline([str(path)], tmp_path / "b.json", mapping=DEFAULT_MAPPING, since=None, until=None, now=now)
    assert (saved.reference.rows, verdict(saved)) == (good, bad)
    read = []
    _, frame = run_replay([str(path)], mapping=DEFAULT_MAPPING, selection=Selection(), target=TargetSpec(model="m:f"),
                          pace=Pace(1, None, None, 1.0), tolerance=Tolerance(), dry_run=True, on_read=read.append)
    assert (frame.height, verdict(read[0])) == (good, bad)


@pytest.mark.parametrize("name", FILES)
def test_every_command_line_gives_the_oracles_counts(tmp_path, name):
    path = _file(name, tmp_path)
    good, bad = oracle(path)
    reasons = Counter(bad.values())
    skipped = f"skipped {len(bad):,} bad"

    report = invoke("report", str(path), "--format", "json", "--now", NOW, "--rejects", str(tmp_path / "r.jsonl"))
    assert report.exit_code == 0, report.output
    source = json.loads(report.stdout)["source"]
    assert (source["records"], source["skipped"], source["skipped_by_reason"]) == (good, len(bad), dict(reasons))

    check = invoke("check", str(path), "--rules", str(RULES), "--now", NOW)
    assert check.exit_code in (0, 1) and skipped in check.stderr

    saved = invoke("baseline", "save", str(path), "-o", str(tmp_path / "b.json"), "--rejects", str(tmp_path / "b.jsonl"))
    assert saved.exit_code == 0, saved.output
    profile = json.loads((tmp_path / "b.json").read_text())
    assert (profile["rows"], profile["source"]["skipped"]) == (good, len(bad))
    for rejects in ("r.jsonl", "b.jsonl"):
        listed = [json.loads(line) for line in (tmp_path / rejects).read_text().splitlines()]
        assert {r["line"]: r["reason"] for r in listed} == bad, rejects

    # Through the installed entry point: every good record here carries a request to send.
    dry = run("replay", str(path), "--dry-run", "--model", "m:f")
    assert dry.returncode == 0, dry.stderr
    assert len(dry.stdout.splitlines()) == good and skipped in dry.stderr


def test_a_mapping_into_the_response_object_works_in_every_command(tmp_path):
    """latency_ms and error inside the response: baseline save read them only since they are always checked,
    report with a baseline and replay never could (the response object is read whole beside them)."""
    rows = [{"ts": f"2026-11-27T10:00:0{i}Z", "request_id": str(i), "request": {"x": i},
             "response": {"y": i, "latency": 5 + i, "error": None}} for i in range(5)]
    rows[2]["response"]["latency"] = "fast"
    path = tmp_path / "nested.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    mapping = tmp_path / "m.yaml"
    mapping.write_text("fields:\n  latency_ms: response.latency\n  error: response.error\n")
    good, bad = oracle_from_rows(rows)
    assert (good, bad) == (4, 1)
    m = ["--mapping", str(mapping)]
    saved = invoke("baseline", "save", str(path), "-o", str(tmp_path / "b.json"), *m)
    assert saved.exit_code == 0 and "skipped 1 bad line;" in saved.stderr
    assert json.loads((tmp_path / "b.json").read_text())["rows"] == good
    report = invoke("report", str(path), "--baseline-range", "2026-11-27..2026-11-28", "--format", "json", *m)
    assert report.exit_code == 0, report.output
    source = json.loads(report.stdout)["source"]
    assert (source["records"], source["skipped"]) == (good, bad)
    dry = invoke("replay", str(path), "--dry-run", "--model", "m:f", *m)
    assert dry.exit_code == 0 and len(dry.stdout.splitlines()) == good and "skipped 1 bad log line" in dry.stderr


def oracle_from_rows(rows):
    """Good and bad records when latency_ms is at response.latency: a number, or text that holds one."""
    bad = sum(1 for r in rows if _number(r["response"].get("latency")) is None and r["response"].get("latency") is not None)
    return len(rows) - bad, bad
