"""Windows, segments and the time range, on small inputs with hand-computed answers.

The oracle tests (test_metrics_oracle.py) cover the same contract at scale; here each
rule has its own tiny case, so a failure names the rule that broke.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mlmon.logs.reader import read_logs
from mlmon.metrics.windows import WindowSpec, compute_metrics

UTC = timezone.utc
M5, H1, D1 = timedelta(minutes=5), timedelta(hours=1), timedelta(days=1)
FIELDS = ["ts", "model", "model_version", "status", "error", "latency_ms", "cpu_percent", "memory_mb"]
LATENCY_METRICS = ("latency_mean_ms", "latency_p50_ms", "latency_p90_ms", "latency_p95_ms", "latency_p99_ms",
                   "latency_max_ms")


def t(text: str) -> datetime:
    """An instant written as ISO text (Z)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def table(tmp_path: Path, records: list[dict], every=None, by=(), since=None, until=None) -> list[dict]:
    """Write records as JSONL (``ts`` given as the JSON value to write), read them, compute the table."""
    path = tmp_path / "logs.jsonl"
    path.write_text("".join(json.dumps({"latency_ms": 10.0, **r}) + "\n" for r in records), encoding="utf-8")
    data = read_logs([str(path)], fields=FIELDS, strict=True)
    assert data.records.height == len(records)
    frame = compute_metrics(data.records, WindowSpec(every=every, by=tuple(by), since=since, until=until)).frame
    return frame.to_dicts()


def brief(rows: list[dict], *names: str) -> list[tuple]:
    return [tuple(r[n] for n in ("window_start", *names)) for r in rows]


# --------------------------------------------------------------------------- alignment

ALIGNMENT = [
    # (every, ts as written in the log, expected window start)
    (M5, "2026-03-08T00:04:59.999999Z", "2026-03-08T00:00:00Z"),
    (M5, "2026-03-08T00:05:00Z", "2026-03-08T00:05:00Z"),
    (M5, 1772928299999999999, "2026-03-08T00:00:00Z"),  # epoch ns, 1 ns before 00:05
    (M5, 1772928300000, "2026-03-08T00:05:00Z"),  # epoch ms
    (M5, 1772928299.999, "2026-03-08T00:00:00Z"),  # epoch s with a fraction
    (M5, "2026-03-08T02:04:59.999+02:00", "2026-03-08T00:00:00Z"),
    (timedelta(minutes=7), "2026-03-08T00:00:00Z", "2026-03-07T23:59:00Z"),  # 29548800 min = 7 * 4221257 + 1
    (H1, "2026-03-08T10:59:59.999Z", "2026-03-08T10:00:00Z"),
    (H1, "2026-03-08T11:00:00", "2026-03-08T11:00:00Z"),  # naive: UTC
    (H1, "1969-12-31T23:59:59.500Z", "1969-12-31T23:00:00Z"),  # before the epoch: floor, not truncation
    (timedelta(minutes=90), "2026-03-08T01:29:59Z", "2026-03-08T00:00:00Z"),
    (timedelta(minutes=90), "2026-03-08T01:30:00Z", "2026-03-08T01:30:00Z"),
    (D1, "2026-03-08T23:59:59.999Z", "2026-03-08T00:00:00Z"),
    (D1, "2026-03-09T01:30:00+02:00", "2026-03-08T00:00:00Z"),  # the next day in +02:00
    (D1, "2026-03-08 00:00:00", "2026-03-08T00:00:00Z"),
    (timedelta(weeks=1), "2026-03-08T12:00:00Z", "2026-03-05T00:00:00Z"),  # weeks since 1970-01-01, a Thursday
]


@pytest.mark.parametrize("every,ts,start", ALIGNMENT, ids=[f"{e}-{ts}" for e, ts, _ in ALIGNMENT])
def test_window_start_is_a_multiple_of_every_since_the_epoch(tmp_path, every, ts, start):
    rows = table(tmp_path, [{"ts": ts}], every=every)
    assert [(r["window_start"], r["window_end"], r["request_count"]) for r in rows] == [(t(start), t(start) + every, 1)]
    assert rows[0]["throughput_rps"] == pytest.approx(1 / every.total_seconds(), rel=1e-9)


# --------------------------------------------------------------------------- empty windows


