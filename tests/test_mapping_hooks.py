"""The mapping's hooks, each on small logs, against what plain Python reads from the same lines."""

import base64
import json
from datetime import datetime, timezone

import pytest

from mlmon.errors import ConfigError
from mlmon.logs.mapping import load_mapping
from mlmon.logs.reader import read_logs


def mapping(tmp_path, text: str):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    return load_mapping(path)


def write(tmp_path, name: str, rows) -> str:
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def test_array_indexes_and_a_top_level_root(tmp_path):
    rows = [{"timestamps": [{"ns": 1_700_000_000_000_000_000 + i * 10**9}, {"ns": 0}], "timing": [0, 12.5 + i],
             "id": f"r{i}", "age": 30 + i, "tags": ["a", "b"][: i + 1]} for i in range(3)]
    log = write(tmp_path, "a.jsonl", rows)
    m = mapping(tmp_path, "fields: {ts: timestamps.0.ns, latency_ms: timing.1, request_id: id}\n"
                          "inputs: .\ninputs_exclude: [timestamps, timing, id]\n")
    data = read_logs([log], m, fields=["ts", "latency_ms", "request_id", "request", "input.age"])
    records = data.records
    assert records["latency_ms"].to_list() == [r["timing"][1] for r in rows]
    assert [t.timestamp() for t in records["ts"].to_list()] == [r["timestamps"][0]["ns"] / 1e9 for r in rows]
    assert [json.loads(r) for r in records["request"].to_list()] == [{"age": r["age"], "tags": r["tags"]} for r in rows]
    assert records["input.age"].to_list() == [str(r["age"]) for r in rows]


def test_decoders_json_csv_and_base64_chosen_per_record(tmp_path):
    bodies = [("JSON", json.dumps({"x": 1.5, "c": "de"})), ("CSV", "2.5,fr"), ("BASE64", base64.b64encode(b"3.5,it").decode()),
              ("BASE64", base64.b64encode(json.dumps({"x": 4.5, "c": "es"}).encode()).decode()),
              ("BASE64", base64.b64encode(b"\xff\xd8\xff binary").decode())]
    rows = [{"t": f"2024-01-01T00:00:0{i}Z", "in": {"data": d, "encoding": e}} for i, (e, d) in enumerate(bodies)]
    log = write(tmp_path, "d.jsonl", rows)
    m = mapping(tmp_path, "fields: {ts: t}\ninputs: in.data\ndecode:\n  in.data:\n    by: in.encoding\n"
                          "    choices: {JSON: json, CSV: csv, BASE64: base64}\n    columns: [x, c]\n")
    records = read_logs([log], m, fields=["ts", "request", "input.x"]).records
    assert [json.loads(r) if r else None for r in records["request"].to_list()] == [
        {"x": 1.5, "c": "de"}, {"x": 2.5, "c": "fr"}, {"x": 3.5, "c": "it"}, {"x": 4.5, "c": "es"}, None]
    assert records["input.x"].to_list() == ["1.5", "2.5", "3.5", "4.5", None]


