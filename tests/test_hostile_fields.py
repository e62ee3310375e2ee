"""Hostile request and response values (issue 11, items 2, 3 and 15): huge, not finite, or too many.

Each case runs through the command line (typer's runner, and the installed ``mlmon`` at least
once per item) and checks the numbers against numpy, scipy or scikit-learn computed on the
same values: the finite ones, since a value that is not a finite number is a type violation.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats
from sklearn import metrics as skm

from conftest import write_jsonl
from mlmon.logs import fields
from mlmon.logs.fields import decode_objects
from test_drift import numeric_oracle
from test_hostile_input import assert_one_line_error, entry_point, invoke

NOW = "2026-11-28T00:00:00Z"


def line(i: int, request: str, response: str = '{"label": "a"}', **extra) -> str:
    """One log line whose request and response objects are written as given (JSON text, as a writer wrote it)."""
    head = {"ts": f"2026-11-27T10:{i // 60 % 60:02d}:{i % 60:02d}Z", "request_id": f"r{i}", "model": "m",
            "status": 200, "latency_ms": 10.0, **extra}
    return json.dumps(head)[:-1] + f', "request": {request}, "response": {response}}}'


def strict_json(text: str) -> dict:
    """The document, refusing the NaN and Infinity literals that strict JSON has not."""
    def refuse(name):
        raise AssertionError(f"{name} in the JSON output")
    return json.loads(text, parse_constant=refuse)


def report_json(*args) -> tuple[dict, str]:
    result = invoke("report", *args, "--now", NOW, "--format", "json")
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return strict_json(result.stdout), result.stderr


def save_profile(source: Path, out: Path, *args) -> tuple[dict, str]:
    result = invoke("baseline", "save", source, "-o", out, "--now", NOW, *args)
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return strict_json(out.read_text()), result.stderr


def metric(doc: dict, name: str):
    (window,) = doc["windows"]
    return window["metrics"][name]


# --- item 2: numbers of magnitude 1e19 and more --------------------------------------------------

def big_numbers(n: int = 120, seed: int = 2) -> list[str]:
    """Float literals from 1e38 to 1e40, as writers write them (the log reader hands them over as 39 to 41 digits)."""
    rng = np.random.default_rng(seed)
    texts = [repr(float(v)) for v in rng.uniform(1e38, 1e40, n)]
    texts[::10] = ["1e39", "-1E+39"] * (n // 20)
    return texts


@pytest.fixture
def big(tmp_path) -> dict:
    ref, cur = big_numbers(seed=2), big_numbers(seed=3)
    write_jsonl(tmp_path / "ref.jsonl", [line(i, f'{{"x": {t}}}') for i, t in enumerate(ref)])
    write_jsonl(tmp_path / "cur.jsonl", [line(i, f'{{"x": {t}}}') for i, t in enumerate(cur)])
    return {"tmp": tmp_path, "ref": [float(t) for t in ref], "cur": [float(t) for t in cur]}


def test_numbers_past_1e39_keep_a_field_numeric_in_a_profile(big):
    """Item 2: 1e39 crashed baseline save (Polars' InvalidNumber)."""
    doc, _ = save_profile(big["tmp"] / "ref.jsonl", big["tmp"] / "p.json")
    x = doc["fields"]["input.x"]
    v = np.array(big["ref"])
    assert x["type"] == "numeric" and x["count"] == v.size and x["type_violations"] == 0
    assert x["min"] == v.min() and x["max"] == v.max()
    assert x["mean"] == pytest.approx(v.mean(), rel=1e-12) and x["std"] == pytest.approx(v.std(), rel=1e-12)
    assert x["quantiles"] == pytest.approx(list(np.quantile(v, np.linspace(0, 1, 1001))), rel=1e-12)


def test_integers_past_64_bits_keep_a_field_numeric(tmp_path):
    """Item 2: integers of 1e19 and more made a numeric field categorical (Polars reads them as 128-bit)."""
    texts = [str(i) for i in range(40)] + ["10000000000000000000", str(2**64), str(2**100)]
    log = write_jsonl(tmp_path / "x.jsonl", [line(i, f'{{"x": {t}}}') for i, t in enumerate(texts)])
    doc, _ = save_profile(log, tmp_path / "p.json")
    x, v = doc["fields"]["input.x"], np.array([float(t) for t in texts])
    assert x["type"] == "numeric" and x["count"] == v.size
    assert (x["min"], x["max"]) == (0, 2.0**100) and x["mean"] == pytest.approx(v.mean(), rel=1e-12)


@pytest.mark.parametrize("baseline", ["logs", "profile", "range"])
def test_drift_of_huge_numbers_agrees_with_scipy(big, baseline):
    """Item 2: report --baseline/--baseline-range crashed on 1e39; drift is scipy's on the same floats."""
    tmp = big["tmp"]
    if baseline == "range":
        both = tmp / "both.jsonl"
        both.write_text((tmp / "ref.jsonl").read_text().replace("2026-11-27T10", "2026-11-26T10")
                        + (tmp / "cur.jsonl").read_text())
        doc, _ = report_json(both, "--baseline-range", "2026-11-26..2026-11-27", "--since", "2026-11-27")
    else:
        source = tmp / "ref.jsonl"
        if baseline == "profile":
            save_profile(source, tmp / "p.json")
            source = tmp / "p.json"
        doc, _ = report_json(tmp / "cur.jsonl", "--baseline", source)
    expected = numeric_oracle(big["ref"], big["cur"])
    if baseline == "profile":  # KS and Wasserstein against the profile's 1,001 quantiles, not every value
        points = np.quantile(big["ref"], np.linspace(0, 1, 1001))
        expected["ks"] = stats.ks_2samp(points, big["cur"]).statistic
        expected["wasserstein_norm"] = stats.wasserstein_distance(points, big["cur"]) / np.std(big["ref"])
    for name in ("ks", "wasserstein_norm", "psi", "out_of_range_rate"):
        assert metric(doc, f"{name}.x") == pytest.approx(expected[name], rel=1e-9, abs=1e-12), name
    assert metric(doc, "type_violation_rate.x") == 0


def test_check_with_a_baseline_of_huge_numbers(big):
    """Item 2: check with a baseline crashed too; a drift rule over the field now evaluates."""
    rules = big["tmp"] / "rules.yaml"
    rules.write_text("rules:\n  - name: x-moved\n    expr: wasserstein_norm.x > 100\n    severity: warning\n")
    result = invoke("check", big["tmp"] / "cur.jsonl", "--rules", rules, "--baseline", big["tmp"] / "ref.jsonl",
                    "--now", NOW, "--format", "json")
    assert result.exit_code == 0, result.output
    assert strict_json(result.stdout)["status"] == "ok"


def test_extremes_near_the_largest_float_give_no_number_rather_than_infinity(tmp_path):
    """Item 2: values near 1.8e308 overflow the mean, std and distances; the profile and the JSON say null."""
    values = ["1e300", "-1e300", "1.5e308", "-1.5e308", "1", "2"] * 5
    log = write_jsonl(tmp_path / "x.jsonl", [line(i, f'{{"x": {t}}}') for i, t in enumerate(values)])
    doc, _ = save_profile(log, tmp_path / "p.json")
    x = doc["fields"]["input.x"]
    assert x["type"] == "numeric" and x["min"] == -1.5e308 and x["max"] == 1.5e308
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.std(np.array(values, float)))
    assert x["std"] is None
    assert all(np.isfinite(x["quantiles"]))
    report, _ = report_json(log, "--baseline", tmp_path / "p.json")
    assert metric(report, "wasserstein_norm.x") is None


