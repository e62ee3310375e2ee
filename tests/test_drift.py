"""Drift and data quality against scipy/numpy oracles (issue 5).

Seeded synthetic logs (numpy RNG) are written as JSONL: a reference file and a current file
with two hourly windows and two model versions. ``mlmon report --baseline ... --every 1h --by
model_version --format json`` is compared, window by window and segment by segment, with
scipy on the very values that were written: KS statistic and asymptotic p-value, normalized
Wasserstein distance, PSI over the reference's deciles, the chi-square p-value, the
Jensen–Shannon distance and the new-category rate. The unit functions of
``mlmon.metrics.stats`` are checked against scipy on grids. Then the default test per
field (p-values up to 1,000 reference values, distances above), identifiers, and the data
quality metrics.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon
from typer.testing import CliRunner

from conftest import record, write_jsonl
from mlmon.baseline.reference import reference_from_frame
from mlmon.cli import app
from mlmon.metrics.drift import group_metrics
from mlmon.metrics.stats import chi2_contingency_pvalue, chi2_sf, js_distance, kolmogorov_sf, psi

runner = CliRunner()
UTC = timezone.utc
EPS = 1e-4
NUMERIC = ("x", "k", "output.score")
CATEGORICAL = ("c", "output.label")
HOURS = (datetime(2026, 11, 27, 10, tzinfo=UTC), datetime(2026, 11, 27, 11, tzinfo=UTC))
REF_DAY = datetime(2026, 11, 20, tzinfo=UTC)
# current rows per (window, version): all >= 500, so the asymptotic KS p-value is compared at rel 0.05
SIZES = {(0, "v1"): 520, (0, "v2"): 640, (1, "v1"): 700, (1, "v2"): 560}


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def report_json(*args) -> dict:
    result = invoke("report", *args, "--format", "json")
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return json.loads(result.stdout)


def ts_text(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


# --- generated data ---------------------------------------------------------------------


K_VALUES = np.arange(8)
K_REF_P = np.array([0.45, 0.2, 0.1, 0.1, 0.05, 0.05, 0.05, 0.0])  # ties: several deciles coincide, empty bins


def make_rows(rng: np.random.Generator, n: int, start: datetime, version: str, *, shift: float = 0.0,
              drifted: bool = False, prefix: str = "r", null_share: float = 0.02) -> list[dict]:
    """``n`` records in the hour from ``start``; ``drifted`` moves every field's distribution."""
    seconds = np.sort(rng.uniform(0, 3600, n))
    x = np.round(rng.normal(50 + shift, 10, n), 4)
    k_p = K_REF_P if not drifted else np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.05])
    k = rng.choice(K_VALUES, n, p=k_p)
    cats, c_p = ["DE", "US", "FR", "GB", "ES"], [0.3, 0.25, 0.2, 0.15, 0.1]
    if drifted:
        cats, c_p = ["DE", "US", "FR", "GB", "NL"], [0.25, 0.25, 0.2, 0.2, 0.1]  # ES gone, NL new
    c = rng.choice(cats, n, p=c_p)
    score = np.round(rng.beta(2, 5 if not drifted else 3, n), 4)
    x_null = rng.uniform(size=n) < null_share
    c_null = rng.uniform(size=n) < null_share
    rows = []
    for i in range(n):
        request = {"customer_id": f"{prefix}{version}{start:%d%H}-{i:05d}", "k": int(k[i])}
        if not x_null[i]:
            request["x"] = float(x[i])
        request["c"] = None if c_null[i] else str(c[i])
        rows.append(record(
            ts=ts_text(start + timedelta(seconds=float(seconds[i]))),
            request_id=f"{prefix}-{version}-{start:%d%H}-{i}",
            model_version=version,
            request=request,
            response={"score": float(score[i]), "label": "churn" if score[i] >= 0.5 else "stay"},
        ))
    return rows


def values(rows: list[dict], field: str) -> list:
    """The non-null values of ``field`` (``x`` for inputs, ``output.score`` for outputs) as written."""
    if field.startswith("output."):
        out = [r["response"].get(field[7:]) for r in rows]
    else:
        out = [r["request"].get(field) for r in rows]
    return [v for v in out if v is not None]