def test_empty_windows_run_from_a_segments_first_window_to_the_end_of_the_range(tmp_path):
    records = [
        {"ts": "2026-03-08T10:00:10Z", "model": "a", "latency_ms": 4.0},
        {"ts": "2026-03-08T10:21:00Z", "model": "a", "latency_ms": 6.0},
        {"ts": "2026-03-08T10:05:00Z", "model": "b", "latency_ms": 8.0, "cpu_percent": 20.0, "memory_mb": 300.0},
    ]  # b then goes silent
    rows = table(tmp_path, records, every=M5, by=["model"])
    assert brief(rows, "model", "request_count") == [
        (t("2026-03-08T10:00:00Z"), "a", 1),
        (t("2026-03-08T10:05:00Z"), "a", 0),
        (t("2026-03-08T10:05:00Z"), "b", 1),
        (t("2026-03-08T10:10:00Z"), "a", 0),
        (t("2026-03-08T10:10:00Z"), "b", 0),
        (t("2026-03-08T10:15:00Z"), "a", 0),
        (t("2026-03-08T10:15:00Z"), "b", 0),
        (t("2026-03-08T10:20:00Z"), "a", 1),
        (t("2026-03-08T10:20:00Z"), "b", 0),  # silence is reported up to the last window of the range
    ]
    for row in rows:
        assert row["window_end"] == row["window_start"] + M5
        if row["request_count"] == 0:
            assert row["error_count"] == 0
            assert row["throughput_rps"] == 0.0
            assert row["error_rate"] is None and row["client_error_rate"] is None
            assert all(row[m] is None for m in LATENCY_METRICS)
            assert row["cpu_percent_mean"] is None and row["memory_mb_max"] is None
        else:
            assert row["throughput_rps"] == pytest.approx(1 / 300, rel=1e-9)
            assert row["latency_p95_ms"] == row["latency_max_ms"]


def test_without_segments_empty_windows_fill_the_whole_range(tmp_path):
    records = [{"ts": "2026-03-08T10:02:00Z"}, {"ts": "2026-03-08T10:17:00Z"}]
    since, until = t("2026-03-08T09:50:00Z"), t("2026-03-08T10:30:00Z")
    rows = table(tmp_path, records, every=M5, since=since, until=until)
    starts = [since + i * M5 for i in range(8)]
    assert brief(rows, "request_count") == [(s, 1 if s in (t("2026-03-08T10:00:00Z"), t("2026-03-08T10:15:00Z")) else 0)
                                            for s in starts]
    # Without since/until the range is the records' own: 10:00 to 10:15.
    rows = table(tmp_path, records, every=M5)
    assert brief(rows, "request_count") == [(t("2026-03-08T10:00:00Z"), 1), (t("2026-03-08T10:05:00Z"), 0),
                                            (t("2026-03-08T10:10:00Z"), 0), (t("2026-03-08T10:15:00Z"), 1)]


def test_a_range_without_records_is_a_grid_of_empty_windows(tmp_path):
    records = [{"ts": "2026-03-08T08:00:00Z"}, {"ts": "2026-03-08T13:00:00Z"}]
    since, until = t("2026-03-08T10:30:00Z"), t("2026-03-08T12:10:00Z")
    rows = table(tmp_path, records, every=H1, since=since, until=until)
    assert [(r["window_start"], r["request_count"], r["throughput_rps"]) for r in rows] == [
        (t("2026-03-08T10:00:00Z"), 0, 0.0), (t("2026-03-08T11:00:00Z"), 0, 0.0), (t("2026-03-08T12:00:00Z"), 0, 0.0),
    ]
    # No record in range means no segment value to report.
    assert table(tmp_path, records, every=H1, by=["model"], since=since, until=until) == []


def test_window_with_records_but_no_latency(tmp_path):
    records = [{"ts": "2026-03-08T10:00:00Z", "latency_ms": None}, {"ts": "2026-03-08T10:01:00Z", "latency_ms": None},
               {"ts": "2026-03-08T11:00:00Z", "latency_ms": 3.0}]
    rows = table(tmp_path, records, every=H1)
    assert rows[0]["request_count"] == 2 and rows[0]["error_rate"] == 0.0
    assert all(rows[0][m] is None for m in LATENCY_METRICS)
    assert all(rows[1][m] == 3.0 for m in LATENCY_METRICS)


# --------------------------------------------------------------------------- since / until