def test_a_dataset_with_a_40_digit_integer_is_profiled_as_numbers(tmp_path):
    """Item 2: Polars refuses such a CSV or JSON number outright; the column is floats instead."""
    big_int = "1" + "0" * 39
    csv = tmp_path / "train.csv"
    csv.write_text(f"x,y\n1,a\n{big_int},b\n3,c\n")
    jsonl = tmp_path / "train.jsonl"
    jsonl.write_text(f'{{"x": 1, "y": "a"}}\n{{"x": {big_int}, "y": "b"}}\n{{"x": 3, "y": "c"}}\n')
    for dataset in (csv, jsonl):
        doc, _ = save_profile(dataset, tmp_path / "p.json")
        assert doc["fields"]["input.x"]["type"] == "numeric"
        assert doc["fields"]["input.x"]["max"] == 1e39
        assert doc["fields"]["input.y"]["type"] == "categorical"


def test_huge_numbers_through_the_installed_command(big):
    """Item 2, as a user runs it: baseline save, then report against the profile."""
    tmp = big["tmp"]
    saved = entry_point("baseline", "save", tmp / "ref.jsonl", "-o", tmp / "p.json", "--now", NOW)
    assert saved.returncode == 0, saved.stderr
    assert "Traceback" not in saved.stderr
    done = entry_point("report", tmp / "cur.jsonl", "--baseline", tmp / "p.json", "--now", NOW, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert strict_json(done.stdout)["baseline"]["fields"]["input.x"]["type"] == "numeric"


# --- item 3: NaN and infinities ------------------------------------------------------------------

NON_FINITE = ['"-Infinity"', '"Infinity"', '"NaN"', '"inf"', '"-inf"', '"nan"']


def finite_rows(n: int, seed: int, shift: float = 0.0) -> list[float]:
    return [round(float(v), 4) for v in np.random.default_rng(seed).normal(50 + shift, 10, n)]


def with_non_finite(values: list[float], at: list[int]) -> list[str]:
    """The values as JSON numbers, with the text forms of NaN and the infinities at the given places."""
    texts = [repr(v) for v in values]
    for k, i in enumerate(at):
        texts.insert(i, NON_FINITE[k % len(NON_FINITE)])
    return texts


@pytest.mark.parametrize("where", ["sampled", "late"])
def test_non_finite_text_in_the_logs_is_a_type_violation_left_out_of_drift(tmp_path, monkeypatch, where):
    """Item 3: "-Infinity" made wasserstein_norm infinite; now it is a type violation, and drift is
    scipy's on the finite values. "late": past the rows whose schema is inferred first."""
    monkeypatch.setattr(fields, "SAMPLE_ROWS", 50)
    ref, cur = finite_rows(300, 5), finite_rows(200, 6, shift=3)
    at = [2, 7, 30, 31, 40, 45] if where == "sampled" else [120, 150, 160, 170, 180, 190]
    texts = with_non_finite(cur, at)
    write_jsonl(tmp_path / "ref.jsonl", [line(i, json.dumps({"x": v})) for i, v in enumerate(ref)])
    write_jsonl(tmp_path / "cur.jsonl", [line(i, f'{{"x": {t}}}') for i, t in enumerate(texts)])
    doc, _ = report_json(tmp_path / "cur.jsonl", "--baseline", tmp_path / "ref.jsonl")
    expected = numeric_oracle(ref, cur)
    for name in ("ks", "wasserstein_norm", "psi", "out_of_range_rate"):
        assert metric(doc, f"{name}.x") == pytest.approx(expected[name], rel=1e-9, abs=1e-12), name
    assert metric(doc, "type_violation_rate.x") == pytest.approx(len(at) / len(texts))
    assert metric(doc, "null_rate.x") == 0


@pytest.mark.parametrize("where", ["sampled", "late"])
def test_non_finite_text_in_the_baseline_keeps_the_field_numeric(tmp_path, monkeypatch, where):
    """Item 3: NaN and infinities (as some writers emit them, as text) are counted and left out of the
    profile's statistics, which are numpy's on the finite values; the field stays numeric."""
    monkeypatch.setattr(fields, "SAMPLE_ROWS", 50)
    ref = finite_rows(400, 8)
    at = [0, 3, 9, 10] if where == "sampled" else [200, 300, 350, 399]
    log = write_jsonl(tmp_path / "ref.jsonl", [line(i, f'{{"x": {t}}}') for i, t in enumerate(with_non_finite(ref, at))])
    doc, _ = save_profile(log, tmp_path / "p.json")
    x, v = doc["fields"]["input.x"], np.array(ref)
    assert x["type"] == "numeric"
    assert (x["count"], x["nulls"], x["type_violations"]) == (v.size, 0, len(at))
    assert x["min"] == v.min() and x["max"] == v.max()
    assert x["mean"] == pytest.approx(v.mean(), rel=1e-12) and x["std"] == pytest.approx(v.std(), rel=1e-12)
    edges = np.quantile(v, np.arange(1, 10) / 10)
    assert x["bins"]["edges"] == pytest.approx(list(edges), rel=1e-12)
    assert x["bins"]["counts"] == np.bincount(np.searchsorted(edges, v, side="left"), minlength=10).tolist()
    assert x["quantiles"] == pytest.approx(list(np.quantile(v, np.linspace(0, 1, 1001))), rel=1e-12)


def test_a_dataset_with_nan_and_infinities(tmp_path):
    """Item 3: a training set (parquet) holds NaN and infinities as floats: type violations, left out."""
    v = finite_rows(100, 9)
    pl.DataFrame({"x": [*v, float("nan"), float("inf"), float("-inf")]}).write_parquet(tmp_path / "train.parquet")
    doc, _ = save_profile(tmp_path / "train.parquet", tmp_path / "p.json")
    x = doc["fields"]["input.x"]
    assert (x["count"], x["type_violations"], x["min"], x["max"]) == (100, 3, min(v), max(v))
    assert x["mean"] == pytest.approx(np.mean(v), rel=1e-12)


def test_a_profile_edited_to_hold_nan_is_damaged(tmp_path):
    """Item 3: NaN or Infinity in a profile (not strict JSON; Python's json reads it) is refused, not used."""
    log = write_jsonl(tmp_path / "ref.jsonl", [line(i, json.dumps({"x": v})) for i, v in enumerate(finite_rows(50, 1))])
    save_profile(log, tmp_path / "p.json")
    profile = tmp_path / "p.json"
    doc = json.loads(profile.read_text())
    doc["fields"]["input.x"]["quantiles"][5] = float("inf")
    profile.write_text(json.dumps(doc))
    assert_one_line_error(invoke("report", log, "--baseline", profile), "is damaged", "quantiles")


def test_a_bare_nan_literal_is_a_bad_line(tmp_path):
    """Item 3: NaN written bare (Python's json.dumps does) is not JSON: the line is skipped as malformed,
    like any other, and the rest are read."""
    lines = [line(i, json.dumps({"x": float(i)})) for i in range(10)] + [line(10, '{"x": NaN}')]
    doc, _ = report_json(write_jsonl(tmp_path / "x.jsonl", lines))
    assert doc["source"]["records"] == 10 and doc["source"]["skipped_by_reason"] == {"malformed JSON": 1}


def regression_case(tmp_path: Path) -> dict:
    rng = np.random.default_rng(4)
    n = 120
    y, p = np.round(rng.normal(100, 20, n), 3), np.round(rng.normal(100, 25, n), 3)
    y_text = [repr(float(v)) for v in y]
    p_text = [repr(float(v)) for v in p]
    for i, bad in zip((3, 17, 40), ("inf", "NaN", "-inf")):
        y_text[i] = bad  # in the labels file
    for i, bad in zip((5, 60), ('"Infinity"', '"NaN"')):
        p_text[i] = bad  # as the model logged it
    write_jsonl(tmp_path / "logs.jsonl", [line(i, '{"a": 1}', f'{{"y": {p_text[i]}}}') for i in range(n)])
    (tmp_path / "labels.csv").write_text("request_id,label\n" + "".join(f"r{i},{y_text[i]}\n" for i in range(n)))
    ok = [i for i in range(n) if i not in (3, 17, 40, 5, 60)]
    return {"y": y[ok], "p": p[ok]}


def test_non_finite_labels_and_predictions_are_left_out_of_regression_metrics(tmp_path):
    """Item 3: an "inf" label made mae and rmse infinite; such a label or prediction is left out like
    a missing one (and said on stderr), and the metrics are scikit-learn's on the rest."""
    case = regression_case(tmp_path)
    doc, stderr = report_json(tmp_path / "logs.jsonl", "--labels", tmp_path / "labels.csv",
                              "--prediction", "output.y", "--task", "regression")
    y, p = case["y"], case["p"]
    assert metric(doc, "mae") == pytest.approx(skm.mean_absolute_error(y, p), rel=1e-9)
    assert metric(doc, "rmse") == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)), rel=1e-9)
    assert metric(doc, "mape") == pytest.approx(skm.mean_absolute_percentage_error(y, p), rel=1e-9)
    assert metric(doc, "label_coverage") == 1.0
    assert "3 labelled requests have a label that is not a finite number" in stderr
    assert "2 labelled requests have a prediction that is not a finite number" in stderr


