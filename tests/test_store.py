"""mlmon ingest and --store: the same answers as the raw logs, read incrementally, rotation and truncation followed.

Oracles are independent of mlmon: the log lines themselves (Python's json), DuckDB on the
Parquet files, and each command's own output on the raw logs (the reference the store must equal).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from conftest import ROOT, SAMPLE_LOGS, record, write_jsonl
from mlmon.cli import app

MLMON = str(Path(sys.executable).parent / "mlmon")
SAMPLES = [str(SAMPLE_LOGS / "churn.jsonl.gz"), str(SAMPLE_LOGS / "fraud.jsonl.gz")]
NOW = "2026-11-27T00:00Z"


def run(*args, cwd=None):
    return subprocess.run([MLMON, *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd)


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def ingest(logs, store, *more):
    """One ingest run, in-process (the installed entry point is run by the tests that say so)."""
    result = invoke("ingest", *logs, "--store", store, "--format", "json", *more)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def stored_ids(store: Path) -> list[str]:
    """Request ids of the committed parts, read with DuckDB from the files the registry names."""
    registry = json.loads((store / "_mlmon" / "registry.json").read_text())
    paths = [str(store / p["path"]) for p in registry["parts"]]
    if not paths:
        return []
    return [r[0] for r in duckdb.sql(f"SELECT request_id FROM read_parquet({paths!r})").fetchall()]


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("store") / "s"
    ingest(SAMPLES, store)
    return store


def _without_run_facts(doc):
    """The document without what differs between any two runs (when it was made)."""
    for key in ("generated_at", "created_at"):
        doc.pop(key, None)
    return doc


REPORTS = [
    ["report", "--every", "6h", "--by", "model"],
    ["report", "--every", "1h", "--by", "model,model_version", "--since", "2026-11-25T12:00Z", "--until", "2026-11-26T06:00Z"],
    ["report", "--by", "input.country", "--where", 'status >= 500 or input.plan == "premium"'],
    ["report", "--every", "6h", "--by", "model", "--baseline-range", "2026-11-25T00:00Z..2026-11-25T12:00Z",
     "--since", "2026-11-25T12:00Z"],
    ["report", "--every", "12h", "--by", "model", "--labels", str(SAMPLE_LOGS / "labels.csv")],
    ["check", "--rules", str(ROOT / "rules.example.yaml")],
    ["check", "--rules", str(ROOT / "rules.example.yaml"), "--since", "12h", "--until", "2026-11-26T18:00Z"],
]


@pytest.mark.parametrize("args", REPORTS, ids=lambda a: " ".join(a)[:60])
def test_report_and_check_give_the_same_json_on_the_store(sample_store, args):
    raw = invoke(*args[:1], *SAMPLES, *args[1:], "--now", NOW, "--format", "json")
    stored = invoke(*args[:1], "--store", sample_store, *args[1:], "--now", NOW, "--format", "json")
    assert raw.exit_code == stored.exit_code
    assert _without_run_facts(json.loads(stored.stdout)) == _without_run_facts(json.loads(raw.stdout))


def test_drift_against_a_saved_profile_is_the_same_on_the_store(sample_store, tmp_path):
    profile = tmp_path / "profile.json"
    raw_profile = tmp_path / "raw_profile.json"
    assert invoke("baseline", "save", "--store", sample_store, "--until", "2026-11-26T00:00Z", "-o", profile).exit_code == 0
    assert invoke("baseline", "save", *SAMPLES, "--until", "2026-11-26T00:00Z", "-o", raw_profile).exit_code == 0
    assert _without_run_facts(json.loads(profile.read_text())) == _without_run_facts(json.loads(raw_profile.read_text()))
    args = ["--every", "6h", "--by", "model", "--baseline", profile, "--now", NOW, "--format", "json"]
    raw = json.loads(invoke("report", *SAMPLES, *args).stdout)
    stored = json.loads(invoke("report", "--store", sample_store, *args).stdout)
    assert _without_run_facts(stored) == _without_run_facts(raw)
    assert any(k.startswith("psi.") or k.startswith("drift") for k in raw["windows"][0]["metrics"])


def test_replay_selects_the_same_requests_from_the_store(sample_store):
    args = ["--where", 'model_version == "v2" and input.country == "DE"', "--limit", "40", "--dry-run"]
    raw = run("replay", *SAMPLES, *args)
    stored = run("replay", "--store", sample_store, *args)
    assert raw.returncode == stored.returncode == 0, stored.stderr
    assert stored.stdout == raw.stdout
    assert len(stored.stdout.splitlines()) == 40


def test_installed_entry_point_reads_the_store(sample_store):
    proc = run("report", "--store", sample_store, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    lines = sum(1 for path in SAMPLES for _ in gzip.open(path, "rt"))
    assert doc["source"]["records"] == lines == doc["windows"][0]["metrics"]["request_count"]
    assert doc["source"]["files"] == SAMPLES


def test_duckdb_reads_the_store_as_the_readme_says(sample_store):
    """The README's DuckDB query, run on the store, agrees with mlmon's count and p95."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- duckdb-example -->", 2)[1]
    query = block.split("```sql", 1)[1].split("```", 1)[0].replace("/var/lib/mlmon/store", str(sample_store))
    rows = duckdb.sql(query).fetchall()
    doc = json.loads(invoke("report", "--store", sample_store, "--by", "model", "--format", "json").stdout)
    mlmon = {w["segment"]["model"]: w["metrics"] for w in doc["windows"]}
    assert {r[0] for r in rows} == set(mlmon)
    for model, count, p95 in rows:
        assert count == mlmon[model]["request_count"]
        assert p95 == pytest.approx(mlmon[model]["latency_p95_ms"], rel=1e-9)