def test_since_until_select_and_cut_windows(tmp_path):
    records = [
        {"ts": "2026-03-08T10:14:59.999Z"},  # before since: out
        {"ts": "2026-03-08T10:15:00Z"},  # on since: in
        {"ts": "2026-03-08T11:00:00Z"}, {"ts": "2026-03-08T11:30:00Z"}, {"ts": "2026-03-08T11:59:59.999999Z"},
        {"ts": "2026-03-08T12:29:59.999999Z"},  # just before until: in
        {"ts": "2026-03-08T12:30:00Z"},  # on until: out
    ]
    since, until = t("2026-03-08T10:15:00Z"), t("2026-03-08T12:30:00Z")
    rows = table(tmp_path, records, every=H1, since=since, until=until)
    # Windows keep their full bounds; throughput divides by the part inside [since, until).
    assert [(r["window_start"], r["window_end"], r["request_count"]) for r in rows] == [
        (t("2026-03-08T10:00:00Z"), t("2026-03-08T11:00:00Z"), 1),
        (t("2026-03-08T11:00:00Z"), t("2026-03-08T12:00:00Z"), 3),
        (t("2026-03-08T12:00:00Z"), t("2026-03-08T13:00:00Z"), 1),
    ]
    assert [r["throughput_rps"] for r in rows] == pytest.approx([1 / 2700, 3 / 3600, 1 / 1800], rel=1e-9)


def test_since_and_until_inside_one_window(tmp_path):
    records = [{"ts": f"2026-03-08T{h:02d}:00:00Z", "model": "m"} for h in range(0, 24, 2)]
    since, until = t("2026-03-08T10:00:00Z"), t("2026-03-08T16:00:00Z")
    for by in ((), ("model",)):
        rows = table(tmp_path, records, every=D1, by=by, since=since, until=until)
        assert [(r["window_start"], r["request_count"]) for r in rows] == [(t("2026-03-08T00:00:00Z"), 3)]
        assert rows[0]["throughput_rps"] == pytest.approx(3 / (6 * 3600), rel=1e-9)


def test_until_on_a_window_boundary_adds_no_window(tmp_path):
    records = [{"ts": "2026-03-08T10:30:00Z", "model": "a"}, {"ts": "2026-03-08T12:00:00Z", "model": "a"}]
    until = t("2026-03-08T12:00:00Z")
    for by in ((), ("model",)):
        rows = table(tmp_path, records, every=H1, by=by, until=until)
        assert brief(rows, "request_count") == [(t("2026-03-08T10:00:00Z"), 1), (t("2026-03-08T11:00:00Z"), 0)]
        assert [r["throughput_rps"] for r in rows] == pytest.approx([1 / 3600, 0.0], rel=1e-9)


def test_segments_run_to_until_even_when_silent(tmp_path):
    records = [{"ts": "2026-03-08T10:10:00Z", "model": "a"}, {"ts": "2026-03-08T11:10:00Z", "model": "b"}]
    since, until = t("2026-03-08T09:00:00Z"), t("2026-03-08T12:30:00Z")
    rows = table(tmp_path, records, every=H1, by=["model"], since=since, until=until)
    # A segment starts at its own first window, not at since.
    assert brief(rows, "model", "request_count") == [
        (t("2026-03-08T10:00:00Z"), "a", 1),
        (t("2026-03-08T11:00:00Z"), "a", 0), (t("2026-03-08T11:00:00Z"), "b", 1),
        (t("2026-03-08T12:00:00Z"), "a", 0), (t("2026-03-08T12:00:00Z"), "b", 0),
    ]
    assert [r["throughput_rps"] for r in rows] == pytest.approx([1 / 3600, 0, 1 / 3600, 0, 0], rel=1e-9)


def test_since_until_in_another_time_zone_mean_the_same_instants(tmp_path):
    records = [{"ts": "2026-03-08T10:14:00Z"}, {"ts": "2026-03-08T10:20:00Z"}, {"ts": "2026-03-08T11:40:00Z"}]
    since, until = t("2026-03-08T10:15:00Z"), t("2026-03-08T11:30:00Z")
    plus2 = timezone(timedelta(hours=2))
    want = table(tmp_path, records, every=H1, since=since, until=until)
    assert [(r["window_start"], r["request_count"]) for r in want] == [(t("2026-03-08T10:00:00Z"), 1),
                                                                       (t("2026-03-08T11:00:00Z"), 0)]
    got = table(tmp_path, records, every=H1, since=since.astimezone(plus2), until=until.astimezone(plus2))
    assert got == want


# --------------------------------------------------------------------------- whole range


