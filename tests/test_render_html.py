"""report --format html: the page's numbers against an independent reading of the logs, escaping, CSP, size,
and bad input. The browser's view of the same page is tests/test_html_browser.py."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import ROOT, SAMPLE_LOGS, record, write_jsonl
from typer.testing import CliRunner

from mlmon.cli import app

MLMON = str(Path(sys.executable).parent / "mlmon")
SAMPLES = [str(SAMPLE_LOGS / "churn.jsonl.gz"), str(SAMPLE_LOGS / "fraud.jsonl.gz")]
RULES = str(ROOT / "rules.example.yaml")
NOW = "2026-11-27T00:00Z"
HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(2)>']


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


class Page(HTMLParser):
    """The parts of a page the tests read: scripts (with their attributes), tables (rows of cell texts, under
    the nearest <summary>), the cards and every element's attributes."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.scripts: list[tuple[dict, str]] = []
        self.tables: list[tuple[str, list[list[str]]]] = []
        self.tags: list[tuple[str, dict]] = []
        self.cards: dict[str, tuple[str, str]] = {}
        self._script: dict | None = None
        self._text: list[str] = []
        self._cell: list[str] | None = None
        self._summary: list[str] | None = None
        self._last_summary = ""
        self._card: list[str] | None = None
        self._card_parts: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "script":
            self._script, self._text = attrs, []
        elif tag == "table":
            self.tables.append((self._last_summary, []))
        elif tag == "tr":
            self.tables[-1][1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "summary":
            self._summary = []
        elif tag == "div" and "card" in (attrs.get("class") or "").split():
            self._card_parts = []
        elif tag == "div" and attrs.get("class") in ("k", "v", "d"):
            self._card = []

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._text)))
            self._script = None
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[-1][1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "details":
            self._last_summary = ""
        elif tag == "summary" and self._summary is not None:
            self._last_summary = "".join(self._summary)
            self._summary = None
        elif tag == "div" and self._card is not None:
            self._card_parts.append("".join(self._card))
            self._card = None
            if len(self._card_parts) == 3:
                self.cards[self._card_parts[0]] = (self._card_parts[1], self._card_parts[2])

    def handle_data(self, data):
        for sink in (self._text if self._script is not None else None, self._cell, self._summary, self._card):
            if sink is not None:
                sink.append(data)

    def data(self) -> dict:
        (text,) = [t for attrs, t in self.scripts if attrs.get("type") == "application/json"]
        return json.loads(text)


@pytest.fixture(scope="module")
def sample_page(tmp_path_factory) -> tuple[str, Page]:
    out = tmp_path_factory.mktemp("html") / "report.html"
    result = invoke("report", *SAMPLES, "--every", "1h", "--by", "model,model_version", "--rules", RULES,
                    "--now", NOW, "--format", "html", "-o", out)
    assert result.exit_code == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    return text, Page(text)


@pytest.fixture(scope="module")
def truth() -> dict[tuple, dict]:
    """Independent oracle: the sample logs read with json and numpy, per hour and (model, version)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for path in SAMPLES:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                r = json.loads(line)
                at = datetime.fromisoformat(r["ts"].replace("Z", "+00:00"))
                hour = int(at.timestamp()) // 3600 * 3600
                groups[(hour, r["model"], r["model_version"])].append(r)
    out = {}
    for key, rows in groups.items():
        latency = np.array([r["latency_ms"] for r in rows])
        errors = sum(1 for r in rows if r["status"] >= 500 or r["error"] is not None)
        out[key] = {"request_count": len(rows), "error_count": errors, "error_rate": errors / len(rows),
                    "throughput_rps": len(rows) / 3600,
                    "latency_p50_ms": np.percentile(latency, 50), "latency_p95_ms": np.percentile(latency, 95),
                    "latency_p99_ms": np.percentile(latency, 99),
                    "cpu_percent_mean": float(np.mean([r["cpu_percent"] for r in rows])),
                    "memory_mb_max": max(r["memory_mb"] for r in rows)}
    return out


def test_the_charts_data_are_the_logs_numbers(sample_page, truth):
    data = sample_page[1].data()
    assert data["segments"] == ["churn / v1", "churn / v2", "fraud / v1"]
    hours = sorted({k[0] for k in truth})
    assert data["x"] == hours  # 48 hours, every one with traffic
    charts = {c["metric"]: c for c in data["charts"]}
    assert list(charts) == ["error_rate", "latency_p95_ms", "throughput_rps", "latency_p50_ms", "latency_p99_ms",
                            "cpu_percent_mean", "memory_mb_max"]
    checked = 0
    for metric, chart in charts.items():
        for label, values in zip(data["segments"], chart["series"]):
            model, version = label.split(" / ")
            for hour, value in zip(data["x"], values):
                expected = truth.get((hour, model, version))
                if expected is None:  # churn v1 after the deploy, churn v2 before it
                    assert value in (None, 0), (metric, label, hour)
                    continue
                assert value == pytest.approx(expected[metric], rel=1e-9), (metric, label, hour)
                checked += 1
    assert checked == 7 * (48 + 38 + 10)
    assert charts["error_rate"]["scale"] == 100 and charts["latency_p95_ms"]["scale"] == 1


def test_the_tables_cells_are_the_logs_numbers(sample_page, truth):
    tables = {title.split(" · ")[0]: rows for title, rows in sample_page[1].tables if " · " in title}
    assert set(tables) == {"churn / v1", "churn / v2", "fraud / v1"}
    for label, rows in tables.items():
        model, version = label.split(" / ")
        head, body = rows[0], rows[1:]
        col = {name: i for i, name in enumerate(head)}
        assert {"window (UTC)", "requests", "err %", "p50 ms", "p95 ms", "p99 ms", "cpu %", "mem max MB"} <= set(col)
        assert "model" not in col  # the segment is the table's title
        seen = 0
        for cells in body:
            if len(cells) < len(head):  # "no requests until …": a quiet run of windows
                assert cells[1].startswith("no requests until")
                continue
            at = datetime.strptime(cells[col["window (UTC)"]], "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc)
            expected = truth[(int(at.timestamp()), model, version)]
            assert cells[col["requests"]] == f"{expected['request_count']:,}"
            assert cells[col["errors"]] == f"{expected['error_count']:,}"
            assert cells[col["err %"]] == f"{expected['error_rate'] * 100:.2f}"
            for name, metric in (("p50 ms", "latency_p50_ms"), ("p95 ms", "latency_p95_ms"),
                                 ("p99 ms", "latency_p99_ms"), ("cpu %", "cpu_percent_mean"),
                                 ("mem max MB", "memory_mb_max")):
                assert float(cells[col[name]].replace(",", "")) == pytest.approx(expected[metric], abs=0.05001)
            seen += 1
        assert seen == sum(1 for k in truth if k[1:] == (model, version))


def test_the_headline_tells_the_incident(sample_page, truth):
    text, page = sample_page
    incident = truth[(int(datetime(2026, 11, 26, 14, tzinfo=timezone.utc).timestamp()), "churn", "v2")]
    assert (incident["error_count"], incident["request_count"]) == (17, 580)
    total = sum(v["request_count"] for v in truth.values())
    errors = sum(v["error_count"] for v in truth.values())
    assert page.cards["Requests"][0] == f"{total:,}"
    assert page.cards["Error rate"][0] == f"{errors / total * 100:.2f} %"
    assert page.cards["Worst error rate"] == (f"{incident['error_rate'] * 100:.2f} %",
                                              "churn / v2, 2026-11-26 14:00–15:00 UTC")
    assert page.cards["Alerts"][0] == "3 fired"
    assert "(17 of 580 requests) for <b>churn / v2</b>" in text
    # The deploy, as a manager reads it: the median hourly p95 and the error rate, v1's before, v2's after.
    before = [v for k, v in truth.items() if k[1:] == ("churn", "v1")]
    after = [v for k, v in truth.items() if k[1:] == ("churn", "v2")]
    p95 = [float(np.median([v["latency_p95_ms"] for v in rows])) for rows in (before, after)]
    rate = [sum(v["error_count"] for v in rows) / sum(v["request_count"] for v in rows) for rows in (before, after)]
    assert (f"At 2026-11-26 14:00 UTC <b>churn / v2</b> took over from <b>churn / v1</b>: p95 latency went from "
            f"{p95[0]:.1f} ms to <b>{p95[1]:.1f} ms</b> ({p95[1] / p95[0]:.1f}×); the error rate went from "
            f"{rate[0] * 100:.2f} % to <b>{rate[1] * 100:.2f} %</b> ({rate[1] / rate[0]:.1f}×)") in text
    assert "starts taking traffic" not in text  # told once, as the handover
    assert page.data()["events"] == [{"t": datetime(2026, 11, 26, 14, tzinfo=timezone.utc).timestamp(),
                                      "text": "churn / v2 replaces churn / v1"}]


def test_self_contained_with_a_csp_that_allows_only_its_own_scripts(sample_page):
    text, page = sample_page
    code = [t for attrs, t in page.scripts if "type" not in attrs]
    assert len(code) == 2 and "uPlot" in code[0]
    (csp,) = [a["content"] for tag, a in page.tags if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    hashes = ["'sha256-" + base64.b64encode(hashlib.sha256(c.encode()).digest()).decode() + "'" for c in code]
    assert csp.startswith("default-src 'none'; script-src " + " ".join(hashes) + ";")
    assert "style-src 'unsafe-inline'" in csp and "img-src data:" in csp
    for tag, attrs in page.tags:  # nothing to fetch: no src, no stylesheet link, no external href
        assert "src" not in attrs, tag
        assert not (attrs.get("href") or "#").lstrip("#") or tag != "link", tag
        assert not re.match(r"[a-z]+:", attrs.get("href") or ""), (tag, attrs)
    assert "sourceMappingURL" not in text


def test_size_of_the_sample_logs_page_with_everything(tmp_path):
    out = tmp_path / "all.html"
    result = invoke("report", SAMPLE_LOGS, "--every", "1h", "--by", "model,model_version", "--rules", RULES,
                    "--baseline-range", "2026-11-25..2026-11-26T14:00Z", "--labels", SAMPLE_LOGS / "labels.csv",
                    "--now", NOW, "--format", "html", "-o", out)
    assert result.exit_code == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    assert out.stat().st_size < 2_000_000
    page = Page(text)
    titles = [t for tag, a in page.tags if tag == "h2" for t in [a.get("id")]]
    assert titles == ["summary", "charts", "windows", "drift", "quality", "alerts", "source"]
    assert "bad line 8 skipped" not in text and "8 bad lines skipped, by reason:" in text
    assert "Drift from the baseline in <b>churn / v2</b>" in text
    assert "<code>tenure_months</code> · churn / v2 · drifted" in text


def test_script_json_cannot_close_its_block():
    from mlmon.render.html import script_json

    text = script_json({"a": "</script><!-- & \u2028\u2029 >", "n": float("nan")})
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == {"a": "</script><!-- & \u2028\u2029 >", "n": None}


@pytest.fixture(scope="module")
def hostile_log(tmp_path_factory) -> Path:
    return write_hostile_log(tmp_path_factory.mktemp("hostile"))


def write_hostile_log(directory: Path) -> Path:
    """Segment values, a field name and an error message that try to be markup, and a bidi override."""
    path = directory / "hostile.jsonl"
    rows = []
    for i in range(120):
        value = HOSTILE[i % 2]
        rows.append(record(ts=f"2026-11-27T{10 + i // 60:02d}:{i % 60:02d}:00Z", request_id=f"r{i}",
                           model=value, model_version="v1\u202e<b>", status=500 if i % 7 == 0 else 200,
                           error=" ".join(HOSTILE) if i % 7 == 0 else None,
                           request={HOSTILE[0]: value, "country": value}))
    return write_jsonl(path, rows)


def hostile_page(log: Path, out: Path) -> str:
    rules = out.parent / "rules.yaml"
    rules.write_text("rules:\n  - name: errors\n    expr: error_rate > 0.01\n    every: 1h\n    by: [model]\n"
                     "    summary: '{{ model }} fails'\n")
    result = invoke("report", log, "--every", "30m", "--by", "model,model_version,error", "--rules", rules,
                    "--baseline", log, "--format", "html", "-o", out)
    assert result.exit_code == 0, result.stderr
    return out.read_text(encoding="utf-8")


def test_hostile_log_text_is_escaped_everywhere(hostile_log, tmp_path):
    text = hostile_page(hostile_log, tmp_path / "hostile.html")
    page = Page(text)
    assert [tag for tag, _ in page.tags].count("script") == 3
    assert "img" not in [tag for tag, _ in page.tags]
    assert not any(name.startswith("on") for _, attrs in page.tags for name in attrs)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in text
    assert "\u202e" not in text and "\\u202e" in text  # bidi override shown as an escape
    data = page.data()  # the JSON holds the same values, safely
    assert any(HOSTILE[0] in s for s in data["segments"]) and any(HOSTILE[1] in s for s in data["segments"])
    assert all("\\u202e" in s for s in data["segments"])  # shown as an escape in the legend too
    assert "<script>alert" not in text.split('id="mlmon-data">', 1)[1].split("</script>", 1)[0]


def test_bad_output_paths_are_one_line_and_exit_2(tmp_path):
    for target, words in ((tmp_path / "missing" / "r.html", "No such file or directory"),
                          (tmp_path, "it is a directory"), ("/proc/version/r.html", "Not a directory")):
        run = subprocess.run([MLMON, "report", SAMPLES[0], "--format", "html", "-o", str(target)],
                             capture_output=True, text=True)
        assert run.returncode == 2 and run.stdout == ""
        assert run.stderr.count("\n") == 1 and words in run.stderr and "Traceback" not in run.stderr


def test_html_on_a_terminal_is_refused_and_piped_is_written():
    import pty

    leader, follower = pty.openpty()
    try:
        run = subprocess.run([MLMON, "report", SAMPLES[0], "--format", "html"], stdout=follower,
                             stderr=subprocess.PIPE, text=True)
    finally:
        os.close(follower)
        os.close(leader)
    assert run.returncode == 2
    assert run.stderr == ("mlmon: error: --format html writes a web page, not text for a terminal. Write it to a "
                          "file and open that in a browser, e.g. -o report.html.\n")
    piped = subprocess.run([MLMON, "report", SAMPLES[0], "--format", "html"], capture_output=True, text=True)
    assert piped.returncode == 0 and piped.stdout.startswith("<!DOCTYPE html>")


def test_one_window_has_no_charts_but_says_why(tmp_path):
    out = tmp_path / "one.html"
    assert invoke("report", SAMPLES[0], "--format", "html", "-o", out).exit_code == 0
    page = Page(out.read_text(encoding="utf-8"))
    assert page.data()["charts"] == []
    assert "No charts: the range is one window." in out.read_text(encoding="utf-8")


def test_assets_ship_as_package_data():
    from importlib import resources

    assets = resources.files("mlmon.render").joinpath("assets")
    names = {p.name for p in assets.iterdir()}
    assert {"uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE", "report.js", "report.css"} <= names
    assert "MIT License" in assets.joinpath("uPlot.LICENSE").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"mlmon.render" = ["assets/*"]' in pyproject


def test_render_does_not_import_typer():
    code = "import sys, mlmon.render.html, mlmon.render.html_sections; print('typer' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_distributions_are_the_buckets_drift_compares():
    """The core's baseline-beside-current counts against numpy: the baseline's deciles (linear), the values per
    bin (lower, upper], and categories counted, the 15 largest shown and the rest in one bucket."""
    from mlmon.baseline.reference import reference_from_frame
    from mlmon.metrics.whole_range import distributions_by_field

    rng = np.random.default_rng(14)
    base_x, cur_x = rng.normal(50, 10, 3000), rng.normal(58, 12, 2000)
    base_c = [f"c{int(v)}" for v in rng.integers(0, 20, 3000)]
    cur_c = [f"c{int(v)}" for v in rng.integers(5, 30, 2000)]
    reference = reference_from_frame(pl.DataFrame({"input.x": base_x, "input.c": base_c}))
    segment = ["a"] * 1000 + ["b"] * 1000
    current = pl.DataFrame({"model": segment, "input.x": cur_x, "input.c": cur_c})
    frame = distributions_by_field(current, reference, ["model"])
    edges = np.quantile(base_x, [i / 10 for i in range(1, 10)])
    for model, rows in (("a", slice(0, 1000)), ("b", slice(1000, 2000))):
        x = frame.filter((pl.col("model") == model) & (pl.col("field") == "x")).sort("bucket")
        assert x["upper"].to_list()[:-1] == pytest.approx(list(edges)) and x["lower"][0] is None
        assert x["baseline"].to_list() == np.bincount(np.searchsorted(edges, base_x, side="left"), minlength=10).tolist()
        assert x["current"].to_list() == np.bincount(np.searchsorted(edges, cur_x[rows], side="left"),
                                                     minlength=10).tolist()
        c = frame.filter((pl.col("model") == model) & (pl.col("field") == "c")).sort("bucket")
        base_n, cur_n = Counter(base_c), Counter(cur_c[rows])
        shown = c.filter(pl.col("category").is_not_null())
        assert shown.height == 15 and c.height == 16 and c["others"][-1] == len(set(base_n) | set(cur_n)) - 15
        for row in shown.iter_rows(named=True):
            assert (row["baseline"], row["current"]) == (base_n[row["category"]], cur_n[row["category"]])
        assert c["baseline"].sum() == 3000 and c["current"].sum() == 1000
        share = {k: max(base_n[k] / 3000, cur_n[k] / 1000) for k in set(base_n) | set(cur_n)}
        assert min(share[k] for k in shown["category"]) >= max(v for k, v in share.items()
                                                                if k not in set(shown["category"]))


def test_golden_markup():
    """The page's markup (inlined assets left out) for the golden files' sections fixture: hourly by version,
    a baseline and labels. A changed golden file is a changed page: review it in the diff
    (MLMON_UPDATE_GOLDEN=1 rewrites it)."""
    from test_golden import GOLDEN, _sections_report

    from mlmon.render.html import render_html

    text = render_html(_sections_report(distributions=True))
    text = re.sub(r"<script>.*?</script>", "<script>…</script>", text, flags=re.S)
    text = re.sub(r"<style>.*?</style>", "<style>…</style>", text, flags=re.S)
    text = re.sub(r"'sha256-[^']+'", "'sha256-…'", text)  # the left-out scripts' hashes
    path = GOLDEN / "sections.html"
    if os.environ.get("MLMON_UPDATE_GOLDEN") or not path.exists():
        path.write_text(text, encoding="utf-8")
        if not os.environ.get("MLMON_UPDATE_GOLDEN"):
            pytest.fail(f"created {path}; review it and run again")
    assert text == path.read_text(encoding="utf-8")


def test_an_empty_log_is_a_page_that_says_so(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = tmp_path / "empty.html"
    result = invoke("report", empty, "--format", "html", "-o", out)
    assert result.exit_code == 0  # as every format of an empty report
    page = Page(out.read_text(encoding="utf-8"))
    assert page.cards == {"Requests": ("0", "in 1 window")}
    assert "No requests in the selected range." in out.read_text(encoding="utf-8")
