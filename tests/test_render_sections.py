"""People's formats say which fields drifted and how good the model was: sections after the windows.

With a baseline, the table and Markdown show drift per segment and field over the whole range,
drifted fields first; with labels, model quality per segment. The windows keep to operational
metrics plus drift % and acc %. JSON and CSV do not change.
"""

import gzip
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as sk

from conftest import DATA, SAMPLE_LOGS, record, write_jsonl
from mlmon.baseline.load import BaselineSpec
from mlmon.logs.mapping import DEFAULT_MAPPING
from mlmon.metrics.model_quality import LabelSpec
from mlmon.metrics.windows import WindowSpec
from mlmon.render.machine import render_csv, render_json
from mlmon.render.markdown import render_markdown
from mlmon.render.table import render_table
from mlmon.report import build_report
from test_cli import invoke, run
from test_render_table import markdown_tables

NOW = datetime(2026, 11, 27, 18, tzinfo=UTC)
SECTIONS = DATA / "sections.jsonl"
LABELS = DATA / "sections.labels.csv"
BASELINE_END = "2026-11-27T12:00:00Z"


def _report(summaries=True, every=timedelta(hours=1)):
    labels = LabelSpec(str(LABELS), "request_id", "label", "output.label", "output.p", "churn", "auto")
    baseline = BaselineSpec(start=datetime(2026, 11, 27, 10, tzinfo=UTC), end=datetime(2026, 11, 27, 12, tzinfo=UTC))
    report, _ = build_report([str(SECTIONS)], mapping=DEFAULT_MAPPING, now=NOW, baseline=baseline, labels=labels,
                             spec=WindowSpec(every=every, by=("model_version",)), summaries=summaries)
    return report


def _logged():
    return [json.loads(line) for line in SECTIONS.read_text(encoding="utf-8").splitlines()]


def test_json_and_csv_are_the_same_with_or_without_the_sections():
    with_sections, without = _report(summaries=True), _report(summaries=False)
    assert with_sections.drift_by_field is not None and without.drift_by_field is None
    assert render_json(with_sections) == render_json(without)
    assert render_csv(with_sections) == render_csv(without)


def test_drift_by_field_lists_drifted_fields_first_with_rates_from_the_logs():
    frame = _report().drift_by_field
    rows = frame.to_dicts()
    assert [(r["model_version"], r["field"]) for r in rows if r["drifted"]] == [("v2", "age")]
    assert rows[0]["field"] == "age" and rows[0]["drifted"]
    # every segment and field once: 2 versions x 5 fields
    assert sorted((r["model_version"], r["field"]) for r in rows) == sorted(
        (v, f) for v in ("v1", "v2") for f in ("age", "country", "a|b\u202e", "output.label", "output.p"))
    logged = _logged()
    ref_ages = [r["request"]["age"] for r in logged if r["ts"] < BASELINE_END]
    v2_ages = [r["request"]["age"] for r in logged if r["model_version"] == "v2"]
    v2_age = next(r for r in rows if r["model_version"] == "v2" and r["field"] == "age")
    outside = sum(1 for a in v2_ages if not min(ref_ages) <= a <= max(ref_ages)) / len(v2_ages)
    assert v2_age["out_of_range_rate"] == pytest.approx(outside)
    assert v2_age["method"] == "ks_pvalue" and v2_age["score"] < 0.05
    v2_p = next(r for r in rows if r["model_version"] == "v2" and r["field"] == "output.p")
    answered = [r for r in logged if r["model_version"] == "v2"]
    # outputs of failed requests (status 503) are not model outputs
    assert v2_p["null_rate"] == pytest.approx(sum(1 for r in answered if r["status"] >= 400) / len(answered))


def test_quality_by_segment_agrees_with_scikit_learn():
    frame = _report().quality_by_segment
    truth = dict(line.split(",") for line in LABELS.read_text().splitlines()[1:])
    for row in frame.to_dicts():
        logged = [r for r in _logged() if r["model_version"] == row["model_version"]]
        assert row["label_coverage"] == pytest.approx(sum(r["request_id"] in truth for r in logged) / len(logged))
        # a failed request (status 503) has no model output, so no prediction to judge
        joined = [r for r in logged if r["request_id"] in truth and r["status"] < 400]
        y = [truth[r["request_id"]] for r in joined]
        pred = [r["response"]["label"] for r in joined]
        score = [r["response"]["p"] for r in joined]
        assert row["accuracy"] == pytest.approx(sk.accuracy_score(y, pred))
        assert row["precision"] == pytest.approx(sk.precision_score(y, pred, pos_label="churn"))
        assert row["recall"] == pytest.approx(sk.recall_score(y, pred, pos_label="churn"))
        assert row["f1"] == pytest.approx(sk.f1_score(y, pred, pos_label="churn"))
        positive = [t == "churn" for t in y]
        assert row["roc_auc"] == pytest.approx(sk.roc_auc_score(positive, score))
        assert row["log_loss"] == pytest.approx(sk.log_loss(positive, np.clip(score, 2.2e-16, 1 - 2.2e-16)))


def test_the_windows_keep_to_operational_metrics_and_the_headlines():
    report = _report()
    for text in (render_table(report, width=300), render_markdown(report)):
        assert "psi." not in text and "null_rate." not in text and "precision %" in text  # the latter: quality
    windows, drift, quality = markdown_tables(render_markdown(report))
    assert "acc %" in windows[0] and "drift %" in windows[0] and "precision %" not in windows[0]
    assert list(drift[0]) == ["model_version", "field", "method", "score", "drifted", "psi", "null %",
                              "out of range %"]
    assert list(quality[0]) == ["model_version", "labelled %", "acc %", "precision %", "recall %", "f1 %",
                                "roc_auc", "log_loss"]