def reference_rows(n: int, seed: int = 7) -> list[dict]:
    return make_rows(np.random.default_rng(seed), n, REF_DAY, "v1", prefix="ref")


def current_rows(seed: int = 11) -> dict[tuple[int, str], list[dict]]:
    rng = np.random.default_rng(seed)
    out = {}
    for (w, version), n in SIZES.items():
        v2 = version == "v2"
        out[(w, version)] = make_rows(rng, n, HOURS[w], version, shift=3.0 if v2 else 0.0, drifted=v2)
    return out


# --- oracles ------------------------------------------------------------------------------


def psi_numeric(ref, cur) -> float:
    """PSI over 10 bins at the reference's linear-interpolation deciles: (-inf, q1], (q1, q2], ..., (q9, inf)."""
    ref, cur = np.asarray(ref, float), np.asarray(cur, float)
    edges = np.quantile(ref, np.arange(1, 10) / 10)  # numpy's default method is "linear"
    r = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=10) / ref.size
    c = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=10) / cur.size
    r, c = np.where(r == 0, EPS, r), np.where(c == 0, EPS, c)
    return float(np.sum((c - r) * np.log(c / r)))


def numeric_bins_empty(ref, cur) -> tuple[int, int]:
    ref, cur = np.asarray(ref, float), np.asarray(cur, float)
    edges = np.quantile(ref, np.arange(1, 10) / 10)
    r = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=10)
    c = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=10)
    return int((r == 0).sum()), int((c == 0).sum())


def categorical_oracle(ref: list[str], cur: list[str]) -> dict[str, float]:
    cats = sorted(set(ref) | set(cur))
    r = np.array([ref.count(c) for c in cats], float)
    c = np.array([cur.count(k) for k in cats], float)
    rp, cp = r / r.sum(), c / c.sum()
    rp_e, cp_e = np.where(rp == 0, EPS, rp), np.where(cp == 0, EPS, cp)
    known = set(ref)
    return {
        "chi2_pvalue": float(stats.chi2_contingency(np.array([r, c]), correction=False).pvalue),
        "js": float(jensenshannon(rp, cp)),
        "new_category_rate": sum(1 for v in cur if v not in known) / len(cur),
        "psi": float(np.sum((cp_e - rp_e) * np.log(cp_e / rp_e))),
    }


def numeric_oracle(ref, cur) -> dict[str, float]:
    ref, cur = np.asarray(ref, float), np.asarray(cur, float)
    return {
        "ks": float(stats.ks_2samp(ref, cur).statistic),
        "ks_pvalue": float(stats.ks_2samp(ref, cur, method="asymp").pvalue),
        "wasserstein_norm": float(stats.wasserstein_distance(ref, cur) / np.std(ref)),
        "psi": psi_numeric(ref, cur),
        "out_of_range_rate": float(((cur < ref.min()) | (cur > ref.max())).mean()),
    }


def windows_by_key(doc: dict) -> dict[tuple[int, str], dict]:
    out = {}
    for w in doc["windows"]:
        start = datetime.fromisoformat(w["start"].replace("Z", "+00:00"))
        out[(HOURS.index(start), w["segment"]["model_version"])] = w["metrics"]
    return out


# --- the report against scipy -----------------------------------------------------------------


@pytest.fixture(scope="module", params=[800, 3000], ids=["ref800-pvalues", "ref3000-distances"])
def drift_case(request, tmp_path_factory):
    """(reference rows, current rows per window and version, the report's JSON)."""
    tmp = tmp_path_factory.mktemp(f"drift{request.param}")
    ref = reference_rows(request.param)
    cur = current_rows()
    write_jsonl(tmp / "ref.jsonl", ref)
    write_jsonl(tmp / "cur.jsonl", [r for rows in cur.values() for r in rows])
    doc = report_json(tmp / "cur.jsonl", "--baseline", tmp / "ref.jsonl", "--every", "1h", "--by", "model_version")
    return ref, cur, doc


