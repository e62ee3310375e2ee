"""What a ``mlmon check`` run judges: windows anchored at its evaluation time (issue 12, defect 1).

A cron run (``--since``, ``--until`` or ``--now`` given) judges windows that end at T (``--until``, else
``--now``), each a full ``every`` long; a leading window cut by ``--since`` is dropped. A CI run (none of
them) keeps epoch-aligned windows. Expected window bounds are computed here with datetime arithmetic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from conftest import record, write_jsonl
from mlmon.cli import app
from mlmon.logs.reader import read_logs
from mlmon.metrics.windows import WindowSpec, compute_metrics
from mlmon.rules.evaluate import evaluate_rules
from mlmon.rules.load import rules_from_text

UTC = timezone.utc
MLMON = str(Path(sys.executable).parent / "mlmon")
DAY = datetime(2026, 1, 1, tzinfo=UTC)
H1 = timedelta(hours=1)
runner = CliRunner()


def at(text: str) -> datetime:
    """A time of 2026-01-01 written as ``HH:MM`` or ``HH:MM:SS[.ffffff]``."""
    return datetime.fromisoformat(f"2026-01-01T{text}+00:00")


def z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def steady_log(tmp_path: Path, hours: int = 6) -> Path:
    """360 requests an hour, one every 10 s, from 2026-01-01 00:00 for ``hours`` hours."""
    rows = [record(z(DAY + timedelta(seconds=10 * i)), request_id=f"r{i}") for i in range(360 * hours)]
    return write_jsonl(tmp_path / "steady.jsonl", rows)


def rules_file(tmp_path: Path, expr: str, every: str = "1h", extra: str = "") -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(f"rules:\n  - name: r\n    expr: {expr}\n    every: {every}\n{extra}", encoding="utf-8")
    return path


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "100", "FORCE_COLOR": None})


def run(*args):
    """The installed ``mlmon`` in a subprocess, as cron runs it."""
    env = {**os.environ, "COLUMNS": "100"}
    env.pop("FORCE_COLOR", None)
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run([MLMON, *map(str, args)], capture_output=True, text=True, env=env, timeout=120)


def anchored_windows(since: datetime, until: datetime, every: timedelta) -> list[datetime]:
    """The starts of the whole windows ``[until - k*every, until - (k-1)*every)`` inside ``[since, until)``."""
    starts = []
    start = until - every
    while start >= since:
        starts.append(start)
        start -= every
    return starts[::-1]


# --- defect 1: steady traffic never fires a count rule, at any --now --------------------------

#: Every 7 minutes over 3 hours, plus the issue's times, hour boundaries and just before one.
SWEEP = sorted({at("02:00") + timedelta(minutes=7 * i) for i in range(26)}
               | {at(t) for t in ("02:05", "02:20", "02:59", "03:00", "04:00", "04:59:59.999999", "05:00")})


@pytest.mark.parametrize("now", ["02:05", "02:20", "02:59"])
def test_issue_times_do_not_fire_through_the_entry_point(tmp_path, now):
    log, rules = steady_log(tmp_path), rules_file(tmp_path, "request_count < 100")
    result = run("check", log, "--rules", rules, "--since", "2h", "--now", z(at(now)), "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert (doc["status"], doc["alerts"]) == ("ok", [])


def test_steady_traffic_never_fires_at_any_now(tmp_path):
    log, rules = steady_log(tmp_path), rules_file(tmp_path, "request_count < 100")
    fired = {}
    for now in SWEEP:
        result = invoke("check", log, "--rules", rules, "--since", "2h", "--now", z(now), "--format", "json")
        if result.exit_code != 0 or json.loads(result.stdout)["alerts"]:
            fired[z(now)] = result.stdout
    assert fired == {}


def test_steady_traffic_never_flaps_with_state(tmp_path):
    log, rules = steady_log(tmp_path), rules_file(tmp_path, "request_count < 100")
    state = tmp_path / "state.json"
    for now in SWEEP:
        result = invoke("check", log, "--rules", rules, "--since", "2h", "--now", z(now), "--state", state)
        assert result.exit_code == 0, (z(now), result.stdout)
        assert "mlmon: firing" not in result.stderr and "mlmon: resolved" not in result.stderr, z(now)
        assert json.loads(state.read_text(encoding="utf-8"))["alerts"] == {}, z(now)


def test_count_per_window_is_a_full_hour_at_any_now(tmp_path):
    """Every judged window holds exactly 360 requests: none is in progress, none cut by --since."""
    log = steady_log(tmp_path)
    rules = rules_file(tmp_path, "request_count != 360", extra="    summary: '{{ window_start }} {{ request_count }}'\n")
    for now in SWEEP:
        result = invoke("check", log, "--rules", rules, "--since", "150m", "--now", z(now), "--format", "json")
        assert (result.exit_code, json.loads(result.stdout)["alerts"]) == (0, []), (z(now), result.stdout)


# --- window bounds ---------------------------------------------------------------------------------

ALWAYS = "request_count > 0"


@pytest.mark.parametrize(("since", "now"), [
    ("2h", "02:05"), ("150m", "03:05"), ("2h30m", "03:00"), ("3h", "04:59:59.999999"), ("1h", "02:20"),
    ("100m", "05:17:30"),
])
def test_json_bounds_are_the_anchored_windows(tmp_path, since, now):
    log = steady_log(tmp_path)
    rules = rules_file(tmp_path, ALWAYS, extra="    summary: '{{ window_start }} {{ window_end }}'\n")
    result = run("check", log, "--rules", rules, "--since", since, "--now", z(at(now)), "--format", "json")
    assert result.returncode == 1, result.stderr
    (alert,) = json.loads(result.stdout)["alerts"]
    hours, minutes = {"2h": (2, 0), "150m": (2, 30), "2h30m": (2, 30), "3h": (3, 0), "1h": (1, 0),
                      "100m": (1, 40)}[since]
    until = at(now)
    starts = anchored_windows(until - timedelta(hours=hours, minutes=minutes), until, H1)
    assert alert["first_window"] == z(starts[0])
    assert alert["last_window"] == z(starts[-1])
    assert alert["windows_firing"] == len(starts)
    assert alert["active"] is True
    # The worst window (the largest count; the first of equal ones) and its end, one hour later.
    counts = {s: sum(1 for i in range(360 * 6) if s <= DAY + timedelta(seconds=10 * i) < s + H1) for s in starts}
    worst = max(starts, key=lambda s: counts[s])
    assert alert["value"] == counts[worst]
    assert alert["summary"] == f"{z(worst)} {z(worst + H1)}"


def test_until_is_the_anchor_when_given(tmp_path):
    log, rules = steady_log(tmp_path), rules_file(tmp_path, ALWAYS, every="45m")
    until = at("04:10")
    result = invoke("check", log, "--rules", rules, "--since", z(at("01:00")), "--until", z(until),
                    "--now", z(at("05:59")), "--format", "json")
    (alert,) = json.loads(result.stdout)["alerts"]
    starts = anchored_windows(at("01:00"), until, timedelta(minutes=45))
    assert starts[0] == at("01:10")  # 00:25-01:10 is cut by --since: dropped
    assert (alert["first_window"], alert["last_window"], alert["windows_firing"]) == (
        z(starts[0]), z(starts[-1]), len(starts))


def test_now_alone_anchors_the_windows(tmp_path):
    """--now without --since/--until anchors the windows at it; the range is not cut."""
    log, rules = steady_log(tmp_path, hours=3), rules_file(tmp_path, ALWAYS)
    result = invoke("check", log, "--rules", rules, "--now", z(at("01:20")), "--format", "json")
    (alert,) = json.loads(result.stdout)["alerts"]
    # Windows at 01:20 + k hours that hold records from 00:00 to 02:59:50.
    assert (alert["first_window"], alert["last_window"], alert["windows_firing"]) == (
        z(at("00:20") - H1), z(at("02:20")), 4)


def test_table_shows_the_anchored_windows(tmp_path):
    log, rules = steady_log(tmp_path), rules_file(tmp_path, ALWAYS, extra="    by: [model]\n")
    result = run("check", log, "--rules", rules, "--since", "2h30m", "--now", z(at("03:05")))
    assert result.returncode == 1, result.stderr
    assert "fired 2026-01-01 01:05 → 2026-01-01 02:05 UTC" in result.stdout


def test_ci_mode_keeps_epoch_aligned_windows(tmp_path):
    """Without --since/--until/--now the log is complete: windows on whole hours, every one judged."""
    rows = [record(z(at("00:17") + timedelta(seconds=10 * i)), request_id=f"r{i}") for i in range(360 * 2)]
    log, rules = write_jsonl(tmp_path / "ci.jsonl", rows), rules_file(tmp_path, ALWAYS)
    result = run("check", log, "--rules", rules, "--format", "json")
    assert result.returncode == 1, result.stderr
    (alert,) = json.loads(result.stdout)["alerts"]
    # 00:17:00 to 02:16:50: the hours 00, 01 and 02, the first and last partly filled.
    assert (alert["first_window"], alert["last_window"], alert["windows_firing"]) == (
        z(at("00:00")), z(at("02:00")), 3)
    assert alert["value"] == 360  # the full hour 01:00-02:00


# --- metrics over anchored windows, against plain Python ------------------------------------------

def _irregular_records() -> list[dict]:
    """Two models, uneven gaps, some errors, one silent stretch."""
    out = []
    t = at("00:00:03.250")
    for i in range(400):
        gap = timedelta(seconds=(i * 37) % 53 + 1, microseconds=(i * 7919) % 1_000_000)
        if 150 <= i < 170:
            gap += timedelta(minutes=4)  # a quiet stretch longer than a window
        t += gap
        out.append({"ts": t, "model": "a" if i % 3 else "b", "latency_ms": float((i * 13) % 97 + 1),
                    "status": 500 if i % 11 == 0 else 200})
    return out


def _python_windows(rows, anchor, every, since, until, by_model):
    """The expected table: anchored window starts, counts, errors, max latency, throughput, zero-filled."""
    first = anchor + -((anchor - since) // every) * every  # the first window start at or after since
    kept = [r for r in rows if first <= r["ts"] < until]
    last = anchor + ((until - timedelta(microseconds=1) - anchor) // every) * every

    def start_of(ts):
        return anchor + ((ts - anchor) // every) * every

    groups: dict = {}
    for r in kept:
        groups.setdefault((start_of(r["ts"]), r["model"] if by_model else None), []).append(r)
    out = {}
    segments = sorted({r["model"] for r in kept}) if by_model else [None]
    for segment in segments:
        mine = [s for (s, m) in groups if m == segment]
        s = min(mine) if by_model else first
        while s <= last:
            rs = groups.get((s, segment), [])
            out[(s, segment)] = (len(rs), sum(r["status"] >= 500 for r in rs),
                                 max((r["latency_ms"] for r in rs), default=None), len(rs) / every.total_seconds())
            s += every
    return out


@pytest.mark.parametrize("by_model", [False, True])
@pytest.mark.parametrize(("anchor", "every", "since"), [
    (at("01:40:00.500000"), timedelta(minutes=7), at("00:10:00")),
    (at("02:00"), timedelta(minutes=15), at("00:07:30")),
    (at("01:13:17"), timedelta(minutes=5), at("00:00")),
])
def test_metrics_over_anchored_windows_match_plain_python(tmp_path, anchor, every, since, by_model):
    rows = _irregular_records()
    path = write_jsonl(tmp_path / "irregular.jsonl", [
        {**r, "ts": z(r["ts"]), "error": None} for r in rows])
    records = read_logs([str(path)], fields=["ts", "model", "status", "error", "latency_ms"], strict=True).records
    until = anchor
    spec = WindowSpec(every=every, by=("model",) if by_model else (), since=since, until=until, anchor=anchor)
    frame = compute_metrics(records, spec).frame
    got = {(r["window_start"], r["model"] if by_model else None):
           (r["request_count"], r["error_count"], r["latency_max_ms"], r["throughput_rps"])
           for r in frame.to_dicts()}
    want = _python_windows(rows, anchor, every, since, until, by_model)
    assert set(got) == set(want)
    for key, (count, errors, latency, rps) in want.items():
        assert got[key][:3] == (count, errors, latency), key
        assert got[key][3] == pytest.approx(rps, rel=1e-12), key
    ends = frame.select((pl.col("window_end") - pl.col("window_start")).unique()).to_series().to_list()
    assert ends == [every]


def test_evaluate_rules_with_an_anchor_drops_the_cut_window(tmp_path):
    """The core function: the anchor is an argument, as the clock is."""
    records = read_logs([str(steady_log(tmp_path, hours=4))], strict=True).records
    ruleset = rules_from_text("rules:\n  - name: r\n    expr: request_count < 100\n    every: 1h\n")
    since, now = at("00:59"), at("02:59")
    cut = evaluate_rules(records, ruleset, since, now, now)
    assert cut.alerts  # epoch-aligned windows cut by the range: 00:59-01:00 holds 6 requests
    anchored = evaluate_rules(records, ruleset, since, now, now, anchor=now)
    windows = anchored.outcomes[0].windows
    assert windows["window_start"].to_list() == anchored_windows(since, now, H1) == [at("00:59"), at("01:59")]
    assert windows["request_count"].to_list() == [360, 360]
    assert anchored.alerts == []
    # --since 01:30 cuts the window 00:59-01:59: it is not judged at all.
    later = evaluate_rules(records, ruleset, at("01:30"), now, now, anchor=now).outcomes[0].windows
    assert later["window_start"].to_list() == [at("01:59")]


def test_a_window_longer_than_the_range_is_refused_with_its_line(tmp_path):
    """No whole window fits in --since 45m for every: 1h: such a rule could never fire, so the run stops (exit 2)."""
    log = steady_log(tmp_path, hours=2)
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: hourly\n    expr: request_count < 10\n    every: 1h\n"
                     "  - name: default\n    expr: request_count < 10\n"
                     "  - name: short\n    expr: request_count < 10\n    every: 15m\n", encoding="utf-8")
    result = run("check", log, "--rules", rules, "--since", "45m", "--now", z(at("01:00")))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f'{rules}:4:5: rule "hourly": every 1h is longer than the range of 45m, so no whole window is judged and '
        "the rule can never fire",
        f'{rules}:5:5: rule "default": every 1h is longer than the range of 45m, so no whole window is judged and '
        "the rule can never fire",
        f"mlmon: error: rules file {rules} has 2 rules with a window longer than the range. Use a longer --since, "
        "or a shorter 'every' for these rules.",
    ]
    assert run("check", log, "--rules", rules, "--since", "1h", "--now", z(at("01:00"))).returncode == 0
    # CI mode judges every window of the log, however short the log.
    assert run("check", log, "--rules", rules).returncode == 0


def test_a_first_window_before_year_one_is_dropped_too(tmp_path):
    log = write_jsonl(tmp_path / "old.jsonl", [record("0001-01-01T00:10:00Z"), record("0001-01-01T01:40:00Z")])
    rules = rules_file(tmp_path, "request_count >= 0")
    result = invoke("check", log, "--rules", rules, "--since", "0001-01-01T00:00:00Z", "--until",
                    "0001-01-01T02:30:00Z", "--format", "json")
    (alert,) = json.loads(result.stdout)["alerts"]
    # Windows end at 02:30: 01:30-02:30 and 00:30-01:30; the one before would start before year 1.
    assert (alert["first_window"], alert["last_window"], alert["windows_firing"]) == (
        "0001-01-01T00:30:00Z", "0001-01-01T01:30:00Z", 2)


def test_drift_over_anchored_windows_is_the_drift_of_those_records(tmp_path):
    """Each anchored window's drift equals ``report``'s drift over exactly that hour (one whole-range window)."""
    from conftest import SAMPLE_LOGS

    log = str(SAMPLE_LOGS / "churn.jsonl.gz")
    base = ["--baseline-range", "2026-11-26T00:00Z..2026-11-26T12:00Z"]
    rules = tmp_path / "drift.yaml"
    rules.write_text("rules:\n  - name: d\n    expr: psi.monthly_charges >= 0\n    by: [model]\n"
                     "    summary: '{{ window_start }} {{ psi.monthly_charges }} {{ drift_share }}'\n", encoding="utf-8")
    now = datetime(2026, 11, 26, 17, 20, tzinfo=UTC)
    for start in (now - 3 * H1, now - H1):
        window = ["--since", z(start), "--until", z(start + H1)]
        alert = json.loads(invoke("check", log, "--rules", rules, *base, *window, "--format", "json").stdout)["alerts"]
        assert alert[0]["first_window"] == z(start)
        report = json.loads(invoke("report", log, *base, *window, "--by", "model", "--format", "json").stdout)
        (whole,) = report["windows"]
        psi, share = whole["metrics"]["psi.monthly_charges"], whole["metrics"]["drift_share"]
        assert alert[0]["value"] == pytest.approx(psi, rel=1e-9)
        shown_start, _, shown_share = alert[0]["summary"].split()
        assert (shown_start, float(shown_share)) == (z(start), pytest.approx(share, abs=1e-4))
