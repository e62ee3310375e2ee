"""Reading logs: inputs, timestamps, mapping, and every kind of bad line."""

import gzip
import io
import json
import os
import sys

import polars as pl
import pytest

from conftest import SAMPLE_LOGS, record, write_jsonl
from mlmon.errors import ConfigError, InputError
from mlmon.logs.mapping import load_mapping
from mlmon.logs.reader import read_logs
from mlmon.logs.sources import resolve_inputs


def _reasons(data):
    return dict(zip(data.rejects["line"].to_list(), data.rejects["reason"].to_list()))


@pytest.fixture
def without_verdict(monkeypatch):
    """For tests of decoding alone: an input of bad lines only gives its rejects instead of an InputError."""
    from mlmon.logs import reader

    monkeypatch.setattr(reader, "judge", lambda *args, **kwargs: [])


# --- every bad-input case, each beside good lines that must survive -----------------

BAD_LINES = [
    ("truncated", b'{"ts": "2026-11-27T10:00:00Z", "latency_ms": 1', "malformed JSON"),
    ("text", b"INFO worker started", "malformed JSON"),
    ("interior syntax", b'{"ts": "2026-11-27T10:00:00Z",, "latency_ms": 1}', "malformed JSON"),
    ("wrong type", json.dumps(record(latency_ms="fast")).encode(), "wrong type for latency_ms (expected a number)"),
    ("wrong status", json.dumps(record(status="ok")).encode(), "wrong type for status (expected an integer)"),
    ("status past 64 bits", json.dumps(record(status=10**20)).encode(), "wrong type for status (expected an integer)"),
    ("bool latency", json.dumps(record(latency_ms=True)).encode(), "wrong type for latency_ms (expected a number)"),
    ("object latency", json.dumps(record(latency_ms={"v": 1})).encode(), "wrong type for latency_ms (expected a number)"),
    ("missing ts", json.dumps({k: v for k, v in record().items() if k != "ts"}).encode(), "missing ts"),
    ("null ts", json.dumps(record(ts=None)).encode(), "missing ts"),
    ("bad ts", json.dumps(record(ts="yesterday")).encode(), "unparseable ts"),
    ("signed fraction", json.dumps(record(ts="2026-11-27T10:00:05.+12Z")).encode(), "unparseable ts"),
    ("invalid utf8", b'{"ts": "2026-11-27T10:00:00Z", "model": "\xff\xfe"}', "invalid UTF-8"),
    ("array", b"[1, 2, 3]", "not a JSON object"),
    ("string", b'"hello"', "not a JSON object"),
    ("negative latency", json.dumps(record(latency_ms=-5)).encode(), "negative latency_ms"),
    ("control char", b'{"ts": "2026-11-27T10:00:00Z", "model": "a\x1fb"}', "malformed JSON"),
]


@pytest.mark.parametrize("name,line,reason", BAD_LINES, ids=[b[0] for b in BAD_LINES])
@pytest.mark.parametrize("where", ["plain", "gzip"])
def test_bad_line_is_skipped_and_costs_no_neighbour(tmp_path, name, line, reason, where):
    before = record(request_id="before", latency_ms=11.0)
    after = record(request_id="after", latency_ms=13.0)
    path = write_jsonl(tmp_path / ("x.jsonl.gz" if where == "gzip" else "x.jsonl"), [before, line, after], gz=where == "gzip")
    data = read_logs([str(path)])
    assert sorted(data.records["request_id"].to_list()) == ["after", "before"]
    assert data.skipped == 1
    assert _reasons(data) == {2: reason}
    assert data.rejects["file"].to_list() == [str(path)]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_numbers_written_as_text_are_numbers_and_nulls_stay_null(tmp_path, gz):
    # The malformed line sends a plain file down the line path too.
    rows = [
        record(request_id="a", latency_ms="12.5", status="201", cpu_percent="7"),
        record(request_id="b", latency_ms=None, request={"latency_ms": "not this one"}),
        b"{bad",
        record(request_id="c", latency_ms=3),
    ]
    path = write_jsonl(tmp_path / ("x.jsonl.gz" if gz else "x.jsonl"), rows, gz=gz)
    data = read_logs([str(path)])
    assert _reasons(data) == {3: "malformed JSON"}
    got = {r["request_id"]: r for r in data.records.to_dicts()}
    assert (got["a"]["latency_ms"], got["a"]["status"], got["a"]["cpu_percent"]) == (12.5, 201, 7.0)
    assert got["b"]["latency_ms"] is None and got["b"]["status"] == 200
    assert got["c"]["latency_ms"] == 3.0


def test_many_bad_lines_keep_line_numbers_across_chunks(tmp_path):
    rows, expected_bad = [], {}
    for i in range(1, 3001):
        if i % 97 == 0:
            rows.append(b'{"ts": "2026-11-27T10:00:00Z",, }')
            expected_bad[i] = "malformed JSON"
        elif i % 89 == 0:
            rows.append(json.dumps(record(latency_ms="slow")).encode())
            expected_bad[i] = "wrong type for latency_ms (expected a number)"
        elif i % 83 == 0:
            rows.append(b"")  # blank lines are ignored, not counted
        else:
            rows.append(json.dumps(record(request_id=str(i), latency_ms=float(i))).encode())
    path = write_jsonl(tmp_path / "many.jsonl", rows)
    data = read_logs([str(path)], chunk_bytes=4096)
    assert _reasons(data) == expected_bad
    good = {int(x) for x in data.records["request_id"].to_list()}
    assert good == {i for i in range(1, 3001) if i not in expected_bad and i % 83}
    # The line path and the fast path give the same records.
    whole = read_logs([str(path)])
    assert _reasons(whole) == expected_bad
    assert whole.records.sort("request_id").equals(data.records.sort("request_id"))