def test_report_has_every_window_and_segment(drift_case):
    _, cur, doc = drift_case
    got = windows_by_key(doc)
    assert set(got) == set(cur)
    for key, metrics in got.items():
        assert metrics["request_count"] == len(cur[key])


@pytest.mark.parametrize("field", NUMERIC)
def test_numeric_drift_agrees_with_scipy(drift_case, field):
    ref, cur, doc = drift_case
    name = field  # per-field metric names: input fields without "input.", outputs with "output."
    ref_values = values(ref, field)
    for key, metrics in windows_by_key(doc).items():
        expected = numeric_oracle(ref_values, values(cur[key], field))
        where = f"{name} in window {key}"
        assert metrics[f"ks.{name}"] == pytest.approx(expected["ks"], rel=1e-11, abs=1e-15), where  # JSON keeps 12 significant digits
        # within 5 % of scipy's asymptotic p-value down to 1e-4 (the decision region); Stephens' formula
        # drifts to ~7 % in the far tail (1e-5..1e-12), where the decision at 0.05 is the same anyway
        tail = expected["ks_pvalue"] < 1e-4
        assert metrics[f"ks_pvalue.{name}"] == pytest.approx(expected["ks_pvalue"], rel=0.08 if tail else 0.05), where
        assert (metrics[f"ks_pvalue.{name}"] < 0.05) == (expected["ks_pvalue"] < 0.05), where
        assert metrics[f"wasserstein_norm.{name}"] == pytest.approx(expected["wasserstein_norm"], rel=1e-9), where
        assert metrics[f"psi.{name}"] == pytest.approx(expected["psi"], rel=1e-9, abs=1e-12), where
        assert metrics[f"out_of_range_rate.{name}"] == pytest.approx(expected["out_of_range_rate"], abs=1e-12), where


def test_psi_with_empty_bins_agrees_with_numpy(drift_case):
    """``k`` is an integer with ties: several reference deciles coincide, so some bins are empty (epsilon 1e-4)."""
    ref, cur, doc = drift_case
    ref_k = values(ref, "k")
    empty_ref, _ = numeric_bins_empty(ref_k, ref_k)
    assert empty_ref >= 2  # the case really has empty reference bins
    got = windows_by_key(doc)
    empty_current = 0
    for key, metrics in got.items():
        cur_k = values(cur[key], "k")
        empty_current += numeric_bins_empty(ref_k, cur_k)[1]
        assert metrics["psi.k"] == pytest.approx(psi_numeric(ref_k, cur_k), rel=1e-9, abs=1e-12)
    assert empty_current > 0


@pytest.mark.parametrize("field", CATEGORICAL)
def test_categorical_drift_agrees_with_scipy(drift_case, field):
    ref, cur, doc = drift_case
    ref_values = values(ref, field)
    for key, metrics in windows_by_key(doc).items():
        expected = categorical_oracle(ref_values, values(cur[key], field))
        where = f"{field} in window {key}"
        assert metrics[f"chi2_pvalue.{field}"] == pytest.approx(expected["chi2_pvalue"], rel=1e-9, abs=1e-300), where
        assert metrics[f"js.{field}"] == pytest.approx(expected["js"], rel=1e-9, abs=1e-12), where
        assert metrics[f"new_category_rate.{field}"] == pytest.approx(expected["new_category_rate"], abs=1e-12), where
        assert metrics[f"psi.{field}"] == pytest.approx(expected["psi"], rel=1e-9, abs=1e-12), where


def test_new_categories_are_counted(drift_case):
    """v2 sends NL, never seen in the reference, and no longer ES: PSI uses epsilon for both."""
    _, cur, doc = drift_case
    got = windows_by_key(doc)
    for w in (0, 1):
        nl = values(cur[(w, "v2")], "c").count("NL") / len(values(cur[(w, "v2")], "c"))
        assert got[(w, "v2")]["new_category_rate.c"] == pytest.approx(nl) and nl > 0.05
        assert got[(w, "v1")]["new_category_rate.c"] == 0


