"""README "From an alert to a re-trained model", run as written: the installed ``mlmon`` and
``python demo/retrain.py`` in subprocesses, in a fresh directory holding the repository's sample logs,
demo and rules. The outcomes are checked independently: the export against the logs read with the json
and csv modules, and the candidate against v2 with scikit-learn on the same held-out rows."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import accuracy_score, log_loss

from conftest import ROOT, SAMPLE_LOGS

README = ROOT / "README.md"
MLMON = str(Path(sys.executable).parent / "mlmon")
SECTION = "## From an alert to a re-trained model"


def walkthrough_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"<!-- walkthrough -->\n```sh\n(.*?)\n```", section, re.S)


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess:
    program, rest = command.split(" ", 1)
    executable = {"mlmon": MLMON, "python": sys.executable}[program]
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
    return subprocess.run(f"'{executable}' {rest}", shell=True, cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture(scope="module")
def walked(tmp_path_factory) -> tuple[Path, list[subprocess.CompletedProcess]]:
    cwd = tmp_path_factory.mktemp("walkthrough")
    for name in ("sample_logs", "demo", "rules.example.yaml", "hotfix.example.yaml"):
        (cwd / name).symlink_to(ROOT / name)
    runs = [_run(command, cwd) for command in walkthrough_commands()]
    for run in runs:
        assert "Traceback" not in run.stderr, run.stderr
    return cwd, runs


def test_the_walkthrough_has_its_steps():
    commands = walkthrough_commands()
    assert [c.split()[:2] for c in commands] == [["mlmon", "check"], ["mlmon", "replay"], ["mlmon", "export"],
                                                 ["python", "demo/retrain.py"], ["mlmon", "replay"]]
    assert "--hotfix" in commands[1]
    assert "--fail-if-worse" in commands[-1] and "--labels" in commands[-1]


def test_check_fires_then_every_step_succeeds(walked):
    _, runs = walked
    assert [r.returncode for r in runs] == [1, 0, 0, 0, 0], [r.stderr for r in runs]
    assert "churn-error-spike" in runs[0].stdout and "churn/v2" in runs[0].stdout
    assert "passed: --fail-if-worse log_loss" in runs[-1].stdout


def test_the_hot_fix_preview_answers_v2s_premium_customers(walked):
    _, runs = walked
    rows = [json.loads(line) for line in gzip.open(SAMPLE_LOGS / "churn.jsonl.gz", "rt", encoding="utf-8")]
    v2 = [r for r in rows if r["model_version"] == "v2"]
    premium = sum((r.get("request") or {}).get("plan") == "premium" for r in v2)
    no_plan = sum((r.get("request") or {}).get("plan") is None for r in v2)
    table = {line.split()[0]: line.split()[2] for line in runs[1].stdout.splitlines()
             if line.startswith(("premium-on-v2", "missing-plan"))}
    assert table == {"premium-on-v2": f"{premium:,}", "missing-plan": f"{no_plan:,}"}
    assert f"answer {premium + no_plan:,} of {len(v2):,} logged requests" in runs[1].stdout


def _labels() -> dict[str, str]:
    with open(SAMPLE_LOGS / "labels.csv", newline="") as handle:
        return {row["request_id"]: row["label"] for row in csv.DictReader(handle)}


def test_the_export_holds_the_labelled_training_window(walked):
    cwd, _ = walked
    labels = _labels()
    records = [json.loads(line) for line in gzip.open(SAMPLE_LOGS / "churn.jsonl.gz", "rt", encoding="utf-8")]
    window = [r for r in records if "2026-11-26T00:00:00" <= r["ts"] < "2026-11-26T20:00:00"]
    train = pl.read_parquet(cwd / "train.parquet")
    assert train["request_id"].to_list() == [r["request_id"] for r in window]
    assert train["label"].drop_nulls().len() == sum(r["request_id"] in labels for r in window)


def test_the_candidate_beats_v2_on_the_held_out_incident_traffic(walked):
    """Computed here with scikit-learn, on the v2 requests from 20:00 that were answered and labelled."""
    cwd, runs = walked
    labels = _labels()
    records = [json.loads(line) for line in gzip.open(SAMPLE_LOGS / "churn.jsonl.gz", "rt", encoding="utf-8")]
    held_out = [r for r in records if r["model_version"] == "v2" and r["ts"] >= "2026-11-26T20:00:00"
                and r["status"] == 200 and r["request_id"] in labels]
    spec = importlib.util.spec_from_file_location("walkthrough_candidate", ROOT / "demo" / "candidate.py")
    candidate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(candidate)
    os.environ["DEMO_CANDIDATE"] = str(cwd / "candidate.json")
    try:
        answers = [candidate.predict(r["request"]) for r in held_out]
    finally:
        del os.environ["DEMO_CANDIDATE"]
    truth = np.array([labels[r["request_id"]] == "churn" for r in held_out])
    v2_score = np.array([r["response"]["churn_probability"] for r in held_out])
    new_score = np.array([a["churn_probability"] for a in answers])
    v2_loss, new_loss = log_loss(truth, v2_score), log_loss(truth, new_score)
    assert new_loss < v2_loss
    assert accuracy_score(truth, new_score >= 0.5) > accuracy_score(truth, v2_score >= 0.5)
    shown = re.search(r"log_loss\s+([\d.]+)\s+([\d.]+)\s+better", runs[-1].stdout)
    assert shown and float(shown[1]) == pytest.approx(v2_loss, abs=1e-4) and float(shown[2]) == pytest.approx(new_loss, abs=1e-4)
