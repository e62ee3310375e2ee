"""Each preset reads its platform's own log files (tests/fixtures/presets/) with exact numbers.

The expected numbers come from tests/fixtures/presets/expected.py, which reads the same files
with plain Python (json, base64, datetime), never from mlmon's output.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import ROOT
from mlmon.cli import app

FIXTURES = ROOT / "tests" / "fixtures" / "presets"
MLMON = str(Path(sys.executable).parent / "mlmon")
runner = CliRunner()

_spec = importlib.util.spec_from_file_location("preset_oracle", FIXTURES / "expected.py")
oracle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oracle)

#: What each preset reads: the files a user would point it at.
INPUTS = {
    "sagemaker": ["sagemaker/capture"],
    "kserve": ["kserve"],
    "seldon": ["seldon"],
    "bentoml": ["bentoml/readme_sample/monitoring/iris_classifier_prediction/data",
                "bentoml/docs_sample/monitoring/text_summarization/data",
                "bentoml/constructed/monitoring/iris_classifier_prediction/data"],
    "azureml": ["azureml/blob"],
    "openai": ["openai"],
    "litellm": ["litellm"],
    "rayserve": ["rayserve"],
}
#: A time every fixture file is given as its modification time (openai's ts_fill falls back on it).
MTIME = datetime(2024, 3, 28, 20, 0, tzinfo=timezone.utc)


@pytest.fixture
def fixtures(tmp_path):
    """The fixtures copied, with one known modification time for every file."""
    root = tmp_path / "presets"
    shutil.copytree(FIXTURES, root, ignore=shutil.ignore_patterns("*.md", "*.py", "__pycache__"))
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (MTIME.timestamp(), MTIME.timestamp()))
    return root


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def report(root: Path, name: str, *extra) -> tuple[dict, str]:
    result = invoke("report", *[root / p for p in INPUTS[name]], "--preset", name, "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _metrics(doc: dict) -> dict:
    [window] = doc["windows"]
    return window["metrics"]


@pytest.mark.parametrize("name", list(INPUTS))
def test_each_preset_reads_its_fixtures_with_exact_numbers(fixtures, name):
    want = oracle.expected(name)
    doc, stderr = report(fixtures, name)
    metrics = _metrics(doc)
    errors = want["errors"]
    if name == "azureml":  # inputs rows whose outputs were never collected are failed requests
        errors = want["requests"] - want["rows_with_output"]
    assert doc["source"]["records"] == want["requests"]
    assert doc["source"]["skipped"] == 0
    assert metrics["request_count"] == want["requests"]
    assert metrics["error_count"] == errors
    latencies = want["latency_ms"]
    if latencies:
        for q in (50, 95, 99):
            assert metrics[f"latency_p{q}_ms"] == pytest.approx(float(np.percentile(latencies, q)), rel=1e-9, abs=1e-9)
        assert metrics["latency_mean_ms"] == pytest.approx(float(np.mean(latencies)), rel=1e-9)
    else:  # the format logs no latency: the metrics are absent (null), not zero, and a note says why
        assert metrics.get("latency_p50_ms") is None and metrics.get("latency_mean_ms") is None
        assert f"note: the {name} preset's logs carry no latency" in stderr
    for name_ in ("tokens_in", "tokens_out", "tokens_total", "cost_total"):
        if want.get(name_) is not None:  # the LLM presets: sums of the logged usage and cost
            assert metrics[name_] == pytest.approx(want[name_], rel=1e-12), name_
    [window] = doc["windows"]
    assert _iso(window["start"]) == _iso(want["first_ts"])
    last = _iso(want["last_ts"])
    if name == "openai":  # lines with no time take their neighbours' or, in a file with none, the file's time
        last = max(last, MTIME)
    assert _iso(window["end"]) == last


def test_kserve_pairs_rows_and_latency_at_nanosecond_precision(fixtures):
    from mlmon.logs.presets import load_preset
    from mlmon.logs.reader import read_logs

    data = read_logs([str(fixtures / "kserve")], load_preset("kserve"),
                     fields=["ts", "request_id", "latency_ms", "request", "response", "input.f0", "output.prediction"])
    records = data.records
    # The docs' v1 pair (request time ...078952229Z, response ...080735431Z): 1.783202 ms, one row per instance.
    want = {}
    for path in (fixtures / "kserve").glob("*.jsonl"):
        events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        for ev in events:
            want.setdefault(ev["id"], {})[ev["type"].rsplit(".", 1)[1]] = ev
    for request_id, pair in want.items():
        rows = records.filter(records["request_id"] == request_id)
        body = pair["request"].get("data")
        n = len(body["instances"]) if isinstance(body, dict) and "instances" in body else 1
        assert rows.height == n, request_id
        if "response" in pair:
            ns = oracle.rfc3339_to_ns(pair["response"]["time"]) - oracle.rfc3339_to_ns(pair["request"]["time"])
            assert rows["latency_ms"].to_list() == [pytest.approx(ns / 1e6, abs=1e-9)] * n
        else:
            assert rows["latency_ms"].to_list() == [None] * n
            assert rows["response"].to_list() == [None] * n
    # Each batched row is its own request object, paired with the prediction at its position.
    batched = [(rid, p) for rid, p in want.items()
               if isinstance(p["request"].get("data"), dict) and len(p["request"]["data"].get("instances", [])) > 1]
    assert batched
    for request_id, pair in batched:
        rows = records.filter(records["request_id"] == request_id)
        instances = pair["request"]["data"]["instances"]
        assert [json.loads(r) for r in rows["request"].to_list()] == [
            {f"f{i}": v for i, v in enumerate(row)} if isinstance(row, list) else row for row in instances]
        predictions = pair["response"]["data"]["predictions"]
        assert [json.loads(r)["prediction"] for r in rows["response"].to_list()] == predictions


def test_seldon_pairs_on_requestid_not_on_id(fixtures):
    doc, _ = report(fixtures, "seldon")
    want = oracle.expected("seldon")
    assert want["pairs_with_equal_ce_id"] == 0  # the ids of a pair differ: joining on id would pair nothing
    assert _metrics(doc)["request_count"] == want["requests"]


def test_sagemaker_takes_endpoint_and_variant_from_the_path_and_decodes_each_encoding(fixtures):
    from mlmon.logs.presets import load_preset
    from mlmon.logs.reader import read_logs

    data = read_logs([str(fixtures / "sagemaker" / "capture")], load_preset("sagemaker"),
                     fields=["request_id", "endpoint", "model_version", "request", "response"])
    records = data.records
    assert set(records["endpoint"].to_list()) == {"my-endpoint"}
    assert set(records["model_version"].to_list()) == {"AllTraffic"}
    # Each record's request, decoded by its encoding, against plain Python.
    import base64

    for path in (fixtures / "sagemaker" / "capture").rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            body = event["captureData"]["endpointInput"]
            text = body["data"]
            if body["encoding"] == "BASE64":
                try:
                    text = base64.b64decode(text).decode("utf-8")
                except UnicodeDecodeError:
                    text = None
            if text is None:
                want = None
            elif text.lstrip()[:1] in "{[":
                want = json.loads(text)
            else:
                cells = [c.strip() for c in text.strip().splitlines()[0].split(",")]
                want = {f"f{i}": json.loads(c) if _is_number(c) else c for i, c in enumerate(cells)}
            meta = event["eventMetadata"]
            got = records.filter(records["request_id"] == meta.get("inferenceId", meta["eventId"]))["request"].to_list()
            assert (json.loads(got[0]) if got[0] else None) == want or want in [json.loads(g) for g in got if g]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip().lower() not in ("nan", "inf", "-inf", "infinity")


def test_sagemaker_ground_truth_works_as_labels(fixtures):
    labels = next((fixtures / "sagemaker" / "ground-truth").rglob("*.jsonl"))
    doc, _ = report(fixtures, "sagemaker", "--labels", labels, "--label-id", "eventMetadata.eventId",
                    "--label-field", "groundTruthData.data", "--prediction", "output.prediction")
    want = oracle.expected("sagemaker")
    metrics = _metrics(doc)
    assert metrics["label_coverage"] == pytest.approx(want["ground_truth_matched_records"] / want["requests"])


@pytest.mark.parametrize("name", list(INPUTS))
def test_auto_picks_the_preset_of_every_fixture(fixtures, name):
    result = invoke("report", *[fixtures / p for p in INPUTS[name]], "--format", "json")
    assert result.exit_code == 0, result.output
    assert f"(--preset {name})" in result.stderr
    assert json.loads(result.stdout)["source"]["records"] == oracle.expected(name)["requests"]


def test_ingest_keeps_the_endpoint_and_variant_the_path_gives(fixtures, tmp_path):
    """Smaller: ingest read path_fields' constants from nowhere (the reader took them per file, ingest did
    not), so a SageMaker store had no endpoint or variant to group by."""
    store = tmp_path / "store"
    assert invoke("ingest", fixtures / "sagemaker" / "capture", "--store", store, "--preset", "sagemaker").exit_code == 0
    import polars as pl

    stored = pl.read_parquet(str(store / "date=*" / "*.parquet"))
    want = sum(len(p.read_text().splitlines()) for p in (fixtures / "sagemaker" / "capture").rglob("*.jsonl"))
    assert stored.height == want
    assert set(stored["endpoint"].to_list()) == {"my-endpoint"}
    assert set(stored["model_version"].to_list()) == {"AllTraffic"}
    by = json.loads(invoke("report", "--store", store, "--by", "endpoint", "--format", "json").stdout)
    assert [w["segment"] for w in by["windows"]] == [{"endpoint": "my-endpoint"}]


def test_auto_refuses_a_foreign_file_and_says_what_it_saw(tmp_path):
    path = tmp_path / "other.jsonl"
    path.write_text(json.dumps({"when": "2024-01-01T00:00:00Z", "took": 3, "input": {"x": 1}}) + "\n")
    proc = subprocess.run([MLMON, "report", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "no format mlmon knows (top-level keys: when, took, input)" in proc.stderr
    assert f"mlmon inspect {path}" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_a_mix_of_formats_is_refused(fixtures):
    result = invoke("report", fixtures / "kserve", fixtures / "seldon")
    assert result.exit_code == 2 and "these logs mix formats" in result.stderr


@pytest.mark.parametrize("name", list(INPUTS))
def test_baseline_save_and_replay_dry_run_read_every_preset(fixtures, tmp_path, name):
    want = oracle.expected(name)
    inputs = [fixtures / p for p in INPUTS[name]]
    saved = invoke("baseline", "save", *inputs, "--preset", name, "-o", tmp_path / "b.json")
    if name == "rayserve":  # Ray Serve logs no request or response bodies: nothing to profile, said so
        assert saved.exit_code == 2 and "no input or output fields to profile" in saved.stderr
    else:
        assert saved.exit_code == 0, saved.output
        assert json.loads((tmp_path / "b.json").read_text())["rows"] == want["requests"]
    dry = invoke("replay", *inputs, "--preset", name, "--dry-run")
    assert dry.exit_code == 0, dry.output
    from mlmon.logs.presets import load_preset
    from mlmon.logs.reader import read_logs

    records = read_logs([str(p) for p in inputs], load_preset(name), fields=["request_id", "request"]).records
    sent = [json.loads(line) for line in dry.stdout.splitlines()]
    # Every record that logged a request object is shown, with that object as the body.
    want_bodies = sorted(json.dumps(json.loads(r), sort_keys=True) for r in records["request"].drop_nulls().to_list())
    assert sorted(json.dumps(s["body"], sort_keys=True) for s in sent) == want_bodies


def test_the_installed_command_reads_a_preset(fixtures):
    proc = subprocess.run([MLMON, "report", str(fixtures / "kserve"), "--format", "json"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    assert "reading these logs as the kserve preset's format (--preset kserve)" in proc.stderr
    assert json.loads(proc.stdout)["source"]["records"] == oracle.expected("kserve")["requests"]


def test_bentoml_naive_times_take_the_timezone(fixtures):
    name = "bentoml"
    doc, _ = report(fixtures, name, "--timezone", "Etc/GMT-2")  # POSIX sign: two hours east of UTC
    want = oracle.expected(name, timezone="+02:00")
    [window] = doc["windows"]
    assert _iso(window["start"]) == _iso(want["first_ts"]) and _iso(window["end"]) == _iso(want["last_ts"])


def test_a_zone_with_summer_time_converts_each_naive_time_by_its_own_offset(tmp_path):
    from zoneinfo import ZoneInfo

    naive = ["2024-01-15T12:00:00", "2024-07-15T12:00:00", "2024-03-31T02:30:00", "2024-10-27T02:30:00"]
    log = tmp_path / "local.jsonl"
    log.write_text("".join(json.dumps({"ts": t, "request_id": str(i)}) + "\n" for i, t in enumerate(naive)))
    from mlmon.logs.mapping import DEFAULT_MAPPING
    from mlmon.logs.reader import read_logs
    from dataclasses import replace

    data = read_logs([str(log)], replace(DEFAULT_MAPPING, timezone="Europe/Berlin"), fields=["ts", "request_id"])
    got = dict(zip(data.records["request_id"].to_list(), data.records["ts"].to_list()))
    zone = ZoneInfo("Europe/Berlin")
    # 02:30 on 31 March does not exist in Berlin (the clocks skip it): that line is bad, as an unparseable time.
    assert "2" not in got and [r["reason"] for r in data.rejects.to_dicts()] == ["unparseable ts"]
    for key in ("0", "1", "3"):  # an ambiguous time (27 October, 02:30 twice) is taken at its first, summer, offset
        local = datetime.fromisoformat(naive[int(key)]).replace(tzinfo=zone, fold=0)
        assert got[key] == local.astimezone(timezone.utc), key


def test_unknown_preset_and_both_options_are_usage_errors(fixtures):
    result = invoke("report", fixtures / "kserve", "--preset", "nope")
    assert result.exit_code == 2 and "unknown preset 'nope'" in result.stderr and "kserve" in result.stderr
    mapping = fixtures / "m.yaml"
    mapping.write_text("fields: {ts: time}\n")
    result = invoke("report", fixtures / "kserve", "--preset", "kserve", "--mapping", mapping)
    assert result.exit_code == 2 and "give --mapping or --preset, not both" in result.stderr


def test_litellm_time_to_first_token_and_tokens_per_second(fixtures):
    doc, _ = report(fixtures, "litellm")
    metrics = _metrics(doc)
    ttft, out, seconds = [], 0, 0.0
    for path in sorted((fixtures / "litellm").iterdir()):
        text = path.read_text()
        payloads = json.loads(text) if path.suffix == ".json" else [json.loads(line) for line in text.splitlines()]
        for p in payloads if isinstance(payloads, list) else [payloads]:
            start, end = oracle._litellm_time_ns(p["startTime"], "UTC"), oracle._litellm_time_ns(p["endTime"], "UTC")
            if p.get("completionStartTime") is not None:
                ttft.append((oracle._litellm_time_ns(p["completionStartTime"], "UTC") - start) / 1e6)
            if p.get("completion_tokens") is not None:
                out += p["completion_tokens"]
                seconds += (end - start) / 1e9
    assert metrics["ttft_p50_ms"] == pytest.approx(float(np.percentile(ttft, 50)), rel=1e-9)
    assert metrics["ttft_p95_ms"] == pytest.approx(float(np.percentile(ttft, 95)), rel=1e-9)
    assert metrics["tokens_out_per_s"] == pytest.approx(out / seconds, rel=1e-9)


@pytest.mark.parametrize("name", list(INPUTS))
def test_no_preset_record_has_a_top_level_ts(name):
    """Auto-detection takes a sample with a top-level ts for mlmon's own shape before trying the presets
    (so a run on mlmon's own logs parses no preset file): no preset's records may have one."""
    from mlmon.logs.presets import detect_lines, sample_file

    for path in (FIXTURES / INPUTS[name][0]).rglob("*"):
        if path.is_file() and path.suffix in (".jsonl", ".json", ".log"):
            records = sample_file(path).records
            assert not any(isinstance(r, dict) and "ts" in r for r in records), path
            assert detect_lines(records) in (name, None), path


def test_a_rule_test_file_reads_logs_through_a_preset(tmp_path):
    """mlmon rules test: `preset:` beside `logs:` reads a platform's logs, as --preset does."""
    log = FIXTURES / "seldon" / "constructed-events.jsonl"
    (tmp_path / "rules.yaml").write_text(
        "rules:\n  - name: failures\n    expr: error_count > 0\n    every: 1h\n    labels: {severity: critical}\n")
    tests = ("rule_files: [rules.yaml]\ntests:\n  - name: seldon\n    start: 2020-11-06T09:00:00Z\n"
             f"    logs: {log}\n    preset: {{PRESET}}\n    alerts:\n      - at: 2020-11-06T10:00:00Z\n"
             "        expect:\n          - alertname: failures\n            labels: {severity: critical}\n")
    for preset, code in (("seldon", 0), ("auto", 0)):
        (tmp_path / "t.yaml").write_text(tests.replace("{PRESET}", preset))
        result = invoke("rules", "test", tmp_path / "t.yaml")
        assert result.exit_code == code, result.output
    (tmp_path / "t.yaml").write_text(tests.replace("{PRESET}", "seldom"))
    result = invoke("rules", "test", tmp_path / "t.yaml")
    assert result.exit_code == 2 and "unknown preset 'seldom'; did you mean 'seldon'?" in result.stderr


def test_export_and_check_read_a_preset(fixtures, tmp_path):
    want = oracle.expected("kserve")
    out = tmp_path / "rows.jsonl"
    result = invoke("export", fixtures / "kserve", "--preset", "kserve", "-o", out, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == want["requests"]
    (tmp_path / "rules.yaml").write_text("rules:\n  - name: failures\n    expr: error_count > 0\n    every: 1d\n")
    checked = invoke("check", fixtures / "kserve", "--rules", tmp_path / "rules.yaml", "--now", "2024-05-03T00:00:00Z",
                     "--since", "2024-05-01T00:00:00Z")
    assert checked.exit_code == 1, checked.output  # the request without a response is a failure


def test_bentoml_schema_files_beside_the_data_are_not_requests(fixtures):
    """Pointed at a whole monitoring directory, the schema/*.log records are left out, not bad lines."""
    result = invoke("report", fixtures / "bentoml", "--format", "json")
    assert result.exit_code == 0, result.output
    source = json.loads(result.stdout)["source"]
    assert (source["records"], source["skipped"]) == (oracle.expected("bentoml")["requests"], 0)


def test_exported_columns_keep_the_order_the_rows_show_whatever_the_run(fixtures, tmp_path):
    """Smaller: where rows disagree on a field's type (SageMaker's CSV rows: 1 in one, 1.5 in another),
    Polars merged their schemas in an order that changed from run to run, and so did export's columns.
    Two processes (each with its own hash seeds) now write the columns in the order the rows show."""
    headers = set()
    for i in range(2):
        out = tmp_path / f"run{i}.csv"
        proc = subprocess.run([MLMON, "export", str(fixtures / "sagemaker" / "capture"), "--preset", "sagemaker",
                               "--format", "csv", "-o", str(out)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        headers.add(out.read_text().splitlines()[0])
    [header] = headers
    inputs = [c for c in header.split(",") if c.startswith("input.f")]
    assert inputs == [f"input.f{i}" for i in range(len(inputs))] and len(inputs) > 10
