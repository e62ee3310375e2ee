"""Labels files (``--labels``) are all or nothing: a bad line stops the run with its number and what is wrong (issue 10).

Each bad file is paired with the exact words its error must hold, line number included. Good files with
blank lines, quoted line breaks, a byte order mark or an empty optional column are read whole, and Python
reads no line of a clean file: Polars' vectorized reader does it alone.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from conftest import record, write_jsonl
from mlmon.cli import app
from mlmon.metrics import labels as labels_module
from mlmon.metrics.labels import load_labels
from mlmon.metrics.model_quality import LABEL, LabelSpec

runner = CliRunner()

#: (file name, content, line number, what is wrong)
BAD = [
    ("too-many.csv", b"request_id,label\na,yes\nb,no,extra\nc,yes\n", 3, "3 fields, more than the 2 of the header"),
    ("too-few.csv", b"request_id,label\na,yes\nabc\nc,yes\n", 3, "1 field, fewer than the 2 of the header: no 'label'"),
    ("empty-label.csv", b"request_id,label\na,yes\nb,no\nc,\n", 4, "empty 'label'"),
    ("empty-id.csv", b"request_id,label\na,yes\n,no\n", 3, "empty 'request_id'"),
    ("blank-id.csv", b'request_id,label\na,yes\n"  ",no\n', 3, "empty 'request_id'"),
    ("label-first.csv", b"label,note,request_id\nyes,x,a\nno,y\n", 3,
     "2 fields, fewer than the 3 of the header: no 'request_id'"),
    ("stray-quote.csv", b'request_id,label\na,yes\nb,no\nc"d,yes\n', 4,
     'a quote (") inside a field that does not start with one: quote the field and double the quote'),
    ("unclosed.csv", b'request_id,label\na,yes\nb,"no\nc,yes\n', 3, "a quoted field that is never closed"),
    ("after-quote.csv", b'request_id,label\na,yes\n"b"x,no\n', 3, "bad quoting: ',' expected after '\"'"),
    ("latin-1.csv", "request_id,label\na,yes\nb,café\n".encode("latin-1"), 3, "not UTF-8 text; save the file as UTF-8"),
    ("utf-16.csv", "request_id,label\na,yes\n".encode("utf-16"), 1,
     "not UTF-8 text (it looks like UTF-16); save the file as UTF-8"),
    ("utf-16-no-bom.csv", "request_id,label\na,yes\n".encode("utf-16-le"), 1,
     "a NUL byte, so not UTF-8 text (it looks like UTF-16); save the file as UTF-8"),
    ("nul.csv", b"request_id,label\na,yes\nb,no\x00\n", 3, "a NUL byte, so not UTF-8 text; save the file as UTF-8"),
    ("multi-line-record.csv", b'request_id,label,note\na,yes,"two\nlines"\nb,\n', 4, "empty 'label'"),
    ("tabs.tsv", b"request_id\tlabel\na\tyes\nb\n", 3, "1 field, fewer than the 2 of the header: no 'label'"),
    ("no-label.jsonl", b'{"request_id": "a", "label": "yes"}\n\n{"request_id": "b"}\n', 3, "no 'label'"),
    ("null-id.jsonl", b'{"request_id": "a", "label": "yes"}\n{"request_id": null, "label": "no"}\n', 2,
     "no 'request_id'"),
    ("blank-label.jsonl", b'{"request_id": "a", "label": "yes"}\n{"request_id": "b", "label": " "}\n', 2,
     "empty 'label'"),
    ("not-json.jsonl", b'{"request_id": "a", "label": "yes"}\nnot json\n', 2, "not valid JSON"),
    ("utf-16.jsonl", '{"request_id": "a", "label": "yes"}\n'.encode("utf-16"), 1,
     "not UTF-8 text (it looks like UTF-16); save the file as UTF-8"),
]


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """Requests a to e; the model answers yes to a, b and c."""
    rows = [record(ts=f"2026-11-27T10:0{i}:00Z", request_id=rid, response={"label": "yes" if i < 3 else "no"})
            for i, rid in enumerate("abcde")]
    return write_jsonl(tmp_path_factory.mktemp("labels") / "logs.jsonl", rows)


@pytest.mark.parametrize(("name", "content", "line", "reason"), BAD, ids=[case[0] for case in BAD])
def test_a_bad_line_is_refused_with_its_number_and_what_is_wrong(tmp_path, logs, name, content, line, reason):
    labels = tmp_path / name
    labels.write_bytes(content)
    result = runner.invoke(app, ["report", str(logs), "--labels", str(labels), "--format", "json"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (f"mlmon: error: labels file {labels}:{line}: {reason}. "
                             "Labels are all or nothing: fix or remove the line.\n")


GOOD = [
    ("plain.csv", b"request_id,label\na,yes\nb,no\nc,yes\nd,no\n"),
    ("blank-lines.csv", b"request_id,label\n\na,yes\nb,no\n\nc,yes\nd,no\n\n\n"),
    ("crlf-and-quotes.csv", b'request_id,label,note\r\n"a",yes,"two\r\nlines"\r\nb,"no",""\r\nc,yes,"say ""hi"""\r\nd,no,\r\n'),
    ("short-optional.csv", b"request_id,label,note\na,yes\nb,no,x\nc,yes\nd,no\n"),
    ("bom.csv", b"\xef\xbb\xbfrequest_id,label\na,yes\nb,no\nc,yes\nd,no\n"),
    ("tabs.tsv", b"request_id\tlabel\na\tyes\nb\tno\nc\tyes\nd\tno\n"),
    ("bom.jsonl", b'\xef\xbb\xbf{"request_id": "a", "label": "yes"}\n{"request_id": "b", "label": "no"}\n\n'
                  b'{"request_id": "c", "label": "yes"}\n{"request_id": "d", "label": "no", "extra": null}\n'),
]