# --- incremental reading ------------------------------------------------------------------------------


def _lines(start: int, count: int, day: str = "2026-11-27", **fields) -> list[dict]:
    return [record(ts=f"{day}T10:{i // 60 % 60:02d}:{i % 60:02d}Z", request_id=f"r{i}", **fields)
            for i in range(start, start + count)]


def _append(path: Path, rows, *, newline: bool = True) -> None:
    with open(path, "ab") as handle:
        text = "\n".join(json.dumps(r) for r in rows)
        handle.write((text + ("\n" if newline else "")).encode())


def test_a_rerun_reads_only_new_complete_lines(tmp_path):
    log, store = tmp_path / "app.jsonl", tmp_path / "store"
    write_jsonl(log, _lines(0, 100))
    assert ingest([log], store)["records_added"] == 100
    assert ingest([log], store)["records_added"] == 0  # idempotent
    _append(log, _lines(100, 50))
    partial = json.dumps(record(request_id="r150"))
    with open(log, "ab") as handle:
        handle.write(partial[:40].encode())  # a writer still appending
    summary = ingest([log], store)
    assert summary["records_added"] == 50 and summary["skipped"] == 0
    with open(log, "ab") as handle:
        handle.write(partial[40:].encode() + b"\n")
    _append(log, _lines(151, 1))
    assert ingest([log], store)["records_added"] == 2
    assert sorted(stored_ids(store)) == sorted(f"r{i}" for i in range(152))


def test_rotation_by_rename_then_compression_is_not_read_twice(tmp_path):
    logs, store = tmp_path / "logs", tmp_path / "store"
    logs.mkdir()
    live = logs / "app.jsonl"
    write_jsonl(live, _lines(0, 30))
    ingest([logs], store)
    _append(live, _lines(30, 10))  # appended just before the rotation, not yet ingested
    live.rename(logs / "app.jsonl.1")
    write_jsonl(live, _lines(40, 5))
    summary = ingest([logs], store)
    assert summary["records_added"] == 15 and summary["rotations"] == 1
    rotated = logs / "app.jsonl.1"
    (logs / "app.jsonl.1.gz").write_bytes(gzip.compress(rotated.read_bytes()))
    rotated.unlink()
    assert ingest([logs], store)["records_added"] == 0
    again = ingest([logs], store)
    assert again["records_added"] == 0 and again["files_read"] == 0  # the gzip file is recognized unread
    assert sorted(stored_ids(store)) == sorted(f"r{i}" for i in range(45))


