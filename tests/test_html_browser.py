"""report --format html in a real headless Chromium (Debian's ``chromium``, driven by playwright, no browser
download): no console error, no request but the file, charts drawn, tables there, and log text that tries
to be markup stays text. Screenshots go to tests/artifacts/ (not committed).

Without chromium the tests skip, saying how to install it; with MLMON_REQUIRE_BROWSER=1 (as .ci/run sets)
they fail instead, so CI cannot pass without having looked."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE_LOGS
from test_render_html import HOSTILE, hostile_page, write_hostile_log
from typer.testing import CliRunner

from mlmon.cli import app

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SAMPLES = [SAMPLE_LOGS / "churn.jsonl.gz", SAMPLE_LOGS / "fraud.jsonl.gz"]
SEGMENTS = ["churn / v1", "churn / v2", "fraud / v1"]


def _missing(why: str):
    if os.environ.get("MLMON_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{why}, and MLMON_REQUIRE_BROWSER=1 requires the browser tests", pytrace=False)
    pytest.skip(f"{why}: install it with 'apt-get install -y --no-install-recommends chromium' "
                "and pip install '.[test]' (playwright)")


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed")
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        _missing(f"no {CHROMIUM}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists()
                                              else shutil.which("chromium"), args=ARGS)
        yield launched
        launched.close()


class Visit:
    """A page loaded from a file, with what it logged, requested and tried to pop up."""

    def __init__(self, browser, path: Path, height: int = 1000):
        self.page = browser.new_page(viewport={"width": 1280, "height": height})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.url = path.resolve().as_uri()
        self.page.goto(self.url, wait_until="load")
        self.page.wait_for_timeout(200)  # let a late script or image (there should be none) show itself

    def js(self, code: str):
        return self.page.evaluate(code)


@pytest.fixture(scope="module")
def sample_html(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "report.html"
    result = CliRunner().invoke(app, ["report", *map(str, SAMPLES), "--every", "1h", "--by", "model,model_version",
                                      "--rules", str(ROOT / "rules.example.yaml"), "--now", "2026-11-27T00:00Z",
                                      "--format", "html", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    return out


def test_the_sample_page_renders_offline_without_errors(browser, sample_html):
    visit = Visit(browser, sample_html)
    assert visit.errors == []
    assert visit.requests == [visit.url]  # the file itself, nothing else
    charts = visit.js("""[...document.querySelectorAll('figure[data-chart]')].map(f => {
        const c = f.querySelector('.uplot canvas'); const r = c ? c.getBoundingClientRect() : {width: 0, height: 0};
        return {title: f.querySelector('figcaption').textContent, width: r.width, height: r.height,
                legend: [...f.querySelectorAll('.u-legend .u-series .u-label')].map(l => l.textContent)}; })""")
    assert [c["title"].split(" (")[0].split(",")[0] for c in charts] == [
        "Error rate", "Latency p95", "Throughput", "Latency p50", "Latency p99", "CPU", "Memory"]
    for chart in charts:
        assert chart["width"] > 200 and chart["height"] > 100, chart
        assert chart["legend"] == ["UTC", *SEGMENTS]
    tables = visit.js("[...document.querySelectorAll('table')].map(t => t.rows.length)")
    assert len(tables) >= 4 and max(tables) > 40  # a table per segment, then the alerts
    assert "What happened" in visit.js("document.body.innerText")
    ARTIFACTS.mkdir(exist_ok=True)
    visit.page.screenshot(path=str(ARTIFACTS / "report.png"))
    visit.page.screenshot(path=str(ARTIFACTS / "report-full.png"), full_page=True)
    visit.page.close()


def test_the_charts_can_be_hovered(browser, sample_html):
    visit = Visit(browser, sample_html)
    box = visit.page.locator("figure[data-chart='0'] .u-over").bounding_box()
    visit.page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
    values = visit.js("[...document.querySelectorAll(\"figure[data-chart='0'] .u-legend .u-value\")]"
                      ".map(v => v.textContent)")
    assert values[0].startswith("2026-11-26 ") and all(v for v in values)
    assert visit.errors == []
    visit.page.close()


def test_hostile_log_text_stays_text(browser, tmp_path):
    path = tmp_path / "hostile.html"
    hostile_page(write_hostile_log(tmp_path), path)
    visit = Visit(browser, path)
    assert visit.dialogs == [] and visit.errors == []
    assert visit.requests == [visit.url]  # <img src=x> would have asked for x
    assert visit.js("document.querySelectorAll('img, iframe, object, embed').length") == 0
    assert visit.js("document.querySelectorAll('script').length") == 3
    assert visit.js("[...document.querySelectorAll('*')].some(e => [...e.attributes]"
                    ".some(a => a.name.startsWith('on')))") is False
    text = visit.js("document.body.innerText")
    for hostile in HOSTILE:
        assert hostile in text
    assert f"{HOSTILE[0]} {HOSTILE[1]}" in text  # the error message, as logged
    legend = visit.js("[...document.querySelectorAll('.u-legend .u-label')].map(l => l.textContent)")
    assert any(HOSTILE[0] in label for label in legend) and any(HOSTILE[1] in label for label in legend)
    ARTIFACTS.mkdir(exist_ok=True)
    visit.page.screenshot(path=str(ARTIFACTS / "hostile.png"), full_page=True)
    visit.page.close()

