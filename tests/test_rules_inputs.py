"""A rule over a metric that the run cannot compute is an error (exit 2), never a gate that silently passes.

Drift and data-quality metrics need a baseline, model-quality metrics need labels; with them
loaded, a per-field metric must name a field the baseline has, of a kind the metric applies to.
"""

import json

import pytest
from conftest import record, write_jsonl
from typer.testing import CliRunner

from mlmon.cli import app
from mlmon.errors import ConfigError
from mlmon.metrics.table import Extras
from mlmon.rules.inputs import needs, require_computed, require_inputs
from mlmon.rules.load import rules_from_text

runner = CliRunner()
RANGE = "2026-11-27T00:00Z..2026-11-27T10:10Z"

RULES = """\
rules:
  - name: right
    expr: psi.age > 5 or drift_share > 2
  - name: typo
    expr: psi.agee > 0.0
  - name: kind
    expr: ks.country > 0.5
  - name: quality
    expr: accuracy < 0
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    rows = [record(ts=f"2026-11-27T10:{i:02d}:00Z", request_id=f"r{i}", request={"country": "DE", "age": 20 + i})
            for i in range(20)]
    log = write_jsonl(root / "x.jsonl", rows)
    labels = root / "labels.csv"
    labels.write_text("request_id,label\n" + "".join(f"r{i},{'stay' if i % 3 else 'churn'}\n" for i in range(20)))
    return root, str(log), str(labels)


def check(files, rules: str, *extra):
    root, log, _ = files
    path = root / "rules.yaml"
    path.write_text(rules)
    return runner.invoke(app, ["check", log, "--rules", str(path), "--now", "2026-11-28T00:00Z", "--format", "json",
                               *extra])


def problem_lines(result) -> list[str]:
    return [line.split("rules.yaml:", 1)[1] for line in result.stderr.splitlines() if "rules.yaml:" in line
            and not line.startswith("mlmon:")]


def test_what_each_metric_needs():
    assert [needs(n) for n in ("psi.age", "null_rate.output.label", "drift_share", "duplicate_request_id_rate",
                               "accuracy", "mae", "label_coverage", "error_rate", "latency_p95_ms")] == [
        "baseline", "baseline", "baseline", "baseline", "labels", "labels", "labels", None, None]


def test_without_a_baseline_or_labels_check_exits_2_naming_every_rule_line(files):
    result = check(files, RULES)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert problem_lines(result) == [
        '3:11: rule "right": psi.age needs a baseline; pass --baseline FILE or --baseline-range START..END',
        '3:26: rule "right": drift_share needs a baseline; pass --baseline FILE or --baseline-range START..END',
        '5:11: rule "typo": psi.agee needs a baseline; pass --baseline FILE or --baseline-range START..END',
        '7:11: rule "kind": ks.country needs a baseline; pass --baseline FILE or --baseline-range START..END',
        '9:11: rule "quality": accuracy needs labels; pass --labels FILE',
    ]
    assert "mlmon: error: rules file" in result.stderr and "names 5 metrics this run cannot compute" in result.stderr


def test_the_missing_baseline_is_reported_before_any_log_is_read(files, tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("rules:\n  - name: d\n    expr: psi.age > 0.2\n")
    result = runner.invoke(app, ["check", str(tmp_path / "no-such.jsonl"), "--rules", str(path)])
    assert result.exit_code == 2
    assert "psi.age needs a baseline" in result.stderr and "no-such" not in result.stderr


def test_with_a_baseline_an_unknown_or_unfit_field_exits_2(files):
    _, _, labels = files
    result = check(files, RULES, "--baseline-range", RANGE, "--labels", labels)
    assert result.exit_code == 2, result.output
    assert problem_lines(result) == [
        '5:11: rule "typo": the baseline has no field \'agee\', so psi.agee is never computed; did you mean \'psi.age\'?',
        ('7:11: rule "kind": ks does not apply to the categorical field \'country\'; its metrics: psi, chi2_pvalue, js, '
         'new_category_rate, null_rate, drifted'),
    ]


def test_rules_the_inputs_can_serve_run(files):
    _, _, labels = files
    fixed = RULES.replace("psi.agee", "psi.age").replace("ks.country", "js.country")
    result = check(files, fixed, "--baseline-range", RANGE, "--labels", labels)
    # Ages 20..39 against a baseline of 20..30 drift (psi.age > 0); one country has no JS distance,
    # accuracy is never below 0, and drift_share never above 2: exactly "typo" fires.
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["rules_evaluated"] == 4
    assert [a["rule"] for a in doc["alerts"]] == ["typo"] and doc["alerts"][0]["value"] > 0


@pytest.mark.parametrize("expr,extra,message", [
    ("roc_auc < 0.5", [], "roc_auc needs the logged score of the positive class; pass --score FIELD"),
    ("log_loss > 1", ["--score", "output.nope"], "log_loss needs the score field 'output.nope', which the logs do not have"),
    ("mae > 1", [], "mae is a regression metric, but the labels are read as classes; pass --task regression"),
    ("accuracy < 1", ["--task", "regression"],
     "accuracy is a classification metric, but the labels are read as numbers; pass --task classification"),
])
def test_quality_metrics_the_labels_cannot_give(files, expr, extra, message):
    _, _, labels = files
    result = check(files, f"rules:\n  - name: q\n    expr: {expr}\n", "--labels", labels, *extra)
    assert result.exit_code == 2, result.output
    assert problem_lines(result) == [f'3:11: rule "q": {message}']


def test_a_score_makes_roc_auc_available(tmp_path):
    from sklearn.metrics import roc_auc_score

    truth = ["churn" if i % 3 == 0 else "stay" for i in range(20)]
    scores = [((i * 17 + 4) % 20) / 20 for i in range(20)]  # some churners ranked above stayers, some not
    log = write_jsonl(tmp_path / "x.jsonl", [record(ts=f"2026-11-27T10:{i:02d}:00Z", request_id=f"r{i}",
                                                    response={"label": "stay", "p": scores[i]}) for i in range(20)])
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\n" + "".join(f"r{i},{truth[i]}\n" for i in range(20)))
    (tmp_path / "rules.yaml").write_text("rules:\n  - name: q\n    expr: roc_auc < 2\n")
    result = runner.invoke(app, ["check", str(log), "--rules", str(tmp_path / "rules.yaml"), "--now", "2026-11-28T00:00Z",
                                 "--format", "json", "--labels", str(labels), "--score", "output.p",
                                 "--positive-label", "churn"])
    assert result.exit_code == 1, result.output
    expected = roc_auc_score([t == "churn" for t in truth], scores)
    assert 0.3 < expected < 0.9  # a value that tells a wrong ranking from a right one
    assert json.loads(result.stdout)["alerts"][0]["value"] == pytest.approx(expected, rel=1e-9)


def test_segment_fields_in_expr_need_nothing():
    ruleset = rules_from_text('rules:\n  - name: a\n    expr: error_rate > 0 and model == "x"\n    by: [model]\n')
    assert require_inputs(ruleset, baseline=False, labels=False) is None  # no ConfigError: nothing is needed
    assert require_computed(ruleset, Extras()) is None
    drifting = rules_from_text('rules:\n  - name: a\n    expr: psi.model > 0\n    by: [model]\n')
    with pytest.raises(ConfigError, match="names 1 metric"):  # the same check does refuse a metric that needs one
        require_inputs(drifting, baseline=False, labels=False)


def test_library_errors_list_each_problem_with_its_position():
    ruleset = rules_from_text("rules:\n  - name: a\n    expr: null_rate.output.label > 0 and f1 < 0.5\n", "r.yaml")
    with pytest.raises(ConfigError) as info:
        require_inputs(ruleset, baseline=True, labels=False)
    assert info.value.details == ['r.yaml:3:42: rule "a": f1 needs labels; pass --labels FILE']
    with pytest.raises(ConfigError) as info:
        require_computed(ruleset, Extras())
    assert [d.split(": ", 2)[2] for d in info.value.details] == [
        "the baseline has no field 'output.label', so null_rate.output.label is never computed",
        "f1 is not computed with these labels",
    ]


def test_per_field_metrics_work_as_summary_placeholders(files):
    """`{{ psi.age }}` is accepted wherever `expr` accepts the name, and shows the worst window's value."""
    root, log, _ = files
    rules = ('rules:\n  - name: d\n    expr: psi.age >= 0\n    every: 1d\n'
             '    summary: "age psi {{ psi.age }}, null {{ null_rate.country }}"\n')
    result = check(files, rules, "--baseline-range", RANGE)
    assert result.exit_code == 1, result.output
    alert = json.loads(result.stdout)["alerts"][0]
    report = runner.invoke(app, ["report", log, "--every", "1d", "--baseline-range", RANGE, "--now", "2026-11-28T00:00Z",
                                 "--format", "json"])
    metrics = json.loads(report.stdout)["windows"][0]["metrics"]
    assert alert["value"] == metrics["psi.age"]
    assert alert["summary"] == f"age psi {metrics['psi.age']:.4f}".rstrip("0").rstrip(".") + ", null 0"


def test_a_summary_placeholder_the_run_cannot_compute_is_refused_at_its_column(files):
    rules = 'rules:\n  - name: d\n    expr: error_rate > 0\n    summary: "drift {{ psi.age }} and {{ psi.agee }}"\n'
    result = check(files, rules)
    assert result.exit_code == 2, result.output
    assert problem_lines(result) == [
        '4:24: rule "d": psi.age needs a baseline; pass --baseline FILE or --baseline-range START..END',
        '4:42: rule "d": psi.agee needs a baseline; pass --baseline FILE or --baseline-range START..END',
    ]
    result = check(files, rules, "--baseline-range", RANGE)
    assert result.exit_code == 2, result.output
    assert problem_lines(result) == [
        '4:42: rule "d": the baseline has no field \'agee\', so psi.agee is never computed; did you mean \'psi.age\'?']
