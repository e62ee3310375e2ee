"""The table and Markdown for people: what fits a narrow terminal, words, and the units in headers."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from conftest import record, write_jsonl
from typer.testing import CliRunner

from mlmon.cli import app
from mlmon.logs.mapping import DEFAULT_MAPPING
from mlmon.metrics.windows import WindowSpec
from mlmon.render.markdown import render_markdown
from mlmon.render.table import render_table
from mlmon.render.values import PERCENT_UNITS, format_value, header
from mlmon.report import build_report, metric_unit

NOW = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
BY = ("model", "model_version", "input.country", "input.plan")


@pytest.fixture
def wide_segments(tmp_path):
    """Segments whose names and values alone nearly fill 80 columns."""
    rows = []
    for i in range(1234):
        rows.append(record(f"2026-11-27T10:{i % 60:02d}:{i % 50:02d}Z", request_id=f"r{i}",
                           model="customer-churn-classifier", model_version="2026-11-26-candidate",
                           request={"country": "DE", "plan": "premium-annual"}))
    return write_jsonl(tmp_path / "wide.jsonl", rows)


def _report(path, by=BY, every=None):
    report, _ = build_report([str(path)], mapping=DEFAULT_MAPPING, spec=WindowSpec(every=every, by=by), now=NOW)
    return report


def _header(table: str) -> str:
    """The last line of the column headers: the one above the rule."""
    lines = table.splitlines()
    return lines[next(i for i, line in enumerate(lines) if line.startswith("───")) - 1]


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("width", [40, 60, 80, 100])
def test_a_narrow_table_still_shows_the_request_count(wide_segments, width):
    table = render_table(_report(wide_segments), width=width)
    assert "requests" in table
    assert "1,234" in table  # whole, never cut
    assert "more metrics: widen the terminal, or use --format json, csv or markdown." in _words(table)
    for line in table.splitlines():
        assert len(line) <= width, line


def test_with_windows_and_many_segments_the_request_count_comes_before_any_rate(wide_segments):
    table = render_table(_report(wide_segments, every=timedelta(hours=1)), width=100)
    head = _header(table).split()
    assert "requests" in head
    if "%" in head:
        assert head.index("requests") < head.index("%") - 1


def test_when_even_the_request_count_does_not_fit_segment_values_fold_and_the_count_stays_whole(wide_segments):
    table = render_table(_report(wide_segments), width=50)
    assert "customer" in table and "requests" in _header(table)
    first_row = next(line for line in table.splitlines() if line.startswith("customer"))
    assert first_row.rstrip().endswith(" 1,234")
    for line in table.splitlines():
        assert len(line) <= 50, line


def test_narrow_terminal_through_the_cli(wide_segments):
    result = CliRunner().invoke(app, ["report", str(wide_segments), "--by", ",".join(BY)], env={"COLUMNS": "40"})
    assert result.exit_code == 0, result.output
    assert "requests" in result.output and "1,234" in result.output
    assert "--format json, csv or markdown" in _words(result.output)


def test_the_80_column_table_with_room_for_metrics_is_unchanged_in_shape(wide_segments):
    table = render_table(_report(wide_segments, by=("model",)), width=80)
    head = _header(table).split()
    assert head[:2] == ["model", "requests"]
    assert len(head) > 4  # rates and latency still fit beside the count


@pytest.mark.parametrize(("records", "words"), [(1, "1 record from 1 file"), (2, "2 records from 1 file")])
def test_counts_read_as_singular_or_plural(tmp_path, records, words):
    logs = write_jsonl(tmp_path / "few.jsonl", [record(f"2026-11-27T10:00:0{i}Z") for i in range(records)])
    report = _report(logs, by=())
    assert render_table(report, width=100).splitlines()[0] == words
    assert f"\n{words}; " in render_markdown(report)


def test_one_record_through_the_cli(tmp_path):
    logs = write_jsonl(tmp_path / "one.jsonl", [record()])
    result = CliRunner().invoke(app, ["report", str(logs)], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "1 record from 1 file"


RATIO_METRICS = ["error_rate", "client_error_rate", "accuracy", "precision", "recall", "f1", "label_coverage",
                 "drift_share", "duplicate_request_id_rate", "null_rate.age", "type_violation_rate.age",
                 "out_of_range_rate.age", "new_category_rate.country", "new_category_rate.output.label",
                 "cpu_percent_mean", "cpu_percent_max"]
OTHER_METRICS = ["request_count", "throughput_rps", "error_count", "latency_p95_ms", "memory_mb_max", "psi.age",
                 "ks.age", "ks_pvalue.age", "js.country", "drifted.age", "schema_fields_added", "roc_auc", "mae"]


@pytest.mark.parametrize("name", RATIO_METRICS)
def test_every_percentage_column_says_percent(name):
    assert metric_unit(name) in PERCENT_UNITS
    assert header(name).endswith(" %")


@pytest.mark.parametrize("name", OTHER_METRICS)
def test_other_columns_do_not(name):
    assert "%" not in header(name)


def markdown_tables(text: str) -> list[list[dict[str, str]]]:
    """Every pipe table of a Markdown document, as rows of {header: cell}."""
    tables, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("| ") and i + 1 < len(lines) and lines[i + 1].startswith("| ---") and (
                i == 0 or not lines[i - 1].startswith("|")):
            heads = _cells(line)
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append(dict(zip(heads, _cells(row))))
            tables.append(rows)
    return tables


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split(" | ")]


def test_markdown_headers_mark_model_and_data_quality_percentages(tmp_path):
    rows = [record(f"2026-11-27T10:00:{i:02d}Z", request_id=f"r{i}",
                   request={"age": 20 + i if i % 4 else None, "country": "DE" if i % 2 else "FR"},
                   response={"label": "yes" if i % 3 else "no"}) for i in range(12)]
    logs = write_jsonl(tmp_path / "labelled.jsonl", rows)
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\n" + "".join(f"r{i},{'yes' if i % 2 else 'no'}\n" for i in range(12)))
    result = CliRunner().invoke(app, ["report", str(logs), "--baseline", str(logs), "--labels", str(labels),
                                      "--positive-label", "yes", "--format", "markdown"])
    assert result.exit_code == 0, result.output
    windows, drift, quality = markdown_tables(result.output)
    heads = [h for table in (windows, drift, quality) for h in table[0]]
    for wanted in ("acc %", "drift %", "precision %", "recall %", "f1 %", "labelled %", "null %", "out of range %"):
        assert wanted in heads
    by_field = {row["field"]: row for row in drift}
    assert by_field["age"]["null %"] == format_value("null_rate.age", 3 / 12) == "25.00"  # ages 0, 4 and 8 are null
    assert by_field["country"]["out of range %"] == "–"  # categories have no range
    percent_columns = {"err %", "4xx %", "cpu %", "cpu max %", "acc %", "labelled %", "drift %", "precision %",
                       "recall %", "f1 %", "null %", "out of range %"}
    for head in heads:
        assert head.endswith(" %") == (head in percent_columns), head


# A retired segment: runs of empty windows are one line in people's formats, and every window in JSON and CSV.

QUIET_HOURS = {"old": [10], "gap": [10, 12, 15], "new": [10, 11, 12, 13, 14, 15]}


@pytest.fixture
def quiet_logs(tmp_path):
    rows = [record(f"2026-11-27T{h:02d}:10:00Z", request_id=f"{v}{h}", model_version=v)
            for v, hours in QUIET_HOURS.items() for h in hours]
    return write_jsonl(tmp_path / "quiet.jsonl", rows)


def _quiet_runs(windows: list[dict]) -> tuple[set, int]:
    """From the JSON windows, in plain Python: (segment, first start, last end) of each run of two or more
    consecutive empty windows of a segment, and how many empty windows stand alone."""
    runs, alone = set(), 0
    by_segment: dict[str, list[dict]] = {}
    for w in windows:
        by_segment.setdefault(w["segment"]["model_version"], []).append(w)
    for segment, ws in by_segment.items():
        ws.sort(key=lambda w: w["start"])
        run: list[dict] = []
        for w in [*ws, None]:
            if w is not None and w["metrics"]["request_count"] == 0:
                run.append(w)
                continue
            if len(run) >= 2:
                runs.add((segment, run[0]["start"], run[-1]["end"]))
            alone += len(run) == 1
            run = []
    return runs, alone


def _iso_minutes(text: str) -> str:
    return text.replace(" ", "T") + ":00Z"


def test_a_run_of_empty_windows_of_a_segment_is_one_line(quiet_logs):
    args = ["report", str(quiet_logs), "--every", "1h", "--by", "model_version"]
    doc = json.loads(CliRunner().invoke(app, [*args, "--format", "json"]).stdout)
    runs, alone = _quiet_runs(doc["windows"])
    assert runs == {("old", "2026-11-27T11:00:00Z", "2026-11-27T16:00:00Z"),
                    ("gap", "2026-11-27T13:00:00Z", "2026-11-27T15:00:00Z")} and alone == 1
    # JSON and CSV keep every empty window: rules need them
    assert sum(w["metrics"]["request_count"] == 0 for w in doc["windows"]) == 5 + 2 + 1
    csv = CliRunner().invoke(app, [*args, "--format", "csv"]).stdout
    assert len(csv.splitlines()) == len(doc["windows"]) + 1
    proc = run_mlmon(*args)
    assert proc.returncode == 0, proc.stderr
    shown = set()
    for line in proc.stdout.splitlines():
        if "no requests" in line:
            start, segment, until = re.fullmatch(r"(\S+ \S+)\s+(\S+)\s+no requests until (\S+ \S+)", line).groups()
            shown.add((segment, _iso_minutes(start), _iso_minutes(until)))
    assert shown == runs
    # the lone empty window is an ordinary row with 0 requests
    assert re.search(r"^2026-11-27 11:00\s+gap\s+0\s", proc.stdout, re.M)
    rows = [line for line in proc.stdout.splitlines() if line.startswith("2026-")]
    assert len(doc["windows"]) == 3 * 6 and len(rows) == 3 * 6 - (5 - 1) - (2 - 1)  # each run keeps one row


def test_markdown_shows_a_run_of_empty_windows_as_one_row(quiet_logs):
    result = CliRunner().invoke(app, ["report", str(quiet_logs), "--every", "1h", "--by", "model_version",
                                      "--format", "markdown"])
    (windows,) = markdown_tables(result.stdout)
    quiet = [row for row in windows if row["requests"].startswith("no requests")]
    assert [(r["window (UTC)"], r["model_version"], r["requests"]) for r in quiet] == [
        ("2026-11-27 11:00", "old", "no requests until 2026-11-27 16:00"),
        ("2026-11-27 13:00", "gap", "no requests until 2026-11-27 15:00")]
    assert all(value == "" for r in quiet for key, value in r.items() if key not in ("window (UTC)", "model_version",
                                                                                    "requests"))
    assert len(windows) == 3 * 6 - (5 - 1) - (2 - 1)  # each run keeps one row


def run_mlmon(*args, columns="80"):
    from test_cli import run

    return run(*args, env={"COLUMNS": columns})


# Rendering costs Python work per distinct value, not per row: a report by request id has 400,000 rows.

def _many_rows_report(rows: int):
    """A report of ``rows`` hourly rows by request id, whose values repeat as counts and round latencies do."""
    import polars as pl

    from mlmon.metrics.windows import MetricTable
    from mlmon.report import Report

    start = datetime(2026, 11, 26, tzinfo=UTC)
    frame = pl.DataFrame({
        "window_start": [start + timedelta(hours=i % 24) for i in range(rows)],
        "request_id": [f"req-{i // 24:06d}" for i in range(rows)],
        "request_count": [1 + i % 3 for i in range(rows)],
        "error_rate": [0.0] * rows,
        "latency_p95_ms": [float(10 + i % 7) for i in range(rows)],
    }).with_columns(pl.col("window_start").dt.cast_time_unit("us"))
    frame = frame.with_columns((pl.col("window_start") + timedelta(hours=1)).alias("window_end")).select(
        "window_start", "window_end", "request_id", "request_count", "error_rate", "latency_p95_ms")
    table = MetricTable(frame, WindowSpec(every=timedelta(hours=1), by=("request_id",)),
                        ["request_count", "error_rate", "latency_p95_ms"])
    return Report(table, ["x.jsonl"], rows, 0)


def _python_calls(render, report) -> int:
    import sys

    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        calls += event == "call"

    sys.setprofile(count)
    try:
        render(report)
    finally:
        sys.setprofile(None)
    return calls


@pytest.mark.parametrize("render", [lambda r: render_table(r, width=100), render_markdown], ids=["table", "markdown"])
def test_rows_cost_python_work_per_distinct_value_not_per_cell(render):
    small, large = _many_rows_report(2_400), _many_rows_report(4_800)
    text = render(large)
    assert text.count("req-000199") == 24  # every row is printed
    # 2,400 more rows bring 100 more request ids to escape, and no per-cell work (rich's table made ~3,000
    # Python calls per row; formatting each cell, a dozen)
    assert _python_calls(render, large) - _python_calls(render, small) < 2_400


# Outside a terminal nothing wraps: a line is as long as it needs.

def test_outside_a_terminal_rows_and_notes_do_not_wrap(wide_segments):
    table = render_table(_report(wide_segments), width=40, wrap=False)
    row = next(line for line in table.splitlines() if line.startswith("customer"))
    assert "customer-churn-classifier" in row and row.endswith(" 1,234")
    assert "14 more metrics: widen the terminal, or use --format json, csv or markdown." in table.splitlines()
    assert "requests" in table.splitlines()[2]  # the header is one line too


def test_the_report_through_a_pipe_does_not_wrap(wide_segments):
    proc = run_mlmon("report", str(wide_segments), "--by", ",".join(BY), columns="40")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith("customer-churn-classifier") and line.endswith(" 1,234") for line in lines)
    assert "14 more metrics: widen the terminal, or use --format json, csv or markdown." in lines