def test_non_finite_scores_are_left_out_of_roc_auc_and_log_loss(tmp_path):
    """Item 3: the score of the positive class, logged as "NaN" or an infinity, is left out like a missing one."""
    rng = np.random.default_rng(12)
    n = 150
    truth = rng.choice(["yes", "no"], n)
    score = np.round(np.clip(rng.normal(np.where(truth == "yes", 0.65, 0.35), 0.2), 0.01, 0.99), 3)
    texts = [repr(float(s)) for s in score]
    bad = {4: '"NaN"', 50: '"Infinity"', 99: '"-inf"'}
    texts = [bad.get(i, t) for i, t in enumerate(texts)]
    write_jsonl(tmp_path / "logs.jsonl", [line(i, '{"a": 1}', f'{{"label": "{truth[i]}", "p": {texts[i]}}}')
                                          for i in range(n)])
    (tmp_path / "labels.csv").write_text("request_id,label\n" + "".join(f"r{i},{truth[i]}\n" for i in range(n)))
    doc, stderr = report_json(tmp_path / "logs.jsonl", "--labels", tmp_path / "labels.csv", "--score", "output.p",
                              "--positive-label", "yes")
    ok = [i for i in range(n) if i not in bad]
    y, s = (truth[ok] == "yes").astype(int), score[ok]
    assert metric(doc, "roc_auc") == pytest.approx(skm.roc_auc_score(y, s), rel=1e-9)
    assert metric(doc, "log_loss") == pytest.approx(skm.log_loss(y, s), rel=1e-9)
    assert metric(doc, "accuracy") == 1.0  # the predictions are the truth; only the scores are odd
    assert "3 labelled requests have a score that is not a finite number" in stderr