def test_join_pairs_events_across_chunks_and_files_with_nanosecond_latency(tmp_path):
    requests, responses = [], []
    for i in range(300):
        requests.append({"id": f"k{i}", "kind": "req", "time": f"2024-01-01T00:00:{i % 60:02d}.000000001Z",
                         "body": {"x": i}})
        if i % 7:
            responses.append({"id": f"k{i}", "kind": "resp", "time": f"2024-01-01T00:00:{i % 60:02d}.{i:06d}502Z",
                              "body": {"y": i * 2}, "code": 503 if i % 11 == 0 else 200})
    responses.append({"id": "orphan", "kind": "resp", "time": "2024-01-01T00:01:00Z", "body": {"y": -1}})
    first = write(tmp_path, "a.jsonl", requests[:150] + responses[:100])
    second = write(tmp_path, "b.jsonl", responses[100:] + requests[150:] + [{"id": "x", "kind": "other", "time": "2024-01-01T00:00:00Z"}])
    m = mapping(tmp_path, "fields: {ts: time, request_id: id, status: code}\ninputs: body\noutputs: body\n"
                          "join: {key: id, kind: kind, request: req, response: resp}\n")
    data = read_logs([first, second], m, chunk_bytes=4096)
    got = {r["request_id"]: r for r in data.records.to_dicts()}
    assert len(got) == 301  # 300 requests and the orphan response
    for i in range(300):
        row = got[f"k{i}"]
        if i % 7:
            assert row["latency_ms"] == pytest.approx((i * 1000 + 501) / 1e6, abs=1e-12)
            assert row["status"] == (503 if i % 11 == 0 else 200) and row["error"] is None
        else:
            assert (row["latency_ms"], row["status"], row["error"]) == (None, 500, "no response logged")
    assert got["orphan"]["latency_ms"] is None and got["orphan"]["status"] == 200
    assert any("neither a request nor a response" in n for n in data.notes)


def test_explode_pairs_rows_with_answers_by_position(tmp_path):
    rows = [{"t": "2024-01-01T00:00:00Z", "req": {"instances": [[1, 2], [3, 4], [5, 6]]}, "resp": {"predictions": [0, 1]}},
            {"t": "2024-01-01T00:00:01Z", "req": {"instances": [{"a": 1}]}, "resp": {"predictions": [{"p": 0.5}]}},
            {"t": "2024-01-01T00:00:02Z", "req": {"other": 1}, "resp": {"outputs": []}}]
    log = write(tmp_path, "e.jsonl", rows)
    m = mapping(tmp_path, "fields: {ts: t}\ninputs: req\noutputs: resp\nexplode: {inputs: instances, outputs: predictions}\n")
    records = read_logs([log], m, fields=["ts", "request", "response", "output.prediction"]).records
    assert [json.loads(r) for r in records["request"].to_list()] == [
        {"f0": 1, "f1": 2}, {"f0": 3, "f1": 4}, {"f0": 5, "f1": 6}, {"a": 1}, {"other": 1}]
    assert [json.loads(r) if r else None for r in records["response"].to_list()] == [
        {"prediction": 0}, {"prediction": 1}, None, {"p": 0.5}, {"outputs": []}]


def test_times_status_text_between_extract_only_and_ts_fill(tmp_path):
    rows = ['{"asctime": "2024-02-27 10:36:08,908", "message": "GET / 200 1.5ms", "s": "ok"}',
            '{"asctime": "2024-02-27 10:36:09,100", "message": "Started replica", "s": "ok"}',
            '{"message": "POST /p 500 12.0ms", "s": "failure"}',
            '{"asctime": "2024-02-27 10:36:10,000", "message": "GET / 200 3ms", "s": "weird", "a": 1.25, "b": 1.5}']
    log = write(tmp_path, "r.jsonl", rows)
    m = mapping(tmp_path, "fields: {ts: asctime, status: s}\nts_format: '%Y-%m-%d %H:%M:%S,%3f'\ntimezone: Etc/GMT-1\n"
                          "status_map: {ok: 200, failure: 500}\nonly: {message: '\\d+(\\.\\d+)?ms$'}\n"
                          "extract: {latency_ms: {from: message, regex: ' ([0-9.]+)ms$'}}\n"
                          "between: {cpu_percent: [a, b]}\nts_fill: neighbors\n")
    data = read_logs([log], m, fields=["ts", "status", "latency_ms", "cpu_percent"])
    records = data.records
    # Line 2 is no request (left out, not bad); line 4's status text is unknown: a bad line.
    assert [r["reason"] for r in data.rejects.to_dicts()] == ["wrong type for status (expected an integer)"]
    assert records["status"].to_list() == [200, 500]
    assert records["latency_ms"].to_list() == [1.5, 12.0]
    # Naive times in UTC+1: 10:36:08.908 local is 09:36:08.908 UTC; line 3 takes the time of the line
    # before it in the file (a server message: no request, but its time is the file's time there).
    assert records["ts"].to_list() == [utc("2024-02-27T09:36:08.908Z"), utc("2024-02-27T09:36:09.100Z")]