def test_null_rates_count_missing_and_null_values(drift_case):
    _, cur, doc = drift_case
    for key, metrics in windows_by_key(doc).items():
        rows = cur[key]
        assert metrics["null_rate.x"] == pytest.approx(sum("x" not in r["request"] for r in rows) / len(rows))
        assert metrics["null_rate.c"] == pytest.approx(sum(r["request"]["c"] is None for r in rows) / len(rows))
        assert metrics["null_rate.k"] == 0 and metrics["null_rate.output.score"] == 0
        assert metrics["type_violation_rate.x"] == 0


def test_default_method_and_drifted_flags(drift_case):
    ref, _, doc = drift_case
    small = len(ref) <= 1000
    fields = doc["baseline"]["fields"]
    for f in ("input.x", "input.k", "output.score"):
        assert fields[f] == {"type": "numeric", "method": "ks_pvalue" if small else "wasserstein_norm"}
    for f in ("input.c", "output.label"):
        assert fields[f] == {"type": "categorical", "method": "chi2_pvalue" if small else "js"}
    assert fields["input.customer_id"] == {"type": "identifier", "method": None}
    for key, metrics in windows_by_key(doc).items():
        flags = []
        for f in NUMERIC + CATEGORICAL:
            if f in NUMERIC:
                value = metrics[f"ks_pvalue.{f}"] if small else metrics[f"wasserstein_norm.{f}"]
            else:
                value = metrics[f"chi2_pvalue.{f}"] if small else metrics[f"js.{f}"]
            expected = int(value < 0.05) if small else int(value >= 0.1)
            assert metrics[f"drifted.{f}"] == expected, (key, f, value)
            flags.append(expected)
        assert metrics["drift_share"] == pytest.approx(sum(flags) / len(flags)), key
        # the scripted shift: v2 drifts on x, k, c and the score; v1 on nothing
        if key[1] == "v2":
            assert all(metrics[f"drifted.{f}"] == 1 for f in ("x", "k", "c", "output.score")), key
        else:
            assert metrics["drift_share"] == 0, key


def test_identifier_only_gets_a_null_rate(drift_case):
    _, _, doc = drift_case
    for metrics in windows_by_key(doc).values():
        ident = [k for k in metrics if k.endswith(".customer_id")]
        assert ident == ["null_rate.customer_id"]
        assert metrics["null_rate.customer_id"] == 0


def test_field_metric_names(drift_case):
    _, _, doc = drift_case
    metrics = next(iter(windows_by_key(doc).values()))
    for f in NUMERIC:
        for m in ("psi", "ks", "ks_pvalue", "wasserstein_norm", "null_rate", "type_violation_rate",
                  "out_of_range_rate", "drifted"):
            assert f"{m}.{f}" in metrics
        for m in ("chi2_pvalue", "js", "new_category_rate"):
            assert f"{m}.{f}" not in metrics
    for f in CATEGORICAL:
        for m in ("psi", "chi2_pvalue", "js", "new_category_rate", "null_rate", "drifted"):
            assert f"{m}.{f}" in metrics
        for m in ("ks", "ks_pvalue", "wasserstein_norm", "out_of_range_rate", "type_violation_rate"):
            assert f"{m}.{f}" not in metrics
    assert "input.x" not in " ".join(metrics)  # inputs are named without the prefix
    for m in ("drift_share", "duplicate_request_id_rate", "schema_fields_added", "schema_fields_removed"):
        assert m in metrics


# --- unit functions against scipy ----------------------------------------------------------


CHI2_DOFS = [1, 2, 3, 4, 5, 7, 10, 20, 50, 99, 100, 101, 199, 500, 1000, 5000, 10_000, 100_000, 1_000_000]