@pytest.mark.parametrize(("name", "content"), GOOD, ids=[case[0] for case in GOOD])
def test_good_files_are_read_whole(tmp_path, logs, name, content):
    labels = tmp_path / name
    labels.write_bytes(content)
    result = runner.invoke(app, ["report", str(logs), "--labels", str(labels), "--positive-label", "yes",
                                 "--format", "json"])
    assert result.exit_code == 0, result.stderr
    metrics = json.loads(result.stdout)["windows"][0]["metrics"]
    # a, b, c, d labelled yes, no, yes, no; the model said yes, yes, yes, no
    assert metrics["label_coverage"] == 4 / 5
    assert metrics["accuracy"] == 3 / 4
    assert metrics["precision"] == pytest.approx(2 / 3, rel=1e-11) and metrics["recall"] == 1.0  # 12 digits in JSON


def test_a_clean_file_is_read_by_polars_alone(tmp_path, monkeypatch):
    def no_python(*args):
        raise AssertionError("Python read the lines of a clean labels file")

    monkeypatch.setattr(labels_module, "_first_bad_csv_line", no_python)
    monkeypatch.setattr(labels_module, "_first_bad_json_line", no_python)
    rows = {f"r{i}": ("yes", "no")[i % 2] for i in range(1000)}
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("request_id,label,note\n" + "".join(f"{k},{v},\n" for k, v in rows.items()))
    json_file = write_jsonl(tmp_path / "labels.jsonl", [{"id": k, "y": v} for k, v in rows.items()])
    for spec in (LabelSpec(str(csv_file)), LabelSpec(str(json_file), id_field="id", label_field="y")):
        frame = load_labels(spec)
        assert dict(zip(frame["request_id"], frame[LABEL])) == rows


def test_a_utf16_file_prints_no_nul_byte_through_the_entry_point(tmp_path, logs):
    from test_cli import run

    labels = tmp_path / "excel.csv"
    labels.write_bytes("request_id,label\na,yes\n".encode("utf-16-le"))
    proc = run("report", str(logs), "--labels", str(labels))
    assert proc.returncode == 2
    assert "\x00" not in proc.stderr and "\ufffd" not in proc.stderr
    assert proc.stderr.startswith(f"mlmon: error: labels file {labels}:1: a NUL byte")
    assert len(proc.stderr.splitlines()) == 1


@pytest.mark.parametrize("name", ["empty.csv", "empty.jsonl", "blank.jsonl"])
def test_an_empty_file_says_so(tmp_path, logs, name):
    labels = tmp_path / name
    labels.write_bytes(b"\n \n" if name.startswith("blank") else b"")
    result = runner.invoke(app, ["report", str(logs), "--labels", str(labels)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"mlmon: error: labels file {labels} is empty. ")
    assert len(result.stderr.splitlines()) == 1
