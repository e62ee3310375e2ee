"""``mlmon replay --labels``: the quality of the logged and the replayed answers, against scikit-learn on
the same rows, and ``--fail-if-worse``'s verdicts and exit codes."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import textwrap

import numpy as np
import pytest
from sklearn import metrics as sk
from typer.testing import CliRunner

from conftest import ROOT, SAMPLE_LOGS, record, write_jsonl
from mlmon.cli import app
from mlmon.errors import UsageError
from mlmon.replay.quality import QualityComparison, QualityGate, parse_gate

CHURN = SAMPLE_LOGS / "churn.jsonl.gz"
LABELS = SAMPLE_LOGS / "labels.csv"
DEMO_MODEL = ROOT / "demo" / "model.py"
#: The v2 traffic after 20:00, against the v1 formula: answers differ on every request.
SELECT = ("--where", 'model_version == "v2"', "--since", "2026-11-26T20:00:00Z")
QUALITY = ("--labels", LABELS, "--score", "output.churn_probability", "--positive-label", "churn")
runner = CliRunner()


def replay(*args):
    result = runner.invoke(app, ["replay", *map(str, args)])
    assert "Traceback" not in result.stderr  # (a model's traceback in the JSON is data)
    return result


def _generator():
    spec = importlib.util.spec_from_file_location("quality_generate", SAMPLE_LOGS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def oracle() -> dict:
    """scikit-learn's metrics of the logged (v2) and the v1 answers on the labelled, answered requests."""
    gen = _generator()
    with open(LABELS, newline="") as handle:
        labels = {r["request_id"]: r["label"] for r in csv.DictReader(handle)}
    rows = [json.loads(line) for line in gzip.open(CHURN, "rt", encoding="utf-8")]
    rows = [r for r in rows if r["model_version"] == "v2" and r["ts"] >= "2026-11-26T20:00:00" and r["status"] == 200
            and r["request_id"] in labels]
    truth = np.array([labels[r["request_id"]] == "churn" for r in rows])
    out = {}
    for side, answers in (("logged", [r["response"] for r in rows]),
                          ("replayed", [gen.predict("churn", "v1", r["request"]) for r in rows])):
        predicted = np.array([a["label"] == "churn" for a in answers])
        score = np.array([a["churn_probability"] for a in answers])
        out[side] = {"accuracy": sk.accuracy_score(truth, predicted), "precision": sk.precision_score(truth, predicted),
                     "recall": sk.recall_score(truth, predicted), "f1": sk.f1_score(truth, predicted),
                     "roc_auc": sk.roc_auc_score(truth, score), "log_loss": sk.log_loss(truth, score)}
    out["labelled"] = len(rows)
    return out