@pytest.mark.parametrize("dof", CHI2_DOFS)
def test_chi2_sf_agrees_with_scipy(dof):
    grid = [dof * f for f in (1e-3, 0.01, 0.1, 0.3, 0.5, 0.8, 0.9, 1.0, 1.1, 1.2, 1.5, 2, 3, 5)]
    grid += [dof + z * math.sqrt(2 * dof) for z in (-3, -1, -0.1, 0.1, 1, 3, 5)]
    grid += [0.5, 1.0, 3.84, 10.0, 50.0]
    for x in grid:
        if x <= 0:
            continue
        expected = stats.chi2.sf(x, dof)
        if expected < 1e-300:
            assert chi2_sf(x, dof) < 1e-290
            continue
        assert chi2_sf(x, dof) == pytest.approx(expected, rel=1e-8, abs=1e-300), (x, dof)


def test_chi2_sf_edges():
    assert chi2_sf(0.0, 3) == 1.0
    assert chi2_sf(-1.0, 3) == 1.0
    assert chi2_sf(5.0, 0) == 1.0
    assert chi2_sf(2000.0, 1) == pytest.approx(stats.chi2.sf(2000.0, 1), abs=1e-300)


def lam(d: float, n1: int, n2: int) -> float:
    en = math.sqrt(n1 * n2 / (n1 + n2))
    return (en + 0.12 + 0.11 / en) * d


@pytest.mark.parametrize("n1,n2", [(500, 500), (800, 600), (3000, 700), (100, 100), (20, 30), (10_000, 10_000)])
def test_kolmogorov_sf_is_kstwobign_with_stephens_correction(n1, n2):
    for d in np.linspace(0.0, 1.0, 401):
        x = lam(d, n1, n2)
        if x < 0.2:  # see test_kolmogorov_sf_small_lambda
            continue
        assert kolmogorov_sf(d, n1, n2) == pytest.approx(stats.kstwobign.sf(x), rel=1e-9, abs=1e-15), (d, n1, n2)


@pytest.mark.parametrize("d,n1,n2", [(1e-4, 10_000, 10_000), (1e-5, 2, 2), (0.001, 50, 50), (2e-5, 1000, 100_000)])
def test_kolmogorov_sf_small_lambda(d, n1, n2):
    assert kolmogorov_sf(d, n1, n2) == pytest.approx(stats.kstwobign.sf(lam(d, n1, n2)), rel=1e-6)


def test_nearly_identical_samples_do_not_drift():
    """A reference of 1,000 values and a current window holding them 100 times over, minus one value."""
    ref = np.arange(1000, dtype=float)
    cur = np.concatenate([np.repeat(ref, 100)[1:]])
    reference = reference_from_frame(pl.DataFrame({"input.v": ref}))
    metrics = group_metrics(pl.DataFrame({"input.v": cur}), reference)
    expected = stats.ks_2samp(ref, cur, method="asymp")
    assert metrics["ks.v"] == pytest.approx(expected.statistic, rel=1e-12)
    assert metrics["ks_pvalue.v"] == pytest.approx(expected.pvalue, rel=0.05)  # scipy: 1.0
    assert metrics["drifted.v"] == 0


@pytest.mark.parametrize("n1,n2", [(500, 500), (800, 640), (3000, 560), (1000, 2000)])
@pytest.mark.parametrize("p", [0.9, 0.5, 0.2, 0.05, 0.01, 1e-3, 1e-4, 1e-6, 1e-8, 1e-10])
def test_kolmogorov_sf_is_close_to_ks_2samp_asymp(n1, n2, p):
    """scipy's asymptotic p-value is the exact one-sample distribution at n1*n2/(n1+n2): within 5 % down to
    p = 1e-4, within 8 % in the far tail (measured worst: 7 % around 1e-7..1e-12)."""
    en = n1 * n2 / (n1 + n2)
    d = stats.kstwo.isf(p, round(en))
    assert kolmogorov_sf(d, n1, n2) == pytest.approx(stats.kstwo.sf(d, round(en)), rel=0.05 if p >= 1e-4 else 0.08)


