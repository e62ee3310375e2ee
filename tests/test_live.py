"""The dashboard's live core: the tailer reads only what is new, as ingest does, and the windows hold
report's numbers for the visible range (checked against numpy and DuckDB over the same lines)."""

import gzip
import json
import os
from datetime import datetime, timedelta, timezone

import duckdb
import numpy as np
import polars as pl
import pytest

from conftest import record, write_jsonl
from mlmon.live.feed import Feed
from mlmon.live.state import LiveWindows
from mlmon.live.tail import LogTailer, StoreTailer
from mlmon.logs.mapping import DEFAULT_MAPPING
from mlmon.metrics.operational import RECORD_FIELDS

FIELDS = [*RECORD_FIELDS, "model", "model_version"]
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


def line(i: int, *, seconds: float, **fields) -> bytes:
    ts = (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
    return (json.dumps(record(ts=ts, request_id=f"r{i}", **fields)) + "\n").encode()


def lines(n: int, start: int = 0, step: float = 1.0, **fields) -> bytes:
    return b"".join(line(i, seconds=i * step, latency_ms=float((i * 37) % 101), **fields)
                    for i in range(start, start + n))


def tailer(*patterns) -> LogTailer:
    return LogTailer([str(p) for p in patterns], DEFAULT_MAPPING, FIELDS)


def started(log, content: bytes, follow=None) -> LogTailer:
    """A tailer of ``follow`` (default: ``log``) that has read ``log`` holding ``content`` once."""
    log.write_bytes(content)
    tail = tailer(follow or log)
    assert tail.read().records.height == content.count(b"\n")
    return tail


def ids(frame: pl.DataFrame) -> list[float]:
    return frame.get_column("latency_ms").to_list()


# --- the tailer -------------------------------------------------------------------------------------------------

def test_each_read_gets_only_the_lines_appended_since_the_last(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_bytes(lines(5))
    tail = tailer(log)
    first = tail.read()
    assert first.records.height == 5 and first.bytes_read == log.stat().st_size
    assert tail.read().records.height == 0 and tail.read().bytes_read == 0
    with log.open("ab") as out:
        out.write(lines(3, start=5))
    second = tail.read()
    assert second.records.height == 3 and second.bytes_read == len(lines(3, start=5))


def test_a_last_line_without_its_newline_waits_for_the_rest(tmp_path):
    log = tmp_path / "app.jsonl"
    whole = lines(3, start=10)
    log.write_bytes(lines(2) + whole[:20])
    tail = tailer(log)
    assert tail.read().records.height == 2
    with log.open("ab") as out:
        out.write(whole[20:])
    batch = tail.read()
    assert batch.records.height == 3 and batch.rejects.height == 0


def test_rotation_reads_the_rest_of_the_old_file_then_the_new_one(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.jsonl"
    tail = started(log, lines(4), logs)
    with log.open("ab") as out:  # written before the rotation, not read yet
        out.write(lines(2, start=4))
    os.rename(log, logs / "app.jsonl.1")
    log.write_bytes(lines(3, start=6))
    batch = tail.read()
    assert batch.rotations == 1
    assert sorted(ids(batch.records)) == sorted(float((i * 37) % 101) for i in range(4, 9))


def test_a_rotated_file_compressed_is_not_read_again(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.jsonl"
    tail = started(log, lines(4), logs)
    (logs / "app.jsonl.1.gz").write_bytes(gzip.compress(log.read_bytes()))
    log.write_bytes(lines(2, start=4))
    os.utime(log)
    batch = tail.read()
    assert batch.records.height == 2


def test_truncation_reads_the_file_again_from_its_start(tmp_path):
    log = tmp_path / "app.jsonl"
    tail = started(log, lines(6))
    with log.open("r+b") as out:  # copytruncate: the same file, emptied, then written anew
        out.truncate(0)
    assert tail.read().truncations == 1
    log.write_bytes(lines(2, start=100))
    batch = tail.read()
    assert batch.records.height == 2


def test_bad_lines_come_back_with_their_line_numbers_and_reasons(tmp_path):
    log = tmp_path / "app.jsonl"
    tail = started(log, lines(2))
    with log.open("ab") as out:
        out.write(b"not json\n" + lines(1, start=2))
    batch = tail.read()
    assert batch.records.height == 1
    assert batch.rejects.get_column("line").to_list() == [3]


def test_a_store_tailer_reads_only_the_parts_committed_since(tmp_path):
    from mlmon.store.ingest import ingest

    log, store = tmp_path / "app.jsonl", tmp_path / "store"
    log.write_bytes(lines(5))
    ingest([str(log)], str(store))
    tail = StoreTailer(str(store), FIELDS, timedelta(hours=1))
    assert tail.read().records.height == 5
    assert tail.read().records.height == 0
    with log.open("ab") as out:
        out.write(lines(4, start=5))
    ingest([str(log)], str(store))
    batch = tail.read(T0)
    assert batch.records.height == 4 and not batch.reset


# --- the windows ------------------------------------------------------------------------------------------------

def _records(seed: int, n: int, span_s: float) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        ts = T0 + timedelta(seconds=float(rng.uniform(0, span_s)))
        model, version = [("churn", "v1"), ("churn", "v2"), ("fraud", "v1")][int(rng.integers(0, 3))]
        status = int(rng.choice([200, 200, 200, 404, 500, 503]))
        out.append(record(ts=ts.isoformat().replace("+00:00", "Z"), request_id=f"q{i}", model=model,
                          model_version=version, status=status, latency_ms=round(float(rng.gamma(2, 40)), 3),
                          error="boom" if status == 503 else None, cpu_percent=round(float(rng.uniform(5, 90)), 1),
                          memory_mb=round(float(rng.uniform(400, 600)), 1)))
    return out


def _oracle(rows: list[dict], every_s: int, since: datetime) -> dict[tuple, dict]:
    """Per (window start, model, version) and per window start ('*'): plain Python and numpy."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        ts = datetime.fromisoformat(r["ts"].replace("Z", "+00:00"))
        start = datetime.fromtimestamp(int(ts.timestamp()) // every_s * every_s, timezone.utc)
        if start < since:
            continue
        groups.setdefault((start, r["model"], r["model_version"]), []).append(r)
        groups.setdefault((start, "*", "*"), []).append(r)
    out = {}
    for key, members in groups.items():
        lat = np.array([m["latency_ms"] for m in members])
        errors = [m["status"] >= 500 or m["error"] is not None for m in members]
        out[key] = {"request_count": len(members), "error_rate": sum(errors) / len(members),
                    "throughput_rps": len(members) / every_s,
                    "latency_p50_ms": np.percentile(lat, 50), "latency_p95_ms": np.percentile(lat, 95),
                    "latency_p99_ms": np.percentile(lat, 99),
                    "cpu_percent_mean": np.mean([m["cpu_percent"] for m in members]),
                    "memory_mb_mean": np.mean([m["memory_mb"] for m in members])}
    return out


def _feed(log, every=timedelta(minutes=1), windows=10) -> Feed:
    return Feed(lambda fields, span: LogTailer([str(log)], DEFAULT_MAPPING, fields), every=every, windows=windows,
                source=str(log), mapping=DEFAULT_MAPPING)


def _check(snap_series: pl.DataFrame, expected: dict, model="*", version="*"):
    for row in snap_series.iter_rows(named=True):
        want = expected.get((row["window_start"], model, version))
        if want is None:
            assert row["request_count"] == 0
            continue
        for name, value in want.items():
            assert row[name] == pytest.approx(value, rel=1e-9), (row["window_start"], name)


def test_windows_filled_in_pieces_hold_the_numbers_of_numpy_over_the_visible_range(tmp_path):
    rows = sorted(_records(7, 3000, 20 * 60), key=lambda r: r["ts"])
    log = write_jsonl(tmp_path / "app.jsonl", rows[:1000])
    feed = _feed(log)
    feed.poll()
    for piece in (rows[1000:1800], rows[1800:]):  # appended between refreshes
        with log.open("ab") as out:
            out.write(b"".join((json.dumps(r) + "\n").encode() for r in piece))
        feed.poll()
    snap = feed.snapshot()
    since = snap.series.get_column("window_start").min()
    assert snap.series.height == 10 and since == T0 + timedelta(minutes=10)
    expected = _oracle(rows, 60, since)
    _check(snap.series, expected)
    picked = feed.snapshot(("churn", "v2"))
    _check(picked.series, expected, "churn", "v2")
    latest = {(r["model"], r["model_version"]): r for r in snap.by_segment.iter_rows(named=True)}
    last = snap.series.get_column("window_start").max()
    for (model, version), row in latest.items():
        assert row["latency_p95_ms"] == pytest.approx(expected[(last, model, version)]["latency_p95_ms"])


def test_windows_agree_with_duckdb_reading_the_same_file(tmp_path):
    rows = _records(11, 2000, 30 * 60)
    log = write_jsonl(tmp_path / "app.jsonl", rows)
    feed = _feed(log, every=timedelta(minutes=5), windows=4)
    feed.poll()
    snap = feed.snapshot()
    since = snap.series.get_column("window_start").min()
    got = duckdb.sql(f"""
        select to_timestamp(floor(epoch(ts::timestamptz) / 300) * 300) as w, count(*) as n,
               quantile_cont(latency_ms, 0.95) as p95, avg(((status >= 500) or error is not null)::int) as err
        from read_ndjson('{log}', columns={{ts: 'VARCHAR', status: 'INT', latency_ms: 'DOUBLE', error: 'VARCHAR'}})
        group by w having w >= '{since.isoformat()}'::timestamptz order by w""").fetchall()
    series = snap.series.sort("window_start")
    assert series.get_column("request_count").to_list() == [n for _, n, _, _ in got]
    assert series.get_column("latency_p95_ms").to_list() == pytest.approx([p for _, _, p, _ in got])
    assert series.get_column("error_rate").to_list() == pytest.approx([e for _, _, _, e in got])


def test_only_the_visible_range_is_kept_and_only_touched_windows_are_aggregated(tmp_path):
    schema = {"ts": pl.Datetime("us", "UTC"), "status": pl.Int64, "error": pl.String, "latency_ms": pl.Float64,
              "model": pl.String, "model_version": pl.String}
    state = LiveWindows(timedelta(minutes=1), 3, schema)

    def add(minutes: list[float]):
        state.add(pl.DataFrame({"ts": [T0 + timedelta(minutes=m) for m in minutes], "status": [200] * len(minutes),
                                "error": [None] * len(minutes), "latency_ms": [1.0] * len(minutes),
                                "model": ["m"] * len(minutes), "model_version": ["v"] * len(minutes)},
                               schema=schema))
        return state.update()

    assert add([0.1, 1.1, 2.1, 2.2]) == 3
    assert add([2.5]) == 1  # one window touched, the others keep their rows of metrics
    assert add([5.5, 6.5]) == 2
    kept = state.rows()
    assert kept.get_column("ts").min() >= T0 + timedelta(minutes=4)  # windows 4..6 on screen
    assert state.series().get_column("request_count").to_list() == [0, 1, 1]
    assert add([0.5]) == 0  # too old for the screen: dropped


def test_shorter_windows_cut_the_rows_on_screen_and_longer_ones_read_again(tmp_path):
    rows = _records(3, 1500, 40 * 60)
    log = write_jsonl(tmp_path / "app.jsonl", rows)
    feed = _feed(log, every=timedelta(minutes=2), windows=10)
    feed.poll()
    feed.set_every(timedelta(minutes=1))
    snap = feed.snapshot()
    _check(snap.series.tail(10), _oracle(rows, 60, snap.series.get_column("window_start").min()))
    feed.set_every(timedelta(minutes=5))
    snap = feed.snapshot()
    assert snap.series.height == 10  # 50 minutes on screen now: the 40 of the log, all read again
    assert snap.series.get_column("request_count").sum() == 1500
    _check(snap.series, _oracle(rows, 300, snap.series.get_column("window_start").min()))


def test_top_errors_are_grouped_and_a_server_error_without_message_is_named_by_status(tmp_path):
    log = write_jsonl(tmp_path / "app.jsonl", [
        record(error="boom"), record(error="boom"), record(status=502), record(error="[red]x[/red]"), record()])
    feed = _feed(log)
    feed.poll()
    assert feed.snapshot().errors == [("boom", 2), ("HTTP 502", 1), ("[red]x[/red]", 1)]


def test_drift_is_reports_over_the_visible_range(tmp_path):
    from mlmon.baseline.load import BaselineSpec
    from mlmon.metrics.windows import WindowSpec
    from mlmon.report import build_report

    from conftest import SAMPLE_LOGS

    rows = [json.loads(x) for x in gzip.open(SAMPLE_LOGS / "churn.jsonl.gz").read().splitlines()]
    base = write_jsonl(tmp_path / "base.jsonl", rows[:4000])
    log = write_jsonl(tmp_path / "app.jsonl", rows[4000:])
    feed = Feed(lambda fields, span: LogTailer([str(log)], DEFAULT_MAPPING, fields), every=timedelta(hours=1),
                windows=12, source="x", mapping=DEFAULT_MAPPING, baseline=BaselineSpec(path=str(base)),
                patterns=[str(log)])
    feed.poll()
    drift = feed.snapshot().drift
    series = feed.snapshot().series
    spec = WindowSpec(since=series.get_column("window_start").min(), until=series.get_column("window_end").max())
    report, _ = build_report([str(log)], mapping=DEFAULT_MAPPING, spec=spec, now=T0,
                             baseline=BaselineSpec(path=str(base)), summaries=True)
    want = report.drift_by_field
    assert drift.height == want.height > 5 and drift.get_column("drifted").any()
    for name in ("field", "method", "drifted"):
        assert drift.get_column(name).to_list() == want.get_column(name).to_list()
    for name in ("score", "psi", "null_rate"):
        assert drift.get_column(name).to_list() == pytest.approx(want.get_column(name).to_list(), nan_ok=True)


def test_alerts_are_checks_over_the_visible_range():
    from mlmon.check import run_check
    from mlmon.rules.load import load_rules

    from conftest import ROOT, SAMPLE_LOGS

    logs = [str(p) for p in sorted(SAMPLE_LOGS.glob("*.jsonl.gz"))]
    ruleset = load_rules(ROOT / "rules.example.yaml")
    feed = Feed(lambda fields, span: LogTailer(logs, DEFAULT_MAPPING, fields), every=timedelta(hours=1),
                windows=30, source="x", mapping=DEFAULT_MAPPING, ruleset=ruleset, clock=lambda: T0)
    feed.poll()
    snap = feed.snapshot()
    since, until = snap.series.get_column("window_start").min(), snap.series.get_column("window_end").max()
    result, _ = run_check(logs, ruleset, mapping=DEFAULT_MAPPING, now=T0, since=since, until=until)

    def keys(alerts):
        return sorted((a.rule, tuple(sorted(a.segment.items())), a.value) for a in alerts)

    assert keys(snap.firing) == keys([a for a in result.alerts if a.active]) and snap.firing
    assert keys(snap.pending) == keys(result.pending)
