"""mlmon ingest with a mapping that pairs events (kserve, seldon, azureml): a request and its response
may be read by different runs, so the events still waiting for their partner are kept in the store.

The numbers come from the presets' plain-Python oracle (tests/fixtures/presets/expected.py), never
from mlmon's own output.
"""

import importlib.util
import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from conftest import ROOT
from mlmon.cli import app

FIXTURES = ROOT / "tests" / "fixtures" / "presets"
runner = CliRunner()
_spec = importlib.util.spec_from_file_location("preset_oracle_pairs", FIXTURES / "expected.py")
oracle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oracle)

#: Where each pairing preset's fixtures are (a file's path below it is kept: azureml's path gives fields).
JOINED = {"kserve": "kserve", "seldon": "seldon", "azureml": "azureml/blob"}


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def ingest(logs, store, preset, *extra):
    result = invoke("ingest", logs, "--store", store, "--preset", preset, *extra)
    assert result.exit_code == 0, result.output
    return result


def metrics_of(store) -> dict:
    result = invoke("report", "--store", store, "--format", "json")
    assert result.exit_code == 0, result.output
    [window] = json.loads(result.stdout)["windows"]
    return window["metrics"]


def assert_matches_oracle(metrics: dict, name: str) -> None:
    want = oracle.expected(name)
    errors = want["requests"] - want["rows_with_output"] if name == "azureml" else want["errors"]
    assert (metrics["request_count"], metrics["error_count"]) == (want["requests"], errors)
    latencies = want["latency_ms"]
    if not latencies:  # azureml logs no time per event pair: no latency
        assert metrics["latency_p50_ms"] is None
        return
    for q in (50, 95, 99):
        assert metrics[f"latency_p{q}_ms"] == pytest.approx(float(np.percentile(latencies, q)), rel=1e-9, abs=1e-9)
    assert metrics["latency_mean_ms"] == pytest.approx(float(np.mean(latencies)), rel=1e-9)


def line_by_line(source: Path, logs: Path):
    """Copy the fixtures' files under ``source`` to ``logs`` a line at a time, yielding after each line."""
    for path in sorted(source.rglob("*.jsonl")):
        copy = logs / path.relative_to(source)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.touch()
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            with open(copy, "a", encoding="utf-8") as handle:
                handle.write(line)
            yield line


@pytest.mark.parametrize("name", list(JOINED))
def test_pairs_split_over_many_runs_come_out_as_one_run_reads_them(tmp_path, name):
    """Every line is ingested by a run of its own, so each request meets its response runs later (or a
    response its request); the store then holds what report reads from the whole files at once."""
    source = FIXTURES / JOINED[name]
    logs, store = tmp_path / "logs", tmp_path / "store"
    runs = 0
    for _ in line_by_line(source, logs):
        ingest(logs, store, name, "--pair-wait", "36500d")  # nothing expires: every partner is waited for
        runs += 1
    assert runs >= 4
    waiting = json.loads(invoke("store", "info", "--store", store, "--format", "json").stdout)["events_waiting"]
    want = oracle.expected(name)
    unpaired = want["requests"] - want.get("rows_with_output", want["requests"] - want["errors"])
    assert waiting >= (1 if unpaired else 0)
    # A run with nothing new and no wait ends the waiting: requests alone are failed, as report counts them.
    done = json.loads(ingest(logs, store, name, "--pair-wait", "0", "--format", "json").stdout)
    assert done["events_waiting"] == 0 and done["records_added"] == done["events_expired"]
    # None waits now; the files the last commits named stay for registry.prev.json until the next runs.
    registry = json.loads((store / "_mlmon" / "registry.json").read_text())
    assert registry["pending"] is None and previous_waiting(store) <= waiting_files(store) and len(waiting_files(store)) <= 2
    assert_matches_oracle(metrics_of(store), name)
    whole = invoke("report", *[logs], "--preset", name, "--format", "json")
    assert json.loads(whole.stdout)["windows"][0]["metrics"] == metrics_of(store)


def waiting_files(store: Path) -> set[str]:
    return {p.name for p in (store / "_mlmon").glob("pending-*")}


def previous_waiting(store: Path) -> set[str]:
    prev = json.loads((store / "_mlmon" / "registry.prev.json").read_text()).get("pending")
    return {Path(prev["path"]).name} if prev else set()


def kserve_event(kind: str, key: str, time: str) -> str:
    return json.dumps({"specversion": "1.0", "id": key, "source": "http://localhost:9081/",
                       "type": f"org.kubeflow.serving.inference.{kind}", "time": time,
                       "datacontenttype": "application/json", "data": {"instances": [[1.0, 2.0]]}
                       if kind == "request" else {"predictions": [1]}}) + "\n"


