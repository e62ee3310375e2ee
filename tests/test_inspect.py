"""``mlmon inspect`` and ``mlmon mapping show``: what a newcomer sees of their logs, checked against plain Python.

The round trip is the contract: the mapping inspect suggests for a file of another shape,
fed back to ``mlmon report --mapping``, reads its records with the numbers counted here.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE_LOGS, record, write_jsonl
from typer.testing import CliRunner

from mlmon.cli import app
from mlmon.logs.mapping import DEFAULT_MAPPING, mapping_from_dict
from mlmon.yamlfile import parse_yaml

runner = CliRunner()
MLMON = str(Path(sys.executable).parent / "mlmon")
SECRET = "sk-live-9f8e7d6c5b4a"
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0"
JSON_KEYS = ["version", "format", "files", "read_with", "records", "time_range", "bad_lines", "sample", "fields",
             "canonical", "suggested_mapping", "next", "notes"]


def invoke(*args, input=None):
    result = runner.invoke(app, [str(a) for a in args], input=input)
    assert "Traceback" not in (result.stderr or ""), result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def subprocess_run(*args, input=None):
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    env.pop("FORCE_COLOR", None)
    return subprocess.run([MLMON, *map(str, args)], capture_output=True, text=True, env=env, input=input,
                          timeout=120, check=False)


def inspect_json(*args) -> dict:
    result = invoke("inspect", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# --- a file of another shape ------------------------------------------------------------------------


def _foreign_rows(n: int = 240, seed: int = 7, epoch: bool = False) -> list[dict]:
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    rows = []
    for i in range(n):
        at = start + timedelta(seconds=i * 7 + rng.random())
        code = rng.choice([200] * 8 + [500, 404])
        duration = round(rng.uniform(3, 250), 1)
        row = {
            "meta": {"code": code, "model_name": "churn"},
            "id": f"req-{i:04d}",
            "payload": {"age": rng.randint(18, 90), "plan": rng.choice(["basic", "premium"]), "api_key": SECRET,
                        "headers": {"Authorization": BEARER}},
            "result": {"label": rng.choice(["stay", "churn"]), "score": round(rng.random(), 4)},
        }
        if epoch:
            row["@timestamp"] = int(at.timestamp() * 1000)
            row["meta"]["elapsed_s"] = duration / 1000
        else:
            row["time"] = at.isoformat().replace("+00:00", "Z")
            row["meta"]["duration_ms"] = duration
        rows.append(row)
    return rows


def _percentile(values: list[float], q: float) -> float:
    """numpy.percentile's linear interpolation, in plain Python."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@pytest.mark.parametrize("epoch", [False, True], ids=["iso-ms", "epoch-ms-seconds"])
def test_suggested_mapping_round_trips_through_report(tmp_path, epoch):
    rows = _foreign_rows(epoch=epoch)
    logs = write_jsonl(tmp_path / "foreign.jsonl", rows)
    mapping = tmp_path / "suggested.yaml"
    result = invoke("inspect", logs, "--suggest", "-o", mapping)
    assert result.exit_code == 0, result.stderr
    text = mapping.read_text()
    assert "inputs: payload" in text and "outputs: result" in text
    assert SECRET not in text and "eyJ" not in text

    report = invoke("report", logs, "--mapping", mapping, "--format", "json")
    assert report.exit_code == 0, report.stderr
    doc = json.loads(report.stdout)
    assert doc["source"]["records"] == len(rows) and doc["source"]["skipped"] == 0
    (window,) = doc["windows"]
    metrics = window["metrics"]
    latencies = [r["meta"]["elapsed_s"] * 1000 if epoch else r["meta"]["duration_ms"] for r in rows]
    assert metrics["request_count"] == len(rows)
    assert metrics["error_count"] == sum(r["meta"]["code"] >= 500 for r in rows)
    assert metrics["client_error_rate"] == pytest.approx(sum(400 <= r["meta"]["code"] < 500 for r in rows) / len(rows))
    assert metrics["latency_max_ms"] == pytest.approx(max(latencies))
    assert metrics["latency_p50_ms"] == pytest.approx(_percentile(latencies, 0.5), abs=0.01)
    assert metrics["latency_p95_ms"] == pytest.approx(_percentile(latencies, 0.95), abs=0.01)
    first, last = rows[0], rows[-1]
    if epoch:
        expected = [datetime.fromtimestamp(r["@timestamp"] / 1000, UTC) for r in (first, last)]
    else:
        expected = [datetime.fromisoformat(r["time"]) for r in (first, last)]
    got = [datetime.fromisoformat(window[k]) for k in ("start", "end")]
    assert [abs((a - b).total_seconds()) < 0.001 for a, b in zip(got, expected)] == [True, True]

    # The input and output fields are where the mapping says: segments by them work.
    by = invoke("report", logs, "--mapping", mapping, "--by", "input.plan", "--format", "json")
    counts = {w["segment"]["input.plan"]: w["metrics"]["request_count"] for w in json.loads(by.stdout)["windows"]}
    assert counts == {p: sum(r["payload"]["plan"] == p for r in rows) for p in ("basic", "premium")}


