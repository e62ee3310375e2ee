"""Issue 16 "Found on the way": an array-valued input or output field is a categorical feature whose value
is its compact JSON text (``["a","b"]``), in every command alike (README "Log records").

The logs write their arrays in several spellings (``["a", "b"]``, ``["a","b"]``, ``[ "a" ,"b" ]``); the
oracle is Python's ``json.dumps(value, separators=(",", ":"))`` of each value as written, and scipy's
tests on those texts' counts, as tests/test_drift.py computes them.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from mlmon.cli import app
from test_drift import categorical_oracle

T0 = datetime(2026, 11, 27, 10, tzinfo=UTC)
NOW = "2026-11-27T12:00:00Z"
TAGS = [["a"], ["a", "b"], [], ["b"], [1, 2.5], [{"k": "v"}], ["é", "x\ny"], None]
REF_P = [0.3, 0.15, 0.1, 0.15, 0.1, 0.1, 0.05, 0.05]
CUR_P = [0.1, 0.35, 0.1, 0.05, 0.1, 0.1, 0.1, 0.1]
MIGRATED = [["c"], ["a", "b", "c"]]  # only in the current logs: new categories
ROLES = [["admin"], ["user", "admin"], ["user"]]


def compact(value) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def spelled(row: dict, i: int) -> str:
    """The row as JSON text, its arrays spelled one of three ways."""
    text = json.dumps(row, ensure_ascii=i % 2 == 0)
    if i % 3 == 1:
        text = text.replace(", ", ",")
    elif i % 3 == 2:
        text = text.replace("[", "[ ").replace("]", " ]")
    return text


def rows(n: int, p: list[float], seed: int, start: datetime, prefix: str, extra: list | None = None) -> list[dict]:
    rng = random.Random(seed)
    choices = TAGS + (extra or [])
    weights = p + ([0.05] * len(extra) if extra else [])
    out = []
    for i in range(n):
        request: dict = {"x": rng.randint(0, 9), "user": {"roles": rng.choice(ROLES)}}
        tags = rng.choices(choices, weights)[0]
        if tags is not None:
            request["tags"] = tags
        ts = (start + timedelta(seconds=i * 3)).isoformat().replace("+00:00", "Z")
        out.append({"ts": ts, "request_id": f"{prefix}{i}", "model": "m", "status": 200, "latency_ms": 5.0,
                    "request": request, "response": {"label": "y", "probs": [0.25, 0.75]}})
    return out


def write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(spelled(r, i) + "\n" for i, r in enumerate(records)))
    return path


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("arrays")
    ref = rows(400, REF_P, 1, T0 - timedelta(days=1), "ref")
    cur = rows(600, CUR_P, 2, T0, "cur", MIGRATED)
    return {"dir": folder, "ref": ref, "cur": cur,
            "ref_log": write(folder / "ref.jsonl", ref), "cur_log": write(folder / "cur.jsonl", cur)}


def tags(records: list[dict]) -> list[str | None]:
    return [compact(r["request"].get("tags")) for r in records]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def report(*args) -> dict:
    result = invoke("report", *args, "--format", "json", "--now", NOW)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def segment_counts(doc: dict, field: str = "input.tags") -> dict:
    return {w["segment"][field]: w["metrics"]["request_count"] for w in doc["windows"]}


# --- what every command shows ------------------------------------------------------------------------------


def test_the_spellings_differ_on_the_lines_but_not_in_the_oracle(logs):
    lines = logs["cur_log"].read_text().splitlines()
    assert any('["a", "b"]' in x for x in lines) and any('["a","b"]' in x for x in lines)
    assert any('[ "a", "b" ]' in x for x in lines)
    assert set(tags(logs["cur"])) >= {'["a","b"]', "[]", "[1,2.5]", '[{"k":"v"}]', '["é","x\\ny"]', None}


@pytest.mark.parametrize("with_baseline", [False, True], ids=["fields-read", "objects-decoded"])
def test_report_by_shows_the_compact_text(logs, with_baseline):
    """Segments from the fields read alone, and from the objects decoded whole (with a baseline)."""
    extra = ["--baseline", logs["ref_log"]] if with_baseline else []
    doc = report(logs["cur_log"], "--by", "input.tags", *extra)
    assert segment_counts(doc) == dict(Counter(tags(logs["cur"])))
    nested = report(logs["cur_log"], "--by", "input.user.roles", *extra)
    assert segment_counts(nested, "input.user.roles") == dict(Counter(compact(r["request"]["user"]["roles"])
                                                                      for r in logs["cur"]))


def test_baseline_save_profiles_an_array_field_as_categorical(logs):
    out = logs["dir"] / "profile.json"
    result = invoke("baseline", "save", logs["ref_log"], "-o", out)
    assert result.exit_code == 0, result.output
    fields = json.loads(out.read_text())["fields"]
    expected = Counter(t for t in tags(logs["ref"]) if t is not None)
    assert fields["input.tags"]["type"] == "categorical"
    assert fields["input.tags"]["frequencies"] == dict(expected)
    assert fields["input.tags"]["nulls"] == tags(logs["ref"]).count(None)
    assert fields["input.user.roles"]["frequencies"] == dict(Counter(compact(r["request"]["user"]["roles"])
                                                                     for r in logs["ref"]))
    assert fields["output.probs"] == {"type": "categorical", "count": 400, "nulls": 0, "null_rate": 0.0,
                                      "frequencies": {"[0.25,0.75]": 400}}


@pytest.mark.parametrize("baseline", ["raw", "profile"])
def test_drift_and_null_rate_of_an_array_field_agree_with_scipy(logs, baseline):
    reference = logs["ref_log"]
    if baseline == "profile":
        reference = logs["dir"] / "drift-profile.json"
        assert invoke("baseline", "save", logs["ref_log"], "-o", reference).exit_code == 0
    doc = report(logs["cur_log"], "--baseline", reference)
    assert doc["baseline"]["fields"]["input.tags"] == {"type": "categorical", "method": "chi2_pvalue"}
    metrics = doc["windows"][0]["metrics"]
    ref = [t for t in tags(logs["ref"]) if t is not None]
    cur_all = tags(logs["cur"])
    cur = [t for t in cur_all if t is not None]
    expected = categorical_oracle(ref, cur)
    assert metrics["chi2_pvalue.tags"] == pytest.approx(expected["chi2_pvalue"], rel=1e-9, abs=1e-300)
    assert metrics["js.tags"] == pytest.approx(expected["js"], rel=1e-9)
    assert metrics["psi.tags"] == pytest.approx(expected["psi"], rel=1e-9)
    assert metrics["new_category_rate.tags"] == pytest.approx(expected["new_category_rate"], abs=1e-12)
    assert expected["new_category_rate"] > 0.05 and metrics["drifted.tags"] == 1
    assert metrics["null_rate.tags"] == pytest.approx(cur_all.count(None) / len(cur_all), abs=1e-12)


WANTED = '["a","b"]'
WHERE = 'input.tags == "[\\"a\\",\\"b\\"]"'


def test_where_matches_the_compact_text_in_report_and_replay(logs):
    expected = tags(logs["cur"]).count(WANTED)
    assert expected > 50
    plain = report(logs["cur_log"], "--where", WHERE)
    decoded = report(logs["cur_log"], "--where", WHERE, "--baseline", logs["ref_log"])
    assert plain["windows"][0]["metrics"]["request_count"] == expected
    assert decoded["windows"][0]["metrics"]["request_count"] == expected
    dry = invoke("replay", logs["cur_log"], "--dry-run", "--model", "m:f", "--where", WHERE)
    assert dry.exit_code == 0, dry.output
    assert f"{expected} requests would be sent" in dry.stderr


def test_a_rules_by_groups_on_the_compact_text(logs):
    rules = logs["dir"] / "rules.yaml"
    rules.write_text("rules:\n  - name: busy\n    expr: request_count > 50\n    every: 1d\n    by: [input.tags]\n")
    result = invoke("check", logs["cur_log"], "--rules", rules, "--now", NOW, "--since", "1d", "--format", "json")
    assert result.exit_code == 1, result.output
    firing = {a["segment"]["input.tags"]: a["value"] for a in json.loads(result.stdout)["alerts"]}
    counts = Counter(tags(logs["cur"]))
    assert firing == {k: float(v) for k, v in counts.items() if v > 50}


def test_export_writes_the_compact_text(logs):
    out = logs["dir"] / "export.parquet"
    result = invoke("export", logs["cur_log"], "-o", out)
    assert result.exit_code == 0, result.output
    frame = pl.read_parquet(out)
    assert frame.schema["input.tags"] == pl.String and frame.schema["output.probs"] == pl.String
    got = dict(zip(frame["request_id"].to_list(), frame["input.tags"].to_list()))
    assert got == {r["request_id"]: compact(r["request"].get("tags")) for r in logs["cur"]}


def test_the_store_gives_the_same_segments_and_drift(logs):
    store = logs["dir"] / "store"
    assert invoke("ingest", logs["cur_log"], "--store", store).exit_code == 0
    assert segment_counts(report("--store", store, "--by", "input.tags")) == dict(Counter(tags(logs["cur"])))
    on_logs = report(logs["cur_log"], "--baseline", logs["ref_log"])["windows"][0]["metrics"]
    on_store = report("--store", store, "--baseline", logs["ref_log"])["windows"][0]["metrics"]
    assert {k: v for k, v in on_store.items() if k.endswith(".tags")} == \
        {k: v for k, v in on_logs.items() if k.endswith(".tags")}


def test_the_dashboard_feed_has_the_reports_drift(logs):
    from mlmon.baseline.load import BaselineSpec
    from mlmon.live.feed import Feed
    from mlmon.live.tail import LogTailer
    from mlmon.logs.mapping import DEFAULT_MAPPING

    feed = Feed(lambda fields, span: LogTailer([str(logs["cur_log"])], DEFAULT_MAPPING, fields),
                every=timedelta(hours=1), windows=4, source="x", mapping=DEFAULT_MAPPING,
                baseline=BaselineSpec(path=str(logs["ref_log"])), patterns=[str(logs["cur_log"])],
                clock=lambda: T0 + timedelta(hours=1))
    feed.poll()
    drift = feed.snapshot().drift.filter(pl.col("field") == "tags").row(0, named=True)
    cur = [t for t in tags(logs["cur"]) if t is not None]
    expected = categorical_oracle([t for t in tags(logs["ref"]) if t is not None], cur)
    assert (drift["type"], drift["method"]) == ("categorical", "chi2_pvalue")
    assert drift["score"] == pytest.approx(expected["chi2_pvalue"], rel=1e-9, abs=1e-300)
    assert drift["psi"] == pytest.approx(expected["psi"], rel=1e-9)


def test_the_installed_command_segments_by_an_array(logs):
    mlmon = str(Path(sys.executable).parent / "mlmon")
    done = subprocess.run([mlmon, "report", str(logs["cur_log"]), "--by", "input.tags", "--format", "json"],
                          check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert segment_counts(json.loads(done.stdout)) == dict(Counter(tags(logs["cur"])))


def test_a_datasets_list_column_is_profiled_as_the_logs_array_field(tmp_path):
    """A Parquet dataset's list column is the same categorical feature as the logs' array field."""
    values = [["a"], ["a", "b"], [], None, ["é", "x\ny"], ["a"]]
    pl.DataFrame({"x": list(range(6)), "tags": values}).write_parquet(tmp_path / "ref.parquet")
    log = write(tmp_path / "logs.jsonl", [{"ts": "2026-11-27T10:00:00Z", "request_id": f"r{i}",
                                          "request": {"x": i, **({"tags": v} if v is not None else {})}}
                                         for i, v in enumerate(values)])
    profiles = {}
    for name, source in (("dataset", tmp_path / "ref.parquet"), ("logs", log)):
        out = tmp_path / f"{name}.json"
        assert invoke("baseline", "save", source, "-o", out).exit_code == 0
        profiles[name] = json.loads(out.read_text())["fields"]["input.tags"]
    expected = dict(Counter(compact(v) for v in values if v is not None))
    assert profiles["dataset"]["frequencies"] == profiles["logs"]["frequencies"] == expected
    assert profiles["dataset"]["nulls"] == profiles["logs"]["nulls"] == 1
