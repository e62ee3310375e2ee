"""Baselines (issue 5): every kind of reference gives the same drift, profiles, and the sample incident.

The same reference data is given as logs (``--baseline ref.jsonl``), as a range of the same
logs (``--baseline-range``), as datasets (.parquet written with polars, .csv, .jsonl rows) and
as a profile saved by ``mlmon baseline save``. Raw references must agree exactly; a profile
gives the same PSI, chi-square and Jensen–Shannon values and KS/Wasserstein within a small
tolerance. The profile is checked as a document (valid, versioned, readable, small) and
damaged profiles are one-line errors. Last, the scripted incident of sample_logs and rules
over the per-field metric names.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conftest import SAMPLE_LOGS, record, write_jsonl
from test_drift import (CATEGORICAL, HOURS, NUMERIC, current_rows, invoke, reference_rows, report_json, ts_text,
                        values, windows_by_key)

DATA = Path(__file__).parent / "data" / "drift"
CHURN = SAMPLE_LOGS / "churn.jsonl.gz"
RANGE = "2026-11-25..2026-11-26T14:00Z"
NOW = "2026-11-27T00:00:00Z"
REF_N = 3000


def save(*args) -> str:
    result = invoke("baseline", "save", *args, "--now", NOW)
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return result.stdout


def field_metrics(metrics: dict) -> dict:
    """The drift and quality metrics (operational ones differ between a range and a separate baseline)."""
    prefixes = ("psi.", "ks.", "ks_pvalue.", "wasserstein_norm.", "chi2_pvalue.", "js.", "new_category_rate.",
                "null_rate.", "type_violation_rate.", "out_of_range_rate.", "drifted.")
    names = ("drift_share", "duplicate_request_id_rate", "schema_fields_added", "schema_fields_removed")
    return {k: v for k, v in metrics.items() if k.startswith(prefixes) or k in names}


def dataset_frame(rows: list[dict]) -> pl.DataFrame:
    """The reference as a training set: one column per field, named without input./output."""
    return pl.DataFrame({
        "customer_id": [r["request"]["customer_id"] for r in rows],
        "x": [r["request"].get("x") for r in rows],
        "k": [r["request"]["k"] for r in rows],
        "c": [r["request"]["c"] for r in rows],
        "score": [r["response"]["score"] for r in rows],  # an output of the logs: output.score
        "label": [r["response"]["label"] for r in rows],
    }, schema={"customer_id": pl.String, "x": pl.Float64, "k": pl.Int64, "c": pl.String, "score": pl.Float64,
               "label": pl.String})


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """The same reference in every form, and the current logs."""
    tmp = tmp_path_factory.mktemp("baselines")
    ref = reference_rows(REF_N)
    cur = current_rows()
    cur_rows = [r for rows in cur.values() for r in rows]
    logs = write_jsonl(tmp / "ref.jsonl", ref)
    current = write_jsonl(tmp / "cur.jsonl", cur_rows)
    both = write_jsonl(tmp / "both.jsonl", ref + cur_rows)
    frame = dataset_frame(ref)
    frame.write_parquet(tmp / "ref.parquet")
    frame.write_csv(tmp / "ref.csv")
    write_jsonl(tmp / "ref_rows.jsonl", frame.to_dicts())  # a dataset: JSON lines without a request object
    save(logs, "-o", tmp / "profile.json")
    save(tmp / "ref.parquet", "-o", tmp / "profile_parquet.json")
    prefixed = frame.rename({c: f"input.{c}" for c in ("customer_id", "x", "k", "c")} | {
        "score": "output.score", "label": "output.label"})
    prefixed.write_parquet(tmp / "ref_prefixed.parquet")
    save(tmp / "ref_prefixed.parquet", "-o", tmp / "profile_prefixed.json")
    return {"tmp": tmp, "ref": ref, "cur": cur, "logs": logs, "current": current, "both": both}


def run(sources, *baseline) -> dict:
    if baseline[0] == "--baseline-range":
        return report_json(sources["both"], *baseline, "--since", "2026-11-27", "--every", "1h", "--by",
                           "model_version")
    return report_json(sources["current"], *baseline, "--every", "1h", "--by", "model_version")


@pytest.fixture(scope="module")
def from_logs(sources):
    return run(sources, "--baseline", sources["logs"])


@pytest.mark.parametrize("kind", ["range", "parquet", "csv", "jsonl-dataset"])
def test_raw_baselines_agree_exactly(sources, from_logs, kind):
    tmp = sources["tmp"]
    baseline = {
        "range": ("--baseline-range", "2026-11-20..2026-11-21"),
        "parquet": ("--baseline", tmp / "ref.parquet"),
        "csv": ("--baseline", tmp / "ref.csv"),
        "jsonl-dataset": ("--baseline", tmp / "ref_rows.jsonl"),
    }[kind]
    doc = run(sources, *baseline)
    expected = windows_by_key(from_logs)
    got = windows_by_key(doc)
    assert set(got) == set(expected) == set(sources["cur"])
    for key in expected:
        a, b = field_metrics(got[key]), field_metrics(expected[key])
        assert a.keys() == b.keys(), (kind, key)
        for name in b:
            assert a[name] == pytest.approx(b[name], rel=1e-12, abs=1e-15), (kind, key, name)
    fields = {f: v["type"] for f, v in doc["baseline"]["fields"].items()}
    assert fields == {f: v["type"] for f, v in from_logs["baseline"]["fields"].items()}
    assert fields["output.score"] == "numeric" and fields["input.customer_id"] == "identifier"
    assert doc["baseline"]["rows"] == REF_N


def test_baseline_sources_are_described(sources, from_logs):
    assert from_logs["baseline"]["source"]["files"] == [str(sources["logs"])]
    parquet = run(sources, "--baseline", sources["tmp"] / "ref.parquet")
    assert parquet["baseline"]["source"] == {"dataset": str(sources["tmp"] / "ref.parquet")}
    ranged = run(sources, "--baseline-range", "2026-11-20..2026-11-21")
    assert ranged["baseline"]["source"]["range"] == ["2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z"]


EXACT_FROM_PROFILE = ("psi.", "chi2_pvalue.", "js.", "new_category_rate.", "null_rate.", "type_violation_rate.",
                      "out_of_range_rate.")


@pytest.mark.parametrize("profile", [
    "profile.json",
    "profile_prefixed.json",  # saved from a dataset whose columns are named input.x / output.score outright
    "profile_parquet.json",
])
def test_profile_gives_the_same_drift(sources, from_logs, profile):
    doc = run(sources, "--baseline", sources["tmp"] / profile)
    assert doc["baseline"]["fields"] == {f: v for f, v in from_logs["baseline"]["fields"].items()}
    expected = windows_by_key(from_logs)
    for key, metrics in windows_by_key(doc).items():
        raw = expected[key]
        assert field_metrics(metrics).keys() == field_metrics(raw).keys()
        for name, value in field_metrics(metrics).items():
            if name.startswith(EXACT_FROM_PROFILE):
                assert value == pytest.approx(raw[name], rel=1e-12, abs=1e-15), (key, name)
        for f in NUMERIC:
            # 1,001 quantiles: the ECDF is known to within about 1/1000
            assert metrics[f"ks.{f}"] == pytest.approx(raw[f"ks.{f}"], abs=3e-3), (key, f)
            assert metrics[f"wasserstein_norm.{f}"] == pytest.approx(raw[f"wasserstein_norm.{f}"], rel=0.02,
                                                                     abs=2e-3), (key, f)
            assert metrics[f"ks_pvalue.{f}"] == pytest.approx(raw[f"ks_pvalue.{f}"], rel=0.25, abs=5e-3), (key, f)
        for f in NUMERIC + CATEGORICAL:
            assert metrics[f"drifted.{f}"] == raw[f"drifted.{f}"], (key, f)
        assert metrics["drift_share"] == raw["drift_share"]


def test_profile_document(sources):
    doc = json.loads((sources["tmp"] / "profile.json").read_text())
    assert doc["format"] == "mlmon-profile" and doc["version"] == 1
    assert doc["rows"] == REF_N and doc["created_at"] == NOW
    text = (sources["tmp"] / "profile.json").read_text()
    assert text.count("\n") > 100 and '"fields"' in text  # indented, one value a line: readable
    ref = sources["ref"]
    fields = doc["fields"]
    assert set(fields) == {"input.customer_id", "input.x", "input.k", "input.c", "output.score", "output.label"}
    for name in ("x", "k", "output.score"):
        f = fields[name if name.startswith("output.") else f"input.{name}"]
        v = np.asarray(values(ref, name), float)
        assert f["type"] == "numeric"
        assert f["count"] == v.size and f["nulls"] == REF_N - v.size
        assert f["null_rate"] == pytest.approx((REF_N - v.size) / REF_N)
        assert f["min"] == v.min() and f["max"] == v.max()
        assert f["mean"] == pytest.approx(v.mean(), rel=1e-12) and f["std"] == pytest.approx(np.std(v), rel=1e-12)
        edges = np.quantile(v, np.arange(1, 10) / 10)
        assert f["bins"]["edges"] == pytest.approx(list(edges), rel=1e-12)
        counts = np.bincount(np.searchsorted(edges, v, side="left"), minlength=10)
        assert f["bins"]["counts"] == counts.tolist()
        assert f["quantiles"] == pytest.approx(list(np.quantile(v, np.linspace(0, 1, 1001))), rel=1e-12)
    c = values(ref, "c")
    assert fields["input.c"]["type"] == "categorical"
    assert fields["input.c"]["frequencies"] == {k: c.count(k) for k in sorted(set(c))}
    assert fields["input.c"]["nulls"] == REF_N - len(c)
    assert fields["input.customer_id"] == {"type": "identifier", "count": REF_N, "nulls": 0, "null_rate": 0.0}


def test_baseline_save_prints_a_summary(sources):
    result = invoke("baseline", "save", sources["logs"], "-o", sources["tmp"] / "again.json", "--now", NOW)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""  # the status line is on stderr, so -o /dev/stdout stays valid JSON
    assert result.stderr.strip() == (f"{sources['tmp'] / 'again.json'}: profile of 3,000 records, 6 fields "
                                     "(3 numeric, 2 categorical, 1 identifier)")


def test_profile_of_10k_records_by_6_fields_is_small(tmp_path):
    """The worst case for size: six numeric fields of full-precision floats."""
    rng = np.random.default_rng(4)
    data = rng.normal(size=(10_000, 6)) * [1, 10, 100, 1e3, 1e-3, 1e6]
    rows = [record(ts=ts_text(HOURS[0]), request_id=f"s{i}",
                   request={f"f{j}": float(data[i, j]) for j in range(4)},
                   response={f"g{j}": float(data[i, 4 + j]) for j in range(2)}) for i in range(10_000)]
    write_jsonl(tmp_path / "big.jsonl", rows)
    save(tmp_path / "big.jsonl", "-o", tmp_path / "big.json")
    size = (tmp_path / "big.json").stat().st_size
    doc = json.loads((tmp_path / "big.json").read_text())
    assert len(doc["fields"]) == 6 and all(len(f["quantiles"]) == 1001 for f in doc["fields"].values())
    assert size < 200_000, size


# --- damaged profiles ---------------------------------------------------------------------


def profile_error(tmp_path: Path, text: str) -> tuple[int, str]:
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    logs = write_jsonl(tmp_path / "logs.jsonl", [record(request_id=f"d{i}", request={"x": i, "c": "a"})
                                                  for i in range(10)])
    result = invoke("report", logs, "--baseline", bad, "--format", "json")
    return result.exit_code, result.stderr


GOOD_FIELD = {"type": "numeric", "count": 3, "nulls": 0, "null_rate": 0.0, "min": 0, "max": 3, "mean": 1.5,
              "std": 1.0, "bins": {"edges": [1, 2], "counts": [1, 1, 1]}, "quantiles": [0, 1, 2, 3]}


def profile_text(fields=None, **top) -> str:
    doc = {"format": "mlmon-profile", "version": 1, "rows": 3, "fields": {"input.x": GOOD_FIELD}
           if fields is None else fields}
    doc.update(top)
    return json.dumps(doc)


@pytest.mark.parametrize("text,message", [
    ('{"format": "mlmon-profile", "version": 1, "fields": {', "cannot read baseline profile"),
    ("", "cannot read baseline profile"),
    ("[1, 2]", "is not an mlmon baseline profile"),
    ('{"format": "something-else", "version": 1}', "is not an mlmon baseline profile"),
    (profile_text(version=2), "is a profile of version 2; this mlmon reads version 1"),
    (profile_text(version=None), "profile; this mlmon reads version 1"),
    ('{"format": "mlmon-profile", "version": 1}', "is damaged"),
    (profile_text({"input.x": {"type": "numeric"}}), "is damaged"),
    (profile_text({"input.x": {**GOOD_FIELD, "bins": {"edges": [1], "counts": ["many", 1]}}}), "is damaged"),
    (profile_text({"input.c": {"type": "categorical", "count": 1, "nulls": 0}}), "is damaged"),
])
def test_damaged_or_wrong_version_profile_is_a_one_line_error(tmp_path, text, message):
    code, stderr = profile_error(tmp_path, text)
    assert code == 2, stderr
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("mlmon: error: ")


@pytest.mark.parametrize("text", [
    profile_text([]),
    profile_text(rows="many"),
    profile_text({"input.c": {"type": "categorical", "count": 1, "nulls": 0, "frequencies": [["a", 1]]}}),
    profile_text({"input.x": {**GOOD_FIELD, "min": "zero"}}),
    profile_text({"input.x": {**GOOD_FIELD, "std": "big"}}),
    profile_text({"input.x": {**GOOD_FIELD, "bins": {"edges": ["a", "b"], "counts": [1, 1, 1]}}}),
], ids=["fields-list", "rows-text", "frequencies-list", "min-text", "std-text", "edges-text"])
def test_profile_with_wrong_types_is_a_one_line_error(tmp_path, text):
    code, stderr = profile_error(tmp_path, text)
    assert code == 2 and "Traceback" not in stderr and "is damaged" in stderr, stderr


@pytest.mark.parametrize("field", [
    {**GOOD_FIELD, "bins": {"edges": [1], "counts": [1, 1, 1]}},
    {**GOOD_FIELD, "quantiles": "abc"},
    {**GOOD_FIELD, "quantiles": [0, None, 3]},
], ids=["counts-edges-mismatch", "quantiles-text", "quantiles-null"])
def test_inconsistent_profile_is_rejected(tmp_path, field):
    code, stderr = profile_error(tmp_path, profile_text({"input.x": field}))
    assert code == 2 and "is damaged" in stderr, stderr


def test_profile_under_another_suffix_is_still_a_profile(sources):
    save(sources["logs"], "-o", sources["tmp"] / "base.profile")
    save(sources["logs"], "-o", sources["tmp"] / "base.json")
    docs = {}
    for name in ("base.profile", "base.json"):
        result = invoke("report", sources["current"], "--baseline", sources["tmp"] / name, "--format", "json")
        assert result.exit_code == 0, result.stderr
        docs[name] = json.loads(result.stdout)
    # Read as the same profile, not as logs: the same fields, methods and drift values.
    assert docs["base.profile"]["baseline"]["fields"] == docs["base.json"]["baseline"]["fields"]
    assert docs["base.profile"]["baseline"]["rows"] == REF_N
    metrics = [field_metrics(w["metrics"]) for w in docs["base.profile"]["windows"]]
    assert metrics == [field_metrics(w["metrics"]) for w in docs["base.json"]["windows"]] and metrics[0]


# --- the sample incident --------------------------------------------------------------------


DRIFTING = ("monthly_charges", "tenure_months", "output.churn_probability", "output.label")
STABLE = ("age", "country", "plan", "support_calls")


@pytest.mark.parametrize("every", [None, "6h"])
def test_sample_incident_drifts_on_v2_only(every):
    args = [CHURN, "--by", "model_version", "--baseline-range", RANGE] + (["--every", every] if every else [])
    doc = report_json(*args)
    windows = [(w["segment"]["model_version"], w["metrics"]) for w in doc["windows"] if w["metrics"]["request_count"]]
    assert {v for v, _ in windows} == {"v1", "v2"}
    for version, m in windows:
        for f in STABLE:
            assert m[f"drifted.{f}"] == 0, (version, f, every)
        for f in DRIFTING:
            assert m[f"drifted.{f}"] == (1 if version == "v2" else 0), (version, f, every)
    assert doc["baseline"]["fields"]["input.customer_id"]["type"] == "identifier"
    assert doc["baseline"]["schema_changes"] == {"added": [], "removed": []}
    if every is None:
        v2 = dict(windows)["v2"]
        # sample_logs/README.md: PSI 0.59, 0.78 and 3.38 (10 bins at the v1 deciles)
        assert v2["psi.monthly_charges"] == pytest.approx(0.59, abs=0.01)
        assert v2["psi.tenure_months"] == pytest.approx(0.78, abs=0.02)
        assert v2["psi.output.churn_probability"] == pytest.approx(3.38, abs=0.01)
        assert v2["psi.age"] < 0.01 and v2["psi.support_calls"] < 0.01
        assert dict(windows)["v1"]["drift_share"] == 0


def test_sample_incident_from_a_saved_profile(tmp_path):
    profile = tmp_path / "baseline.json"
    save(CHURN, "--until", "2026-11-26T14:00Z", "-o", profile)
    from_profile = report_json(CHURN, "--by", "model_version", "--baseline", profile)
    from_range = report_json(CHURN, "--by", "model_version", "--baseline-range", RANGE)
    a = {w["segment"]["model_version"]: w["metrics"] for w in from_profile["windows"]}
    b = {w["segment"]["model_version"]: w["metrics"] for w in from_range["windows"]}
    for version in ("v1", "v2"):
        for name, value in field_metrics(b[version]).items():
            if name.startswith("drifted.") or name.startswith(("psi.", "js.", "chi2_pvalue.")):
                assert a[version][name] == pytest.approx(value, rel=1e-12, abs=1e-15), (version, name)
    assert from_profile["baseline"]["rows"] == 13_377


# --- rules over drift metrics ----------------------------------------------------------------


RULES = DATA / "drift.rules.yaml"


def test_drift_rules_validate():
    result = invoke("rules", "validate", RULES)
    assert result.exit_code == 0, result.stderr
    assert "2 rules, no problems" in result.stdout


def check_json(*args) -> tuple[int, dict]:
    result = invoke("check", CHURN, "--rules", RULES, "--now", NOW, "--format", "json", *args)
    assert result.exit_code in (0, 1), result.output + (result.stderr or "")
    return result.exit_code, json.loads(result.stdout)


def test_drift_rule_fires_on_v2():
    code, doc = check_json("--baseline-range", RANGE)
    assert code == 1
    fired = {(a["rule"], a["segment"]["model_version"]) for a in doc["alerts"]}
    assert fired == {("input-drift", "v2"), ("prediction-drift", "v2")}


def test_drift_rule_fires_with_a_profile(tmp_path):
    profile = tmp_path / "baseline.json"
    save(CHURN, "--until", "2026-11-26T14:00Z", "-o", profile)
    code, doc = check_json("--baseline", profile)
    assert code == 1
    assert {a["segment"]["model_version"] for a in doc["alerts"]} == {"v2"}


def test_drift_rule_is_quiet_on_v1_traffic(tmp_path):
    code, doc = check_json("--baseline-range", RANGE, "--until", "2026-11-26T14:00Z")
    assert code == 0 and doc["alerts"] == []
    v1_only = tmp_path / "v1.rules.yaml"
    v1_only.write_text(RULES.read_text().replace("by: [model_version]", 'by: [model_version]\n    where: model_version == "v1"'))
    result = invoke("check", CHURN, "--rules", v1_only, "--now", NOW, "--format", "json", "--baseline-range", RANGE)
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["alerts"] == []


def test_unknown_field_metric_name_is_still_accepted_but_unknown_metric_is_not(tmp_path):
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - name: a\n    expr: psi.anything > 0.2\n  - name: b\n    expr: psii.x > 0.2\n")
    result = invoke("rules", "validate", rules)
    assert result.exit_code == 2
    assert "psii.x" in result.stderr and "psi.anything" not in result.stderr


def test_the_sample_bad_lines_file_profiles_and_drifts_without_a_traceback(tmp_path):
    # Its record with an escaped ESC in a request string is a good record (README).
    profile = tmp_path / "b.json"
    saved = invoke("baseline", "save", str(SAMPLE_LOGS / "bad_lines.jsonl"), "-o", str(profile))
    assert saved.exit_code == 0, saved.output
    doc = json.loads(profile.read_text())
    assert "input.country" in doc["fields"]
    assert any("\x1b" in value for value in doc["fields"]["input.country"]["frequencies"])
    drift = invoke("report", str(SAMPLE_LOGS / "bad_lines.jsonl"), "--baseline", str(profile), "--format", "json")
    assert drift.exit_code == 0, drift.output
    (window,) = json.loads(drift.stdout)["windows"]
    # The same 21 records as their own baseline: no category is new and the distributions are equal.
    assert window["metrics"]["request_count"] == 21
    assert window["metrics"]["new_category_rate.country"] == 0.0 and window["metrics"]["psi.country"] == 0.0


def test_a_profile_holds_no_secret_values_and_lists_skipped_lines(tmp_path):
    rows = [{"ts": f"2026-11-20T00:00:{i:02d}Z", "latency_ms": 1.0,
             "request": {"api_key": f"sk-live-{i % 3}", "password": "hunter2", "ssn": f"123-{i % 2}",
                         "headers": {"Authorization": f"Bearer tok{i % 2}"}, "x": i % 4},
             "response": {"token": "resp-tok", "max_tokens": 5}} for i in range(40)]
    logs = tmp_path / "logs.jsonl"
    logs.write_text("".join(json.dumps(r) + "\n" for r in rows) + "garbage Authorization: Bearer LEAK\n")
    mapping = tmp_path / "map.yaml"
    mapping.write_text("redact: [ssn]\n")
    profile, rejects = tmp_path / "b.json", tmp_path / "rejects.jsonl"
    result = invoke("baseline", "save", logs, "-o", profile, "-m", mapping, "--rejects", rejects)
    assert result.exit_code == 0, result.output
    assert "40 records, 7 fields" in result.output and "skipped 1 bad line; listed in" in result.output
    text = profile.read_text()
    for secret in ("sk-live", "hunter2", "123-", "Bearer", "resp-tok"):
        assert secret not in text
    fields = json.loads(text)["fields"]
    assert {k for k, v in fields.items() if v["type"] == "identifier"} == {
        "input.api_key", "input.password", "input.ssn", "input.headers.Authorization", "output.token"}
    assert fields["output.max_tokens"]["type"] == "numeric" and fields["input.x"]["type"] == "numeric"
    listed = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in listed] == [(41, "malformed JSON")] and "LEAK" not in listed[0]["raw"]
    strict = invoke("baseline", "save", logs, "-o", tmp_path / "s.json", "--strict")
    assert strict.exit_code == 2 and "logs.jsonl:41" in strict.output and not (tmp_path / "s.json").exists()


def test_baseline_save_refuses_no_fields_and_a_dataset_among_logs(tmp_path):
    logs = tmp_path / "logs.jsonl"
    logs.write_text(json.dumps({"ts": "2026-11-20T00:00:00Z", "latency_ms": 1}) + "\n")
    empty = invoke("baseline", "save", logs, "-o", tmp_path / "b.json")
    assert empty.exit_code == 2 and "no input or output fields" in empty.output
    mixed = invoke("baseline", "save", SAMPLE_LOGS / "churn.jsonl.gz", SAMPLE_LOGS / "labels.csv", "-o", tmp_path / "c.json")
    assert mixed.exit_code == 2 and "labels.csv is a dataset" in mixed.output