def test_a_request_waits_pair_wait_then_fails_and_its_late_response_stands_alone(tmp_path):
    log, store = tmp_path / "events.jsonl", tmp_path / "store"
    log.write_text(kserve_event("request", "a", "2024-05-02T09:00:00Z")
                   + kserve_event("request", "b", "2024-05-02T09:05:00Z"))
    first = json.loads(ingest(log, store, "kserve", "--format", "json").stdout)
    assert (first["records_added"], first["events_waiting"], first["events_expired"]) == (0, 2, 0)
    with open(log, "a") as handle:  # b answered; a still not, 11 minutes after it came: its 10m are up
        handle.write(kserve_event("response", "b", "2024-05-02T09:05:00.25Z")
                     + kserve_event("request", "c", "2024-05-02T09:11:00Z"))
    second = json.loads(ingest(log, store, "kserve", "--format", "json").stdout)
    assert (second["records_added"], second["events_waiting"], second["events_expired"]) == (2, 1, 1)
    stored = pl.read_parquet(str(store / "date=*" / "*.parquet")).sort("ts")
    assert stored["request_id"].to_list() == ["a", "b"]
    assert stored["status"].to_list() == [500, 200] and stored["error"].to_list() == ["no response logged", None]
    assert stored["latency_ms"].to_list() == [None, 250.0]
    with open(log, "a") as handle:  # a's response, too late: a record alone, with no latency
        handle.write(kserve_event("response", "a", "2024-05-02T09:12:00Z"))
    third = json.loads(ingest(log, store, "kserve", "--format", "json").stdout)
    assert (third["records_added"], third["events_waiting"], third["events_expired"]) == (0, 2, 0)
    info = invoke("store", "info", "--store", store)
    assert "waiting      2 paired events for a partner" in info.stdout


def test_a_failed_commit_keeps_the_waiting_events_it_started_from(tmp_path, monkeypatch):
    """A run that fails before its commit removes the waiting-events file it wrote; the registry still
    names the one before, and the next run pairs as if the failed run never happened."""
    from mlmon.errors import InputError
    from mlmon.store import parts

    log, store = tmp_path / "events.jsonl", tmp_path / "store"
    log.write_text(kserve_event("request", "a", "2024-05-02T09:00:00Z"))
    ingest(log, store, "kserve")
    [before] = list((store / "_mlmon").glob("pending-*.parquet"))
    with open(log, "a") as handle:
        handle.write(kserve_event("request", "b", "2024-05-02T09:01:00Z"))

    def refuse(*_args, **_kwargs):
        raise InputError("the disk is full")

    monkeypatch.setattr(parts, "commit_registry", refuse)
    failed = invoke("ingest", log, "--store", store, "--preset", "kserve")
    assert failed.exit_code == 2 and "the disk is full" in failed.stderr
    assert list((store / "_mlmon").glob("pending-*.parquet")) == [before]
    monkeypatch.undo()
    (store / "_mlmon" / "pending-20200101T000000-deadbeef.parquet").write_bytes(b"left by a killed run")
    with open(log, "a") as handle:
        handle.write(kserve_event("response", "a", "2024-05-02T09:00:00.5Z")
                     + kserve_event("response", "b", "2024-05-02T09:01:01Z"))
    done = json.loads(ingest(log, store, "kserve", "--format", "json").stdout)
    assert (done["records_added"], done["events_waiting"]) == (2, 0)
    # the stray file is gone; the superseded one stays for the previous commit (registry.prev.json) until the next
    assert "pending-20200101T000000-deadbeef.parquet" not in waiting_files(store)
    assert previous_waiting(store) == {before.name} <= waiting_files(store)
    assert sorted(pl.read_parquet(str(store / "date=*" / "*.parquet"))["latency_ms"].to_list()) == [500.0, 1000.0]


def test_restoring_the_previous_commit_finds_its_waiting_events(tmp_path):
    """The README's recovery for a corrupt registry (copy registry.prev.json over it) must find the waiting
    events the previous commit names, and the next ingest then pairs as if the lost commit never was."""
    import shutil

    log, store = tmp_path / "events.jsonl", tmp_path / "store"
    log.write_text(kserve_event("request", "a", "2024-05-02T09:00:00Z"))
    ingest(log, store, "kserve")
    with open(log, "a") as handle:
        handle.write(kserve_event("request", "b", "2024-05-02T09:01:00Z"))
    ingest(log, store, "kserve")
    shutil.copy(store / "_mlmon" / "registry.prev.json", store / "_mlmon" / "registry.json")
    with open(log, "a") as handle:
        handle.write(kserve_event("response", "a", "2024-05-02T09:00:00.5Z")
                     + kserve_event("response", "b", "2024-05-02T09:01:01Z"))
    done = json.loads(ingest(log, store, "kserve", "--format", "json").stdout)
    assert (done["records_added"], done["events_waiting"]) == (2, 0)
    assert sorted(pl.read_parquet(str(store / "date=*" / "*.parquet"))["latency_ms"].to_list()) == [500.0, 1000.0]