def test_non_finite_values_through_the_installed_command(tmp_path):
    """Item 3, as a user runs it: the JSON is strict, and the violations are counted."""
    ref = finite_rows(100, 1)
    write_jsonl(tmp_path / "ref.jsonl", [line(i, json.dumps({"x": v})) for i, v in enumerate(ref)])
    texts = with_non_finite(finite_rows(60, 2), [1, 2, 3])
    write_jsonl(tmp_path / "cur.jsonl", [line(i, f'{{"x": {t}}}') for i, t in enumerate(texts)])
    done = entry_point("report", tmp_path / "cur.jsonl", "--baseline", tmp_path / "ref.jsonl", "--now", NOW,
                       "--format", "json")
    assert done.returncode == 0, done.stderr
    assert metric(strict_json(done.stdout), "type_violation_rate.x") == pytest.approx(3 / 63)


# --- item 15: too many fields --------------------------------------------------------------------

def many_keys(n: int, unique: int = 20, nested: bool = False) -> list[dict]:
    """Requests with ``unique`` keys of their own each, plus ``a`` in every one and ``b`` in every other."""
    out = []
    for i in range(n):
        req: dict = {f"k{i}_{j}": j for j in range(unique)}
        if nested:
            req = {"u": req}
        req["a"] = float(i)
        if i % 2 == 0:
            req["b"] = i % 7
        out.append(req)
    return out