def test_whole_range_is_first_to_last_record(tmp_path):
    records = [{"ts": "2026-03-08T10:00:00Z", "model": "a"}, {"ts": "2026-03-08T10:00:30Z", "model": "b"},
               {"ts": "2026-03-08T10:01:40Z", "model": "a"}, {"ts": "2026-03-08T09:59:00Z", "model": "c"}]
    since = t("2026-03-08T09:59:30Z")  # drops c
    rows = table(tmp_path, records, since=since, until=t("2026-03-09T00:00:00Z"))
    assert [(r["window_start"], r["window_end"], r["request_count"]) for r in rows] == [
        (t("2026-03-08T10:00:00Z"), t("2026-03-08T10:01:40Z"), 3)]
    assert rows[0]["throughput_rps"] == pytest.approx(3 / 100, rel=1e-9)  # not cut by since/until
    rows = table(tmp_path, records, by=["model"], since=since)
    # Every segment shares the range's bounds and its span.
    assert [(r["model"], r["window_start"], r["window_end"], r["request_count"]) for r in rows] == [
        ("a", t("2026-03-08T10:00:00Z"), t("2026-03-08T10:01:40Z"), 2),
        ("b", t("2026-03-08T10:00:00Z"), t("2026-03-08T10:01:40Z"), 1)]
    assert [r["throughput_rps"] for r in rows] == pytest.approx([2 / 100, 1 / 100], rel=1e-9)


def test_whole_range_of_one_instant_has_no_throughput(tmp_path):
    rows = table(tmp_path, [{"ts": "2026-03-08T10:00:00Z"}, {"ts": 1772964000000}])
    assert rows[0]["request_count"] == 2 and rows[0]["throughput_rps"] is None


# --------------------------------------------------------------------------- segments


def test_null_segment_value_is_a_segment_of_its_own_sorted_last(tmp_path):
    records = [
        {"ts": "2026-03-08T10:00:00Z", "model_version": "v2"},
        {"ts": "2026-03-08T10:10:00Z"},  # no model_version key
        {"ts": "2026-03-08T10:20:00Z", "model_version": None},
        {"ts": "2026-03-08T10:30:00Z", "model_version": "v1"},
        {"ts": "2026-03-08T11:40:00Z", "model_version": None, "status": 503},
    ]
    rows = table(tmp_path, records, every=H1, by=["model_version"])
    assert brief(rows, "model_version", "request_count", "error_count") == [
        (t("2026-03-08T10:00:00Z"), "v1", 1, 0), (t("2026-03-08T10:00:00Z"), "v2", 1, 0),
        (t("2026-03-08T10:00:00Z"), None, 2, 0),
        (t("2026-03-08T11:00:00Z"), "v1", 0, 0), (t("2026-03-08T11:00:00Z"), "v2", 0, 0),
        (t("2026-03-08T11:00:00Z"), None, 1, 1),
    ]
    whole = table(tmp_path, records, by=["model_version"])
    assert [(r["model_version"], r["request_count"]) for r in whole] == [("v1", 1), ("v2", 1), (None, 3)]


def test_more_segments_than_the_cap_are_refused_before_any_window_is_filled(tmp_path):
    from mlmon.metrics.windows import SegmentLimitError

    # 4 versions in the range, and a null one: 5 segments; a sixth version lies outside the range
    records = [{"ts": f"2026-03-08T1{i}:00:00Z", "model_version": v, "model": f"m{i % 2}"}
               for i, v in enumerate(["a", "b", "c", "d", None])]
    records.append({"ts": "2026-03-09T00:00:00Z", "model_version": "outside", "model": "m1"})
    path = tmp_path / "logs.jsonl"
    path.write_text("".join(json.dumps({"latency_ms": 1.0, **r}) + "\n" for r in records), encoding="utf-8")
    frame = read_logs([str(path)], fields=FIELDS, strict=True).records
    in_range = dict(by=("model_version",), until=t("2026-03-09T00:00:00Z"))
    for every in (None, H1):
        with pytest.raises(SegmentLimitError) as refused:
            compute_metrics(frame, WindowSpec(every=every, max_segments=4, **in_range))
        assert (refused.value.count, refused.value.limit) == (5, 4)
        assert str(refused.value) == ("--by model_version makes 5 segments, more than --max-segments 4. "
                                      "Segment by fewer fields, filter with --where, or raise --max-segments.")
        assert compute_metrics(frame, WindowSpec(every=every, max_segments=5, **in_range)).frame.height
    # two fields: the 6 pairs that occur, not the 12 of 6 versions times 2 models
    with pytest.raises(SegmentLimitError, match="--by model_version,model makes 6 segments"):
        compute_metrics(frame, WindowSpec(by=("model_version", "model"), max_segments=5))


# --------------------------------------------------------------------------- status and error