def test_between_gives_milliseconds(tmp_path):
    log = write(tmp_path, "b.jsonl", [{"start": 1733212800.125, "end": 1733212801.5}, {"start": "2025-01-24 09:20:46.847371", "end": "2025-01-24 09:20:47.000000"}])
    m = mapping(tmp_path, "fields: {ts: start}\nbetween: {latency_ms: [start, end]}\n")
    records = read_logs([log], m, fields=["ts", "latency_ms"]).records
    assert records["latency_ms"].to_list() == [pytest.approx(1375.0), pytest.approx(152.629)]


def test_a_mapping_with_bad_hooks_lists_every_problem_with_its_line(tmp_path):
    text = ("decode: {a.b: yaml}\n"
            "join: {key: id}\n"
            "explode: 3\n"
            "status_map: {ok: fine}\n"
            "timezone: Mars/Olympus\n"
            "only: {message: '('}\n"
            "between: {latency: [a, b]}\n"
            "ts_fill: somehow\n")
    with pytest.raises(ConfigError) as caught:
        mapping(tmp_path, text)
    problems = caught.value.details
    lines = sorted(int(p.split(":")[1]) for p in problems)
    assert lines == [1, 2, 2, 2, 3, 4, 5, 6, 7, 8], problems
    assert any("unknown decoder 'yaml'" in p for p in problems)
    assert any("did you mean 'latency_ms'" in p for p in problems)


def test_ingest_takes_a_preset_without_pairs_and_one_with_pairs(tmp_path):
    from typer.testing import CliRunner

    from conftest import ROOT
    from mlmon.cli import app

    fixtures = ROOT / "tests" / "fixtures" / "presets"
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", str(fixtures / "litellm" / "constructed-payloads.jsonl"), "--store",
                                 str(tmp_path / "store"), "--preset", "litellm"])
    assert result.exit_code == 0, result.output
    report = runner.invoke(app, ["report", "--store", str(tmp_path / "store"), "--format", "json"])
    assert json.loads(report.stdout)["source"]["records"] == 4
    result = runner.invoke(app, ["ingest", str(fixtures / "kserve"), "--store", str(tmp_path / "s2")])
    assert result.exit_code == 0 and "1 event waiting for its partner" in result.stderr  # tests/test_ingest_pairs.py


def test_alternatives_that_name_each_other_end_and_status_codes_are_http_codes(tmp_path):
    rows = [{"b": "2024-01-01T00:00:00Z"}, {"a": "2024-01-01T00:00:01Z"}]
    log = write(tmp_path, "alt.jsonl", rows)
    m = mapping(tmp_path, "fields: {ts: a}\nalternatives: {a: [b, a], b: [a]}\n")
    records = read_logs([log], m, fields=["ts"]).records
    assert records["ts"].to_list() == [utc(r.get("a") or r["b"]) for r in rows]
    with pytest.raises(ConfigError) as caught:
        mapping(tmp_path, "status_map: {ok: 99999999999999999999999, fine: 42, good: 200}\n")
    assert len(caught.value.details) == 2 and all("from 100 to 599" in p for p in caught.value.details)


def test_an_empty_preset_name_is_not_auto(tmp_path):
    from typer.testing import CliRunner

    from mlmon.cli import app

    log = write(tmp_path, "own.jsonl", [{"ts": "2024-01-01T00:00:00Z"}])
    result = CliRunner().invoke(app, ["report", log, "--preset", ""])
    assert result.exit_code == 2 and "unknown preset ''" in result.stderr
    result = CliRunner().invoke(app, ["inspect", log, "--sample", "99999999999999999999"])
    assert result.exit_code == 2 and "at most 1000000" in result.stderr
