"""``report --where`` and ``--max-segments`` (issue 10).

``--where`` is checked against a plain-Python filter of the same seeded records, with SQL's logic
for missing values; its bad expressions are one line that points at the column. ``--max-segments``
refuses a ``--by`` (or a rule's ``by``) with more distinct values than the cap, counted independently.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from conftest import SAMPLE_LOGS, record, write_jsonl
from test_cli import invoke, run

UTC = timezone.utc
START = datetime(2026, 11, 27, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """600 requests over three hours: two versions, statuses 200/400/503, a country that is sometimes missing."""
    rng = np.random.default_rng(10)
    rows = []
    for i in range(600):
        ts = START + timedelta(seconds=float(rng.uniform(0, 3 * 3600)))
        request = {"age": int(rng.integers(18, 90))}
        country = rng.choice(["DE", "FR", "US", "none"])
        if country != "none":
            request["country"] = str(country)
        rows.append(record(ts=ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), request_id=f"r{i}",
                           model_version=str(rng.choice(["v1", "v2"])),
                           status=int(rng.choice([200, 200, 200, 400, 503])),
                           latency_ms=round(float(rng.gamma(2, 40)), 1), request=request))
    return write_jsonl(tmp_path_factory.mktemp("where") / "logs.jsonl", rows), rows


def country(r):
    return r["request"].get("country")


# Each filter, and the same filter in Python: a comparison with a missing value is false, as in SQL.
FILTERS = [
    ('input.country == "DE" and status < 500', lambda r: country(r) == "DE" and r["status"] < 500),
    ('input.country != "DE"', lambda r: country(r) is not None and country(r) != "DE"),
    ("input.age >= 65 or latency_ms > 150", lambda r: r["request"]["age"] >= 65 or r["latency_ms"] > 150),
    ('model_version in ["v2"] and not (status >= 500)', lambda r: r["model_version"] == "v2" and r["status"] < 500),
    ("input.country == null", lambda r: country(r) is None),
]


@pytest.mark.parametrize(("where", "keep"), FILTERS, ids=[f[0] for f in FILTERS])
def test_where_keeps_the_records_an_independent_filter_keeps(logs, where, keep):
    path, rows = logs
    result = invoke("report", str(path), "--where", where, "--every", "1h", "--by", "model_version",
                    "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["where"] == where
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in filter(keep, rows):
        hour = datetime.fromisoformat(r["ts"].replace("Z", "+00:00")).replace(minute=0, second=0, microsecond=0)
        groups.setdefault((hour.strftime("%Y-%m-%dT%H:%M:%SZ"), r["model_version"]), []).append(r)
    got = {(w["start"], w["segment"]["model_version"]): w["metrics"] for w in doc["windows"]}
    assert {key for key, m in got.items() if m["request_count"]} == set(groups)
    for key, kept in groups.items():
        latency = np.array([r["latency_ms"] for r in kept])
        m = got[key]
        assert m["request_count"] == len(kept)
        assert m["error_count"] == sum(r["status"] >= 500 for r in kept)
        assert m["latency_p95_ms"] == pytest.approx(np.percentile(latency, 95), rel=1e-11)
        assert m["latency_mean_ms"] == pytest.approx(latency.mean(), rel=1e-11)


def test_where_filters_before_the_labels_and_reads_the_fields_it_names():
    # fraud's requests alone: the labels file holds churn's too, and the positive class is fraud's rarer one
    logs = [str(SAMPLE_LOGS / "churn.jsonl.gz"), str(SAMPLE_LOGS / "fraud.jsonl.gz")]
    with gzip.open(SAMPLE_LOGS / "fraud.jsonl.gz", "rt") as handle:
        grocery = sum(json.loads(line)["request"]["merchant_category"] == "grocery" for line in handle)
    where = 'model == "fraud" and input.merchant_category == "grocery"'
    result = invoke("report", *logs, "--where", where, "--labels", str(SAMPLE_LOGS / "labels.csv"), "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["windows"][0]["metrics"]["request_count"] == grocery
    assert doc["labels"]["positive"] == "fraud"


BAD_WHERE = [
    ("status >> 3", "--where column 9: expected a value but found '>'"),
    ("statuz >= 500", "--where column 1: unknown record field 'statuz'; did you mean 'status'? Filter on record "
                      "fields: status, latency_ms, model_version, ..., input.FIELD, output.FIELD."),
    ('model == "churn" and error_rate > 0.1',
     "--where column 22: 'error_rate' is a metric; --where filters records before metrics, so compare it in a "
     "rule's 'expr' (mlmon check). Filter on record fields: status, latency_ms, model_version, ..., input.FIELD, "
     "output.FIELD."),
    ("request.country == 'DE'", "--where column 1: unknown record field 'request.country'; did you mean "
                                "'input.country'? Filter on record fields: status, latency_ms, model_version, ..., "
                                "input.FIELD, output.FIELD."),
    ("latency_ms", '--where must be a condition, such as status >= 500 or input.country == "DE"'),
    ("status > 1 and 'x'", "--where column 16: 'and' joins conditions; \"x\" is not one. Compare it with "
                           "something, e.g. x > 0."),
    ("'a\x1bb' and status > 1", "--where column 1: 'and' joins conditions; \"a\\x1bb\" is not one. Compare it with "
                                "something, e.g. x > 0."),  # log text is escaped
]


@pytest.mark.parametrize(("where", "message"), BAD_WHERE, ids=[b[0] for b in BAD_WHERE])
def test_a_bad_where_is_one_line_pointing_at_the_column(logs, where, message):
    path, _ = logs
    result = invoke("report", str(path), "--where", where)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == f"mlmon: error: {message}\n"


def test_where_through_the_entry_point(logs):
    path, rows = logs
    proc = run("report", str(path), "--where", "status >= 500", "--format", "json")
    assert proc.returncode == 0 and proc.stderr == ""
    assert json.loads(proc.stdout)["windows"][0]["metrics"]["request_count"] == sum(r["status"] >= 500 for r in rows)
    proc = run("report", str(path), "--where", "status >> 3")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "mlmon: error: --where column 9: expected a value but found '>'\n"


# --- --max-segments --------------------------------------------------------------------------------


def test_by_request_id_is_refused_by_the_default_cap_through_the_entry_point():
    with gzip.open(SAMPLE_LOGS / "churn.jsonl.gz", "rt") as handle:
        ids = {json.loads(line)["request_id"] for line in handle}
    proc = run("report", str(SAMPLE_LOGS / "churn.jsonl.gz"), "--by", "request_id", "--every", "1h")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (f"mlmon: error: --by request_id makes {len(ids):,} segments, more than --max-segments "
                           "1,000. Segment by fewer fields, filter with --where, or raise --max-segments.\n")
    # filtered by --where, the failed requests' ids are few enough
    with gzip.open(SAMPLE_LOGS / "churn.jsonl.gz", "rt") as handle:
        failed = {r["request_id"] for r in map(json.loads, handle) if r["status"] >= 500}
    result = invoke("report", str(SAMPLE_LOGS / "churn.jsonl.gz"), "--by", "request_id", "--where", "status >= 500",
                    "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert {w["segment"]["request_id"] for w in json.loads(result.stdout)["windows"]} == failed


def test_max_segments_counts_the_segments_of_the_range(logs):
    path, rows = logs
    until, middle = START + timedelta(minutes=20), START + timedelta(minutes=10)
    at = {r["request_id"]: datetime.fromisoformat(r["ts"].replace("Z", "+00:00")) for r in rows}
    in_range = {rid for rid, ts in at.items() if ts < until}
    assert 0 < len(in_range) < len(rows)
    args = ("report", str(path), "--by", "model_version,request_id", "--every", "10m", "--format", "csv",
            "--max-segments", str(len(in_range)))
    refused = invoke(*args)
    assert refused.exit_code == 2
    assert refused.stderr.startswith(f"mlmon: error: --by model_version,request_id makes {len(rows)} segments, "
                                     f"more than --max-segments {len(in_range)}. ")
    result = invoke(*args, "--until", "2026-11-27T10:20:00Z")
    assert result.exit_code == 0
    # a segment's windows run from its first to the end of the range: two for a request before 10:10, else one
    assert len(result.stdout.splitlines()) - 1 == sum(2 if at[rid] < middle else 1 for rid in in_range)
    assert invoke(*args[:-1], "0").exit_code == 2  # at least 1


def test_a_rules_by_obeys_the_cap_in_check(tmp_path, logs):
    path, rows = logs
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: per-request\n    expr: latency_max_ms > 1000\n    by: request_id\n"
                     "    where: input.country == \"DE\"\n")
    german = {r["request_id"] for r in rows if country(r) == "DE"}
    refused = invoke("check", str(path), "--rules", str(rules), "--max-segments", str(len(german) - 1))
    assert refused.exit_code == 2 and refused.stdout == ""
    assert refused.stderr == (f'mlmon: error: rule "per-request": by request_id makes {len(german):,} segments, more '
                              f"than --max-segments {len(german) - 1:,}. Segment the rule by fewer fields, narrow it "
                              "with 'where', or raise --max-segments.\n")
    assert invoke("check", str(path), "--rules", str(rules), "--max-segments", str(len(german))).exit_code in (0, 1)