STATUS_TABLE = [
    # (fields of one record, effective status, is a server error, is a client error)
    ({"status": 200}, 200, False, False),
    ({}, 200, False, False),  # no status: 200
    ({"status": None}, 200, False, False),
    ({"error": "boom"}, 500, True, False),  # no status but an error: 500
    ({"status": None, "error": "boom"}, 500, True, False),
    ({"error": ""}, 200, False, False),  # an empty error is no error
    ({"error": False}, 200, False, False),  # false and 0 are no error either
    ({"error": 0}, 200, False, False),
    ({"status": 200, "error": False}, 200, False, False),
    ({"error": True}, 500, True, False),
    ({"error": {"code": 3}}, 500, True, False),
    ({"status": 200, "error": "partial"}, 200, True, False),  # an error logged despite a 200
    ({"status": 399}, 399, False, False),
    ({"status": 400}, 400, False, True),
    ({"status": 499}, 499, False, True),
    ({"status": 404, "error": "lookup failed"}, 404, True, True),
    ({"status": 500, "error": None}, 500, True, False),
    ({"status": 503}, 503, True, False),
    ({"status": 599}, 599, True, False),
]


@pytest.mark.parametrize("fields,status,server,client", STATUS_TABLE, ids=[json.dumps(f) for f, *_ in STATUS_TABLE])
def test_status_and_error_semantics(tmp_path, fields, status, server, client):
    # The record under test plus a plain 200, so the rates are 0, 0.5 or 1 over two requests.
    records = [{"ts": "2026-03-08T10:00:00Z", **fields}, {"ts": "2026-03-08T10:00:01Z", "status": 200}]
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    data = read_logs([str(path)], fields=FIELDS, strict=True)
    assert data.records["status"].to_list() == [status, 200]
    row = compute_metrics(data.records, WindowSpec(every=H1)).frame.row(0, named=True)
    assert row["error_count"] == int(server)
    assert row["error_rate"] == pytest.approx(server / 2, rel=1e-9)
    assert row["client_error_rate"] == pytest.approx(client / 2, rel=1e-9)


def test_too_many_windows_is_a_usage_error_not_an_allocation(tmp_path, monkeypatch):
    from mlmon.errors import UsageError
    from mlmon.metrics import windows

    monkeypatch.setattr(windows, "MAX_WINDOWS", 1000)
    # One stray record from 1970 widens a 1-minute grid to millions of windows.
    records = [{"ts": 0}, {"ts": "2026-11-26T00:00:00Z"}]
    with pytest.raises(UsageError, match=r"29,927,521 windows of 1m from 1970-01-01T00:00:00Z"):
        table(tmp_path, records, every=timedelta(minutes=1))
    # The limit counts windows over every segment: 2 segments x 600 windows.
    records = [{"ts": "2026-11-26T00:00:00Z", "model": m} for m in "ab"] + [
        {"ts": "2026-11-26T09:59:00Z", "model": m} for m in "ab"]
    with pytest.raises(UsageError, match="1,200 windows"):
        table(tmp_path, records, every=timedelta(minutes=1), by=["model"])
    assert len(table(tmp_path, records, every=timedelta(minutes=2), by=["model"])) == 600
    # A grid that would end after year 9999 is still described, not an OverflowError.
    with pytest.raises(UsageError, match="to 9999-12-31T23:59:59.999999Z"):
        table(tmp_path, [{"ts": 0}, {"ts": "9999-12-31T23:59:30Z"}], every=timedelta(minutes=1))


def test_years_before_1000_are_written_with_four_digits():
    from mlmon.timeparse import iso

    assert iso(datetime(999, 6, 1, tzinfo=UTC)) == "0999-06-01T00:00:00Z"
    assert iso(datetime(1, 1, 1, 0, 0, 0, 500, tzinfo=UTC)) == "0001-01-01T00:00:00.0005Z"


def test_a_window_ending_past_year_9999_ends_at_its_last_microsecond(tmp_path):
    """Issue 11 item 1: window bounds are cut at the years records may carry, so that rules, state
    and every format get times that Python and RFC 3339 parsers hold (no "+10000-01-01")."""
    from typer.testing import CliRunner

    from mlmon.cli import app

    path = tmp_path / "y9999.jsonl"
    path.write_text(json.dumps({"ts": "9999-12-31T23:59:30Z", "latency_ms": 1}) + "\n")
    result = CliRunner().invoke(app, ["report", str(path), "--every", "1h", "--format", "json"])
    assert result.exit_code == 0, result.output
    window = json.loads(result.stdout)["windows"][0]
    assert (window["start"], window["end"]) == ("9999-12-31T23:00:00Z", "9999-12-31T23:59:59.999999Z")
