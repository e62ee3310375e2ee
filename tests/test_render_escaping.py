"""Text from logs is escaped wherever it is rendered: table, markdown, CSV and every JSON.

Control characters (ESC, OSC 8 hyperlinks, BEL, C1 codes such as U+009B CSI, newlines) and
bidirectional overrides and isolates (Trojan Source) never reach the output raw. People's formats
and CSV show them as visible escapes (``\\x1b``, ``\\n``, ``\\u202e``); JSON writes them as
``\\uXXXX`` escapes, so the document still parses to the logged values.
"""

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from conftest import record, write_jsonl
from typer.testing import CliRunner

from mlmon.numbers import machine_numbers
from mlmon.cli import app
from mlmon.logs.mapping import DEFAULT_MAPPING
from mlmon.metrics.windows import WindowSpec
from mlmon.render.escape import json_safe, markdown_cell, printable
from mlmon.render.machine import render_csv, render_json
from mlmon.render.markdown import render_markdown
from mlmon.render.replay import render_replay_json
from mlmon.render.table import render_table
from mlmon.replay.resources import ResourceStats
from mlmon.replay.run import ReplayRun
from mlmon.report import build_report

NOW = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
#: Model names a hostile or broken client could log, and what the table and CSV show for each.
HOSTILE = {
    "\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\": "\\x1b]8;;http://evil\\x1b\\link\\x1b]8;;\\x1b\\",
    "\x1b[31mred\x1b[0m": "\\x1b[31mred\\x1b[0m",
    "bell\x07": "bell\\x07",
    "new\nline": "new\\nline",
    "cr\rtab\t": "cr\\rtab\\t",
    "\x9b31m c1": "\\x9b31m c1",
    "m\u202eabc": "m\\u202eabc",
    "iso\u2066late\u2069": "iso\\u2066late\\u2069",
    "marks\u200e\u200f\u061c": "marks\\u200e\\u200f\\u061c",
    "del\x7f": "del\\x7f",
    "line\u2028sep": "line\\u2028sep",
}
#: Ordinary text passes untouched (CSV quoting handles the comma and the quotes).
PLAIN = 'Zürich ✓, "quoted" \\ back'
#: Characters that must never appear raw, in any format.
RAW = [chr(c) for c in (*range(0x09), *range(0x0b, 0x20), *range(0x7f, 0xa0))] + [
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
    "\u200e", "\u200f", "\u061c", "\u2028", "\u2029",
]


@pytest.fixture
def hostile_logs(tmp_path):
    names = [*HOSTILE, PLAIN]
    return write_jsonl(tmp_path / "hostile.jsonl",
                       [record(f"2026-11-27T10:00:{i:02d}Z", model=name) for i, name in enumerate(names)])


def _report(path, by=("model",)):
    report, _ = build_report([str(path)], mapping=DEFAULT_MAPPING, spec=WindowSpec(by=by), now=NOW)
    return report


def _assert_no_raw(text: str, allow_newline: bool = True):
    for char in RAW:
        assert char not in text, f"raw U+{ord(char):04X} in output"
    if not allow_newline:
        assert "\n" not in text


def test_printable_shows_every_unsafe_character_as_an_escape():
    for raw, shown in HOSTILE.items():
        assert printable(raw) == shown
    assert printable(PLAIN) == PLAIN
    _assert_no_raw(printable("".join(RAW)), allow_newline=False)


def test_csv_escapes_control_characters_the_way_the_table_does(hostile_logs):
    text = render_csv(_report(hostile_logs))
    _assert_no_raw(text.replace("\n", ""))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text.count("\n") == len(rows) + 1  # one line per row: no newline inside a cell
    models = {row["model"] for row in rows}
    assert models == {*HOSTILE.values(), PLAIN}
    table = render_table(_report(hostile_logs), width=300)
    for shown in HOSTILE.values():
        assert shown in table


def test_csv_escapes_column_names_from_log_fields(tmp_path):
    logs = write_jsonl(tmp_path / "fields.jsonl",
                       [record(f"2026-11-27T10:00:{i:02d}Z", request={"a\u202eb\x1b": i}) for i in range(5)])
    result = CliRunner().invoke(app, ["report", str(logs), "--baseline", str(logs), "--format", "csv"])
    assert result.exit_code == 0, result.output
    header = result.output.splitlines()[0]
    assert "null_rate.a\\u202eb\\x1b" in header
    _assert_no_raw(result.output.replace("\n", ""))


def test_csv_through_the_cli_has_no_raw_escape_sequences(hostile_logs):
    result = CliRunner().invoke(app, ["report", str(hostile_logs), "--by", "model", "--format", "csv"])
    assert result.exit_code == 0, result.output
    _assert_no_raw(result.output.replace("\n", ""))
    assert "\\x1b]8;;http://evil" in result.output
    assert '"Zürich ✓, ""quoted"" \\ back"' in result.output