@pytest.fixture(scope="module")
def document() -> dict:
    result = replay(CHURN, *SELECT, "--model", f"{DEMO_MODEL}:churn_v1", *QUALITY, "--fail-if-worse", "log_loss",
                    "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_quality_of_both_sides_agrees_with_scikit_learn(document, oracle):
    quality = document["quality"]
    assert quality["labelled"] == oracle["labelled"] and quality["task"] == "classification"
    assert quality["positive"] == "churn"
    for side in ("logged", "replayed"):
        for name, expected in oracle[side].items():
            assert quality[side][name] == pytest.approx(expected, abs=1e-9), (side, name)
    assert quality["fail_if_worse"] == {"metric": "log_loss", "tolerance": 0.0, "failed": False,
                                        "worse_by": pytest.approx(oracle["replayed"]["log_loss"] - oracle["logged"]["log_loss"])}


def test_mismatches_do_not_fail_a_quality_gate(document):
    """v1 answers every request differently: with --fail-if-worse that is expected, not a failure."""
    assert document["counts"]["mismatch"] > 1000 and document["failed"] is False


def test_the_table_shows_both_sides_and_the_verdict():
    result = replay(CHURN, *SELECT, "--model", f"{DEMO_MODEL}:churn_v1", *QUALITY, "--fail-if-worse", "f1:0.01",
                    "--show", 0)
    assert result.exit_code == 0
    out = result.stdout
    assert "model quality on 1,041 requests answered on both sides, 626 labelled" in out
    assert "passed: --fail-if-worse f1:0.01: f1" in out
    line = next(row for row in out.splitlines() if row.startswith("log_loss"))
    assert line.split()[-1] == "better"


@pytest.mark.parametrize(("gate", "code"), [
    ("recall", 1),           # v1 raises fewer churn labels: recall falls by ~0.04
    ("recall:0.05", 0),      # ... within this tolerance
    ("accuracy", 0), ("log_loss", 0), ("roc_auc:0", 0),
])
def test_fail_if_worse_exit_codes(gate, code):
    result = replay(CHURN, *SELECT, "--model", f"{DEMO_MODEL}:churn_v1", *QUALITY, "--fail-if-worse", gate,
                    "--show", 0)
    assert result.exit_code == code, result.output
    assert ("FAILED: --fail-if-worse" in result.stdout) == (code == 1)


def test_errors_still_fail_the_run_with_a_quality_gate(tmp_path):
    (tmp_path / "flaky.py").write_text(textwrap.dedent("""
        def predict(features):
            if features["age"] >= 60:
                raise RuntimeError("model down")
            return {"p": 0.9, "label": "yes"}
    """))
    logs = write_jsonl(tmp_path / "l.jsonl", [record(request_id=f"r{i}", request={"age": 30 + 10 * i},
                                                     response={"p": 0.2, "label": "no"}) for i in range(5)])
    (tmp_path / "y.csv").write_text("request_id,label\n" + "".join(f"r{i},yes\n" for i in range(5)))
    result = replay(logs, "--model", f"{tmp_path / 'flaky.py'}:predict", "--labels", tmp_path / "y.csv",
                    "--fail-if-worse", "accuracy", "--format", "json")
    doc = json.loads(result.stdout)
    assert doc["quality"]["replayed"]["accuracy"] == 1.0 and doc["quality"]["requests"] == 3  # the errors left out
    assert result.exit_code == 1 and doc["counts"]["error"] == 2  # ... and gated as errors (--fail-over 0)


def test_regression_metrics_agree_with_scikit_learn(tmp_path):
    (tmp_path / "reg.py").write_text("def predict(f):\n    return {'y': f['x'] * 2.0 + 1}\n")
    rng = np.random.default_rng(3)
    xs = rng.uniform(1, 10, 40).round(3)
    truth = (xs * 2 + rng.normal(0, 1, 40)).round(3)
    logged = (xs * 1.5 + 3).round(3)
    logs = write_jsonl(tmp_path / "l.jsonl", [record(request_id=f"r{i}", request={"x": float(x)},
                                                     response={"y": float(y)}) for i, (x, y) in enumerate(zip(xs, logged))])
    (tmp_path / "t.csv").write_text("request_id,label\n" + "".join(f"r{i},{t}\n" for i, t in enumerate(truth)))
    result = replay(logs, "--model", f"{tmp_path / 'reg.py'}:predict", "--labels", tmp_path / "t.csv",
                    "--prediction", "output.y", "--task", "regression", "--fail-if-worse", "mae:0.0",
                    "--format", "json")
    quality = json.loads(result.stdout)["quality"]
    assert quality["task"] == "regression"
    for side, answers in (("logged", logged), ("replayed", xs * 2.0 + 1)):
        assert quality[side]["mae"] == pytest.approx(sk.mean_absolute_error(truth, answers))
        assert quality[side]["rmse"] == pytest.approx(np.sqrt(sk.mean_squared_error(truth, answers)))
        assert quality[side]["mape"] == pytest.approx(sk.mean_absolute_percentage_error(truth, answers))
    better = quality["replayed"]["mae"] < quality["logged"]["mae"]
    assert result.exit_code == (0 if better else 1) and better


@pytest.mark.parametrize(("args", "words"), [
    (("--fail-if-worse", "f1"), "--fail-if-worse needs --labels"),
    (("--labels", LABELS, "--fail-if-worse", "f2"), "unknown metric 'f2'"),
    (("--labels", LABELS, "--fail-if-worse", "f1:-1"), "tolerance must be a number of 0 or more"),
    (("--labels", LABELS, "--fail-if-worse", "mae"), "classification task"),
    (("--labels", LABELS, "--fail-if-worse", "log_loss"), "needs --score"),
    (("--labels", SAMPLE_LOGS / "nope.csv"), "does not exist"),
])
def test_bad_quality_options_are_refused_before_replaying(args, words):
    result = replay(CHURN, "--model", f"{DEMO_MODEL}:churn_v1", "--limit", 5, *args)
    assert result.exit_code == 2 and words in result.stderr, result.output


def test_a_gate_that_cannot_judge_fires():
    comparison = QualityComparison("l.csv", "classification", "1", "output.label", None, 0, 0,
                                   {"f1": None}, {"f1": None}, QualityGate("f1"))
    assert comparison.gate_fired and "not shown to be no worse" in comparison.verdict()


def test_parse_gate():
    assert parse_gate("f1:0.01") == QualityGate("f1", 0.01) and parse_gate("mae") == QualityGate("mae", 0.0)
    for bad in ("f1:", "f1:nan", "f1:inf", "bogus"):
        with pytest.raises(UsageError):
            parse_gate(bad)
