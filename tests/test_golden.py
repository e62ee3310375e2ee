"""Golden files: every output format rendered from one fixture that holds what is hard.

A changed golden file is a changed contract: review it in the diff. To accept a
deliberate change, run ``MLMON_UPDATE_GOLDEN=1 pytest tests/test_golden.py``.
"""

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mlmon.baseline.load import BaselineSpec
from mlmon.logs.mapping import DEFAULT_MAPPING
from mlmon.metrics.model_quality import LabelSpec
from mlmon.metrics.windows import WindowSpec
from mlmon.render.machine import render_csv, render_json
from mlmon.render.markdown import render_markdown
from mlmon.render.table import render_table
from mlmon.report import build_report

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
HARD = HERE / "data" / "hard.jsonl"
#: A model version retired for hours, a drifted field, a field named with log text, labels and scores.
SECTIONS = HERE / "data" / "sections.jsonl"
NOW = datetime(2026, 11, 27, 13, 0, tzinfo=timezone.utc)

SPECS = {
    "whole": WindowSpec(by=("model", "model_version")),
    "hourly": WindowSpec(every=timedelta(hours=1), by=("model_version",)),
    "range": WindowSpec(every=timedelta(hours=1), since=datetime(2026, 11, 27, 10, 30, tzinfo=timezone.utc), until=NOW),
}
FORMATS = {
    "json": lambda r: render_json(r),
    "csv": lambda r: render_csv(r),
    "md": lambda r: render_markdown(r),
    "table80.txt": lambda r: render_table(r, width=80),
    "table140.txt": lambda r: render_table(r, width=140),
}


def _report(spec):
    report, _ = build_report([str(HARD)], mapping=DEFAULT_MAPPING, spec=spec, now=NOW)
    report.files = ["tests/data/hard.jsonl"]  # the same on every machine
    return report


def _sections_report(**more):
    """Hourly by version, with the first two hours as the baseline and labels: every section people see.
    ``more`` goes to build_report (the HTML report's golden file asks for distributions too)."""
    labels = LabelSpec(str(HERE / "data" / "sections.labels.csv"), "request_id", "label", "output.label", "output.p",
                       "churn", "auto")
    baseline = BaselineSpec(start=datetime(2026, 11, 27, 10, tzinfo=timezone.utc),
                            end=datetime(2026, 11, 27, 12, tzinfo=timezone.utc))
    report, _ = build_report([str(SECTIONS)], mapping=DEFAULT_MAPPING, now=NOW, baseline=baseline, labels=labels,
                             spec=WindowSpec(every=timedelta(hours=1), by=("model_version",)), summaries=True, **more)
    report.files = ["tests/data/sections.jsonl"]
    report.labels["file"] = "tests/data/sections.labels.csv"
    report.baseline["source"]["files"] = report.files
    return report


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("spec", [*SPECS, "sections"])
def test_golden(spec, fmt):
    text = FORMATS[fmt](_sections_report() if spec == "sections" else _report(SPECS[spec]))
    path = GOLDEN / f"{spec}.{fmt}"
    if os.environ.get("MLMON_UPDATE_GOLDEN") or not path.exists():
        path.write_text(text, encoding="utf-8")
        if not os.environ.get("MLMON_UPDATE_GOLDEN"):
            pytest.fail(f"created {path}; review it and run again")
    assert text == path.read_text(encoding="utf-8")


def test_tables_fit_80_columns():
    for spec in SPECS.values():
        for line in render_table(_report(spec), width=80).splitlines():
            assert len(line) <= 80, line


def test_log_text_cannot_inject_markup_or_control_sequences():
    report = _report(SPECS["whole"])
    for text in (render_table(report, width=200), render_markdown(report), render_csv(report)):
        assert "\x1b" not in text
    table = render_table(report, width=200)
    assert "[red]fraud[/red]\\x1b[31m|x" in table
    md = render_markdown(report)
    assert r"\[red\]fraud\[/red\]\\x1b\[31m\|x" in md
    assert "[red]fraud[/red]\\x1b[31m|x" in render_csv(report)


def test_colour_only_when_asked():
    report = _report(SPECS["whole"])
    assert "\x1b[" in render_table(report, width=120, color=True)
    assert "\x1b[" not in render_table(report, width=120, color=False)
