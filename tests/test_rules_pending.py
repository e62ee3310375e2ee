"""``for`` in time and its progress across runs (mlmon/rules/pending.py), and the empty windows of a
segment that only the saved state still knows.

Window notation as in test_rules_eval.py: one character per window of one minute, in time order.

    breaches: x breach   . no breach   _ too few requests (ignored)
    states:   p pending  F firing      . inactive            _ ignored
"""

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from conftest import record
from mlmon.metrics.windows import WindowSpec, compute_metrics
from mlmon.rules.evaluate import FIRING, IGNORED, INACTIVE, PENDING, evaluate_rules, run_states
from mlmon.rules.load import rules_from_text
from mlmon.rules.pending import PriorState, Progress, Saved, advance, from_doc, to_doc

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
MIN = timedelta(minutes=1)
_B = {"x": True, ".": False, "_": None}
_S = {PENDING: "p", FIRING: "F", INACTIVE: ".", IGNORED: "_"}


def minute(m: float) -> datetime:
    return T0 + m * MIN


def run(breaches: str, first: int = 0, for_windows: int = 1, keep: int = 0, prior: Progress | None = None):
    """``advance`` over one-minute windows starting at minute ``first``; the states as text, and the progress."""
    starts = [minute(first + i) for i in range(len(breaches))]
    states, progress = advance(starts, [s + MIN for s in starts], [_B[c] for c in breaches], MIN, for_windows, keep,
                               prior)
    return "".join(_S[s] for s in states), progress


# --- time-based `for` within one run ------------------------------------------------

def test_for_counts_time_so_an_ignored_window_inside_a_streak_counts_towards_it():
    # for 3: breaching 00:00, ignored 00:01, breaching 00:02 ends at 00:03 = active_at + 3 windows.
    assert run("x_x", for_windows=3)[0] == "p_F"
    # Counted as breaching windows only (2 of 3), it would still be pending: the ignored minute is time that passed.
    states, progress = run("x_x", for_windows=3)
    assert progress == Progress(active_at=minute(0), judged_until=minute(3), windows=2, firing=True, hold=0,
                                fired=((minute(2), minute(3)),), known_from=minute(0))


@pytest.mark.parametrize("breaches", ["x.x", "xx.xx", "x.", "xxx.x"])
def test_for_is_consecutive_windows_when_none_is_ignored(breaches):
    # The plain-count oracle: fire at the n-th consecutive breach.
    for for_windows in (1, 2, 3):
        expected, streak = [], 0
        for c in breaches:
            streak = streak + 1 if c == "x" else 0
            expected.append(("F" if streak >= for_windows else "p") if c == "x" else ".")
        assert run(breaches, for_windows=for_windows)[0] == "".join(expected)
        assert "".join(_S[s] for s in run_states([_B[c] for c in breaches], for_windows)) == "".join(expected)


def test_progress_after_a_run_says_where_the_streak_is():
    states, p = run("..xx", first=10, for_windows=5)
    assert states == "..pp"
    assert p == Progress(active_at=minute(12), judged_until=minute(14), windows=2, firing=False, hold=0,
                         known_from=minute(10))
    assert p.live
    states, p = run("xx.", for_windows=5)
    assert p == Progress(active_at=None, judged_until=minute(3), windows=0, firing=False, hold=0, known_from=minute(0))
    assert not p.live


# --- progress carried from an earlier run -----------------------------------------------

def test_cron_runs_of_three_windows_fire_a_for_of_five_at_the_fifth_breaching_minute():
    # Runs every minute over the last 3 minutes; every minute from 00:00 breaches.
    prior, fired_at = None, None
    for now in range(3, 12):
        states, prior = run("xxx", first=now - 3, for_windows=5, prior=prior)
        if states[-1] == "F" and fired_at is None:
            fired_at = now
    assert fired_at == 5  # 00:00 + 5 windows of 1m
    assert prior.active_at == minute(0) and prior.windows == 11 and prior.firing


