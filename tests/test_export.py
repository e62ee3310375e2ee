"""``mlmon export``: the values, their types, the labels, the filters and dedup, checked against the logs
read independently (the json and csv modules), and bad input refused the way every command refuses it."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import datetime, timezone

import polars as pl
import pytest
from typer.testing import CliRunner

from conftest import SAMPLE_LOGS, record, write_jsonl
from mlmon.cli import app
from mlmon.errors import UsageError
from mlmon.export import ExportSpec, common_type, export_logs
from mlmon.logs.mapping import Mapping
from mlmon.metrics.model_quality import LabelSpec

CHURN = SAMPLE_LOGS / "churn.jsonl.gz"
LABELS = SAMPLE_LOGS / "labels.csv"
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def churn_records() -> list[dict]:
    return [json.loads(line) for line in gzip.open(CHURN, "rt", encoding="utf-8")]


@pytest.fixture(scope="module")
def labels() -> dict[str, str]:
    with open(LABELS, newline="") as handle:
        return {row["request_id"]: row["label"] for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def churn_export(tmp_path_factory) -> pl.DataFrame:
    out = tmp_path_factory.mktemp("export") / "churn.parquet"
    result = invoke("export", CHURN, "--labels", LABELS, "-o", out)
    assert result.exit_code == 0, result.output
    return pl.read_parquet(out)


def _iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def test_one_row_per_request_with_every_value_as_logged(churn_export, churn_records, labels):
    assert churn_export.height == len(churn_records)
    for row, rec in zip(churn_export.iter_rows(named=True), churn_records):
        assert _iso(row["ts"]) == rec["ts"]
        for key in ("request_id", "model", "model_version", "status"):
            assert row[key] == rec[key]
        for key, value in rec["request"].items():
            assert row[f"input.{key}"] == value, (rec["request_id"], key)
        answered = rec["status"] < 400  # an error body is no model output
        for key, value in (rec["response"] or {}).items():
            assert row.get(f"output.{key}") == (value if answered else None)
        assert row["label"] == labels.get(rec["request_id"])


def test_columns_are_typed_and_in_order(churn_export):
    schema = churn_export.schema
    assert list(schema)[:5] == ["ts", "request_id", "model", "model_version", "status"]
    assert list(schema)[-1] == "label"
    assert schema["ts"] == pl.Datetime("us", "UTC")
    assert schema["input.age"] == pl.Int64 and schema["input.tenure_months"] == pl.Int64
    assert schema["input.monthly_charges"] == pl.Float64 and schema["output.churn_probability"] == pl.Float64
    assert schema["input.country"] == pl.String and schema["label"] == pl.String
    names = list(schema)
    assert max(i for i, n in enumerate(names) if n.startswith("input.")) < min(
        i for i, n in enumerate(names) if n.startswith("output."))


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_text_formats_hold_the_same_rows(tmp_path, churn_export, fmt):
    out = tmp_path / f"churn.{fmt}"
    assert invoke("export", CHURN, "--labels", LABELS, "--format", fmt, "-o", out).exit_code == 0
    if fmt == "csv":
        with open(out, newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert rows[0]["ts"].endswith("Z") and len(rows) == churn_export.height
        assert [r["request_id"] for r in rows] == churn_export["request_id"].to_list()
        assert [r["input.age"] for r in rows[:50]] == [str(v) if v is not None else "" for v in churn_export["input.age"][:50]]
    else:
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(rows) == churn_export.height
        assert [r["output.churn_probability"] for r in rows] == churn_export["output.churn_probability"].to_list()
        assert [r["label"] for r in rows] == churn_export["label"].to_list()


def test_where_since_and_until_pick_the_incident_window(tmp_path, churn_records):
    out = tmp_path / "incident.parquet"
    result = invoke("export", CHURN, "--where", 'model_version == "v2" and input.country == "DE"',
                    "--since", "2026-11-26T14:00:00Z", "--until", "2026-11-26T15:00:00Z", "-o", out)
    assert result.exit_code == 0, result.output
    expected = [r["request_id"] for r in churn_records if r["model_version"] == "v2"
                and r["request"].get("country") == "DE" and "2026-11-26T14:00:00" <= r["ts"] < "2026-11-26T15:00:00"]
    assert expected and pl.read_parquet(out)["request_id"].to_list() == expected


def test_labels_are_numbers_when_every_label_is_one(tmp_path):
    logs = write_jsonl(tmp_path / "a.jsonl", [record(request_id=f"r{i}") for i in range(4)])
    truth = [{"id": "r0", "y": 1.5}, {"id": "r1", "y": 2}, {"id": "r2", "y": 3}, {"id": "other", "y": 9}]
    (tmp_path / "truth.jsonl").write_text("".join(json.dumps(t) + "\n" for t in truth))
    spec = ExportSpec(labels=LabelSpec(str(tmp_path / "truth.jsonl"), "id", "y"))
    result = export_logs([str(logs)], tmp_path / "o.parquet", spec, mapping=Mapping())
    table = pl.read_parquet(tmp_path / "o.parquet")
    assert table.schema["label"] == pl.Float64 and table["label"].to_list() == [1.5, 2.0, 3.0, None]
    assert result.labelled == 3
    (tmp_path / "whole.csv").write_text("request_id,label\nr0,1\nr3,0\n")
    export_logs([str(logs)], tmp_path / "w.parquet", ExportSpec(labels=LabelSpec(str(tmp_path / "whole.csv"))),
                mapping=Mapping())
    assert pl.read_parquet(tmp_path / "w.parquet")["label"].to_list() == [1, None, None, 0]


def test_dedup_keeps_the_first_record_of_each_id_across_chunks(tmp_path):
    """The first in reading order that passes --where; records without an id are all kept."""
    filler = "x" * 3000  # a few records per 16 KiB chunk, so duplicates fall into other chunks
    rows = []
    for i in range(60):
        rows.append(record(f"2026-11-27T10:{i:02d}:00Z", request_id=f"r{i % 20}", status=500 if i < 20 else 200,
                           request={"n": i, "pad": filler}))
    rows += [record(request_id=None, request={"n": 100 + i, "pad": filler}) for i in range(3)]
    logs = write_jsonl(tmp_path / "dup.jsonl", rows)
    out = tmp_path / "dedup.parquet"
    result = export_logs([str(logs)], out, ExportSpec(dedup="request_id"), mapping=Mapping(), chunk_bytes=16 * 1024)
    assert pl.read_parquet(out)["input.n"].to_list() == [*range(20), 100, 101, 102]
    assert result.duplicates_dropped == 40
    export_logs([str(logs)], out, ExportSpec(dedup="request_id", where="status == 200"), mapping=Mapping(),
                chunk_bytes=16 * 1024)
    assert pl.read_parquet(out)["input.n"].to_list() == [*range(20, 40), 100, 101, 102]


def test_a_type_settled_across_chunks(tmp_path):
    """Integers then fractions are floats; numbers then text are text; a late field is null before it appears."""
    pad = "y" * 3000
    rows = [record(request_id=f"a{i}", request={"n": i, "code": i, "pad": pad}) for i in range(20)]
    rows += [record(request_id=f"b{i}", request={"n": i + 0.5, "code": f"C{i}", "late": True, "pad": pad})
             for i in range(20)]
    logs = write_jsonl(tmp_path / "drift.jsonl", rows)
    out = tmp_path / "t.parquet"
    result = export_logs([str(logs)], out, ExportSpec(), mapping=Mapping(), chunk_bytes=16 * 1024)
    table = pl.read_parquet(out)
    assert table.schema["input.n"] == pl.Float64 and table["input.n"].to_list() == [*map(float, range(20)),
                                                                                     *(i + 0.5 for i in range(20))]
    assert table.schema["input.code"] == pl.String and table["input.code"][0] == "0" and table["input.code"][-1] == "C19"
    assert table["input.late"].to_list() == [None] * 20 + [True] * 20
    assert result.columns == dict(table.schema)


@pytest.mark.parametrize(("types", "expected"), [
    ([pl.Int64, pl.Int32], pl.Int64), ([pl.Int64, pl.Float64], pl.Float64), ([pl.Null, pl.Boolean], pl.Boolean),
    ([pl.Int64, pl.Boolean], pl.String), ([pl.Float64, pl.String], pl.String), ([pl.Null], pl.String),
])
def test_common_type(types, expected):
    assert common_type([t() for t in types]) == expected


def test_secrets_are_redacted(tmp_path):
    rows = [record(request_id=f"r{i}", request={"age": 30, "api_key": "sk-live-123456", "headers": {
        "Authorization": "Bearer abc.def.ghi", "Cookie": "session=s3cr3t"}, "note": "token=hunter2 ok",
        "tenant_secret": "tenant-pw"}) for i in range(3)]
    logs = write_jsonl(tmp_path / "s.jsonl", rows)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("redact: [tenant_secret]\n")
    out = tmp_path / "s.csv"
    result = invoke("export", logs, "--mapping", mapping, "--format", "csv", "-o", out)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    for secret in ("sk-live-123456", "abc.def.ghi", "s3cr3t", "hunter2", "tenant-pw"):
        assert secret not in text
    table = pl.read_csv(out)
    assert table["input.headers.Authorization"].to_list() == ["[REDACTED]"] * 3
    assert table["input.age"].to_list() == [30] * 3


def test_store_export_holds_the_same_rows(tmp_path, churn_export):
    store = tmp_path / "store"
    assert invoke("ingest", CHURN, "--store", store).exit_code == 0
    out = tmp_path / "from_store.parquet"
    result = invoke("export", "--store", store, "--labels", LABELS, "-o", out)
    assert result.exit_code == 0, result.output
    table = pl.read_parquet(out).sort("request_id")
    assert table.equals(churn_export.sort("request_id"))


# --- bad input: one line on stderr, exit 2, nothing written ----------------------------------------


def _refused(result, words: str):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("mlmon: error:")]
    assert len(lines) == 1 and words in lines[0], result.stderr
    assert "Traceback" not in result.output


def test_bad_input_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "o.parquet"
    (tmp_path / "junk.jsonl").write_text("not json\n[1,2]\n")
    _refused(invoke("export", tmp_path / "junk.jsonl", "-o", out), "no good log record")
    _refused(invoke("export", CHURN), "needs -o FILE")
    _refused(invoke("export", CHURN, "-o", "-"), "needs -o FILE")
    _refused(invoke("export", CHURN, "--where", "latncy_ms > 5", "-o", out), "latency_ms")
    _refused(invoke("export", CHURN, "--dedup", "ts", "-o", out), "only request_id")
    _refused(invoke("export", CHURN, "-o", tmp_path / "missing" / "o.parquet"), "does not exist")
    _refused(invoke("export", CHURN, "-o", CHURN), "names a file this run reads")
    _refused(invoke("export", CHURN, "--labels", tmp_path / "nope.csv", "-o", out), "does not exist")
    _refused(invoke("export", CHURN, "--format", "xlsx", "-o", out), "--format")
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "junk.jsonl"]


def test_bad_lines_are_skipped_counted_and_listed(tmp_path):
    logs = write_jsonl(tmp_path / "mixed.jsonl", [record(request_id="a"), "garbage", record(request_id="b"), "[1]"])
    out, rejects = tmp_path / "o.parquet", tmp_path / "rejects.jsonl"
    result = invoke("export", logs, "--rejects", rejects, "-o", out)
    assert result.exit_code == 0
    assert "skipped 2 bad lines; listed in" in result.stderr
    assert pl.read_parquet(out)["request_id"].to_list() == ["a", "b"]
    assert [json.loads(line)["line"] for line in rejects.read_text().splitlines()] == [2, 4]
    _refused(invoke("export", logs, "--strict", "-o", tmp_path / "strict.parquet"), "mixed.jsonl:2")


def test_nothing_matched_writes_the_columns_and_warns(tmp_path):
    out = tmp_path / "none.parquet"
    result = invoke("export", CHURN, "--where", 'model == "nope"', "-o", out)
    assert result.exit_code == 0 and "no record matched" in result.stderr
    assert pl.read_parquet(out).columns == ["ts", "request_id", "model", "model_version", "status"]


def test_spec_checks_its_options():
    with pytest.raises(UsageError):
        ExportSpec(fmt="xlsx").check()