def test_a_newline_in_a_segment_value_does_not_split_the_table_row(hostile_logs):
    report = _report(hostile_logs)
    table = render_table(report, width=300)
    rows = [line for line in table.splitlines()[4:] if line and "more metric" not in line]
    assert len(rows) == report.frame.height
    assert any(row.startswith("new\\nline ") for row in rows)


def test_bidi_controls_are_escaped_in_the_table_and_markdown(hostile_logs):
    report = _report(hostile_logs)
    table = render_table(report, width=300)
    md = render_markdown(report)
    for text in (table, md):
        _assert_no_raw(text)
    assert "m\\u202eabc" in table
    assert markdown_cell("m\u202eabc") == "m\\\\u202eabc"  # a Markdown backslash, shown as \u202e
    assert "m\\\\u202eabc" in md
    assert "new\\\\nline" in md


def test_markdown_escapes_field_names_made_from_log_fields(tmp_path):
    logs = write_jsonl(tmp_path / "fields.jsonl",
                       [record(f"2026-11-27T10:00:{i:02d}Z", request={"a\u202e|b": i}) for i in range(5)])
    result = CliRunner().invoke(app, ["report", str(logs), "--baseline", str(logs), "--format", "markdown"])
    assert result.exit_code == 0, result.output
    _assert_no_raw(result.output)
    assert "| a\\\\u202e\\|b | ks_pvalue |" in result.output  # the drift section's row of the field


def test_report_json_escapes_c1_and_bidi_controls_and_parses_to_the_logged_values(hostile_logs):
    report = _report(hostile_logs)
    text = render_json(report)
    _assert_no_raw(text)
    assert "\\u009b31m c1" in text and "m\\u202eabc" in text
    assert "Zürich ✓" in text  # international text stays readable
    doc = json.loads(text)
    assert doc == json.loads(json.dumps(machine_numbers(report.to_dict())))  # numbers as every JSON writes them
    assert {w["segment"]["model"] for w in doc["windows"]} == {*HOSTILE, PLAIN}


def test_report_json_through_the_cli(hostile_logs):
    result = CliRunner().invoke(app, ["report", str(hostile_logs), "--by", "model", "--format", "json"])
    assert result.exit_code == 0, result.output
    _assert_no_raw(result.output)
    assert {w["segment"]["model"] for w in json.loads(result.output)["windows"]} == {*HOSTILE, PLAIN}


def test_check_json_escapes_log_text(tmp_path, hostile_logs):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: any-traffic\n    expr: request_count > 0\n    every: 1h\n    by: [model]\n"
                     "    summary: \"{{ model }} has traffic\"\n")
    result = CliRunner().invoke(app, ["check", str(hostile_logs), "--rules", str(rules), "--now", "2026-11-27T13:00Z",
                                      "--format", "json"])
    assert result.exit_code == 1, result.output  # the rule fires for every model
    _assert_no_raw(result.output)
    doc = json.loads(result.output)
    assert {a["segment"]["model"] for a in doc["alerts"]} == {*HOSTILE, PLAIN}


def test_replay_json_escapes_log_text():
    target = "http://host/\u202eevil\x9b"
    text = render_replay_json(ReplayRun(target, [], 1.0, ResourceStats()), fail_over=0.0, show=5)
    _assert_no_raw(text)
    assert json.loads(text)["target"] == target


def test_json_safe_keeps_documents_equal():
    value = {"k\u2066": ["\x9b", "\u202e", "\x7f", "\u2028", "ü ✓ 東京", "\x1b"]}
    text = json_safe(json.dumps(value, ensure_ascii=False))
    _assert_no_raw(text)
    assert json.loads(text) == value
    assert "ü ✓ 東京" in text


def test_files_mlmon_writes_carry_no_raw_c1_or_bidi_characters(tmp_path):
    import json as _json

    from typer.testing import CliRunner

    from mlmon.cli import app

    hostile = "m\u009b31m\u202eabc"
    rows = [{"ts": f"2026-11-20T00:00:0{i}Z", "latency_ms": 1, "model": hostile,
             "request": {"country": hostile}} for i in range(5)]
    logs = tmp_path / "logs.jsonl"
    logs.write_text("".join(_json.dumps(r) + "\n" for r in rows) + f"bad {hostile}\n", encoding="utf-8")
    runner = CliRunner()
    profile, rejects = tmp_path / "b.json", tmp_path / "rejects.jsonl"
    assert runner.invoke(app, ["baseline", "save", str(logs), "-o", str(profile)]).exit_code == 0
    assert runner.invoke(app, ["report", str(logs), "--rejects", str(rejects), "--format", "json"]).exit_code == 0
    for path in (profile, rejects):
        text = path.read_text(encoding="utf-8")
        assert "\u009b" not in text and "\u202e" not in text
    assert _json.loads(profile.read_text())["fields"]["input.country"]["frequencies"] == {hostile: 5}
    assert _json.loads(rejects.read_text())["raw"] == f"bad {hostile}"