def test_kolmogorov_sf_on_samples_matches_ks_2samp():
    rng = np.random.default_rng(3)
    for shift in (0.0, 0.05, 0.1, 0.2, 0.3):
        a, b = rng.normal(0, 1, 900), rng.normal(shift, 1, 700)
        res = stats.ks_2samp(a, b, method="asymp")
        assert kolmogorov_sf(res.statistic, 900, 700) == pytest.approx(res.pvalue, rel=0.05), shift
    assert math.isnan(kolmogorov_sf(0.1, 0, 10))
    assert kolmogorov_sf(0.0, 10, 10) == 1.0


def test_chi2_contingency_js_and_psi_units():
    rng = np.random.default_rng(5)
    for k in (2, 3, 5, 12, 60, 250):
        r = rng.integers(50, 500, k).astype(float)  # every non-empty proportion >= 1e-4, above the floor
        c = rng.integers(50, 500, k).astype(float)
        r[0], c[1] = 0, 0  # a category only in the current data, one only in the reference
        table = np.array([r, c])
        assert chi2_contingency_pvalue(list(r), list(c)) == pytest.approx(
            stats.chi2_contingency(table, correction=False).pvalue, rel=1e-9, abs=1e-300), k
        assert js_distance(list(r), list(c)) == pytest.approx(jensenshannon(r, c), rel=1e-9, abs=1e-12)
        rp, cp = r / r.sum(), c / c.sum()
        rp_e, cp_e = np.where(rp == 0, EPS, rp), np.where(cp == 0, EPS, cp)
        assert psi(list(rp), list(cp)) == pytest.approx(float(np.sum((cp_e - rp_e) * np.log(cp_e / rp_e))), rel=1e-12)
    # a column empty in both is ignored; a single category is no evidence of drift
    assert chi2_contingency_pvalue([10, 0, 5], [3, 0, 9]) == pytest.approx(
        stats.chi2_contingency([[10, 5], [3, 9]], correction=False).pvalue)
    assert chi2_contingency_pvalue([10], [3]) == 1.0
    assert js_distance([1, 0], [0, 1]) == pytest.approx(jensenshannon([1, 0], [0, 1]))


def test_psi_replaces_only_empty_proportions(tmp_path):
    ref = ["a"] * 10_000 + ["b"] * 10_000
    cur = ["a"] * 10_000 + ["b"] * 9_999 + ["c"]  # 'c' is new: 1 of 20,000
    reference = reference_from_frame(pl.DataFrame({"input.cat": ref}))
    metrics = group_metrics(pl.DataFrame({"input.cat": cur}), reference)
    assert metrics["psi.cat"] == pytest.approx(categorical_oracle(ref, cur)["psi"], rel=1e-9)


def _psi_by_hand(ref_counts: list[int], cur_counts: list[int]) -> float:
    """PSI as README "Drift" defines it, written out: proportions per bin, an empty bin (and only an
    empty one) counted as 0.0001, then the sum of (cur - ref) * ln(cur / ref)."""
    total = 0.0
    for r, c in zip(ref_counts, cur_counts):
        rp = r / sum(ref_counts) or 0.0001
        cp = c / sum(cur_counts) or 0.0001
        total += (cp - rp) * math.log(cp / rp)
    return total


@pytest.mark.parametrize("ref_counts, cur_counts", [
    ([0, 0, 50, 50], [10, 20, 30, 40]),  # two bins empty in the reference
    ([10, 20, 30, 40], [0, 60, 0, 40]),  # two empty in the current data
    ([0, 30, 0, 70, 5], [25, 0, 25, 50, 0]),  # empty bins on both sides, none shared
    ([0, 1, 99_999], [1, 0, 199_999]),  # proportions of 1e-5 and 5e-6: not empty, so not floored
    ([0, 5, 5], [0, 5, 5]),  # a bin empty on both sides adds nothing
])
def test_psi_floors_each_empty_bin_on_either_side(ref_counts, cur_counts):
    expected = _psi_by_hand(ref_counts, cur_counts)
    ref_p = [r / sum(ref_counts) for r in ref_counts]
    cur_p = [c / sum(cur_counts) for c in cur_counts]
    assert psi(ref_p, cur_p) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # The same through the categorical drift of a report: a category per bin.
    ref = [f"k{i}" for i, n in enumerate(ref_counts) for _ in range(n)]
    cur = [f"k{i}" for i, n in enumerate(cur_counts) for _ in range(n)]
    reference = reference_from_frame(pl.DataFrame({"input.cat": ref}))
    metrics = group_metrics(pl.DataFrame({"input.cat": cur}), reference)
    seen = [i for i, (r, c) in enumerate(zip(ref_counts, cur_counts)) if r or c]  # categories present somewhere
    assert metrics["psi.cat"] == pytest.approx(_psi_by_hand([ref_counts[i] for i in seen], [cur_counts[i] for i in seen]),
                                               rel=1e-9, abs=1e-15)