def kept_by_oracle(requests: list[dict], max_fields: int, prefix: str = "input.") -> set[str]:
    """The fields held by the most records, ties by name: counted in plain Python."""
    counts: Counter = Counter()
    for req in requests:
        stack = [((), req)]
        while stack:
            path, obj = stack.pop()
            for key, value in obj.items():
                if isinstance(value, dict):
                    stack.append(((*path, key), value))
                elif value is not None:
                    counts[".".join((*path, key))] += 1
    ranked = sorted(counts, key=lambda name: (-counts[name], name))
    return {prefix + name for name in ranked[:max_fields]}


def write_requests(path: Path, requests: list[dict]) -> Path:
    return write_jsonl(path, [line(i, json.dumps(req)) for i, req in enumerate(requests)])


@pytest.mark.parametrize("nested", [False, True], ids=["top level", "nested"])
def test_a_profile_keeps_the_most_frequent_fields_and_says_how_many_it_left_out(tmp_path, nested):
    """Item 15: 20 new keys a line took 16.7 s for 100 lines and 4.5 GB for 5,000; now at most
    --max-fields are profiled, chosen by frequency then name, and the rest are counted."""
    requests = many_keys(300, nested=nested)
    log = write_requests(tmp_path / "many.jsonl", requests)
    doc, stderr = save_profile(log, tmp_path / "p.json", "--max-fields", "10")
    inputs = {name for name in doc["fields"] if name.startswith("input.")}
    assert inputs == kept_by_oracle(requests, 10)
    left_out = 300 * 20 + 2 - 10
    assert doc["fields_left_out"] == left_out
    assert f"mlmon: warning: too many request fields: {left_out:,} left out" in stderr
    a = doc["fields"]["input.a"]
    assert (a["count"], a["min"], a["max"], a["mean"]) == (300, 0, 299, pytest.approx(np.mean(np.arange(300))))