def test_huge_line_is_skipped_inside_and_across_chunks(tmp_path):
    huge = json.dumps(record(request_id="huge", request={"blob": "x" * 5000})).encode()
    path = write_jsonl(tmp_path / "h.jsonl", [record(request_id="a"), huge, record(request_id="b")])
    for chunk in (1 << 20, 1024):
        data = read_logs([str(path)], max_line_bytes=2000, chunk_bytes=chunk)
        assert sorted(data.records["request_id"].to_list()) == ["a", "b"]
        assert _reasons(data) == {2: "line longer than 2000 bytes"}
        assert data.rejects["raw"][0].startswith('{"ts"')


def test_raw_text_of_rejects_is_kept(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [record(), b"not json at all"])
    data = read_logs([str(path)])
    assert data.rejects.row(0, named=True) == {"file": str(path), "line": 2, "reason": "malformed JSON", "raw": "not json at all"}


def test_strict_turns_a_bad_line_into_an_error(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [record(), b"{oops", record()])
    with pytest.raises(InputError, match=r"x.jsonl:2: bad log line \(malformed JSON\)"):
        read_logs([str(path)], strict=True)


def test_empty_file_gives_no_records(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    data = read_logs([str(path)])
    assert data.records.height == 0 and data.skipped == 0
    assert data.records.schema["ts"] == pl.Datetime("us", "UTC")


def test_blank_and_padded_lines(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [b"", b"   ", b"  " + json.dumps(record()).encode() + b"  ", b"\t"])
    data = read_logs([str(path)])
    assert data.records.height == 1 and data.skipped == 0


def test_crlf_line_endings(tmp_path):
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(b"\r\n".join(json.dumps(record(request_id=str(i))).encode() for i in range(3)) + b"\r\n{bad\r\n")
    data = read_logs([str(path)])
    assert data.records.height == 3
    assert _reasons(data) == {4: "malformed JSON"}


def test_keys_that_appear_late_are_not_dropped(tmp_path):
    # A reader that infers its schema from the first rows would lose `error` here.
    rows = [record(request_id=str(i), status=200) for i in range(500)]
    rows.append({"ts": "2026-11-27T10:00:00Z", "error": "boom"})
    data = read_logs([str(write_jsonl(tmp_path / "x.jsonl", rows))])
    last = data.records.filter(pl.col("error").is_not_null())
    assert last["error"].to_list() == ["boom"] and last["status"].to_list() == [500]


# --- timestamps ----------------------------------------------------------------------

TS_FORMS = [
    "2026-11-27T10:00:00.250Z",
    "2026-11-27T12:00:00.250+02:00",
    "2026-11-27T08:30:00.250-0130",
    "2026-11-27T10:00:00.250",
    "2026-11-27 10:00:00.250",
    "2026-11-27 10:00:00.250Z",
    1795773600.25,
    1795773600250,
    1795773600250000,
    1795773600250000000,
    "1795773600.25",
]


@pytest.mark.parametrize("ts", TS_FORMS, ids=[str(t) for t in TS_FORMS])
def test_timestamp_forms_normalize_to_utc(tmp_path, ts):
    data = read_logs([str(write_jsonl(tmp_path / "t.jsonl", [record(ts=ts)]))])
    assert data.skipped == 0
    value = data.records["ts"][0]
    assert value.isoformat() == "2026-11-27T10:00:00.250000+00:00"


def test_date_only_and_minute_precision(tmp_path):
    data = read_logs([str(write_jsonl(tmp_path / "t.jsonl", [record(ts="2026-11-27"), record(ts="2026-11-27T10:05Z")]))])
    assert [v.isoformat() for v in data.records["ts"]] == ["2026-11-27T00:00:00+00:00", "2026-11-27T10:05:00+00:00"]


def test_status_defaults(tmp_path):
    rows = [
        {"ts": "2026-11-27T10:00:00Z"},
        {"ts": "2026-11-27T10:00:00Z", "error": "boom"},
        {"ts": "2026-11-27T10:00:00Z", "error": ""},
        {"ts": "2026-11-27T10:00:00Z", "status": 404},
        {"ts": "2026-11-27T10:00:00Z", "status": "503"},
        {"ts": "2026-11-27T10:00:00Z", "status": 201.0},
    ]
    data = read_logs([str(write_jsonl(tmp_path / "s.jsonl", rows))])
    assert data.records["status"].to_list() == [200, 500, 200, 404, 503, 201]
    assert data.records["error"].to_list() == [None, "boom", None, None, None, None]


# --- the verdict: nothing good is an error, mostly bad a warning ---------------------------


FOREIGN = {"timestamp": "2026-11-27T10:00:00Z", "duration": 3, "payload": {"x": 1}}


def test_bad_lines_and_no_good_record_is_an_input_error_that_says_what_to_try(tmp_path):
    path = write_jsonl(tmp_path / "foreign.jsonl", [FOREIGN] * 4 + [b"", b"oops"])
    with pytest.raises(InputError) as caught:
        read_logs([str(path)])
    assert caught.value.message == f"no good log record in {path}: 5 bad lines (missing ts 4, malformed JSON 1)"
    assert "--mapping FILE" in caught.value.hint and '"Field mapping"' in caught.value.hint
    # With a mapping that still finds nothing, the hint is about that mapping.
    mapping = tmp_path / "m.yaml"
    mapping.write_text("fields:\n  ts: time\n")
    with pytest.raises(InputError, match="missing ts 4") as caught:
        read_logs([str(path)], load_mapping(mapping))
    assert "Check that the --mapping file" in caught.value.hint


def test_the_labels_file_is_not_logs():
    labels = SAMPLE_LOGS / "labels.csv"
    lines = sum(1 for line in labels.read_text().splitlines() if line.strip())
    with pytest.raises(InputError, match=rf"no good log record in .*labels.csv: {lines:,} bad lines \(malformed JSON {lines:,}\)"):
        read_logs([str(labels)])


def test_empty_and_blank_inputs_are_zero_requests_not_errors(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    blank = write_jsonl(tmp_path / "blank.jsonl", [b"", b"  ", b"\t"])
    data = read_logs([str(empty), str(blank)])
    assert (data.records.height, data.skipped, data.warnings) == (0, 0, [])


def test_every_input_bad_names_the_files_and_sums_the_reasons(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", [FOREIGN, FOREIGN])
    b = write_jsonl(tmp_path / "b.jsonl", [b"[1, 2]", FOREIGN])
    with pytest.raises(InputError) as caught:
        read_logs([str(a), str(b)])
    assert caught.value.message == (f"no good log record in 2 files ({a}, {b}): "
                                    "4 bad lines (missing ts 3, not a JSON object 1)")


@pytest.mark.parametrize("good,bad,warned", [(1, 2, True), (2, 2, False), (3, 1, False), (0, 3, True)])
def test_a_file_with_more_bad_lines_than_good_is_a_warning(tmp_path, good, bad, warned):
    other = write_jsonl(tmp_path / "other.jsonl", [record(request_id="o")])
    rows = [record(request_id=str(i)) for i in range(good)] + [FOREIGN] * (bad - 1) + [b"{cut"] * (bad > 0)
    path = write_jsonl(tmp_path / "mixed.jsonl", rows + [b""])
    data = read_logs([str(other), str(path)])
    assert data.records.height == good + 1
    reasons = f"missing ts {bad - 1}, malformed JSON 1" if bad > 1 else "malformed JSON 1"
    if bad - 1 == 1:
        reasons = "malformed JSON 1, missing ts 1"  # equal counts: by name
    expected = [f"{path}: {bad} of {good + bad} lines are bad ({reasons})"] if warned else []
    assert data.warnings == expected


def test_a_json_document_file_is_read_record_by_record(tmp_path):
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(record(request_id="p1"), indent=2) + "\n" + json.dumps(record(request_id="p2"), indent=4))
    array = tmp_path / "array.json"
    array.write_text(json.dumps([record(request_id="a1"), 7, record(request_id="a3")], indent=2))
    lines = tmp_path / "lines.json"  # JSON lines named .json stay JSON lines: a bad line costs no other
    lines.write_text(json.dumps(record(request_id="l1")) + "\n{oops\n" + json.dumps(record(request_id="l3")) + "\n")
    assert read_logs([str(pretty)]).records["request_id"].to_list() == ["p1", "p2"]
    data = read_logs([str(array)])
    assert data.records["request_id"].to_list() == ["a1", "a3"]
    assert _reasons(data) == {2: "not a JSON object"}  # the second record of the array
    data = read_logs([str(lines)])
    assert data.records["request_id"].to_list() == ["l1", "l3"]
    assert _reasons(data) == {2: "malformed JSON"}
    # A document that stops being JSON keeps the records before; the rest is one bad record.
    broken = tmp_path / "broken.json"
    broken.write_text("[" + json.dumps(record(request_id="b1")) + ", {\"ts\": ")
    data = read_logs([str(broken)])
    assert data.records["request_id"].to_list() == ["b1"]
    assert _reasons(data) == {2: "malformed JSON"}
    # A document that is not JSON at all is still said so.
    with pytest.raises(InputError):
        read_logs([str(tmp_path / "x.json")] if (tmp_path / "x.json").write_text("[nope\n") else [])


def test_whether_a_line_is_bad_does_not_depend_on_the_fields_asked_for(tmp_path):
    # baseline save asks for no latency, CPU or memory: their bad values made no bad line there.
    rows = [record(request_id="ok"), record(latency_ms="fast"), record(status=99999999999999999999999),
            record(cpu_percent=-1), record(memory_mb=[1])]
    path = write_jsonl(tmp_path / "x.jsonl", rows)
    for fields in (None, ["request_id"], ["ts", "request_id", "status", "request", "response"]):
        data = read_logs([str(path)], fields=fields)
        assert data.records["request_id"].to_list() == ["ok"], fields
        assert _reasons(data) == {2: "wrong type for latency_ms (expected a number)",
                                  3: "wrong type for status (expected an integer)", 4: "negative cpu_percent",
                                  5: "wrong type for memory_mb (expected a number)"}, fields
    # Only the fields asked for come back.
    assert "latency_ms" not in read_logs([str(path)], fields=["request_id"]).records.columns


@pytest.mark.parametrize("where", ["clean", "with a malformed line", "gzip"])
def test_fields_mapped_inside_the_response_object_are_read_and_checked_beside_it(tmp_path, where):
    # The response object is read whole (for output fields and replay) and latency, error and status inside it.
    mapping = tmp_path / "m.yaml"
    mapping.write_text("fields:\n  latency_ms: response.meta.latency\n  error: response.error\n  status: response.code\n")
    rows = [{"ts": f"2026-11-27T10:00:0{i}Z", "request": {"x": i}, "response": {"y": i, "meta": {"latency": i + 0.5}}}
            for i in range(4)]
    rows[1]["response"].update(error="boom", code="503")
    rows[2]["response"]["meta"]["latency"] = "fast"
    rows[3]["response"]["meta"] = {"latency": "7"}
    lines = rows + ([b"{cut"] if where == "with a malformed line" else [])
    path = write_jsonl(tmp_path / ("x.jsonl.gz" if where == "gzip" else "x.jsonl"), lines, gz=where == "gzip")
    expected_bad = {3: "wrong type for latency_ms (expected a number)"}
    if where == "with a malformed line":
        expected_bad[5] = "malformed JSON"
    for fields in (None, ["ts", "request_id", "status", "request", "response"], ["response", "latency_ms"]):
        data = read_logs([str(path)], load_mapping(mapping), fields=fields)
        assert _reasons(data) == expected_bad, fields
        assert data.records["status"].to_list() == [200, 503, 200] and data.records["error"].to_list() == [None, "boom", None]
        if "latency_ms" in data.records.columns:
            assert data.records["latency_ms"].to_list() == [0.5, 1.5, 7.0]
        if "response" in data.records.columns:
            assert json.loads(data.records["response"][1]) == rows[1]["response"]


# --- inputs ----------------------------------------------------------------------------


def test_directories_are_searched_recursively(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    write_jsonl(tmp_path / "a" / "one.jsonl", [record()])
    write_jsonl(tmp_path / "a" / "b" / "two.ndjson.gz", [record()], gz=True)
    write_jsonl(tmp_path / "a" / "b" / "three.log", [record()])
    (tmp_path / "a" / "notes.txt").write_text("ignored")
    names = [s.path.name for s in resolve_inputs([str(tmp_path / "a")]).sources]
    assert names == ["one.jsonl", "three.log", "two.ndjson.gz"]
    assert read_logs([str(tmp_path / "a")]).records.height == 3


def _rotated_dir(tmp_path):
    """A log directory as logrotate leaves it, with a few files that are not logs."""
    logs = tmp_path / "logs"
    (logs / "old").mkdir(parents=True)
    days = {"app.log-20261122": 22, "app.log-20261123.gz": 23, "app.log.2.gz": 24, "app.log.1": 25, "app.log": 26}
    for name, day in days.items():
        write_jsonl(logs / name, [record(ts=f"2026-11-{day}T10:00:00Z", request_id=name)], gz=name.endswith(".gz"))
    write_jsonl(logs / "events.json", [record(request_id="events.json")])
    write_jsonl(logs / "old" / "svc.jsonl.10", [record(request_id="svc.jsonl.10")])
    write_jsonl(logs / "old" / "svc.jsonl.9.gz", [record(request_id="svc.jsonl.9.gz")], gz=True)
    write_jsonl(logs / ".hidden.jsonl", [b"not read, not counted"])
    (logs / "README.txt").write_text("rotated daily")
    (logs / "data.csv").write_text("a,b\n")
    (logs / "app.log.bak").write_text("x")
    os.mkfifo(logs / "pipe.jsonl")  # a writer that never comes: reading it would wait forever
    return logs


def test_a_directory_reads_rotated_logs_oldest_first_and_json_files(tmp_path):
    logs = _rotated_dir(tmp_path)
    found = resolve_inputs([str(logs)])
    expected = ["app.log-20261122", "app.log-20261123.gz", "app.log.2.gz", "app.log.1", "app.log", "events.json",
                "svc.jsonl.10", "svc.jsonl.9.gz"]
    assert [s.path.name for s in found.sources] == expected
    assert found.notes == [f"{logs}: skipped 4 files: 3 not named like logs (README.txt, app.log.bak, data.csv), "
                           "1 not a regular file (pipe.jsonl)"]
    data = read_logs([str(logs)])
    assert data.records["request_id"].to_list() == expected and data.notes == found.notes


def test_a_glob_reads_rotated_logs_oldest_first(tmp_path):
    logs = _rotated_dir(tmp_path)
    found = resolve_inputs([str(logs / "app.log*")])
    assert [s.path.name for s in found.sources] == [
        "app.log-20261122", "app.log-20261123.gz", "app.log.2.gz", "app.log.1", "app.log", "app.log.bak"]
    assert found.notes == []


def test_a_note_lists_a_few_names_and_a_directory_of_no_logs_says_what_it_skipped(tmp_path):
    (tmp_path / "d").mkdir()
    for name in ("e.txt", "a.txt", "c.txt", "b.txt", "d.csv"):
        (tmp_path / "d" / name).write_text("x")
    with pytest.raises(InputError) as caught:
        resolve_inputs([str(tmp_path / "d")])
    assert caught.value.message == (f"directory {tmp_path / 'd'} holds no log files "
                                    "(skipped 5 files: 5 not named like logs (a.txt, b.txt, c.txt, …))")
    assert "*.json," in caught.value.hint and "rotated" in caught.value.hint


def test_a_named_fifo_stays_readable_but_a_directory_search_skips_one(tmp_path):
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    assert [s.path for s in resolve_inputs([str(fifo)]).sources] == [fifo]
    with pytest.raises(InputError, match=r"holds no log files \(skipped 1 file: 1 not a regular file \(pipe.jsonl\)\)"):
        resolve_inputs([str(tmp_path)])


def test_globs_and_duplicates(tmp_path):
    for name in ("x1.jsonl", "x2.jsonl"):
        write_jsonl(tmp_path / name, [record()])
    sources = resolve_inputs([str(tmp_path / "x*.jsonl"), str(tmp_path / "x1.jsonl")]).sources
    assert [s.path.name for s in sources] == ["x1.jsonl", "x2.jsonl"]


def test_no_matching_input_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no log files match"):
        resolve_inputs([str(tmp_path / "nope*.jsonl")])
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(InputError, match="holds no log files"):
        resolve_inputs([str(tmp_path / "emptydir")])


def test_unreadable_file_is_an_input_error(tmp_path, monkeypatch):
    import builtins

    path = write_jsonl(tmp_path / "secret.jsonl", [record()])
    real_open = builtins.open

    def deny(file, *args, **kwargs):  # CI runs as root, so chmod alone cannot deny reading
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", deny)
    with pytest.raises(InputError, match="permission denied"):
        read_logs([str(path)])


def test_truncated_gzip_is_an_input_error(tmp_path):
    data = gzip.compress(b"\n".join(json.dumps(record()).encode() for _ in range(2000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated"):
        read_logs([str(path)])


def test_stdin(monkeypatch, tmp_path):
    payload = b"\n".join(json.dumps(record(request_id=str(i))).encode() for i in range(5)) + b"\n{bad\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(payload)))
    data = read_logs(["-"])
    assert data.records.height == 5
    assert data.rejects["file"].to_list() == ["<stdin>"]


def test_gzip_on_stdin_is_decompressed(monkeypatch):
    payload = b"\n".join(json.dumps(record(request_id=str(i))).encode() for i in range(5)) + b"\n{bad\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(gzip.compress(payload)))))
    data = read_logs(["-"])
    assert data.records.height == 5
    assert _reasons(data) == {6: "malformed JSON"}


# --- mapping -----------------------------------------------------------------------------


def test_mapping_points_fields_at_the_users_schema(tmp_path):
    mapping_file = tmp_path / "m.yaml"
    mapping_file.write_text(
        "fields:\n"
        "  ts: meta.time\n"
        "  latency_ms: timing.seconds\n"
        "  status: http.code\n"
        "  request_id: meta.id\n"
        "inputs: payload.features\n"
        "outputs: result\n"
        "latency_unit: s\n"
        "constants:\n"
        "  model: churn\n"
    )
    rows = [
        {"meta": {"time": 1795773600, "id": "a"}, "timing": {"seconds": 0.25}, "http": {"code": 200},
         "payload": {"features": {"country": "DE"}}, "result": {"label": "yes"}},
        {"meta": {"time": 1795773601, "id": "b"}, "timing": {"seconds": 1.5}, "http": {"code": 503},
         "payload": {"features": {"country": "FR"}}, "result": {"label": "no"}},
    ]
    path = write_jsonl(tmp_path / "own.jsonl", rows)
    data = read_logs([str(path)], load_mapping(mapping_file), ["ts", "latency_ms", "status", "request_id", "model",
                                                               "input.country", "output.label"])
    assert data.skipped == 0
    assert data.records["latency_ms"].to_list() == [250.0, 1500.0]
    assert data.records["status"].to_list() == [200, 503]
    assert data.records["model"].to_list() == ["churn", "churn"]
    assert data.records["input.country"].to_list() == ["DE", "FR"]
    assert data.records["output.label"].to_list() == ["yes", "no"]


@pytest.mark.parametrize("unit,factor", [("s", 1000.0), ("ms", 1.0), ("us", 0.001), ("ns", 0.000001)])
def test_latency_units(tmp_path, unit, factor):
    mapping_file = tmp_path / "m.yaml"
    mapping_file.write_text(f"latency_unit: {unit}\n")
    path = write_jsonl(tmp_path / "x.jsonl", [record(latency_ms=1234)])
    data = read_logs([str(path)], load_mapping(mapping_file))
    assert data.records["latency_ms"][0] == pytest.approx(1234 * factor)


def test_ts_unit_override(tmp_path):
    mapping_file = tmp_path / "m.yaml"
    mapping_file.write_text("ts_unit: ms\n")
    data = read_logs([str(write_jsonl(tmp_path / "x.jsonl", [record(ts=5000)]))], load_mapping(mapping_file))
    assert data.records["ts"][0].isoformat() == "1970-01-01T00:00:05+00:00"


def test_nested_input_values_are_flattened_to_dotted_names(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [record(request={"user": {"geo": {"country": "DE"}}, "n": 3})])
    data = read_logs([str(path)], fields=["input.user.geo.country", "input.n"])
    assert data.records["input.user.geo.country"].to_list() == ["DE"]
    assert data.records["input.n"].to_list() == ["3"]


@pytest.mark.parametrize(
    "text,needle",
    [
        ("fieldz:\n  ts: a\n", "1:1: unknown key 'fieldz'; did you mean 'fields'?"),
        ("fields:\n  latncy_ms: a\n", "unknown field 'latncy_ms'; did you mean 'latency_ms'?"),
        ("latency_unit: hours\n", "latency_unit must be one of s, ms, us, ns"),
        ("fields: [1, 2]\n", "'fields' must map canonical field names"),
        ("inputs: 5\n", "'inputs' needs a dotted path"),
        ("constants:\n  latency_ms: 5\n", "constant 'latency_ms' is not allowed"),
        ("constants:\n  error: boom\n", "constant 'error' is not allowed (allowed: request_id, model, model_version, endpoint)"),
        ("redact: ssn\n", "'redact' must be a list of key names"),
        ("fields:\n  ts: [\n", "is not valid YAML"),
        ("- a\n- b\n", "must be a YAML mapping"),
    ],
)
def test_bad_mapping_files(tmp_path, text, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_mapping(path)
    assert needle in " ".join([str(info.value), *info.value.details])


def test_bad_mapping_lists_every_problem(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("fieldz: 1\nlatency_unit: hours\nts_unit: years\n")
    with pytest.raises(ConfigError) as info:
        load_mapping(path)
    assert len(info.value.details) == 3
    assert [d.split(":")[1] for d in info.value.details] == ["1", "2", "3"]


def test_missing_mapping_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_mapping(tmp_path / "nope.yaml")


def test_allocator_tuning_is_safe_to_call(monkeypatch):
    from mlmon import allocator

    monkeypatch.delenv("_RJEM_MALLOC_CONF", raising=False)
    assert allocator.tune() in (True, False)  # True on glibc; a no-op elsewhere
    assert allocator.tune() in (True, False)  # and calling it twice is harmless
    assert "dirty_decay_ms" in os.environ["_RJEM_MALLOC_CONF"]
    monkeypatch.setenv("_RJEM_MALLOC_CONF", "narenas:1")  # the user's own setting wins
    allocator.tune()
    assert os.environ["_RJEM_MALLOC_CONF"] == "narenas:1"


def test_the_cli_module_does_not_import_polars():
    # The allocator settings must be in place before Polars loads its jemalloc.
    import subprocess

    code = "import sys, mlmon.cli; print('polars' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_line_path_edge_lines(tmp_path):
    """Lines the well-formed-JSON expression cannot clear by itself, and U+FFFD of the logs' own."""
    deep = record(request_id="deep", request={"a": {"b": {"c": {"d": {"e": [1, {"f": 2}]}}}}})  # deeper than the regex
    rows = [
        deep,
        record(request_id="own-fffd", model="caf\ufffd"),  # a literal U+FFFD is valid UTF-8
        b'{"ts": "2026-11-27T10:00:00Z", "request_id": "bad\xff"}',
        b'{"ts": "2026-11-27T10:00:00Z"}{"ts": "2026-11-27T10:00:01Z"}',  # two objects on one line
        b'{"ts": "2026-11-27T10:00:00Z", "x": tru}',
        b"{}",
        record(request_id="last"),
    ]
    for gz in (False, True):
        path = write_jsonl(tmp_path / ("e.jsonl.gz" if gz else "e.jsonl"), rows, gz=gz)
        data = read_logs([str(path)], chunk_bytes=256)
        assert _reasons(data) == {3: "invalid UTF-8", 4: "malformed JSON", 5: "malformed JSON", 6: "missing ts"}
        assert sorted(data.records["request_id"].to_list()) == ["deep", "last", "own-fffd"]
        assert data.records.filter(pl.col("request_id") == "own-fffd")["model"].to_list() == ["caf\ufffd"]


def test_invalid_utf8_lines_are_found_exactly(monkeypatch):
    import random

    from mlmon.logs import chunks
    from mlmon.logs.chunks import invalid_utf8_lines

    rng = random.Random(5)
    for _ in range(2000):
        lines = [bytes(rng.choice(b"a{\xc3\xa9\x80\xff\xe2\x82\xac") for _ in range(rng.randrange(8)))
                 for _ in range(rng.randrange(12))]
        data = b"\n".join(lines) + (b"\n" if rng.random() < 0.5 else b"")
        monkeypatch.setattr(chunks, "_UTF8_WINDOW", rng.choice([1, 2, 5, 1000]))
        expected = []
        for i, line in enumerate(data.split(b"\n")):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                expected.append(i)
        assert invalid_utf8_lines(data) == expected, data


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["LF", "CRLF"])
def test_chunking_never_loses_or_misnumbers_a_line(tmp_path, gz, newline, without_verdict):
    """Random mixes of good, blank, malformed, non-UTF-8 and too-long lines, cut at many chunk sizes, against a
    plain oracle (the bad lines of a plain LF file are spliced out of the chunk's bytes; of CRLF, rewritten)."""
    import random

    rng = random.Random(f"{gz}{newline!r}")
    limit = 60

    def good(i):
        return ('{"ts":"2024-01-01T00:00:00Z","model":"m%d"}' % i).encode()

    def huge(i):
        return ('{"ts":"2024-01-01T00:00:00Z","model":"H%d%s"}' % (i, "x" * rng.randint(30, 200))).encode()

    for _ in range(10):
        lines = []
        for i in range(rng.randint(1, 12)):
            k = rng.random()
            lines.append(huge(i) if k < .3 else b"" if k < .4 else b"bad" if k < .5 else
                         b'{"ts":"2024-01-01T00:00:00Z","model":"\xff\xfe"}' if k < .6 else good(i))
        trailing = rng.random() < .5
        data = newline.join(lines) + (newline if trailing else b"")
        if not trailing and lines[-1] == b"":
            lines = lines[:-1]
        def reason(ln):
            if len(ln) > limit:
                return f"line longer than {limit} bytes"
            return "malformed JSON" if ln == b"bad" else "invalid UTF-8" if b"\xff" in ln else None

        records = [ln.split(b'"model":"')[1].split(b'"')[0].decode() for ln in lines if ln and not reason(ln)]
        rejects = [(n, reason(ln)) for n, ln in enumerate(lines, 1) if ln and reason(ln)]
        path = tmp_path / ("r.jsonl.gz" if gz else "r.jsonl")
        path.write_bytes(gzip.compress(data) if gz else data)
        for chunk in sorted({1, 30, 62, 1 << 20, rng.randint(1, len(data) + 1)}):
            got = read_logs([str(path)], chunk_bytes=chunk, max_line_bytes=limit)
            assert got.records["model"].to_list() == records, (chunk, data)
            assert [(r[1], r[2]) for r in got.rejects.rows()] == rejects, (chunk, data)


def test_a_cut_out_line_keeps_only_its_own_text(tmp_path):
    long = b'{"ts":"2024-01-01T00:00:00Z","model":"xxxxxxxxxx"}'
    other = b'{"ts":"2024-01-01T00:00:00Z","model":"other"}'
    path = tmp_path / "x.jsonl"
    path.write_bytes(long + b"\n" + other + b"\n")
    got = read_logs([str(path)], chunk_bytes=10, max_line_bytes=48)
    assert got.rejects["raw"].to_list() == [long.decode() + "…"]
    assert got.records["model"].to_list() == ["other"]


def test_a_numeric_key_spelled_with_escapes_is_still_checked(tmp_path):
    rows = [b'{"ts": "2026-11-27T10:00:00Z", "request_id": "a", "latency_m\\u0073": "12.5"}',
            b'{"ts": "2026-11-27T10:00:00Z", "request_id": "b", "latency_m\\u0073": true}',
            b"{bad"]
    data = read_logs([str(write_jsonl(tmp_path / "x.jsonl", rows))])
    assert data.records["latency_ms"].to_list() == [12.5]
    assert _reasons(data) == {2: "wrong type for latency_ms (expected a number)", 3: "malformed JSON"}


@pytest.mark.parametrize("probe", [64, 1 << 20], ids=["tail read apart", "whole file in the probe"])
def test_a_cut_short_last_line_skips_the_whole_file_scan(tmp_path, monkeypatch, probe):
    """A log still being written ends with a partial line; the fast path must not parse it all to find out."""
    from mlmon.logs import decode
    from mlmon.logs.mapping import DEFAULT_MAPPING

    rows = [record(request_id=str(i)) for i in range(50)] + [b'{"ts": "2026-11-27T10:00:00Z", "lat']
    path = tmp_path / "live.jsonl"
    path.write_bytes(b"\n".join(r if isinstance(r, bytes) else json.dumps(r).encode() for r in rows))
    monkeypatch.setattr(decode, "_PROBE_BYTES", probe)

    def no_scan(*_):
        raise AssertionError("the whole-file scan ran")

    monkeypatch.setattr(decode, "_collect", no_scan)
    projection = decode.Projection.build(DEFAULT_MAPPING, ["ts", "status", "error", "request_id"])
    assert decode.decode_file_fast(str(path), projection, DEFAULT_MAPPING, 1 << 20) is None
    monkeypatch.undo()
    data = read_logs([str(path)])
    assert data.records.height == 50 and _reasons(data) == {51: "malformed JSON"}


def test_splicing_bad_lines_out_of_a_chunk_matches_rewriting_it():
    from mlmon.logs import decode
    from mlmon.logs.chunks import Chunk, has_long_line

    # Good lines well under the 200-byte limit (a whole record is 287 bytes), so that they stay good.
    good = [json.dumps({"ts": "2026-11-27T10:00:00Z", "request_id": str(i)}).encode() for i in range(6)]
    rows = [good[0], b"{bad", good[1], b"", b'{"ts": "x\xff\xfe"}', good[2], b"  ", b"x" * 300, good[3],
            b'{"ts": "caf\xc3\xa9 \xff"}', good[4], b"[1]", good[5]]
    for data in (b"\n".join(rows) + b"\n", b"\n".join(rows)):
        chunk = Chunk(data, has_long_line=has_long_line(data, 200))
        lines = decode._classify(decode._read_lines(data), chunk, 200)
        spliced = decode._splice(data, lines)
        assert spliced is not None
        text = pl.when(pl.col(decode.REASON).is_null()).then(pl.col(decode.LINE)).otherwise(pl.lit("{}"))
        rewritten = lines.select(text).write_csv(include_header=False, quote_style="never").encode()
        schema = {"request_id": pl.String, "ts": pl.String}
        assert pl.read_ndjson(spliced, schema=schema).equals(pl.read_ndjson(rewritten, schema=schema))
        # A bad line becomes an empty object in place, so good lines keep their row: as written here.
        expected = [{"request_id": json.loads(r)["request_id"], "ts": json.loads(r)["ts"]} if r in good
                    else {"request_id": None, "ts": None} for r in rows]
        assert pl.read_ndjson(spliced, schema=schema).to_dicts() == expected
    crlf = b"\r\n".join(rows)
    lines = decode._classify(decode._read_lines(crlf), Chunk(crlf), 200)
    assert decode._splice(crlf, lines) is None  # lengths as read lack the CRs: rewritten instead


@pytest.mark.parametrize("data", [
    b"x" * 13 + b"\xff\n\xff",
    b'{"ts": "2026-11-27T10:00:00Z", "msg": "' + b"\xe9" * 40 + b'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}\n'
    b'{"ts": "2026-11-27T10:00:00Z", "request_id": "A1"}\n{"ts": "2026-11-27T10:00:00Z", "request_id": "B2"}\n'
    b"[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0] \n"
    b'{"ts": "2026-11-27T10:00:00Z", "request_id": "\xff\xff"}\n',
    b"\xef\xbb\xbf" + json.dumps(record(request_id="bom")).encode() + b"\n{bad\n",
], ids=["latin-1 line past the limit, then a cut-short one", "latin-1 line past the limit among others", "byte-order mark"])
def test_splicing_agrees_with_rewriting_on_lines_read_with_replacement_characters(tmp_path, monkeypatch, data,
                                                                                   without_verdict, request):
    from mlmon.logs import decode

    path = tmp_path / "x.jsonl"
    path.write_bytes(data)
    spliced = read_logs([str(path)], max_line_bytes=100, chunk_bytes=64)
    monkeypatch.setattr(decode, "_splice", lambda *_: None)
    rewritten = read_logs([str(path)], max_line_bytes=100, chunk_bytes=64)
    assert spliced.records.equals(rewritten.records)
    assert spliced.rejects.equals(rewritten.rejects)
    # Both against what the bytes hold, worked out by hand: the 111-byte and the 300-byte lines (the BOM's
    # too) pass the 100-byte limit, \xff alone is no UTF-8, and an array is no object.
    good, bad = {
        "latin-1 line past the limit, then a cut-short one": ([], {1: "invalid UTF-8", 2: "invalid UTF-8"}),
        "latin-1 line past the limit among others": (["A1", "B2"], {1: "line longer than 100 bytes",
                                                                    4: "not a JSON object", 5: "invalid UTF-8"}),
        "byte-order mark": ([], {1: "line longer than 100 bytes", 2: "malformed JSON"}),
    }[request.node.callspec.id]
    assert spliced.records["request_id"].to_list() == good and _reasons(spliced) == bad


def _log_bytes(n: int) -> bytes:
    return b"".join(json.dumps(record(i)).encode() + b"\n" for i in range(n))


def test_a_pipe_named_as_a_path_is_read_whole(tmp_path):
    # `mlmon report <(zcat x.gz)` names /dev/fd/N: its bytes can be read once only.
    import threading

    for payload in (_log_bytes(3000), gzip.compress(_log_bytes(3000))):
        read_fd, write_fd = os.pipe()

        def feed(data=payload, fd=write_fd):
            with os.fdopen(fd, "wb") as w:
                w.write(data)

        writer = threading.Thread(target=feed)
        writer.start()
        try:
            data = read_logs([f"/dev/fd/{read_fd}"])
        finally:
            writer.join()
            os.close(read_fd)
        assert data.records.height == 3000 and data.skipped == 0


def test_a_named_fifo_is_read_not_waited_on(tmp_path):
    import threading

    fifo = tmp_path / "logs.jsonl"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(_log_bytes(500)))
    writer.start()
    data = read_logs([str(fifo)])
    writer.join(timeout=10)
    assert data.records.height == 500


def test_corrupt_gzip_data_is_an_input_error(tmp_path):
    packed = gzip.compress(_log_bytes(3000))
    path = tmp_path / "corrupt.jsonl.gz"
    path.write_bytes(packed[:100] + b"\0" * 50 + packed[150:])
    with pytest.raises(InputError, match="compressed data is corrupt"):
        read_logs([str(path)])


@pytest.mark.parametrize("where", ["plain", "gzip"])
def test_objects_with_backslashes_come_back_exactly(tmp_path, where):
    # The parser writes an object read as text back without escaping backslashes: a logged
    # "C:\\temp" would come back as C:<tab>emp, and "end\\" as broken JSON.
    requests = [{"p": "C:\\temp\\new", "e": "end\\", "q": 'say "hi"', "t": "x\ty", "c": "a\u001bb", "i": i}
                for i in range(3)] + [{"p": "plain", "i": 3}]
    responses = [{"regex": "\\d+", "nested": {"path": "a\\b"}}] * 4
    lines = [json.dumps(record(f"2026-11-27T10:00:0{i}Z", request=q, response=r))
             for i, (q, r) in enumerate(zip(requests, responses))]
    path = tmp_path / ("logs.jsonl.gz" if where == "gzip" else "logs.jsonl")
    data = "\n".join(lines).encode() + b"\n"
    path.write_bytes(gzip.compress(data) if where == "gzip" else data)
    got = read_logs([str(path)], fields=["ts", "request", "response"])
    assert got.skipped == 0
    assert [json.loads(t) for t in got.records.get_column("request")] == requests
    assert [json.loads(t) for t in got.records.get_column("response")] == responses


def test_objects_come_back_as_valid_json_on_the_fast_path_and_a_string_request_as_it_is(tmp_path):
    # No backslash in the object text (the controls come back raw): the whole-file scan is used.
    requests = [{"c": "a\u001bb", "t": "x\ty", "i": 1}, {"i": 2}, "plain\ttext"]
    path = tmp_path / "logs.jsonl"
    path.write_text("".join(json.dumps(record(f"2026-11-27T10:00:0{i}Z", request=q)) + "\n"
                            for i, q in enumerate(requests)))
    texts = read_logs([str(path)], fields=["ts", "request"]).records.get_column("request").to_list()
    assert [json.loads(t) for t in texts[:2]] == requests[:2]
    assert texts[2] == "plain\ttext"


@pytest.mark.parametrize("name", ["latency_ms", "cpu_percent", "memory_mb"])
@pytest.mark.parametrize("where", ["plain", "gzip"])
def test_zero_is_a_valid_number_and_only_below_zero_is_negative(tmp_path, name, where):
    # A cached answer takes 0 ms; an idle worker uses 0 % CPU. Zero and minus zero are kept, as written.
    lines = [json.dumps(record(request_id="zero", **{name: 0})).encode(),
             json.dumps(record(request_id="float-zero", **{name: 0.0})).encode(),
             json.dumps(record(request_id="minus-zero")).replace(f'"{name}": ', f'"{name}": -0.0, "x_": ').encode(),
             json.dumps(record(request_id="below", **{name: -1e-9})).encode()]
    path = write_jsonl(tmp_path / ("x.jsonl.gz" if where == "gzip" else "x.jsonl"), lines, gz=where == "gzip")
    data = read_logs([str(path)])
    kept = dict(zip(data.records["request_id"].to_list(), data.records[name].to_list()))
    assert kept == {"zero": 0.0, "float-zero": 0.0, "minus-zero": 0.0}
    assert _reasons(data) == {4: f"negative {name}"}