def test_asctime_round_trips(tmp_path):
    """Python logging's asctime becomes ts_format, with a timezone to check."""
    rows = [{"asctime": f"2024-02-27 10:36:{i:02d},{i * 7:03d}", "took_ms": 10 + i} for i in range(20)]
    logs = write_jsonl(tmp_path / "app.jsonl", rows)
    mapping = tmp_path / "m.yaml"
    assert invoke("inspect", logs, "--suggest", "-o", mapping).exit_code == 0
    text = mapping.read_text()
    assert 'ts_format: "%Y-%m-%d %H:%M:%S,%3f"' in text and "timezone: UTC" in text
    doc = json.loads(invoke("report", logs, "--mapping", mapping, "--format", "json").stdout)
    (window,) = doc["windows"]
    assert window["metrics"]["request_count"] == 20 and window["metrics"]["latency_max_ms"] == 29
    assert window["start"] == "2024-02-27T10:36:00Z" and window["end"] == "2024-02-27T10:36:19.133Z"


def test_status_words_become_a_status_map(tmp_path):
    rows = [{"startTime": f"2024-02-27T10:36:{i:02d}Z", "status": "failure" if i % 4 == 0 else "success"}
            for i in range(20)]
    logs = write_jsonl(tmp_path / "app.jsonl", rows)
    doc = inspect_json(logs)
    mapping = mapping_from_dict(parse_yaml(doc["suggested_mapping"], "suggested", "mapping file"))
    assert mapping.status_map == {"failure": 500, "success": 200} and mapping.fields["status"] == ("status",)


def test_status_words_round_trip_through_report(tmp_path):
    rows = [{"startTime": f"2024-02-27T10:36:{i:02d}Z", "status": "failure" if i % 4 == 0 else "success"}
            for i in range(20)]
    logs = write_jsonl(tmp_path / "app.jsonl", rows)
    mapping = tmp_path / "m.yaml"
    assert invoke("inspect", logs, "--suggest", "-o", mapping).exit_code == 0
    report = invoke("report", logs, "--mapping", mapping, "--format", "json")
    (window,) = json.loads(report.stdout)["windows"]
    assert window["metrics"]["error_count"] == sum(r["status"] == "failure" for r in rows)