def test_compact_and_prune_keep_the_waiting_events(tmp_path):
    log, store = tmp_path / "events.jsonl", tmp_path / "store"
    log.write_text(kserve_event("request", "a", "2024-05-02T09:00:00Z") + kserve_event("request", "b", "2024-05-02T09:00:01Z")
                   + kserve_event("response", "b", "2024-05-02T09:00:02Z"))
    ingest(log, store, "kserve")
    assert invoke("store", "compact", "--store", store).exit_code == 0
    assert invoke("store", "prune", "--store", store, "--older-than", "36500d").exit_code == 0
    with open(log, "a") as handle:
        handle.write(kserve_event("response", "a", "2024-05-02T09:00:03Z"))
    done = json.loads(ingest(log, store, "kserve", "--format", "json").stdout)
    assert (done["records_added"], done["events_waiting"]) == (1, 0)
    assert pl.read_parquet(str(store / "date=*" / "*.parquet")).sort("ts")["latency_ms"].to_list() == [3000.0, 1000.0]


def test_duckdb_reads_the_store_without_the_waiting_events(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    log, store = tmp_path / "events.jsonl", tmp_path / "store"
    log.write_text(kserve_event("request", "a", "2024-05-02T09:00:00Z") + kserve_event("request", "b", "2024-05-02T09:00:01Z")
                   + kserve_event("response", "b", "2024-05-02T09:00:02Z"))
    ingest(log, store, "kserve")
    rows = duckdb.sql(f"SELECT request_id, latency_ms FROM read_parquet('{store}/date=*/*.parquet', "
                      "hive_partitioning = true)").fetchall()
    assert rows == [("b", 1000.0)]


@pytest.mark.parametrize("name", ["kserve", "seldon", "azureml", "sagemaker"])
def test_the_dashboards_tailer_pairs_and_explodes_as_report_does(tmp_path, name):
    """Smaller: the dashboard refused the pairing presets, and read sagemaker's batched rows as one
    record each. Its tailer now keeps an assembler across reads: lines fed one read at a time come out
    as the records report reads from the whole files (an unpaired request once its wait is over)."""
    from mlmon.live.tail import LogTailer
    from mlmon.logs.presets import load_preset
    from mlmon.logs.reader import read_logs

    source = FIXTURES / (JOINED.get(name) or "sagemaker/capture")
    logs = tmp_path / "logs"
    fields = ["ts", "request_id", "status", "latency_ms", "error"]
    preset = load_preset(name)
    tailer = LogTailer([str(logs)], preset, fields, pair_wait=timedelta(days=36500))
    got = []
    for _ in line_by_line(source, logs):
        got.append(tailer.read().records)
    tailer.pair_wait = timedelta(0)
    got.append(tailer.read().records)
    mine = pl.concat(got).sort("ts", "request_id", "status", nulls_last=True)
    whole = read_logs([str(logs)], preset, fields=fields).records.select(fields).sort("ts", "request_id", "status",
                                                                                      nulls_last=True)
    assert mine.select(fields).to_dicts() == whole.to_dicts()
    want = oracle.expected(name)
    assert mine.height == want["requests"]


def test_the_waiting_events_file_holds_no_secret(tmp_path):
    log, store = tmp_path / "events.jsonl", tmp_path / "store"
    event = json.loads(kserve_event("request", "a", "2024-05-02T09:00:00Z"))
    event["data"] = {"instances": [[1.0]], "api_key": "sk-live-0123456789abcdef", "Authorization": "Bearer abc.def"}
    log.write_text(json.dumps(event) + "\n")
    ingest(log, store, "kserve")
    [waiting] = list((store / "_mlmon").glob("pending-*.parquet"))
    raw = waiting.read_bytes()
    text = "\n".join(str(v) for row in pl.read_parquet(waiting).rows() for v in row)
    assert "sk-live-0123456789abcdef" not in text and "abc.def" not in text and b"sk-live" not in raw
    assert "[REDACTED]" in text


def test_the_dashboard_ends_a_wait_by_the_clock_when_traffic_stops(tmp_path):
    """Review: live, an unanswered request waited for a newer event; when traffic stopped (the model down)
    its failure never showed. The tailer's wait also ends by the clock."""
    from datetime import datetime, timezone

    from mlmon.live.tail import LogTailer
    from mlmon.logs.presets import load_preset

    log = tmp_path / "events.jsonl"
    log.write_text(kserve_event("request", "a", "2024-05-02T09:00:00Z"))
    now = [datetime(2024, 5, 2, 9, 5, tzinfo=timezone.utc)]
    tailer = LogTailer([str(log)], load_preset("kserve"), ["ts", "request_id", "status", "error"],
                       pair_wait=timedelta(minutes=10), clock=lambda: now[0])
    assert tailer.read().records.height == 0  # 5 minutes: still waiting
    now[0] = datetime(2024, 5, 2, 9, 10, tzinfo=timezone.utc)
    [row] = tailer.read().records.to_dicts()  # 10 minutes and no response, and no other event since
    assert (row["request_id"], row["status"], row["error"]) == ("a", 500, "no response logged")