def test_the_default_bound_is_1000_fields(tmp_path):
    """Item 15: without --max-fields, 1,000 request fields are kept and the rest counted."""
    requests = many_keys(60)  # 1,202 distinct keys
    doc, stderr = save_profile(write_requests(tmp_path / "many.jsonl", requests), tmp_path / "p.json")
    assert {name for name in doc["fields"] if name.startswith("input.")} == kept_by_oracle(requests, 1000)
    assert "too many request fields: 202 left out, the 1,000 held by the most records are kept" in stderr


def test_a_report_names_what_it_left_out_and_keeps_the_fields_it_is_asked_for(tmp_path):
    """Item 15: the JSON's baseline section counts the fields left out of the baseline and of the logs;
    a --by field is decoded however rare, and so is every field of the baseline."""
    base = many_keys(200)
    for req in base:
        req.update({"z1": 1.0, "z2": 2.0})  # frequent in the baseline
    save_profile(write_requests(tmp_path / "base.jsonl", base), tmp_path / "p.json", "--max-fields", "5")
    current = many_keys(100)
    current[0].update({"z1": 1.0, "z2": 3.0})  # rare in the logs: ranked far below the bound there
    log = write_requests(tmp_path / "cur.jsonl", current)
    doc, stderr = report_json(log, "--baseline", tmp_path / "p.json", "--max-fields", "5", "--by", "input.k3_1")
    assert doc["baseline"]["max_fields"] == 5
    assert doc["baseline"]["fields_left_out"] == {"baseline": 200 * 20 + 4 - 5, "logs": 100 * 20 + 4 - 5 - 1}
    assert "mlmon: warning: too many request fields" in stderr
    assert set(doc["baseline"]["fields"]) >= {"input.z1", "input.z2", "input.a", "input.b"}
    by_segment = {w["segment"]["input.k3_1"]: w["metrics"] for w in doc["windows"]}
    assert set(by_segment) == {None, 1}
    # z1 is in 1 of the 100 requests: its null rate is that of the logs, not 1 for a field never decoded.
    assert by_segment[1]["null_rate.z1"] == 1.0 and by_segment[None]["null_rate.z1"] == pytest.approx(98 / 99)
    assert doc["baseline"]["schema_changes"]["removed"] == []


def test_check_with_too_many_fields(tmp_path):
    """Item 15: check decodes within the bound too, and a rule's field is kept whatever its rank."""
    log = write_requests(tmp_path / "cur.jsonl", many_keys(150))
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: a-nulls\n    expr: null_rate.a > 0.5\n    severity: warning\n"
                     "  - name: rare\n    expr: error_rate > 0.5\n    by: [input.k7_3]\n    severity: info\n")
    result = invoke("check", log, "--rules", rules, "--baseline-range", "2026-11-27T10:00Z..2026-11-27T10:01Z",
                    "--now", NOW, "--max-fields", "3", "--format", "json")
    assert result.exit_code == 0, result.output
    assert "too many request fields" in result.stderr and "baseline: too many request fields" in result.stderr


def test_a_dataset_with_too_many_columns(tmp_path):
    """Item 15: a training set's columns are bounded the same way: the fullest first, ties by name."""
    frame = pl.DataFrame({f"c{i:02d}": [float(j) if j % (i + 1) == 0 else None for j in range(40)] for i in range(30)})
    frame.write_parquet(tmp_path / "train.parquet")
    doc, stderr = save_profile(tmp_path / "train.parquet", tmp_path / "p.json", "--max-fields", "4")
    assert set(doc["fields"]) == {"input.c00", "input.c01", "input.c02", "input.c03"}
    assert doc["fields_left_out"] == 26 and "26 left out" in stderr