def test_section_titles_say_what_each_row_covers():
    text = render_table(_report(), width=200)
    assert "Drift by field over the whole range, per model_version · baseline of 20 records" in text
    assert "Model quality over the whole range, per model_version · positive class churn" in text
    md = render_markdown(_report())
    assert "### Drift by field over the whole range, per `model_version` · baseline of 20 records" in md


def test_no_sections_without_a_baseline_or_labels():
    report, _ = build_report([str(SECTIONS)], mapping=DEFAULT_MAPPING, now=NOW, spec=WindowSpec(by=("model_version",)),
                             summaries=True)
    assert report.drift_by_field is None and report.quality_by_segment is None
    assert "Drift by field" not in render_table(report) and "###" not in render_markdown(report)


def test_report_command_computes_the_sections_only_for_people():
    args = ["report", str(SECTIONS), "--by", "model_version", "--baseline-range", "2026-11-27T10:00Z..2026-11-27T12:00Z",
            "--labels", str(LABELS), "--positive-label", "churn"]
    table = invoke(*args)
    assert table.exit_code == 0, table.output
    assert "Drift by field over the whole range, per model_version" in table.stdout
    assert "Model quality over the whole range" in table.stdout
    doc = json.loads(invoke(*args, "--format", "json").stdout)
    assert set(doc) == {"mlmon_version", "generated_at", "source", "every", "by", "since", "until", "baseline",
                        "labels", "windows"}


def _drift_rows(table: str) -> dict[tuple[str, str], list[str]]:
    lines = table.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Drift by field")) + 3
    rows = {}
    for line in lines[start:]:
        if not line.strip():
            break
        cells = line.split()
        rows[(cells[0], cells[1])] = cells[2:]
    return rows


def _sample(records, field, keep):
    return np.array([r["request"][field] for r in records if keep(r) and isinstance(r["request"].get(field), (int, float))],
                    dtype=float)


def test_the_readme_drift_example_shows_which_fields_drifted_through_the_installed_command():
    proc = run("report", str(SAMPLE_LOGS / "churn.jsonl.gz"), "--every", "1d", "--by", "model_version",
               "--baseline-range", "2026-11-25..2026-11-26T14:00Z", env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    rows = _drift_rows(proc.stdout)
    drifted = {field for (version, field), cells in rows.items() if version == "v2" and cells[2] == "yes"}
    steady = {field for (version, field), cells in rows.items() if version == "v2" and cells[2] == "no"}
    assert drifted == {"monthly_charges", "tenure_months", "output.churn_probability", "output.label"}
    assert steady == {"age", "country", "plan", "support_calls"}
    assert list(rows)[:4] == [("v2", f) for f in ("tenure_months", "monthly_charges", "output.churn_probability",
                                                 "output.label")]  # drifted first, in the baseline's order
    # the score is the default test's value: Wasserstein distance over the baseline's standard deviation
    with gzip.open(SAMPLE_LOGS / "churn.jsonl.gz", "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    in_baseline = lambda r: r["ts"] < "2026-11-26T14:00"  # noqa: E731  (all times are ...Z, from 2026-11-25)
    for field in ("monthly_charges", "tenure_months", "age"):
        reference = _sample(records, field, in_baseline)
        current = _sample(records, field, lambda r: r["model_version"] == "v2")
        expected = stats.wasserstein_distance(reference, current) / reference.std()
        method, score = rows[("v2", field)][:2]
        assert method == "wasserstein_norm"
        assert float(score) == pytest.approx(expected, rel=1e-3)  # shown with 4 significant digits


def test_a_regression_model_shows_mae_per_window_and_its_errors_per_segment(tmp_path):
    rows = [record(f"2026-11-27T10:{i:02d}:00Z", request_id=f"r{i}", response={"value": float(i)}) for i in range(30)]
    logs = write_jsonl(tmp_path / "regression.jsonl", rows)
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\n" + "".join(f"r{i},{i + (i % 3)}\n" for i in range(30)))
    result = invoke("report", str(logs), "--labels", str(labels), "--prediction", "output.value", "--task", "regression",
                    "--format", "markdown")
    assert result.exit_code == 0, result.output
    windows, quality = markdown_tables(result.stdout)
    errors = [i % 3 for i in range(30)]
    assert windows[0]["mae"] == quality[0]["mae"] == f"{np.mean(errors):.4g}"
    assert quality[0]["rmse"] == f"{np.sqrt(np.mean(np.square(errors))):.4g}"
    assert list(quality[0]) == ["labelled %", "mae", "rmse", "mape"]
    assert "positive class" not in result.stdout


def test_fields_that_appear_or_vanish_are_named_under_the_drift_section(tmp_path):
    before = [record(f"2026-11-27T10:{i:02d}:00Z", request_id=f"a{i}", request={"age": 30 + i % 5, "old\u202e": 1})
              for i in range(20)]
    after = [record(f"2026-11-27T11:{i:02d}:00Z", request_id=f"b{i}", request={"age": 30 + i % 5, "new|x": 2})
             for i in range(20)]
    logs = write_jsonl(tmp_path / "schema.jsonl", before + after)
    args = ["report", str(logs), "--since", "2026-11-27T11:00Z", "--baseline-range",
            "2026-11-27T10:00Z..2026-11-27T11:00Z"]
    table, md = invoke(*args).stdout, invoke(*args, "--format", "markdown").stdout
    assert "Fields not in the baseline: input.new|x." in table
    assert "Baseline fields not in the logs: input.old\\u202e." in table
    assert "Fields not in the baseline: input.new\\|x." in md
