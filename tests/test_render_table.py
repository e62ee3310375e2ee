"""The table and Markdown for people: what fits a narrow terminal, words, and the units in headers."""

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
    lines = result.output.splitlines()
    head_line = next(line for line in lines if line.startswith("| requests"))
    heads = [h.strip() for h in head_line.strip("|").split("|")]
    row = [c.strip() for c in lines[lines.index(head_line) + 2].strip("|").split("|")]
    for wanted in ("acc %", "precision %", "recall %", "f1 %", "labelled %", "null_rate.age %",
                   "out_of_range_rate.age %", "new_category_rate.country %", "null_rate.country %"):
        assert wanted in heads
    assert row[heads.index("null_rate.age %")] == format_value("null_rate.age", 3 / 12) == "25.00"
    for head in heads:
        assert head.endswith(" %") == (metric_unit(head.removesuffix(" %")) in PERCENT_UNITS
                                       or head in ("err %", "4xx %", "cpu %", "cpu max %", "acc %", "labelled %",
                                                   "drift %")), head
