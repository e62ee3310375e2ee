"""``mlmon dashboard``: the Textual app driven by its pilot (keys, filtering, window length, pause, help,
resizing), ``--once`` as a user runs it, hostile log text, and bad options (one line, exit 2)."""

import asyncio
import functools
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ROOT, SAMPLE_LOGS, record, write_jsonl
from mlmon.cli import app as cli_app
from mlmon.live.setup import open_feed
from mlmon.render.dashboard.app import Dashboard, KeysScreen
from test_cli_startup import imported

MLMON = str(Path(sys.executable).parent / "mlmon")
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


@pytest.fixture
def log(tmp_path) -> Path:
    rows = []
    for i in range(120):  # two minutes, three models; fraud's errors are its own
        model, version = [("churn", "v1"), ("churn", "v2"), ("fraud", "v1")][i % 3]
        rows.append(record(ts=at(i), request_id=f"r{i}", model=model, model_version=version,
                           latency_ms=float(i), status=500 if model == "fraud" and i % 2 else 200,
                           error="fraud backend down" if model == "fraud" and i % 2 else None))
    return write_jsonl(tmp_path / "app.jsonl", rows)


def sync(test):
    """Run an async pilot test with asyncio (no pytest plugin needed)."""

    @functools.wraps(test)
    def run_it(*args, **kwargs):
        asyncio.run(test(*args, **kwargs))

    return run_it