def test_decoding_is_bounded_whatever_the_number_of_keys():
    """Item 15: 3,000 records of 20 keys of their own give 60,000 keys; decoding gives the bound's
    columns, the ones Python's own count ranks first."""
    from mlmon.logs.field_limit import FieldLimit

    requests = many_keys(3000)
    limit = FieldLimit(50)
    columns = decode_objects(pl.Series([json.dumps(r) for r in requests]), "input.", limit)
    assert {c.name for c in columns} == kept_by_oracle(requests, 50)
    assert limit.left_out == {"input.": 3000 * 20 + 2 - 50}
    a = next(c for c in columns if c.name == "input.a")
    assert a.to_list() == [float(i) for i in range(3000)]


def test_too_many_fields_through_the_installed_command(tmp_path):
    """Item 15, as a user runs it: the warning names the count, and the option is in --help."""
    log = write_requests(tmp_path / "many.jsonl", many_keys(100))
    done = entry_point("baseline", "save", log, "-o", tmp_path / "p.json", "--max-fields", "25", "--now", NOW)
    assert done.returncode == 0, done.stderr
    assert "too many request fields: 1,977 left out, the 25 held by the most records are kept" in done.stderr
    for command in (["report"], ["check"], ["baseline", "save"]):
        assert "--max-fields" in invoke(*command, "--help").stdout


def test_a_named_field_is_decoded_inside_a_rare_object_among_many():
    """Item 15: objects as values, each key its own (20,000 objects): a field the command names, inside
    the rarest object, is still decoded, and the count of fields left out takes in the unopened objects."""
    from mlmon.logs.field_limit import FieldLimit

    requests = [{f"k{i}_{j}": {"v": j} for j in range(20)} for i in range(1000)]
    requests[700]["zz"] = {"rare": 7.5}
    limit = FieldLimit(3, frozenset({"input.zz.rare"}))
    columns = {c.name: c for c in decode_objects(pl.Series([json.dumps(r) for r in requests]), "input.", limit)}
    assert set(columns) == kept_by_oracle(requests, 3) | {"input.zz.rare"}
    assert columns["input.zz.rare"].drop_nulls().to_list() == [7.5]
    assert limit.left_out == {"input.": 20_000 + 1 - 4}


def test_the_records_that_type_the_kept_fields_may_hold_any_valid_json():
    """Item 15: the kept fields' types come from their first records, re-read in Python; a lone
    surrogate escape (valid JSON, not valid text for Polars) or keys inside lists must not stop it."""
    from mlmon.logs.field_limit import FieldLimit

    requests = [f'{{"k{i}": "a\\ud800b", "l": [{{"q{i}": 1}}], "n": {i}}}' for i in range(60)]
    limit = FieldLimit(5)
    columns = {c.name: c for c in decode_objects(pl.Series(requests), "input.", limit)}
    assert columns["input.n"].to_list() == list(range(60))
    # A list is one field, its JSON text (issue 16), held by every record; the keys inside it are not fields.
    assert columns["input.l"].to_list() == [f'[{{"q{i}":1}}]' for i in range(60)] and len(columns) == 5
    assert limit.left_out == {"input.": 62 - 5}


def test_objects_nested_deeper_than_16_keys_are_one_text_field(tmp_path):
    """A request holding a 100-level object took 34 s to profile (a pass per level of the decoded struct);
    below 16 keys the object is now one field holding its JSON text, the same in profiles and reports."""
    deep: object = {"v": 1}
    for _ in range(100):
        deep = {"k": deep}
    rows = [{"ts": f"2026-11-27T10:0{i}:00Z", "request": {"a": i, "d": deep}} for i in range(3)]
    log = write_jsonl(tmp_path / "deep.jsonl", rows)
    name = "input.d" + ".k" * 15  # 16 keys below the request
    assert fields.MAX_FIELD_DEPTH == 16
    result = invoke("baseline", "save", log, "-o", tmp_path / "p.json")
    assert result.exit_code == 0, result.stderr
    profile = json.loads((tmp_path / "p.json").read_text())
    assert sorted(profile["fields"]) == ["input.a", name]
    assert profile["fields"][name]["type"] == "categorical"
    (value,) = profile["fields"][name]["frequencies"]
    assert json.loads(value) == _at_depth(deep, 16)
    report = invoke("report", log, "--baseline", tmp_path / "p.json", "--format", "json")
    assert report.exit_code == 0 and json.loads(report.stdout)["windows"][0]["metrics"][f"psi.{name[6:]}"] == 0.0


def _at_depth(value, depth: int):
    for _ in range(depth - 1):
        value = value["k"]
    return value