def test_windows_an_earlier_run_judged_are_not_counted_twice():
    # --since 10m, cron every minute: each run sees 9 windows the previous run judged, and one new one.
    _, prior = run("..........", first=0, for_windows=3)
    assert not prior.live and prior.judged_until == minute(10)
    states, prior = run(".........x", first=1, for_windows=3, prior=prior)
    assert states[-1] == "p" and prior.windows == 1
    states, prior = run("........xx", first=2, for_windows=3, prior=prior)
    assert states[-2:] == "pp" and prior.windows == 2
    # The same run again (no new window): nothing changes.
    again, same = run("........xx", first=2, for_windows=3, prior=prior)
    assert again == states and same == prior
    states, prior = run(".......xxx", first=3, for_windows=3, prior=prior)
    assert states[-3:] == "ppF" and prior.windows == 3 and prior.firing


def test_time_no_run_judged_does_not_break_the_streak():
    _, prior = run("xx", first=0, for_windows=5)
    # Cron missed minutes 2 to 4; the next run sees 00:05 only.
    states, prior = run("x", first=5, for_windows=5, prior=prior)
    assert states == "F" and prior.active_at == minute(0) and prior.windows == 3


def test_a_judged_window_without_breach_ends_the_saved_streak():
    _, prior = run("xxxx", first=0, for_windows=5)
    states, prior = run("xxxx.", first=1, for_windows=5, prior=prior)
    assert states == "pppF." and prior.active_at is None and prior.windows == 0 and not prior.firing
    states, prior = run("..", first=5, for_windows=5, prior=prior)
    assert states == ".." and not prior.live


def test_keep_firing_for_goes_on_across_runs():
    _, prior = run("x", first=0, keep=2)
    states, prior = run("x.", first=0, keep=2, prior=prior)
    assert states == "FF" and prior.firing and prior.hold == 1
    states, prior = run("..", first=1, keep=2, prior=prior)
    assert states[-1] == "F" and prior.hold == 0
    states, prior = run("...", first=1, keep=2, prior=prior)
    assert states == "FF." and not prior.firing
    # 00:01 and 00:02 fired and a next run of the same range still sees them: the progress is kept until the
    # range has moved past them.
    assert prior.live and prior.fired == ((minute(0), minute(3)),)
    states, prior = run("...", first=3, keep=2, prior=prior)
    assert states == "..." and not prior.live


def test_windows_already_judged_are_replayed_from_the_saved_start():
    _, prior = run("xxx", first=0, for_windows=5)
    # The next run (--since 4m) sees 00:00 to 00:03; only 00:03 is new. Replayed from active_at 00:00,
    # the judged windows show as pending, as the earlier run said, not as a fresh streak.
    states, prior = run("xxxx", first=0, for_windows=5, prior=prior)
    assert states == "pppp" and prior.windows == 4


def _minutes(first: int, count: int, breaching: range) -> str:
    return "".join("x" if m in breaching else "." for m in range(first, first + count))


def test_windows_held_by_keep_firing_for_stay_firing_when_a_later_run_sees_them_again():
    # for 2, keep_firing_for 2; breaching 00:00 to 00:11 (last window 00:11–00:12); a cron run every minute over
    # the last 3 minutes. Judged once, by the run that first saw it, each window is: 00:00 pending, 00:01 to 00:11
    # firing (breaching for 2 windows), 00:12 and 00:13 firing (held), from 00:14 inactive. A later run that sees
    # a window again shows it as that run judged it, whether it breached or was held.
    judged_once = {m: "p" if m == 0 else "F" if 1 <= m <= 13 else "." for m in range(-3, 18)}
    prior = None
    for now in range(0, 18):
        states, prior = run(_minutes(now - 3, 3, range(0, 12)), first=now - 3, for_windows=2, keep=2, prior=prior)
        assert states == "".join(judged_once[m] for m in range(now - 3, now)), now
    assert not prior.live


def test_without_saved_progress_a_streak_is_judged_from_the_range_only():
    # The same runs without progress: a streak that started before the range starts again at its first window,
    # which is pending, and keep_firing_for only holds what fired in the range.
    seen = {now: run(_minutes(now - 3, 3, range(0, 12)), first=now - 3, for_windows=2, keep=2)[0] for now in range(18)}
    assert seen == {0: "...", 1: "..p", 2: ".pF", 3: "pFF", **{now: "pFF" for now in range(4, 13)}, 13: "pFF",
                    14: "p..", 15: "...", 16: "...", 17: "..."}