def test_copytruncate_reads_the_copy_from_the_offset_and_the_file_from_its_start(tmp_path):
    logs, store = tmp_path / "logs", tmp_path / "store"
    logs.mkdir()
    live = logs / "app.jsonl"
    write_jsonl(live, _lines(0, 20))
    ingest([logs], store)
    _append(live, _lines(20, 3))
    shutil.copyfile(live, logs / "app.jsonl.1")
    with open(live, "r+b") as handle:
        handle.truncate(0)
    _append(live, _lines(23, 2))
    assert ingest([logs], store)["records_added"] == 5
    assert sorted(stored_ids(store)) == sorted(f"r{i}" for i in range(25))


def test_truncation_alone_is_said_and_read_from_the_start(tmp_path):
    log, store = tmp_path / "app.jsonl", tmp_path / "store"
    write_jsonl(log, _lines(0, 20))
    ingest([log], store)
    write_jsonl(log, _lines(100, 4))  # truncated in place (same inode), then written again
    summary = ingest([log], store)
    assert summary["truncations"] == 1 and summary["records_added"] == 4
    assert any("truncated" in note for note in summary["notes"])
    proc = run("ingest", log, "--store", store)
    assert proc.returncode == 0 and "0 records added" in proc.stderr


def test_a_gzip_file_is_read_whole_once(tmp_path):
    log, store = tmp_path / "old.jsonl.gz", tmp_path / "store"
    write_jsonl(log, _lines(0, 12), gz=True)
    assert ingest([log], store)["records_added"] == 12
    summary = ingest([log], store)
    assert summary["records_added"] == 0 and summary["files_read"] == 0


def test_dedup_drops_request_ids_the_store_holds(tmp_path):
    first, second, store = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "store"
    write_jsonl(first, _lines(0, 20))
    write_jsonl(second, [*_lines(10, 20), _lines(5, 1)[0]])  # r10..r29, and r5 again
    ingest([first], store, "--dedup", "request_id")
    summary = ingest([second], store, "--dedup", "request_id")
    assert summary["duplicates_dropped"] == 11 and summary["records_added"] == 10
    assert sorted(stored_ids(store)) == sorted(f"r{i}" for i in range(30))
    # Out of the look-back window, an id is not looked for.
    third = tmp_path / "c.jsonl"
    write_jsonl(third, _lines(0, 1, day="2026-12-20"))
    assert ingest([third], store, "--dedup", "request_id", "--dedup-window", "1d")["records_added"] == 1


def test_bad_lines_are_counted_per_source_and_listed(tmp_path):
    log, store, rejects = tmp_path / "app.jsonl", tmp_path / "store", tmp_path / "rejects.jsonl"
    write_jsonl(log, [*_lines(0, 3), "{not json", *_lines(3, 2)])
    summary = ingest([log], store, "--rejects", rejects)
    assert summary["skipped"] == 1 and summary["records_added"] == 5
    assert json.loads(rejects.read_text())["line"] == 4
    with open(log, "ab") as handle:
        handle.write(b"[1, 2]\n")
    summary = ingest([log], store, "--rejects", rejects)
    assert json.loads(rejects.read_text())["line"] == 7  # numbered in the file, not in the new bytes
    proc = run("ingest", log, "--store", tmp_path / "strict", "--strict")
    assert proc.returncode == 2 and "app.jsonl:4" in proc.stderr
    assert not (tmp_path / "strict" / "_mlmon" / "registry.json").exists()
    doc = json.loads(invoke("report", "--store", store, "--format", "json").stdout)
    assert doc["source"]["skipped"] == 2 and doc["source"]["records"] == 5