def screen_text(app) -> str:
    """What the terminal shows now, line by line."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def loaded(app, pilot):
    for _ in range(100):
        await pilot.pause(0.05)
        if app.snapshot is not None and app.snapshot.refreshed_at is not None:
            await pilot.pause(0.1)  # drawn
            return
    raise AssertionError("the first frame never came")


async def settle(pilot, app, check, tries=60):
    """Wait until ``check()`` holds (a worker redraws after a key)."""
    for _ in range(tries):
        await pilot.pause(0.05)
        if check():
            return
    raise AssertionError(screen_text(app))


def dashboard(log, **options) -> Dashboard:
    feed = open_feed([str(log)], store=None, every=options.pop("every", "1m"), windows=options.pop("windows", 5))
    return Dashboard(feed, refresh_s=options.pop("refresh_s", 30))


@sync
async def test_keys_pick_a_model_and_every_panel_shows_only_it(log):
    app = dashboard(log)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app, pilot)
        text = screen_text(app)
        assert "all models" in text and "fraud backend down" in text and re.search(r"› +\(all\)", text)
        await pilot.press("tab")  # churn v1
        await settle(pilot, app, lambda: app.snapshot.segment == ("churn", "v1"))
        text = screen_text(app)
        assert re.search(r"› +churn v1", text) and "refreshed" in text and "churn v1 · 1m windows" in text
        assert "fraud backend down" not in text and "no errors" in text
        # the headline is the latest window of churn v1: records 60, 63, ..., 117 (20 of them)
        assert re.search(r"req/s\s+0\.333", text)
        await pilot.press("right", "right")  # fraud v1
        await settle(pilot, app, lambda: app.snapshot.segment == ("fraud", "v1"))
        assert "fraud backend down" in screen_text(app)
        assert re.search(r"err %\s+50\.00", screen_text(app))
        await pilot.press("left", "left", "left")  # back past churn v1 to all
        await settle(pilot, app, lambda: app.snapshot.segment is None)
        await pilot.press("q")
    assert app.return_code == 0


@sync
async def test_plus_and_minus_change_the_window_length(log):
    app = dashboard(log, every="1m")
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(app, pilot)
        await pilot.press("minus")
        await settle(pilot, app, lambda: app.snapshot.every == timedelta(seconds=30))
        assert "30s windows × 5" in screen_text(app)
        assert re.search(r"req/s\s+1\.000", screen_text(app))  # 30 requests in the latest 30 s
        await pilot.press("plus", "plus")
        await settle(pilot, app, lambda: app.snapshot.every == timedelta(minutes=5))
        assert "5m windows × 5" in screen_text(app)
        assert re.search(r"req/s\s+0\.400", screen_text(app))  # all 120 in one window of 300 s


@sync
async def test_pause_stops_reading_until_resumed(log):
    app = dashboard(log, refresh_s=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app, pilot)
        await pilot.press("p")
        assert "PAUSED" in screen_text(app)
        with log.open("a") as out:
            out.write(json.dumps(record(ts=at(121), model="new", model_version="v9")) + "\n")
        await pilot.pause(0.6)
        assert app.feed.records == 120
        await pilot.press("p")
        await settle(pilot, app, lambda: app.feed.records == 121 and "new v9" in screen_text(app))
        assert "PAUSED" not in screen_text(app)


@sync
async def test_question_mark_shows_the_keys_and_any_key_closes_them(log):
    app = dashboard(log)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        assert isinstance(app.screen, KeysScreen)
        assert "pause / resume" in screen_text(app) and "reads the logs again once" in screen_text(app)
        await pilot.press("space")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, KeysScreen)


@sync
async def test_a_terminal_too_small_gets_a_message_and_the_panels_come_back(log):
    app = dashboard(log)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app, pilot)
        await pilot.resize_terminal(40, 10)
        await pilot.pause(0.2)
        assert "Terminal too small (40×10)" in screen_text(app)
        await pilot.resize_terminal(160, 50)
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "too small" not in text and "Models and versions" in text and "Top errors" in text


@sync
async def test_a_larger_terminal_shows_more_of_the_chart_and_every_panel(tmp_path):
    logs = [str(p) for p in sorted(SAMPLE_LOGS.glob("*.jsonl.gz"))]
    feed = open_feed(logs, store=None, every="1h", windows=60, rules=ROOT / "rules.example.yaml", baseline=logs[0])
    app = Dashboard(feed, refresh_s=30)

    def chart_width() -> int:
        line = next(x for x in screen_text(app).splitlines() if x.startswith("req/s"))
        return sum(ch in "▁▂▃▄▅▆▇█" for ch in line)

    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app, pilot)
        small = chart_width()
        assert "Alerts" in screen_text(app) and "FIRING" in screen_text(app)
        await pilot.resize_terminal(160, 50)
        await pilot.pause(0.3)
        assert small < 60 == chart_width()
        assert "Drift and data quality" in screen_text(app) and "DRIFTED" in screen_text(app)


@sync
async def test_log_text_is_shown_as_text_never_as_markup_or_terminal_codes(tmp_path):
    log = write_jsonl(tmp_path / "app.jsonl", [
        record(ts=at(1), model="[red]x[/red]", model_version="\x1b[2J", error="[bold]boom[/bold] \x1b]0;t\x07"),
        record(ts=at(2), model="[link=http://e]y", error="oops [/]")])
    app = dashboard(log)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(app, pilot)
        text = screen_text(app)
        assert "[red]x[/red] \\x1b[2J" in text
        assert "[bold]boom[/bold] \\x1b]0;t\\x07" in text and "oops [/]" in text and "[link=http://e]y" in text
        await pilot.press("tab")
        await settle(pilot, app, lambda: app.snapshot.segment is not None)
        assert "\x1b" not in screen_text(app)


@sync
async def test_a_later_read_that_fails_is_said_on_the_status_line_and_the_numbers_stay(log):
    app = dashboard(log, refresh_s=0.2)
    async with app.run_test(size=(120, 30)) as pilot:
        await loaded(app, pilot)
        log.rename(log.with_name("moved-away.txt"))
        await settle(pilot, app, lambda: "last refresh failed: no log files match" in screen_text(app))
        assert re.search(r"req/s\s+1\.000", screen_text(app))
        log.with_name("moved-away.txt").rename(log)
        await settle(pilot, app, lambda: "failed" not in screen_text(app))


@sync
async def test_a_first_read_that_fails_ends_the_app_with_the_error(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_text(json.dumps(record()) + "\n")
    app = dashboard(log)
    log.unlink()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.5)
    assert app.return_code == 2 and "no log files match" in str(app.error)


# --- --once and the command line --------------------------------------------------------------------------------

def run(*args, **env):
    environment = {**os.environ, "NO_COLOR": "1", **env}
    return subprocess.run([MLMON, "dashboard", *args], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env=environment, stdin=subprocess.DEVNULL)


def test_once_prints_one_plain_frame_to_a_pipe(log):
    proc = run(str(log), "--once", "--every", "1m", "--windows", "3", "--now", "2026-11-27T10:03:00Z")
    assert proc.returncode == 0 and proc.stderr == ""
    out = proc.stdout
    assert "\x1b" not in out and out.startswith("refreshed 10:03:00 UTC · all models · 1m windows × 3")
    assert re.search(r"req/s\s+1\.000\s+= same", out)  # 60 requests in each minute
    assert "fraud backend down" in out and "churn v2" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_once_on_the_sample_logs_as_in_the_readme(tmp_path):
    result = CliRunner().invoke(cli_app, ["dashboard", *map(str, sorted(SAMPLE_LOGS.glob("*.jsonl.gz"))), "--once",
                                          "--every", "1h", "--width", "80", "--now", "2026-11-27T00:05:00Z"])
    assert result.exit_code == 0, result.output
    assert "latest window 2026-11-26 23:00–00:00 UTC, 319 requests" in result.output
    assert re.search(r"p95 ms\s+207\.0\s+▲ \+20\.2% worse", result.output)


def test_once_with_rules_and_baseline_shows_alerts_and_drift(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: slow\n    expr: latency_p95_ms > 100\n    every: 1h\n    by: [model]\n  - name: calm\n    expr: request_count > 100000\n")
    logs = sorted(map(str, SAMPLE_LOGS.glob("*.jsonl.gz")))
    proc = run(*logs, "--once", "--every", "1h", "--rules", str(rules), "--baseline", logs[0], "--width", "120")
    assert proc.returncode == 0, proc.stderr
    assert "FIRING" in proc.stdout and "slow" in proc.stdout
    assert "calm" not in proc.stdout  # it never fires
    assert re.search(r"output\.label +DRIFTED", proc.stdout) and re.search(r"tenure_months +ok", proc.stdout)


def test_once_escapes_hostile_log_text(tmp_path):
    log = write_jsonl(tmp_path / "app.jsonl", [
        record(ts=at(1), model="[red]x[/red]", model_version="\x1b[2J", error="\x1b]52;c;aGk=\x07 [bold]boom")])
    result = CliRunner().invoke(cli_app, ["dashboard", str(log), "--once", "--width", "100"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output.replace("\\x1b", "")
    assert "[red]x[/red] \\x1b[2J" in result.output and "\\x1b]52;c;aGk=\\x07 [bold]boom" in result.output


def test_once_reads_a_store(tmp_path, log):
    from mlmon.store.ingest import ingest

    ingest([str(log)], str(tmp_path / "store"))
    proc = run("--store", str(tmp_path / "store"), "--once", "--every", "1m", "--windows", "3")
    assert proc.returncode == 0, proc.stderr
    assert "· store" in proc.stdout and re.search(r"req/s\s+1\.000", proc.stdout) and "fraud backend down" in proc.stdout


@pytest.mark.parametrize("args, words", [
    ([], "mlmon dashboard needs LOGS... or --store DIR"),
    (["missing.jsonl"], "no log files match"),
    (["{empty}"], "holds no log files"),
    (["{log}", "--every", "0"], "--every"),
    (["{log}", "--every", "soon"], "--every"),
    (["{log}", "--refresh", "-1"], "--refresh"),
    (["{log}", "--refresh", "inf"], "--refresh"),
    (["-"], "cannot read standard input"),
    (["{log}", "--every", "1000d", "--windows", "10000"], "span more than a century"),
    (["--store", "{empty}/nothing"], "store"),
    (["{log}", "--store", "{empty}"], "either LOGS or --store"),
])
def test_bad_input_is_one_line_on_stderr_and_exit_2(tmp_path, log, args, words):
    (tmp_path / "empty").mkdir()
    args = [a.format(log=log, empty=tmp_path / "empty") for a in args]
    proc = run(*args, "--once")
    assert proc.returncode == 2, proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1 and words in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_without_a_terminal_and_without_once_it_says_so(log):
    proc = subprocess.run([MLMON, "dashboard", str(log)], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == ("mlmon: error: mlmon dashboard needs a terminal to draw in. Run it in a terminal, "
                                   "or give --once to print one frame as text.")


def test_report_help_does_not_import_textual(tmp_path):
    modules = imported(tmp_path, "report", "--help")
    assert not [m for m in modules if m == "textual" or m.startswith("textual.")]
    modules = imported(tmp_path, "dashboard", "--help")
    assert "textual" not in modules



@pytest.mark.parametrize("no_color", [False, True])
def test_a_change_reads_in_arrows_and_words_and_no_color_drops_the_colours(monkeypatch, no_color):
    from mlmon.render.dashboard.panels import change

    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    worse, better = change("latency_p95_ms", 150.0, 100.0), change("error_rate", 0.01, 0.02)
    assert (worse.plain, better.plain) == ("▲ +50.0% worse", "▼ -50.0% better")
    assert change("throughput_rps", 2.0, 4.0).plain == "▼ -50.0%" and change("throughput_rps", 1.0, 1.0).plain == "= same"
    styles = " ".join(str(span.style) for text in (worse, better) for span in text.spans)
    assert ("red" in styles and "green" in styles) != no_color