def test_windows_judged_before_the_kept_history_are_judged_afresh():
    # The last run saw 00:03 to 00:05 (known_from 00:03); this one reaches back to 00:00 (a longer --since).
    _, prior = run("xxx", first=3, for_windows=2)
    assert prior.known_from == minute(3) and prior.fired == ((minute(4), minute(6)),)
    states, prior = run("..xxxx", first=0, for_windows=2, prior=prior)
    # 00:00 to 00:02 judged afresh; 00:03 to 00:05 as the last run judged them (00:03 pending: its streak began there).
    assert states == "..ppFF" and prior.known_from == minute(0) and prior.fired == ((minute(4), minute(6)),)
    # A state file from before the history (no known_from): every window already judged is judged afresh.
    states, _ = run("xxxx", first=2, for_windows=2, prior=Progress(minute(2), minute(5), 3, True, 0))
    assert states == "pFFF"


# --- the state file's progress object -------------------------------------------------

def test_progress_survives_the_state_file():
    entries = {"r{model=a}": Saved("r", {"model": "a"}, Progress(minute(1), minute(3), 2, False, 0)),
               "r{model=None}": Saved("r", {"model": None}, Progress(None, minute(4), 0, True, 1)),
               "r{model=b}": Saved("r", {"model": "b"}, Progress(None, minute(4), 0, False, 0,
                                                                 ((minute(1), minute(3)),), minute(1)))}
    warnings = []
    assert from_doc(to_doc(entries), warnings.append).entries == entries
    assert warnings == []


@pytest.mark.parametrize("entry", [
    {"rule": "r", "segment": {}},  # no judged_until
    {"rule": "r", "segment": {}, "judged_until": "soon", "active_at": "2026-01-01T00:00:00Z"},
    {"rule": 3, "segment": {}, "judged_until": "2026-01-01T00:00:00Z", "active_at": "2026-01-01T00:00:00Z"},
    {"rule": "r", "segment": {"m": [1]}, "judged_until": "2026-01-01T00:00:00Z", "firing": True},
    {"rule": "r", "segment": {}, "judged_until": "2026-01-01T00:00:00Z", "firing": "yes"},
    {"rule": "r", "segment": {}, "judged_until": "2026-01-01T00:00:00Z", "firing": True, "windows": -1},
    {"rule": "r", "segment": {}, "judged_until": "2026-01-01T00:00:00Z"},  # neither pending nor firing
    {"rule": "r", "segment": {}, "judged_until": "2026-01-01T00:00:00Z", "fired": [["2026-01-01T00:00:00Z"]]},
    {"rule": "r", "segment": {}, "judged_until": "2026-01-01T00:00:00Z",
     "fired": [["2026-01-01T00:01:00Z", "2026-01-01T00:00:00Z"]]},
    [],
])
def test_a_malformed_progress_entry_is_dropped_with_a_warning(entry):
    good = {"rule": "r", "segment": {}, "judged_until": "2026-01-01T00:03:00Z", "active_at": "2026-01-01T00:00:00Z"}
    warnings = []
    prior = from_doc({"bad": entry, "good": good}, warnings.append, "s.json")
    assert list(prior.entries) == ["good"]
    assert warnings == ["mlmon: state file s.json: 1 malformed progress entry dropped; those alerts start their "
                        "`for` again"]
    assert from_doc([1, 2], warnings.append).entries == {}


# --- segments only the state knows ------------------------------------------------------

def _records(rows) -> pl.DataFrame:
    frame = pl.DataFrame([{"ts": r["ts"], "model": r["model"], "status": r["status"], "latency_ms": r["latency_ms"],
                           "error": r["error"]} for r in rows])
    return frame.with_columns(pl.col("ts").str.to_datetime(time_zone="UTC").dt.cast_time_unit("us"),
                              pl.col("latency_ms").cast(pl.Float64), pl.col("error").cast(pl.String))


def _traffic(models_minutes):
    return _records([record(ts=minute(m + i / 4).strftime("%Y-%m-%dT%H:%M:%SZ"), model=model)
                     for model, minutes in models_minutes.items() for m in minutes for i in range(2)])