def test_schema_evolution_a_late_field_and_a_type_conflict(tmp_path):
    early, late, store = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "store"
    write_jsonl(early, [record(request_id=f"a{i}", request={"age": 30 + i}) for i in range(5)])
    write_jsonl(late, [record(ts="2026-11-28T10:00:00Z", request_id=f"b{i}", request={"age": "unknown", "plan": "pro"})
                       for i in range(3)])
    ingest([early], store)
    ingest([late], store)
    profile_raw, profile_store = tmp_path / "raw.json", tmp_path / "store.json"
    assert invoke("baseline", "save", early, late, "-o", profile_raw).exit_code == 0
    assert invoke("baseline", "save", "--store", store, "-o", profile_store).exit_code == 0
    raw, stored = json.loads(profile_raw.read_text()), json.loads(profile_store.read_text())
    assert _without_run_facts(stored)["fields"] == _without_run_facts(raw)["fields"]
    assert stored["fields"]["input.age"]["type"] == "categorical"  # numbers then text: the field is text
    for args in (["--by", "input.plan"], ["--by", "input.age"]):
        a = json.loads(invoke("report", early, late, *args, "--format", "json").stdout)
        b = json.loads(invoke("report", "--store", store, *args, "--format", "json").stdout)
        assert _without_run_facts(a) == _without_run_facts(b)
        if args[1] == "input.plan":  # older records read the late field as null
            assert {w["segment"]["input.plan"]: w["metrics"]["request_count"] for w in b["windows"]} == {None: 5, "pro": 3}


def test_since_reads_only_the_partitions_it_needs(tmp_path):
    log, store = tmp_path / "app.jsonl", tmp_path / "store"
    write_jsonl(log, [*_lines(0, 5, day="2026-11-20"), *_lines(5, 5, day="2026-11-21"), *_lines(10, 5, day="2026-11-22")])
    ingest([log], store)
    for folder in ("date=2026-11-20", "date=2026-11-21"):
        for part in (store / folder).iterdir():
            part.write_bytes(b"not parquet: a read of this part would fail")
    doc = json.loads(invoke("report", "--store", store, "--since", "2026-11-22T00:00Z", "--now", NOW, "--format", "json").stdout)
    assert doc["windows"][0]["metrics"]["request_count"] == 5


# --- store info, compact, prune ----------------------------------------------------------------------


def test_info_compact_and_prune(tmp_path):
    log, store = tmp_path / "app.jsonl", tmp_path / "store"
    days = ["2026-11-20", "2026-11-21", "2026-11-22"]
    for n, day in enumerate(days):
        for k in range(3):  # three runs a day: small parts to compact
            _append(log, _lines(n * 100 + k * 10, 10, day=day))
            ingest([log], store)
    before = json.loads(run("report", "--store", store, "--by", "model", "--format", "json").stdout)
    info = json.loads(run("store", "info", "--store", store, "--format", "json").stdout)
    assert info["records"] == 90 and info["parts"] == 9
    assert [p["date"] for p in info["partitions"]] == days
    assert info["sources"][0]["offset"] == os.path.getsize(log)
    assert info["time_range"]["from"].startswith("2026-11-20T10:00:00")
    assert "latency_ms" in info["schema"] and "request" in info["schema"]
    table = run("store", "info", "--store", store)
    assert table.returncode == 0 and "date=2026-11-21" in table.stdout

    proc = run("store", "compact", "--store", store)
    assert proc.returncode == 0 and "9 parts into 3" in proc.stderr, proc.stderr
    assert len(list(store.glob("date=*/*.parquet"))) == 3
    after = json.loads(run("report", "--store", store, "--by", "model", "--format", "json").stdout)
    assert _without_run_facts(after) == _without_run_facts(before)

    proc = run("store", "prune", "--store", store, "--older-than", "6d", "--now", "2026-11-28T12:00Z")
    assert proc.returncode == 0 and "pruned 60 records in 2 days" in proc.stderr, proc.stderr
    assert sorted(p.name for p in store.glob("date=*")) == ["date=2026-11-22"]
    assert sorted(stored_ids(store)) == sorted(f"r{i}" for i in range(200, 230))
    assert ingest([log], store)["records_added"] == 0  # pruned lines are not ingested again