# --- default method thresholds, identifiers ---------------------------------------------------------


@pytest.mark.parametrize("n,numeric_method,categorical_method", [
    (1000, "ks_pvalue", "chi2_pvalue"),
    (1001, "wasserstein_norm", "js"),
])
def test_method_switches_above_1000_reference_values(tmp_path, n, numeric_method, categorical_method):
    rows = [record(ts=ts_text(REF_DAY + timedelta(seconds=i)), request_id=f"b{i}",
                   request={"v": i % 37, "cat": "abc"[i % 3], "sparse": None if i >= 999 else i},
                   response={"p": (i % 101) / 100}) for i in range(n)]
    write_jsonl(tmp_path / "ref.jsonl", rows)
    write_jsonl(tmp_path / "cur.jsonl", rows[:50])
    doc = report_json(tmp_path / "cur.jsonl", "--baseline", tmp_path / "ref.jsonl")
    fields = doc["baseline"]["fields"]
    assert fields["input.v"]["method"] == numeric_method
    assert fields["output.p"]["method"] == numeric_method
    assert fields["input.cat"]["method"] == categorical_method
    # counted over non-null values: 999 values of 'sparse' are "at most 1,000"
    assert fields["input.sparse"]["method"] == "ks_pvalue"


@pytest.mark.parametrize("distinct,kind", [(200, "categorical"), (201, "identifier")])
def test_more_than_200_distinct_texts_make_an_identifier(tmp_path, distinct, kind):
    rows = [record(ts=ts_text(REF_DAY + timedelta(seconds=i)), request_id=f"i{i}",
                   request={"code": f"K{i % distinct:04d}", "n": i}) for i in range(600)]
    write_jsonl(tmp_path / "ref.jsonl", rows)
    write_jsonl(tmp_path / "cur.jsonl", rows[:100])
    doc = report_json(tmp_path / "cur.jsonl", "--baseline", tmp_path / "ref.jsonl")
    assert doc["baseline"]["fields"]["input.code"]["type"] == kind
    metrics = doc["windows"][0]["metrics"]
    names = sorted(k for k in metrics if k.endswith(".code"))
    if kind == "identifier":
        assert names == ["null_rate.code"]
        assert doc["baseline"]["fields"]["input.code"]["method"] is None
    else:
        assert names == sorted(f"{m}.code" for m in ("psi", "chi2_pvalue", "js", "new_category_rate", "null_rate",
                                                       "drifted"))
    # numbers are never identifiers, however many distinct values
    assert doc["baseline"]["fields"]["input.n"]["type"] == "numeric"


# --- data quality -------------------------------------------------------------------------


