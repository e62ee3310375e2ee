"""Every operational metric, for every window and segment, against two independent oracles.

Seeded synthetic logs (several thousand records: three models plus a rare one, several
versions, tied latencies, 4xx/5xx, errors without a status, missing cpu/memory, null
segment values, timestamps in seven spellings) are written as JSONL, read by mlmon,
and compared with a plain-Python/numpy computation over the generated values and with
a DuckDB query over the same file (see ``oracle_data``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

try:
    import oracle_data as od
except ImportError:  # tests/ imported as a package
    from tests import oracle_data as od

from mlmon.logs.mapping import DEFAULT_MAPPING
from mlmon.logs.reader import read_logs
from mlmon.metrics.windows import WindowSpec, compute_metrics
from mlmon.report import build_report

UTC = timezone.utc
M5, M7, H1, D1, W1 = (timedelta(minutes=5), timedelta(minutes=7), timedelta(hours=1), timedelta(days=1),
                      timedelta(weeks=1))
# Unaligned bounds inside the data (records sit exactly on SINCE and 456 us before UNTIL).
SINCE = datetime(2026, 3, 8, 3, 17, 42, 500_000, tzinfo=UTC)
UNTIL = datetime(2026, 3, 9, 11, 2, 3, 123_456, tzinfo=UTC)
# Bounds around all the data: leading and trailing empty windows.
WIDE_SINCE = datetime(2026, 3, 6, 18, 30, tzinfo=UTC)
WIDE_UNTIL = datetime(2026, 3, 12, 0, 0, tzinfo=UTC)
ALIGNED_UNTIL = datetime(2026, 3, 9, 0, 0, tzinfo=UTC)

ALL_FIELDS = ["ts", "request_id", "model", "model_version", "endpoint", "status", "latency_ms", "error",
              "cpu_percent", "memory_mb", "input.country"]


@dataclass(frozen=True)
class Case:
    id: str
    every: timedelta | None = None
    by: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    @property
    def spec(self) -> WindowSpec:
        return WindowSpec(every=self.every, by=self.by, since=self.since, until=self.until)


CASES = [
    Case("whole"),
    Case("whole-by-model", by=("model",)),
    Case("whole-by-model-version", by=("model", "model_version")),
    Case("whole-by-country", by=("input.country",)),
    Case("whole-by-status-error", by=("status", "error")),
    Case("whole-since-until-by-endpoint", by=("endpoint",), since=SINCE, until=UNTIL),
    Case("5m", M5),
    Case("5m-by-model", M5, ("model",)),
    Case("5m-by-version-since-until", M5, ("model_version",), SINCE, UNTIL),
    Case("7m-by-model", M7, ("model",)),
    Case("1h", H1),
    Case("1h-by-model-version", H1, ("model", "model_version")),
    Case("1h-by-country-since-until", H1, ("input.country",), SINCE, UNTIL),
    Case("1h-since-only", H1, since=SINCE),
    Case("1h-until-only-by-model", H1, ("model",), until=UNTIL),
    Case("1h-aligned-until-by-version", H1, ("model_version",), SINCE, ALIGNED_UNTIL),
    Case("1d", D1),
    Case("1d-by-model", D1, ("model",)),
    Case("1d-by-status", D1, ("status",)),
    Case("1d-since-until", D1, (), SINCE, UNTIL),
    Case("1d-wide-range", D1, (), WIDE_SINCE, WIDE_UNTIL),
    Case("1d-wide-range-by-model-version", D1, ("model", "model_version"), WIDE_SINCE, WIDE_UNTIL),
    Case("1w-wide-range", W1, (), WIDE_SINCE, WIDE_UNTIL),
]


def _params(cases):
    return [pytest.param(case, id=case.id) for case in cases]


class Dataset:
    def __init__(self, tmp_dir):
        self.records = od.make_records()
        self.facts = [od.fact(r) for r in self.records]
        self.iso_path = od.write_jsonl(tmp_dir / "iso.jsonl", self.records, "iso_z")
        # Each line in a different spelling than the previous one.
        self.mixed_path = od.write_jsonl(tmp_dir / "mixed.jsonl", self.records, od.TS_FORMATS)
        self.data = read_logs([str(self.mixed_path)], fields=ALL_FIELDS, strict=True)
        self._numpy: dict[str, od.Expected] = {}
        self._duckdb: dict[str, od.Expected] = {}

    def numpy(self, case: Case) -> od.Expected:
        if case.id not in self._numpy:
            self._numpy[case.id] = od.numpy_oracle(self.facts, case.every, case.by, case.since, case.until)
        return self._numpy[case.id]

    def duckdb(self, case: Case) -> od.Expected:
        if case.id not in self._duckdb:
            self._duckdb[case.id] = od.duckdb_oracle([self.mixed_path], case.every, case.by, case.since, case.until)
        return self._duckdb[case.id]


@pytest.fixture(scope="module")
def ds(tmp_path_factory) -> Dataset:
    return Dataset(tmp_path_factory.mktemp("oracle"))


def _check(actual_rows, expected: od.Expected, by, what: str):
    problems = od.diff_tables(actual_rows, expected, by)
    assert not problems, f"mlmon vs {what} oracle:\n" + "\n".join(problems)


# --------------------------------------------------------------------------- the data itself


def test_dataset_has_what_the_cases_need(ds):
    """Guard the generator: the edge cases the oracles are meant to exercise are really there."""
    facts = [od.fact(r) for r in ds.records]
    assert len(facts) > 5000
    assert ds.data.records.height == len(facts) and ds.data.skipped == 0
    assert sum(f.is_error for f in facts) > 100
    assert sum(400 <= f.status <= 499 for f in facts) > 100
    assert sum("status" not in r and bool(r.get("error")) for r in ds.records) > 50  # errors without a status
    assert any(r.get("error") == "" for r in ds.records)
    lat = [f.latency for f in facts if f.latency is not None]
    assert len(lat) - len(set(lat)) > 1000  # heavy ties
    assert any(f.latency is None for f in facts)
    assert any(f.cpu is None for f in facts) and any(f.memory is None for f in facts)
    assert any(f.segment["model_version"] is None for f in facts)
    assert any(f.segment["input.country"] is None for f in facts)
    assert len({f.ts for f in facts}) < len(facts)  # ties in time
    hours = {od.floor_window(f.ts, H1) for f in facts}
    assert len(hours) < (max(hours) - min(hours)) / H1  # empty hours exist
    assert datetime(2026, 3, 10, tzinfo=UTC) not in {od.floor_window(f.ts, D1) for f in facts}


def test_reader_keeps_every_value(ds):
    """The records frame holds exactly the generated values (timestamps from seven spellings)."""
    frame = ds.data.records.sort("request_id")
    truth = sorted(ds.records, key=lambda r: r["request_id"])
    facts = [od.fact(r) for r in truth]
    assert frame["ts"].to_list() == [f.ts for f in facts]
    assert frame["status"].to_list() == [f.status for f in facts]
    assert frame["latency_ms"].to_list() == [f.latency for f in facts]
    assert frame["cpu_percent"].to_list() == [f.cpu for f in facts]
    assert frame["memory_mb"].to_list() == [f.memory for f in facts]
    for name in ("model", "model_version", "endpoint", "input.country"):
        assert frame[name].to_list() == [f.segment[name] for f in facts], name
    assert frame["error"].to_list() == [r.get("error") or None for r in truth]


# --------------------------------------------------------------------------- oracles vs mlmon


@pytest.mark.parametrize("case", _params(CASES))
def test_oracles_agree(ds, case):
    """numpy over the generated values and DuckDB over the file agree (so either may be trusted)."""
    expected = ds.numpy(case)
    assert expected.rows
    assert ds.duckdb(case).metrics == expected.metrics
    problems = od.diff_tables(ds.duckdb(case).rows, expected, case.by)
    assert not problems, "DuckDB vs numpy:\n" + "\n".join(problems)


@pytest.mark.parametrize("case", _params(CASES))
def test_metrics_match_oracles(ds, case):
    """Every metric of every (window, segment) row, and the set and order of rows."""
    table = compute_metrics(ds.data.records, case.spec)
    expected = ds.numpy(case)
    assert table.metrics == expected.metrics
    assert table.frame.columns == ["window_start", "window_end", *case.by, *expected.metrics]
    rows = table.frame.to_dicts()
    _check(rows, expected, case.by, "numpy")
    _check(rows, ds.duckdb(case), case.by, "DuckDB")


REPORT_CASES = [c for c in CASES if c.id in (
    "whole-by-model-version", "5m", "1h-by-country-since-until", "1d-wide-range-by-model-version",
    "1h-until-only-by-model", "1d-by-model",
)]


@pytest.mark.parametrize("case", _params(REPORT_CASES))
def test_report_json_matches_oracles(ds, case):
    """build_report reads the file itself; its JSON document carries the same numbers."""
    now = datetime(2026, 4, 1, tzinfo=UTC)
    report, data = build_report([str(ds.iso_path)], mapping=DEFAULT_MAPPING, spec=case.spec, now=now)
    doc = report.to_dict()
    assert doc["source"]["records"] == len(ds.records) and doc["source"]["skipped"] == 0
    assert doc["by"] == list(case.by)
    assert doc["since"] == (case.since and _z(case.since)) and doc["until"] == (case.until and _z(case.until))
    rows = []
    for window in doc["windows"]:
        assert window["start"].endswith("Z") and window["end"].endswith("Z")
        assert list(window["segment"]) == list(case.by)
        rows.append({"window_start": datetime.fromisoformat(window["start"]),
                     "window_end": datetime.fromisoformat(window["end"]),
                     **window["segment"], **window["metrics"]})
    expected = ds.numpy(case)
    assert list(doc["windows"][0]["metrics"]) == expected.metrics
    _check(rows, expected, case.by, "numpy")
    _check(rows, ds.duckdb(case), case.by, "DuckDB")


def _z(dt: datetime) -> str:
    text = dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        text += f".{dt.microsecond:06d}".rstrip("0")
    return text + "Z"


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize("fmt", od.TS_FORMATS)
def test_every_timestamp_spelling_lands_in_the_same_windows(ds, tmp_path, fmt):
    path = od.write_jsonl(tmp_path / f"{fmt}.jsonl", ds.records, fmt)
    data = read_logs([str(path)], fields=ALL_FIELDS, strict=True)
    assert data.skipped == 0
    got = data.records.select("request_id", "ts").sort("request_id")
    want = sorted((r["request_id"], r["ts"]) for r in ds.records)
    assert got["ts"].to_list() == [ts for _, ts in want]
    reference = ds.data.records  # the mixed-spelling file
    for every in (M5, H1, D1):
        spec = WindowSpec(every=every, by=("model_version",), since=SINCE, until=UNTIL)
        mine = compute_metrics(data.records, spec).frame
        assert mine.equals(compute_metrics(reference, spec).frame), every
    case = Case("1h-by-country-since-until", H1, ("input.country",), SINCE, UNTIL)
    _check(compute_metrics(data.records, case.spec).frame.to_dicts(), ds.numpy(case), case.by, "numpy")


# --------------------------------------------------------------------------- metric presence and percentiles


def test_resource_metrics_absent_without_any_value(ds, tmp_path):
    records = [{k: v for k, v in r.items() if k not in ("cpu_percent", "memory_mb")} for r in ds.records[:1500]]
    path = od.write_jsonl(tmp_path / "bare.jsonl", records)
    data = read_logs([str(path)], fields=ALL_FIELDS)
    for every in (None, H1):
        table = compute_metrics(data.records, WindowSpec(every=every, by=("model",)))
        expected = od.numpy_oracle(records, every, ("model",))
        assert table.metrics == od.BASE_METRICS == expected.metrics
        if every is None:
            _check(table.frame.to_dicts(), expected, ("model",), "numpy")


def test_resource_metrics_follow_the_selection(tmp_path):
    """cpu/memory metrics exist when a record *in the selected range* has the field."""
    t0 = datetime(2026, 3, 8, 10, tzinfo=UTC)
    records = [{"ts": t0 + i * timedelta(minutes=1), "request_id": f"r{i}", "model": "m", "latency_ms": float(i)}
               for i in range(120)]
    records[5]["cpu_percent"] = 50.0  # before `since`
    records[100]["memory_mb"] = 512.5  # inside
    records[119]["cpu_percent"] = 70.0  # at or after `until`
    path = od.write_jsonl(tmp_path / "r.jsonl", records)
    data = read_logs([str(path)], fields=ALL_FIELDS)
    since, until = t0 + timedelta(minutes=30), t0 + timedelta(minutes=119)
    for every in (None, timedelta(minutes=15)):
        table = compute_metrics(data.records, WindowSpec(every=every, since=since, until=until))
        expected = od.numpy_oracle(records, every, (), since, until)
        assert expected.metrics == od.BASE_METRICS + od.MEMORY_METRICS
        assert table.metrics == expected.metrics
        _check(table.frame.to_dicts(), expected, (), "numpy")
    whole = compute_metrics(data.records, WindowSpec())
    assert whole.metrics == od.BASE_METRICS + od.CPU_METRICS + od.MEMORY_METRICS


# Hand-computed with linear interpolation (h = (n-1)q): nearest-rank would give the max
# for p90/p95/p99 of four values, and 2 (or 3) for the median.
PERCENTILE_TABLE = [
    ([1, 2, 3, 4], {"latency_p50_ms": 2.5, "latency_p90_ms": 3.7, "latency_p95_ms": 3.85, "latency_p99_ms": 3.97}),
    ([4, 1, 3, 2], {"latency_p50_ms": 2.5, "latency_p90_ms": 3.7, "latency_p95_ms": 3.85, "latency_p99_ms": 3.97}),
    ([5, 5, 5, 10], {"latency_p50_ms": 5.0, "latency_p90_ms": 8.5, "latency_p95_ms": 9.25, "latency_p99_ms": 9.85}),
    ([10, 20], {"latency_p50_ms": 15.0, "latency_p90_ms": 19.0, "latency_p95_ms": 19.5, "latency_p99_ms": 19.9}),
    ([7.5], {"latency_p50_ms": 7.5, "latency_p90_ms": 7.5, "latency_p95_ms": 7.5, "latency_p99_ms": 7.5}),
    (list(range(1, 101)), {"latency_p50_ms": 50.5, "latency_p90_ms": 90.1, "latency_p95_ms": 95.05,
                           "latency_p99_ms": 99.01}),
    ([0.1, 0.2, 0.2, 0.2, 0.3, 1000.0], {"latency_p50_ms": 0.2, "latency_p90_ms": 500.15,
                                         "latency_p95_ms": 750.075, "latency_p99_ms": 950.015}),
]


@pytest.mark.parametrize("latencies,want", PERCENTILE_TABLE, ids=[str(i) for i in range(len(PERCENTILE_TABLE))])
def test_percentiles_interpolate_linearly(tmp_path, latencies, want):
    t0 = datetime(2026, 3, 8, 10, tzinfo=UTC)
    records = [{"ts": t0 + i * timedelta(seconds=1), "request_id": f"r{i}", "latency_ms": v}
               for i, v in enumerate(latencies)]
    path = od.write_jsonl(tmp_path / "p.jsonl", records)
    frame = compute_metrics(read_logs([str(path)]).records, WindowSpec(every=H1)).frame
    assert frame.height == 1
    row = frame.row(0, named=True)
    for name, value in want.items():
        assert row[name] == pytest.approx(value, rel=1e-9), name
        assert value == pytest.approx(float(np.percentile(latencies, od.PERCENTILES[name])), rel=1e-9)
    assert row["latency_mean_ms"] == pytest.approx(float(np.mean(latencies)), rel=1e-9)
    assert row["latency_max_ms"] == max(latencies)
    # and DuckDB's quantile_cont agrees on the same file
    duck = od.duckdb_oracle([path], H1).rows[0]
    for name, value in want.items():
        assert duck[name] == pytest.approx(value, rel=1e-9), name
