"""Issue 16 "Found on the way": an invalid line that starts like a string or an array is ``malformed JSON``;
``not a JSON object`` is for valid JSON only. The same verdict on every reading path: the whole-file and
whole-chunk parses, the line path, small files read together, the store's ingest and the dashboard's tail.

The oracle is Python's own JSON parser, line by line.
"""

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from mlmon.cli import app
from mlmon.live.tail import LogTailer
from mlmon.logs.mapping import DEFAULT_MAPPING
from mlmon.logs.reader import read_logs
from mlmon.metrics.operational import RECORD_FIELDS

#: Invalid lines that start like a string or an array, and valid JSON that is not an object.
LINES = ['"path": "/",', '"abc', "[1, 2", "[1,2]", '"abc"', "3"]


def oracle(text: str) -> str | None:
    """The README's reason for one line: None for a JSON object."""
    try:
        value = json.loads(text)
    except ValueError:
        return "malformed JSON"
    return None if isinstance(value, dict) else "not a JSON object"


def good(i: int) -> str:
    return json.dumps({"ts": f"2026-11-27T10:{i // 60 % 60:02d}:{i % 60:02d}Z", "request_id": f"g{i}", "latency_ms": i})


def mixed(pad: int = 0) -> tuple[list[str], dict[int, str], set[str]]:
    """Good lines with each of LINES between them, and ``pad`` more good lines first and last:
    the lines, {line number: reason}, the good ids."""
    lines = [good(100_000 + i) for i in range(pad)]
    bad, ids = {}, {f"g{100_000 + i}" for i in range(pad)}
    for k, text in enumerate(LINES):
        lines.append(good(k))
        ids.add(f"g{k}")
        lines.append(text)
        bad[len(lines)] = oracle(text)
    lines += [good(200_000 + i) for i in range(pad + 1)]
    ids |= {f"g{200_000 + i}" for i in range(pad + 1)}
    return lines, bad, ids


def test_the_oracle_tells_the_two_reasons_apart():
    assert [oracle(t) for t in LINES] == ["malformed JSON"] * 3 + ["not a JSON object"] * 3


def reasons(frame) -> dict[int, str]:
    return dict(zip(frame["line"].to_list(), frame["reason"].to_list()))


@pytest.mark.parametrize("chunk_bytes", [None, 64], ids=["whole-file", "small-chunks"])
def test_the_line_path(tmp_path, chunk_bytes):
    lines, bad, ids = mixed()
    log = tmp_path / "a.jsonl"
    log.write_text("\n".join(lines) + "\n")
    data = read_logs([str(log)], **({"chunk_bytes": chunk_bytes} if chunk_bytes else {}))
    assert reasons(data.rejects) == bad
    assert set(data.records["request_id"].to_list()) == ids


def test_a_big_file_whose_bad_lines_stand_in_its_middle(tmp_path):
    """The whole-file and whole-chunk parses are tried first: the first and last MiB are good."""
    lines, bad, ids = mixed(pad=20_000)
    log = tmp_path / "big.jsonl"
    log.write_text("\n".join(lines) + "\n")
    for chunk_bytes in (1 << 24, 64 * 1024):
        data = read_logs([str(log)], chunk_bytes=chunk_bytes)
        assert reasons(data.rejects) == bad
        assert set(data.records["request_id"].to_list()) == ids


def test_small_files_read_together(tmp_path):
    expected, ids = {}, set()
    for k, text in enumerate(LINES):
        path = tmp_path / f"f{k}.jsonl"
        path.write_text(f"{good(2 * k)}\n{text}\n{good(2 * k + 1)}\n")
        expected[(str(path), 2)] = oracle(text)
        ids |= {f"g{2 * k}", f"g{2 * k + 1}"}
    data = read_logs([str(tmp_path)])
    got = {(f, n): r for f, n, r in zip(data.rejects["file"], data.rejects["line"], data.rejects["reason"])}
    assert got == expected
    assert set(data.records["request_id"].to_list()) == ids


def test_the_stores_ingest(tmp_path):
    lines, bad, ids = mixed()
    log = tmp_path / "a.jsonl"
    log.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(app, ["ingest", str(log), "--store", str(tmp_path / "s"), "--format", "json",
                                      "--rejects", str(tmp_path / "r.jsonl")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["records_added"] == len(ids)
    assert summary["skipped_by_reason"] == dict(Counter(bad.values()))
    rows = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert {r["line"]: r["reason"] for r in rows} == bad


def test_the_dashboards_live_tail(tmp_path):
    lines, bad, ids = mixed()
    log = tmp_path / "a.jsonl"
    log.write_text(good(50_000) + "\n")
    tail = LogTailer([str(log)], DEFAULT_MAPPING, [*RECORD_FIELDS, "request_id"])
    assert tail.read().records.height == 1
    with log.open("a") as out:
        out.write("\n".join(lines) + "\n")
    batch = tail.read()
    assert reasons(batch.rejects) == {n + 1: r for n, r in bad.items()}
    assert set(batch.records["request_id"].to_list()) == ids


def test_the_readme_lists_the_reasons_exactly():
    """The two rows of the README's table, word for word (the reasons and their examples)."""
    readme = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| `(malformed JSON|not a JSON object)` \| (.*) \|$", readme, flags=re.MULTILINE))
    assert rows["not a JSON object"] == "is valid JSON, but an array, a string, a number, `true`, `false` or `null`"
    assert 'even when it starts like a string or an array (`"path": "/",`, `"abc`, `[1, 2`)' in rows["malformed JSON"]


def test_the_installed_command_names_each_line(tmp_path):
    import subprocess
    import sys

    lines, bad, _ = mixed()
    log = tmp_path / "a.jsonl"
    log.write_text("\n".join(lines) + "\n")
    mlmon = str(Path(sys.executable).parent / "mlmon")
    done = subprocess.run([mlmon, "report", str(log), "--format", "json", "--rejects", str(tmp_path / "r.jsonl")],
                          check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["source"]["skipped_by_reason"] == dict(Counter(bad.values()))
    rows = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert {r["line"]: r["reason"] for r in rows} == bad