def quality_data(tmp_path: Path) -> tuple[Path, Path]:
    ref = [record(ts=ts_text(REF_DAY + timedelta(minutes=i)), request_id=f"ref{i}",
                  request={"x": i % 11, "c": "ab"[i % 2], "old": 1.5}) for i in range(50)]
    cur_requests = (
        [{"x": 5, "c": "a", "new": "n"}] * 8       # fine
        + [{"x": 5.5, "c": "b", "new": "n"}] * 2    # fine
        + [{"c": "a", "new": "n"}] * 2              # x missing
        + [{"x": None, "c": None, "new": "n"}] * 1  # x and c null
        + [{"x": "n/a", "c": "a", "new": "n"}] * 3  # x: text in a numeric field
        + [{"x": -1, "c": "z", "new": "n"}] * 2     # below the baseline min 0, new category
        + [{"x": 9.5, "c": "z", "new": "n"}] * 1    # inside (the baseline's max is 10)
        + [{"x": 11, "c": "b", "new": "n"}] * 1     # above the baseline max
    )
    assert len(cur_requests) == 20
    ids = [f"cur{i}" for i in range(20)]
    ids[1] = ids[0]  # two records share one id
    ids[5] = ids[4] = ids[3]  # three share another
    cur = [record(ts=ts_text(HOURS[0] + timedelta(minutes=i)), request_id=ids[i], request=req)
           for i, req in enumerate(cur_requests)]
    return write_jsonl(tmp_path / "ref.jsonl", ref), write_jsonl(tmp_path / "cur.jsonl", cur)


def test_data_quality_metrics(tmp_path):
    ref, cur = quality_data(tmp_path)
    doc = report_json(cur, "--baseline", ref)
    m = doc["windows"][0]["metrics"]
    assert m["null_rate.x"] == pytest.approx(3 / 20)
    assert m["type_violation_rate.x"] == pytest.approx(3 / 20)
    # out of range: of the 14 numeric values of x, -1 (twice) and 11 lie outside [0, 10]
    assert m["out_of_range_rate.x"] == pytest.approx(3 / 14)
    assert m["null_rate.c"] == pytest.approx(1 / 20)
    assert m["new_category_rate.c"] == pytest.approx(3 / 19)
    # records whose id another record of the window also carries: 2 + 3
    assert m["duplicate_request_id_rate"] == pytest.approx(5 / 20)
    assert m["schema_fields_added"] == 1
    assert m["schema_fields_removed"] == 1
    assert m["null_rate.old"] == 1.0
    assert doc["baseline"]["schema_changes"] == {"added": ["input.new"], "removed": ["input.old"]}
    assert m["null_rate.output.label"] == 0 and m["psi.output.label"] == 0  # outputs are tracked too


def test_type_violations_with_a_numeric_only_current_window(tmp_path):
    """A window without text is all numbers: no type violations, and KS/PSI computed on its values."""
    ref, _ = quality_data(tmp_path)
    cur = [record(ts=ts_text(HOURS[0] + timedelta(minutes=i)), request_id=f"n{i}", request={"x": i % 11, "c": "a"})
           for i in range(30)]
    write_jsonl(tmp_path / "num.jsonl", cur)
    m = report_json(tmp_path / "num.jsonl", "--baseline", ref)["windows"][0]["metrics"]
    assert m["type_violation_rate.x"] == 0 and m["null_rate.x"] == 0 and m["out_of_range_rate.x"] == 0
    assert m["duplicate_request_id_rate"] == 0
    assert m["schema_fields_added"] == 0 and m["schema_fields_removed"] == 1  # 'old' is gone


def test_baseline_range_keeps_a_numeric_field_numeric_when_text_arrives_later(tmp_path):
    ref, cur = quality_data(tmp_path)
    both = tmp_path / "both.jsonl"
    both.write_bytes(ref.read_bytes() + cur.read_bytes())
    doc = report_json(both, "--baseline-range", "2026-11-20..2026-11-21", "--since", "2026-11-27")
    assert doc["baseline"]["fields"]["input.x"]["type"] == "numeric"
    m = doc["windows"][0]["metrics"]
    assert m["type_violation_rate.x"] == pytest.approx(3 / 20)


def test_baseline_range_reports_fields_added_after_the_range(tmp_path):
    ref, cur = quality_data(tmp_path)
    both = tmp_path / "both.jsonl"
    both.write_bytes(ref.read_bytes() + cur.read_bytes())
    doc = report_json(both, "--baseline-range", "2026-11-20..2026-11-21", "--since", "2026-11-27")
    m = doc["windows"][0]["metrics"]
    assert doc["baseline"]["schema_changes"]["added"] == ["input.new"]
    assert m["schema_fields_added"] == 1
