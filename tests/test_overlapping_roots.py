"""Issue 16 "Found on the way": a mapping whose inputs and outputs overlap (the same path, or one inside the
other, as ``inputs: body`` with ``outputs: body.prediction``) works in every command, and they agree: the
output fields are those of the inner object, which are also input fields under their own names (README
"Field mapping"). ``baseline save`` used to refuse such a mapping with exit 2 while ``report`` read it.

The oracle reads each line with Python's json and flattens the objects itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from mlmon.cli import app

NOW = "2026-11-27T12:00:00Z"
MAPPINGS = {
    "outputs inside inputs": ("body", "body.prediction"),
    "the same root": ("body", "body"),
    "inputs inside outputs": ("body.features", "body"),
}


def line(i: int) -> dict:
    body = {"features": {"age": 20 + i % 7, "country": ["DE", "US", "FR"][i % 3]},
            "prediction": {"label": ["stay", "churn"][i % 2 == 0 or i % 5 == 0], "p": round(i / 40, 3),
                           "note": ["C:\\temp", "tab\there", "é"][i % 3]}}
    status = 500 if i % 11 == 10 else 200
    return {"ts": f"2026-11-27T10:{i:02d}:00Z", "request_id": f"r{i}", "latency_ms": float(i), "status": status,
            "body": body}


ROWS = [line(i) for i in range(40)]


def at(value, dotted: str):
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def leaves(obj: dict, prefix: str) -> dict:
    out = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            out.update(leaves(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def oracle(inputs: str, outputs: str) -> list[dict]:
    """Per record, every input and output field as the README defines them (no output for a failed request)."""
    out = []
    for row in ROWS:
        fields = leaves(at(row, inputs), "input.")
        if row["status"] < 400:
            fields.update(leaves(at(row, outputs), "output."))
        out.append(fields)
    return out


@pytest.fixture(params=list(MAPPINGS), ids=list(MAPPINGS))
def case(request, tmp_path):
    inputs, outputs = MAPPINGS[request.param]
    log = tmp_path / "app.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(f"inputs: {inputs}\noutputs: {outputs}\n")
    return {"log": log, "mapping": mapping, "dir": tmp_path, "fields": oracle(inputs, outputs),
            "segment": "input.country" if inputs == "body.features" else "input.features.country",
            "label": "output.label" if outputs == "body.prediction" else "output.prediction.label"}


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def counts_by(case, *names) -> dict:
    return dict(Counter(tuple(f.get(n) for n in names) for f in case["fields"]))


def report_by(case, *extra) -> dict:
    by = f"{case['segment']},{case['label']}"
    result = invoke("report", case["log"], "--mapping", case["mapping"], "--by", by, "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    return {(w["segment"][case["segment"]], w["segment"][case["label"]]): w["metrics"]["request_count"]
            for w in json.loads(result.stdout)["windows"]}


def test_report_reads_the_fields_the_readme_defines(case):
    """Without a baseline the fields are read by their paths; with one, from the objects decoded whole."""
    labels = counts_by(case, case["segment"], case["label"])
    # A failed request's output fields are read by their paths too, but not decoded from its response.
    by_path = dict(Counter((at(r["body"], "features.country"), at(r["body"], "prediction.label")) for r in ROWS))
    assert report_by(case) == by_path
    assert report_by(case, "--baseline", case["log"]) == labels


def test_baseline_save_profiles_the_same_fields(case):
    out = case["dir"] / "profile.json"
    result = invoke("baseline", "save", case["log"], "--mapping", case["mapping"], "-o", out)
    assert result.exit_code == 0, result.output
    fields = json.loads(out.read_text())["fields"]
    names = {n for f in case["fields"] for n in f}
    assert set(fields) == names
    for name in names:
        values = [f.get(name) for f in case["fields"]]
        assert fields[name]["count"] == sum(v is not None for v in values), name
        if fields[name]["type"] == "categorical":
            assert fields[name]["frequencies"] == dict(Counter(v for v in values if v is not None)), name
    # The text with a backslash and a tab reads as logged.
    assert fields[case["label"].replace("label", "note")]["frequencies"].keys() == {"C:\\temp", "tab\there", "é"}


def test_drift_against_the_profile_of_the_same_logs_is_nil(case):
    out = case["dir"] / "profile.json"
    assert invoke("baseline", "save", case["log"], "--mapping", case["mapping"], "-o", out).exit_code == 0
    result = invoke("report", case["log"], "--mapping", case["mapping"], "--baseline", out, "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    metrics = doc["windows"][0]["metrics"]
    assert set(doc["baseline"]["fields"]) == {n for f in case["fields"] for n in f}
    assert metrics["drift_share"] == 0
    assert all(v == 0 for k, v in metrics.items() if k.startswith("psi."))


def test_check_groups_by_an_output_field(case):
    rules = case["dir"] / "rules.yaml"
    rules.write_text(f"rules:\n  - name: busy\n    expr: request_count > 10\n    every: 1d\n    by: [{case['label']}]\n")
    result = invoke("check", case["log"], "--mapping", case["mapping"], "--rules", rules, "--now", NOW,
                    "--since", "1d", "--format", "json")
    assert result.exit_code == 1, result.output
    got = {a["segment"][case["label"]]: a["value"] for a in json.loads(result.stdout)["alerts"]}
    by_path = Counter(at(r["body"], "prediction.label") for r in ROWS)
    assert got == {k: float(v) for k, v in by_path.items() if v > 10}


def test_replay_dry_run_selects_by_an_output_field(case):
    where = f'{case["label"]} == "churn"'
    result = invoke("replay", case["log"], "--mapping", case["mapping"], "--dry-run", "--model", "m:f", "--where", where)
    assert result.exit_code == 0, result.output
    expected = sum(at(r["body"], "prediction.label") == "churn" for r in ROWS)
    assert f"{expected} requests would be sent" in result.stderr
    sent = [json.loads(x) for x in result.stdout.splitlines()]
    assert len(sent) == expected
    inputs = MAPPINGS_BY_LABEL[case["label"], case["segment"]]
    assert all(s["body"] == at(ROWS[int(s["request_id"][1:])], inputs) for s in sent)


MAPPINGS_BY_LABEL = {
    ("output.label", "input.features.country"): "body",
    ("output.prediction.label", "input.features.country"): "body",
    ("output.prediction.label", "input.country"): "body.features",
}


def test_export_writes_the_same_fields(case):
    out = case["dir"] / "export.parquet"
    result = invoke("export", case["log"], "--mapping", case["mapping"], "-o", out)
    assert result.exit_code == 0, result.output
    frame = pl.read_parquet(out)
    names = sorted({n for f in case["fields"] for n in f})
    assert sorted(c for c in frame.columns if c.startswith(("input.", "output."))) == names
    got = frame.select(names).to_dicts()
    assert got == [{n: f.get(n) for n in names} for f in case["fields"]]


def test_the_installed_command_saves_the_baseline(case):
    mlmon = str(Path(sys.executable).parent / "mlmon")
    done = subprocess.run([mlmon, "baseline", "save", str(case["log"]), "--mapping", str(case["mapping"]),
                           "-o", str(case["dir"] / "b.json")], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads((case["dir"] / "b.json").read_text())["rows"] == len(ROWS)


def test_fields_that_lie_one_inside_the_other_are_refused_alike(tmp_path):
    """Two fields named at once, one inside the other, are still refused, by every command, in one sentence."""
    log = tmp_path / "app.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("inputs: body\noutputs: body.prediction\n")
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: busy\n    expr: request_count > 10\n    by: [input.prediction, output.label]\n")
    runs = [invoke("report", log, "--mapping", mapping, "--by", "input.prediction,output.label"),
            invoke("check", log, "--mapping", mapping, "--rules", rules, "--now", NOW)]
    want = ("mlmon: error: cannot read these fields together: input.prediction (at 'body.prediction') and "
            "output.label (at 'body.prediction.label') overlap, one inside the other. Name only one of them")
    for result in runs:
        assert result.exit_code == 2 and result.stderr.startswith(want) and result.stderr.count("\n") == 1, result.stderr
