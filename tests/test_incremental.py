"""Windowed metrics aggregated chunk by chunk equal those computed over all the records at once.

The oracle is :func:`compute_metrics` on the whole frame: the tables must be equal to the
bit (``DataFrame.equals``), percentiles and means included, however the records are cut
into chunks and in whatever time order they come.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from mlmon.logs.mapping import DEFAULT_MAPPING
from mlmon.logs.normalize import TS_TYPE
from mlmon.metrics.incremental import WindowedMetrics
from mlmon.metrics.windows import SegmentLimitError, WindowSpec, compute_metrics
from mlmon.report import build_report

UTC = timezone.utc
START = datetime(2026, 3, 8, tzinfo=UTC)
SCHEMA = {"ts": TS_TYPE, "status": pl.Int64(), "error": pl.String(), "latency_ms": pl.Float64(),
          "cpu_percent": pl.Float64(), "memory_mb": pl.Float64(), "model": pl.String()}


def records(n: int, seed: int, *, shuffle: float = 0.0, cpu: bool = True, hours: int = 12) -> pl.DataFrame:
    """``n`` records over ``hours`` hours in time order, but a ``shuffle`` share of them moved anywhere."""
    rng = random.Random(seed)
    times = sorted(START + timedelta(seconds=rng.uniform(0, hours * 3600)) for _ in range(n))
    for _ in range(int(n * shuffle)):
        i, j = rng.randrange(n), rng.randrange(n)
        times[i], times[j] = times[j], times[i]
    status = [rng.choice([200, 200, 200, 404, 500]) for _ in range(n)]
    return pl.DataFrame({
        "ts": times,
        "status": status,
        "error": [rng.choice([None, None, "boom"]) if s >= 500 else None for s in status],
        "latency_ms": [rng.lognormvariate(3, 1) for _ in range(n)],
        "cpu_percent": [rng.uniform(0, 100) if cpu and rng.random() < 0.9 else None for _ in range(n)],
        "memory_mb": [rng.uniform(100, 900) for _ in range(n)],
        "model": [rng.choice(["churn", "fraud", None, "ranker"]) for _ in range(n)],
    }, schema=SCHEMA)


def chunked(frame: pl.DataFrame, seed: int) -> list[pl.DataFrame]:
    rng = random.Random(seed)
    cuts = sorted({0, frame.height, *(rng.randrange(frame.height + 1) for _ in range(rng.randrange(1, 12)))})
    return [frame.slice(a, b - a) for a, b in zip(cuts, cuts[1:])]


def as_read(frames: list[pl.DataFrame], spec: WindowSpec) -> pl.DataFrame:
    with WindowedMetrics(spec, SCHEMA, hold_rows=0) as windows:
        for frame in frames:
            windows.add(frame)
        return windows.table().frame


SPECS = [
    WindowSpec(every=timedelta(hours=1), by=("model",)),
    WindowSpec(every=timedelta(minutes=25)),
    WindowSpec(every=timedelta(hours=1), by=("model", "status")),
    WindowSpec(every=timedelta(minutes=30), by=("model",), since=START + timedelta(hours=2),
               until=START + timedelta(hours=9, minutes=10)),
    WindowSpec(every=timedelta(hours=1), by=("model",), anchor=START + timedelta(minutes=17),
               since=START + timedelta(minutes=40), max_segments=10),
]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("shuffle", [0.0, 0.002, 0.05, 1.0])
@pytest.mark.parametrize("seed", [1, 2])
def test_same_table_as_over_all_records(spec, shuffle, seed):
    frame = records(3000, seed, shuffle=shuffle)
    expected = compute_metrics(frame, spec).frame
    got = as_read(chunked(frame, seed), spec)
    assert got.equals(expected), (got, expected)


def test_late_records_reopen_a_window_more_than_once():
    frame = records(2000, 3)
    # The last window's records come back three times, after later windows closed each time.
    early = frame.filter(pl.col("ts") < START + timedelta(hours=1))
    late = frame.filter(pl.col("ts") >= START + timedelta(hours=1))
    frames = [late.slice(0, 500), early.slice(0, 50), late.slice(500, 500), early.slice(50, 50),
              late.slice(1000), early.slice(100)]
    spec = SPECS[0]
    assert as_read(frames, spec).equals(compute_metrics(pl.concat(frames), spec).frame)


def test_a_resource_metric_is_left_out_when_no_record_logs_it():
    frame = records(500, 4, cpu=False)
    got = as_read(chunked(frame, 4), SPECS[0])
    assert "cpu_percent_mean" not in got.columns and "memory_mb_mean" in got.columns
    assert got.equals(compute_metrics(frame, SPECS[0]).frame)


def test_no_records_gives_the_same_empty_table():
    spec = WindowSpec(every=timedelta(hours=1), by=("model",))
    empty = pl.DataFrame(schema=SCHEMA)
    assert as_read([], spec).equals(compute_metrics(empty, spec).frame)
    spec = WindowSpec(every=timedelta(hours=1), since=START, until=START + timedelta(hours=3))
    assert as_read([empty], spec).equals(compute_metrics(empty, spec).frame)


def test_too_many_segments_are_counted_as_over_all_records():
    spec = WindowSpec(every=timedelta(hours=1), by=("model", "latency_ms"), max_segments=100)
    frame = records(1000, 5)
    with pytest.raises(SegmentLimitError) as expected:
        compute_metrics(frame, spec)
    with pytest.raises(SegmentLimitError) as got:
        as_read(chunked(frame, 5), spec)
    assert str(got.value) == str(expected.value)


def test_spill_files_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    frame = records(1000, 6, shuffle=0.01)
    as_read(chunked(frame, 6), SPECS[0])
    assert not list(tmp_path.iterdir())


def test_report_reads_chunk_by_chunk_and_matches_the_whole_frame(tmp_path, monkeypatch):
    """The report's windows, computed as the logs are read in small chunks, are those of all records at once."""
    frame = records(4000, 7, shuffle=0.01)
    lines = [json.dumps({**row, "ts": row["ts"].isoformat().replace("+00:00", "Z")})
             for row in frame.to_dicts()]
    path = tmp_path / "logs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = WindowSpec(every=timedelta(hours=1), by=("model",))
    import mlmon.report
    from mlmon.logs.reader import stream_logs

    frames = []

    def small_chunks(*args, **kwargs):
        stream = stream_logs(*args, **{**kwargs, "chunk_bytes": 16 * 1024})
        iterate = type(stream).__iter__
        monkeypatch.setattr(type(stream), "__iter__", lambda self: (frames.append(f) or f for f in iterate(self)))
        return stream

    monkeypatch.setattr(mlmon.report, "stream_logs", small_chunks)
    report, data = build_report([str(path)], mapping=DEFAULT_MAPPING, spec=spec, now=START)
    assert len(frames) > 10  # read in many chunks
    assert report.records == frame.height and data.records.height == 0
    expected = compute_metrics(frame, spec).frame
    assert report.frame.equals(expected)