@pytest.mark.parametrize("args, message", [
    (["report", "--store", "{empty}"], "is not an mlmon store"),
    (["check", "--store", "{missing}", "--rules", str(ROOT / "rules.example.yaml")], "does not exist"),
    (["store", "info", "--store", "{empty}"], "is not an mlmon store"),
    (["report", str(SAMPLE_LOGS / "churn.jsonl.gz"), "--store", "{empty}"], "either LOGS or --store"),
    (["report", "--store", "{empty}", "--mapping", "m.yaml"], "--mapping does not apply to --store"),
    (["ingest", "-", "--store", "{new}"], "cannot read standard input"),
    (["ingest", str(SAMPLE_LOGS / "churn.jsonl.gz"), "--store", "{file}"], "not a directory"),
    (["ingest", str(SAMPLE_LOGS / "churn.jsonl.gz"), "--store", "{full}"], "not empty and is not an mlmon store"),
    (["ingest", str(SAMPLE_LOGS / "churn.jsonl.gz"), "--store", "ftp://host/x"], "in a directory or under s3://"),
    (["report"], "needs LOGS... or --store DIR"),
])
def test_bad_store_input_is_one_line_and_exit_2(tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    (tmp_path / "file").write_text("x")
    places = {k: str(tmp_path / k) for k in ("empty", "missing", "new", "file", "full")}
    proc = run(*[a.format(**places) for a in args])
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_corrupt_registry_says_what_to_do(tmp_path):
    log, store = tmp_path / "app.jsonl", tmp_path / "store"
    write_jsonl(log, _lines(0, 5))
    ingest([log], store)
    _append(log, _lines(5, 5))
    ingest([log], store)
    registry = store / "_mlmon" / "registry.json"
    registry.write_text(registry.read_text()[:50])
    proc = run("report", "--store", store)
    assert proc.returncode == 2 and "is corrupt" in proc.stderr and "registry.prev.json" in proc.stderr
    assert "Traceback" not in proc.stderr
    shutil.copyfile(store / "_mlmon" / "registry.prev.json", registry)  # what the message says to do
    assert ingest([log], store)["records_added"] == 5
    assert sorted(stored_ids(store)) == sorted(f"r{i}" for i in range(10))


def test_ingest_help_names_the_store_and_the_json_summary():
    proc = run("ingest", "--help")
    assert proc.returncode == 0 and "--store" in proc.stdout and "--dedup" in proc.stdout
    for command in ("report", "check", "replay"):
        assert "--store" in run(command, "--help").stdout
    assert "--store" in run("baseline", "save", "--help").stdout


def test_a_mapping_is_applied_at_ingest_and_kept(tmp_path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("fields:\n  ts: meta.timestamp\n  latency_ms: timing.duration\n  status: http.status_code\n"
                       "inputs: payload.features\nlatency_unit: s\nconstants:\n  model: churn\nredact: [ssn]\n")
    log, store = tmp_path / "custom.jsonl", tmp_path / "store"
    write_jsonl(log, [{"meta": {"timestamp": f"2026-11-27T10:00:0{i}Z"}, "timing": {"duration": 0.01 * (i + 1)},
                       "http": {"status_code": 500 if i == 3 else 200},
                       "payload": {"features": {"country": "DE" if i % 2 else "FR", "ssn": "123-45-678"}}}
                      for i in range(6)])
    assert ingest([log], store, "--mapping", mapping)["records_added"] == 6
    args = ["--by", "model,input.country", "--format", "json"]
    raw = json.loads(invoke("report", log, "--mapping", mapping, *args).stdout)
    stored = json.loads(invoke("report", "--store", store, *args).stdout)
    assert _without_run_facts(stored) == _without_run_facts(raw)
    assert {w["segment"]["model"] for w in stored["windows"]} == {"churn"}
    assert invoke("report", "--store", store, "--by", "input.ssn").exit_code == 2  # still a secret field
    requests = duckdb.sql(f"SELECT request FROM read_parquet('{store}/date=*/*.parquet')").fetchall()
    assert all("123-45-678" not in r[0] for r in requests)  # redacted before it was written
    other = tmp_path / "other.yaml"
    other.write_text("fields:\n  ts: meta.timestamp\n")
    result = invoke("ingest", log, "--store", store, "--mapping", other)
    assert result.exit_code == 2 and "another mapping" in result.stderr


def test_an_empty_store_and_a_range_with_no_part_give_an_empty_report(tmp_path, sample_store):
    empty = write_jsonl(tmp_path / "empty.jsonl", [])
    empty.write_bytes(b"")
    store = tmp_path / "store"
    assert ingest([empty], store)["records_added"] == 0
    for args in (["--store", store, "--by", "model"], ["--store", sample_store, "--by", "model,input.country",
                                                       "--since", "2030-01-01", "--until", "2030-01-02"]):
        result = invoke("report", *args, "--format", "json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["windows"] == []
    result = invoke("check", "--store", store, "--rules", ROOT / "rules.example.yaml", "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["alerts"] == []


def test_a_store_inside_the_logs_directory_is_not_read_as_logs(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    write_jsonl(logs / "app.jsonl", _lines(0, 5))
    assert ingest([logs], logs / "store")["records_added"] == 5
    summary = ingest([logs], logs / "store")
    assert summary["records_added"] == 0 and summary["skipped"] == 0


def test_no_output_may_replace_a_stores_log_or_land_inside_the_store(tmp_path):
    log, store = tmp_path / "app.jsonl", tmp_path / "store"
    write_jsonl(log, _lines(0, 5))
    ingest([log], store)
    before = log.read_bytes()
    for target, message in ((log, "names a file this run reads"), (store / "_mlmon" / "registry.json", "inside the store"),
                            (store / "report.parquet", "inside the store")):
        proc = run("report", "--store", store, "--format", "parquet", "-o", target)
        assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert log.read_bytes() == before
    assert ingest([log], store)["records_added"] == 0  # the store is intact


@pytest.mark.parametrize("args", [["ingest", "", "--store", "{store}"], ["ingest", "{log}", "--store", ""],
                                  ["report", ""]])
def test_an_empty_path_is_refused_not_read_as_the_current_directory(tmp_path, args):
    log = write_jsonl(tmp_path / "app.jsonl", _lines(0, 2))
    proc = run(*[a.format(store=tmp_path / "store", log=log) for a in args], cwd=tmp_path)
    assert proc.returncode == 2 and "an empty" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "store").exists()


def test_a_secret_in_a_request_never_reaches_the_store_or_the_summary(tmp_path):
    log, store = tmp_path / "app.jsonl", tmp_path / "store"
    write_jsonl(log, [record(request={"Authorization": "Bearer sk-live-123", "age": 3},
                             error="token=sk-live-456 refused")])
    summary = invoke("ingest", log, "--store", store, "--format", "json")
    assert summary.exit_code == 0 and "sk-live" not in summary.stdout + summary.stderr
    texts = duckdb.sql(f"SELECT request, error FROM read_parquet('{store}/date=*/*.parquet')").fetchall()
    assert texts and all("sk-live" not in (value or "") for row in texts for value in row)
    info = run("store", "info", "--store", store, "--format", "json")
    assert "sk-live" not in info.stdout