def test_foreign_file_is_described_and_read_with_the_suggestion(tmp_path):
    rows = _foreign_rows(epoch=True)
    logs = write_jsonl(tmp_path / "foreign.jsonl", rows)
    doc = inspect_json(logs)
    assert list(doc) == JSON_KEYS
    assert doc["format"] == "unknown" and doc["read_with"] == "the suggested mapping"
    assert doc["records"] == len(rows) and doc["bad_lines"]["count"] == 0
    stamps = [r["@timestamp"] for r in rows]
    assert doc["time_range"]["from"].startswith(
        datetime.fromtimestamp(min(stamps) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    fields = {f["path"]: f for f in doc["fields"]}
    assert fields["@timestamp"]["type"] == "integer" and fields["@timestamp"]["time"] == "epoch ms"
    assert fields["meta.code"]["type"] == "integer" and fields["meta.code"]["null_rate"] == 0.0
    assert fields["payload"]["type"] == "object"
    found = doc["canonical"]["found"]
    assert found["ts"] == "@timestamp" and found["latency_ms"] == "meta.elapsed_s" and found["status"] == "meta.code"
    assert found["request_id"] == "id" and found["request"] == "payload" and found["response"] == "result"
    missing = doc["canonical"]["missing"]
    assert "latency" not in " ".join(missing) and "resource metrics" in missing["cpu_percent"]
    yaml_text = doc["suggested_mapping"]
    mapping = mapping_from_dict(parse_yaml(yaml_text, "suggested", "mapping file"))
    assert mapping.fields["ts"] == ("@timestamp",) and mapping.ts_unit == "ms" and mapping.latency_unit == "s"


def test_missing_fields_say_what_they_cost(tmp_path):
    logs = write_jsonl(tmp_path / "bare.jsonl", [{"time": "2026-11-01T10:00:00Z", "x": 1}] * 3)
    doc = inspect_json(logs)
    missing = doc["canonical"]["missing"]
    assert "latency percentiles" in missing["latency_ms"]
    assert "error_rate" in missing["status"] and missing["status"] == missing["error"]
    assert "drift" in missing["request"] and "replay" in missing["request"]
    assert "labels join" in missing["request_id"] and "--request-id" in missing["request_id"]
    assert "segments" in missing["model"] and "segments" in missing["model_version"]
    assert doc["records"] == 3


# --- mlmon's own logs ---------------------------------------------------------------------------------


def _lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return handle.readlines()


def _own_counts() -> dict:
    rows = [json.loads(line) for path in sorted(SAMPLE_LOGS.glob("*.jsonl.gz")) for line in _lines(path)]
    return {"records": len(rows), "from": min(r["ts"] for r in rows), "to": max(r["ts"] for r in rows),
            "first_ts": [r["ts"] for r in rows]}


def test_sample_logs():
    counted = _own_counts()
    logs = sorted(SAMPLE_LOGS.glob("*.jsonl.gz"))
    doc = inspect_json(*logs)
    assert doc["format"] == "mlmon" and doc["read_with"] == "mlmon's own record shape"
    assert doc["records"] == counted["records"] and doc["bad_lines"]["count"] == 0
    assert doc["time_range"] == {"from": counted["from"], "to": counted["to"]}
    assert doc["sample"] == {"per_file": 1000, "records": 2000}
    assert doc["canonical"]["missing"] == {} and doc["suggested_mapping"] is None
    fields = {f["path"]: f for f in doc["fields"]}
    assert fields["status"]["type"] == "integer" and fields["latency_ms"]["type"] == "number"
    assert fields["ts"]["time"] == "ISO-8601"
    # Null rates of the first 1,000 records of each file, counted with json.
    first = [json.loads(line) for path in logs for line in _lines(path)[:1000]]
    assert fields["error"]["null_rate"] == pytest.approx(sum(r["error"] is None for r in first) / 2000, abs=1e-4)
    ages = sum((r.get("request") or {}).get("age") is None for r in first)
    assert fields["request.age"]["null_rate"] == pytest.approx(ages / 2000, abs=1e-4)


def test_sample_size_bounds_the_profile_not_the_counts():
    counted = _own_counts()
    doc = inspect_json(SAMPLE_LOGS / "churn.jsonl.gz", SAMPLE_LOGS / "fraud.jsonl.gz", "--sample", 10)
    assert doc["sample"] == {"per_file": 10, "records": 20}
    assert {f["present"] for f in doc["fields"] if f["path"] == "ts"} == {20}
    assert doc["records"] == counted["records"]


def test_bad_lines_counted_with_reasons_and_places(tmp_path):
    good = [record(ts=f"2026-11-27T10:00:0{i}Z", request_id=f"r{i}") for i in range(5)]
    lines = [good[0], "not json at all", good[1], {"request_id": "no-ts"}, good[2], '"path": "/",',
             record(ts="2026-11-27T10:00:09Z", latency_ms="fast"), good[3], "[1, 2]", good[4]]
    logs = write_jsonl(tmp_path / "bad.jsonl", lines)
    doc = inspect_json(logs)
    assert doc["records"] == 5
    bad = doc["bad_lines"]
    assert bad["count"] == 5
    assert bad["reasons"] == {"malformed JSON": 2, "missing ts": 1, "not a JSON object": 1,
                              "wrong type for latency_ms (expected a number)": 1}
    assert [(b["line"], b["reason"]) for b in bad["first"]] == [
        (2, "malformed JSON"), (4, "missing ts"), (6, "malformed JSON"),
        (7, "wrong type for latency_ms (expected a number)"), (9, "not a JSON object")]
    assert {b["file"] for b in bad["first"]} == {str(logs)}
    table = invoke("inspect", logs).stdout
    assert "bad.jsonl:2  malformed JSON" in table and "Bad lines   5: malformed JSON 2" in table


# --- golden files: one fixture with what is hard ------------------------------------------------------

HARD = "tests/data/inspect_hard.jsonl"  # epoch ms under @timestamp, a key with a dot, mixed types, arrays,
# secrets (a key, a header, a header line in text), escapes and CJK text, bad lines


@pytest.mark.parametrize("fmt", ["table80.txt", "json"])
def test_golden(monkeypatch, fmt):
    """A changed golden file is a changed contract: review it in the diff
    (``MLMON_UPDATE_GOLDEN=1 pytest tests/test_inspect.py`` accepts it)."""
    from mlmon.inspect import inspect_logs
    from mlmon.render.inspect import render_inspection_json, render_inspection_table

    monkeypatch.chdir(ROOT)
    result = inspect_logs([HARD])
    text = render_inspection_json(result) if fmt == "json" else render_inspection_table(result, width=80)
    golden = ROOT / "tests" / "golden" / f"inspect.{fmt}"
    if os.environ.get("MLMON_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")
    assert "sk-live" not in text and "eyJ" not in text and "\x1b" not in text and "\u202e" not in text


# --- secrets, escaping, width -------------------------------------------------------------------------


def test_secrets_never_appear(tmp_path):
    rows = _foreign_rows(n=20)
    rows[0]["password"] = "hunter2-secret"
    rows[1]["note"] = f"Authorization: {BEARER}"
    logs = write_jsonl(tmp_path / "secret.jsonl", rows)
    for args in ((), ("--format", "json"), ("--suggest",)):
        out = invoke("inspect", logs, *args).stdout
        assert SECRET not in out and "eyJhbGci" not in out and "hunter2" not in out, args
    doc = inspect_json(logs)
    fields = {f["path"]: f for f in doc["fields"]}
    assert fields["payload.api_key"]["examples"] == ["[REDACTED]"] and fields["payload.api_key"]["secret"]
    assert fields["payload.headers.Authorization"]["examples"] == ["[REDACTED]"]
    # a mapping's redact: keys count too
    mapping = tmp_path / "m.yaml"
    mapping.write_text("fields: {ts: time}\nredact: [plan]\n")
    doc = inspect_json(logs, "--mapping", mapping)
    assert {f["path"]: f for f in doc["fields"]}["payload.plan"]["examples"] == ["[REDACTED]"]


def test_text_from_logs_is_escaped(tmp_path):
    logs = write_jsonl(tmp_path / "esc.jsonl", [record(model="evil\u001b[31m\u202e")])
    out = invoke("inspect", logs).stdout
    assert "\u001b" not in out and "\u202e" not in out and "\\x1b[31m\\u202e" in out
    assert "\u001b" not in invoke("inspect", logs, "--format", "json").stdout


@pytest.mark.parametrize("which", ["sample", "foreign"])
def test_table_fits_80_columns(tmp_path, which):
    logs = [SAMPLE_LOGS] if which == "sample" else [write_jsonl(tmp_path / "f.jsonl", _foreign_rows())]
    result = invoke("inspect", *logs)
    assert result.exit_code == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert "\x1b[" not in result.stdout  # no colour outside a terminal
    for heading in ("Format", "Records", "Time range", "Bad lines", "Fields of the first 1,000 records",
                    "Canonical fields"):
        assert heading in result.stdout


# --- what inspect says when it cannot read -------------------------------------------------------------


def test_csv_is_described_and_exits_2(tmp_path):
    csv = tmp_path / "data.csv"
    csv.write_text("request_id,label\nr1,stay\nr2,churn\n")
    result = subprocess_run("inspect", csv)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "looks like a CSV header (request_id,label)" in result.stdout
    assert "Records     0" in result.stdout and "Bad lines   3: malformed JSON 3" in result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("mlmon: error: nothing in LOGS is JSON lines") and "convert" in line
    doc = json.loads(subprocess_run("inspect", csv, "--format", "json").stdout)
    assert doc["format"] == "not JSON lines" and doc["files"][0]["looks_like"].startswith("the first line looks")


def test_json_documents(tmp_path):
    """A .json file is read as the reader reads it, record by record; under a JSON-lines name, one
    pretty-printed document is named as such (exit 2)."""
    rows = [{"time": f"2026-11-01T10:00:0{i}Z", "latency_ms": i} for i in range(3)]
    array = tmp_path / "trace.json"
    array.write_text(json.dumps(rows, indent=2))
    doc = inspect_json(array)
    assert doc["sample"]["records"] == 3 and doc["records"] == 3
    assert doc["canonical"]["found"]["ts"] == "time"
    pretty = tmp_path / "trace.jsonl"
    pretty.write_text(json.dumps(rows, indent=2))
    result = invoke("inspect", pretty)
    assert result.exit_code == 2 and "one JSON document" in result.stdout


def test_empty_file_and_missing_file(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = invoke("inspect", empty)
    assert result.exit_code == 0 and "Records     0" in result.stdout
    missing = invoke("inspect", tmp_path / "nope.jsonl")
    assert missing.exit_code == 2 and missing.stderr.startswith("mlmon: error:")


def test_usage_errors(tmp_path):
    logs = write_jsonl(tmp_path / "a.jsonl", [record()])
    assert invoke("inspect", logs, "--suggest", "--format", "json").exit_code == 2
    assert invoke("inspect", logs, "--sample", "0").exit_code == 2
    clash = invoke("inspect", logs, "-o", logs)
    assert clash.exit_code == 2 and "reads" in clash.stderr
    assert json.loads(logs.read_text())["request_id"] == "r1"  # the log is untouched


def test_own_records_need_no_mapping_and_stdin_works(tmp_path):
    rows = [record(ts=f"2026-11-27T10:00:0{i}Z") for i in range(3)]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    result = subprocess_run("inspect", "-", "--suggest", input=text)
    assert result.returncode == 0 and "need no mapping" in result.stderr
    assert mapping_from_dict(parse_yaml(result.stdout, "own", "mapping file")) == DEFAULT_MAPPING
    doc = json.loads(subprocess_run("inspect", "-", "--format", "json", input=text).stdout)
    assert doc["records"] == 3 and doc["files"] == [{"name": "-", "format": "mlmon", "looks_like": None}]


def test_installed_entry_point_writes_output_atomically(tmp_path):
    logs = write_jsonl(tmp_path / "f.jsonl", _foreign_rows())
    out = tmp_path / "inspect.json"
    result = subprocess_run("inspect", logs, "--format", "json", "-o", out)
    assert result.returncode == 0 and result.stdout == "", result.stderr
    assert json.loads(out.read_text())["records"] == 240
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# --- presets -----------------------------------------------------------------------------------------

PRESET_FIXTURES = ROOT / "tests" / "fixtures" / "presets"


@pytest.mark.parametrize("name", ["azureml", "kserve", "litellm", "openai", "rayserve", "seldon"])
def test_preset_fixtures_are_recognized(name):
    """Each platform's fixture is named as its preset, read with it, and the next step is --preset, not a
    hand-written mapping."""
    doc = inspect_json(PRESET_FIXTURES / name)
    assert doc["format"] == name and doc["read_with"] == f"preset {name}"
    assert doc["records"] > 0 and doc["suggested_mapping"] is None
    assert any(f"--preset {name}" in step for step in doc["next"])
    assert f"mlmon mapping show --preset {name} > mapping.yaml" in doc["next"]
    suggested = invoke("inspect", PRESET_FIXTURES / name, "--suggest")
    assert suggested.exit_code == 0 and f"--preset {name}" in suggested.stderr


def test_a_preset_given_is_judged():
    doc = inspect_json(PRESET_FIXTURES / "sagemaker", "--preset", "sagemaker")
    assert doc["read_with"] == "preset sagemaker"
    assert {"latency_ms", "status"} <= set(doc["canonical"]["missing"])  # Data Capture logs neither
    assert doc["canonical"]["found"]["request"] == "captureData.endpointInput.data"


# --- mlmon mapping show -------------------------------------------------------------------------------


def test_mapping_show_prints_the_default_mapping_that_loads_back():
    result = invoke("mapping", "show")
    assert result.exit_code == 0
    assert mapping_from_dict(parse_yaml(result.stdout, "shown", "mapping file")) == DEFAULT_MAPPING
    assert "fields:" in result.stdout and result.stdout.startswith("#")


def test_mapping_show_unknown_preset_lists_the_known():
    from mlmon.mapping_text import known_presets

    result = subprocess_run("mapping", "show", "--preset", "nosuch")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "unknown preset 'nosuch'" in line and "known presets" in line
    for name in known_presets():
        assert name in line


def test_mapping_show_each_preset():
    from mlmon.mapping_text import known_presets

    presets = known_presets()
    if not presets:
        pytest.skip("no presets in this build")
    for name in presets:
        result = invoke("mapping", "show", "--preset", name)
        assert result.exit_code == 0 and result.stdout.strip()