def test_an_extra_segment_gets_the_empty_windows_a_report_gives_a_known_segment():
    records = _traffic({"a": [0, 3], "b": [0, 1, 2, 3]})
    spec = dict(every=MIN, by=("model",), since=minute(0), until=minute(4))
    known = compute_metrics(records, WindowSpec(**spec)).frame
    # Without records in the range, "a" is unknown; as an extra segment it gets the same empty windows
    # that "a" had when the range held its records (minutes 1 and 2 above).
    silent = records.filter(pl.col("model") != "a")
    extra = compute_metrics(silent, WindowSpec(**spec, extra_segments=(("a",),))).frame
    assert extra.filter(pl.col("model") == "a").height == 4
    empty = known.filter((pl.col("model") == "a") & (pl.col("request_count") == 0))
    assert empty.height == 2
    assert extra.filter(pl.col("model") == "a")[1:3].to_dicts() == empty.to_dicts()
    assert extra.filter(pl.col("model") == "b").equals(known.filter(pl.col("model") == "b"))
    # An extra segment with records is not doubled.
    both = compute_metrics(records, WindowSpec(**spec, extra_segments=(("a",), ("b",)))).frame
    assert both.equals(known)


RULES = """rules:
  - name: silent
    expr: request_count == 0
    every: 1m
    by: [model]
  - name: quiet
    expr: request_count < 5
    every: 1m
    by: [model]
"""


def test_only_the_rule_with_the_saved_alert_judges_the_silent_segment():
    ruleset = rules_from_text(RULES)
    records = _traffic({"b": [5, 6, 7]})
    prior = PriorState({"silent{model=a}": Saved("silent", {"model": "a"}, Progress(None, minute(5), 0, True, 0))})
    result = evaluate_rules(records, ruleset, minute(5), minute(8), minute(8), prior=prior)
    silent, quiet = result.outcomes
    assert [(a.segment, a.active, a.windows_firing) for a in silent.alerts] == [({"model": "a"}, True, 3)]
    assert silent.windows.filter(pl.col("model") == "a")["request_count"].to_list() == [0, 0, 0]
    # "quiet" has no alert for "a" in the state: "a" has no records, so it has no windows for it.
    assert quiet.windows["model"].unique().to_list() == ["b"]
    assert [a.segment for a in quiet.alerts] == [{"model": "b"}]  # 2 requests a minute
    assert set(result.progress) == {"silent{model=a}", "quiet{model=b}"}
    # Without the state, the silent model has no windows: nothing fires for it.
    plain = evaluate_rules(records, ruleset, minute(5), minute(8), minute(8))
    assert plain.outcomes[0].alerts == []


def test_a_saved_alert_of_a_segment_with_no_window_this_run_is_kept():
    ruleset = rules_from_text(RULES)
    saved = Saved("silent", {"model": "a"}, Progress(minute(1), minute(5), 4, False, 0))
    prior = PriorState({"silent{model=a}": saved})
    # No --since: the range is the logs', and a model that is not in them has no range of its own to cover.
    result = evaluate_rules(_traffic({"b": [5]}).head(0), ruleset, None, None, minute(8), prior=prior)
    assert result.progress == {"silent{model=a}": saved}


def test_a_saved_alert_of_a_rule_whose_by_changed_is_dropped():
    ruleset = rules_from_text(RULES)
    prior = PriorState({"silent{}": Saved("silent", {}, Progress(minute(1), minute(5), 4, False, 0)),
                        "silent{endpoint=/x}": Saved("silent", {"endpoint": "/x"}, Progress(None, minute(5), 0, True, 0))})
    result = evaluate_rules(_traffic({"b": [5]}).head(0), ruleset, None, None, minute(8), prior=prior)
    assert result.progress == {}


def test_an_extra_segment_value_the_column_cannot_hold_is_left_out():
    records = _traffic({"b": [0, 1]}).with_columns(pl.lit(7, pl.Int64).alias("code"))
    spec = dict(every=MIN, by=("code",), since=minute(0), until=minute(2))
    frame = compute_metrics(records, WindowSpec(**spec, extra_segments=(("x",), (8,), (None,), (7,)))).frame
    assert sorted(frame.select("code", "request_count").rows(), key=repr) == sorted(
        [(7, 2), (7, 2), (8, 0), (8, 0), (None, 0), (None, 0)], key=repr)


def test_a_window_cut_at_the_end_of_time_counts_whole():
    hour = timedelta(hours=1)
    last = datetime(9999, 12, 31, 23, tzinfo=timezone.utc)
    end = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert advance([last], [end], [True], hour, 1)[0] == [FIRING]
    assert advance([last - hour, last], [last, end], [True, True], hour, 2)[0] == [PENDING, FIRING]
