"""``mlmon.replay`` as a library: choosing requests, the three kinds of target, comparing, the results.

Every HTTP test talks to a real server on 127.0.0.1 (``replay_servers.ModelServer`` or
``demo/model.py`` in a subprocess). Selections over ``sample_logs/churn.jsonl.gz`` are
checked against plain Python over the decompressed file.
"""

from __future__ import annotations

import json
import shlex
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, SAMPLE_LOGS, record, write_jsonl
from mlmon.errors import UsageError
from mlmon.logs.mapping import load_mapping
from mlmon.replay.compare import Difference, Tolerance, differences, side_by_side
from mlmon.replay.output import gate_fired, gate_rates, result_record, summary_document, write_results
from mlmon.replay.run import ERROR, FAILED_BEFORE, MATCH, MISMATCH, TIMEOUT, Pace, _offsets, classify
from mlmon.replay.select import Selection, select_requests
from mlmon.replay.session import TargetSpec, dry_run_lines, parse_header, run_replay
from mlmon.replay.targets import Reply, SetupError, load_callable
from mlmon.rules.load import load_rules
from replay_servers import (
    ANSWER,
    DEMO_MODEL,
    TRANSPORT_HEADERS,
    ModelServer,
    churn_records,
    firing_windows_by_hand,
    free_port,
    listening,
    processes_with,
    small_log,
    start_demo_server,
    stop,
    utc,
)

CHURN = SAMPLE_LOGS / "churn.jsonl.gz"
INF, NAN = float("inf"), float("nan")
RULES = ROOT / "rules.example.yaml"
MAPPING = load_mapping(None)


def select(*inputs, **selection):
    frame, _ = select_requests([str(p) for p in inputs], MAPPING, Selection(**selection))
    return frame


def ids(frame) -> list[str]:
    return frame["request_id"].to_list()


def go(inputs, target: TargetSpec, selection: Selection = Selection(), pace: Pace = Pace(timeout=2.0),
       tolerance: Tolerance = Tolerance()):
    run, _ = run_replay([str(p) for p in inputs], mapping=MAPPING, selection=selection, target=target, pace=pace,
                        tolerance=tolerance)
    assert run is not None
    return run


def outcomes(run) -> list[tuple[str, str]]:
    return [(o.record["request_id"], o.outcome) for o in run.outcomes]


# --- choosing what to replay ----------------------------------------------------------------------


def num(value) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


WHERE_CASES = [
    ('status >= 500 and model_version == "v2"', lambda r: r["status"] >= 500 and r["model_version"] == "v2"),
    ("latency_ms > 1000", lambda r: r["latency_ms"] is not None and r["latency_ms"] > 1000),
    ('input.country == "DE"', lambda r: r["request"].get("country") == "DE"),
    ("input.age > 60", lambda r: num(r["request"].get("age")) is not None and r["request"]["age"] > 60),
    ('input.monthly_charges >= 100.5 and input.plan != "basic"',
     lambda r: num(r["request"].get("monthly_charges")) is not None and r["request"]["monthly_charges"] >= 100.5
     and r["request"].get("plan") not in (None, "basic")),  # null != "basic" is false, as in SQL
    ('input.country in ["FR", "ES"] or status == 422',
     lambda r: r["request"].get("country") in ("FR", "ES") or r["status"] == 422),
    ('output.label == "churn" and not (model_version == "v1")',
     lambda r: isinstance(r["response"], dict) and r["response"].get("label") == "churn" and r["model_version"] != "v1"),
]


@pytest.mark.parametrize("where, keep", WHERE_CASES, ids=[c[0] for c in WHERE_CASES])
def test_where_selects_what_plain_python_selects(where, keep):
    frame = select(CHURN, where=where)
    expected = [r["request_id"] for r in churn_records() if keep(r)]
    assert expected, "the case should select something"
    assert ids(frame) == expected  # same records, in logged (time) order


def test_where_compares_input_numbers_as_numbers_not_text(tmp_path):
    log = write_jsonl(tmp_path / "typed.jsonl", [
        record(request_id="a", request={"age": 5, "user": {"tier": "gold"}}),
        record(request_id="b", request={"age": 10, "user": {"tier": "silver"}}),
        record(request_id="c", request={"age": 100, "user": {"tier": "gold"}}),
        record(request_id="d", request={"age": None, "user": {}}),
    ])
    assert ids(select(log, where="input.age > 9")) == ["b", "c"]  # as text, "10" < "9"
    assert ids(select(log, where="input.age >= 10 and input.age < 100")) == ["b"]
    assert ids(select(log, where='input.user.tier == "gold"')) == ["a", "c"]
    assert ids(select(log, where="input.age == null")) == ["d"]


def test_where_on_a_boolean_input_field(tmp_path):
    log = write_jsonl(tmp_path / "bool.jsonl", [
        record(request_id="a", request={"member": True}),
        record(request_id="b", request={"member": False}),
        record(request_id="c", request={}),
    ])
    assert ids(select(log, where="input.member == true")) == ["a"]
    assert ids(select(log, where="input.member == false")) == ["b"]


def test_where_in_a_list_of_numbers(tmp_path):
    log = write_jsonl(tmp_path / "in.jsonl", [
        record(request_id="a", latency_ms=10.0, request={"age": 5}),
        record(request_id="b", latency_ms=12.5, request={"age": 7}),
    ])
    assert ids(select(log, where="latency_ms in [10, 20]")) == ["a"]
    assert ids(select(log, where="latency_ms in [12.5]")) == ["b"]
    assert ids(select(log, where="input.age in [5, 100]")) == ["a"]
    assert ids(select(log, where="input.age not in [5, 100]")) == ["b"]


def test_request_ids_are_repeatable_and_kept_in_logged_order():
    rows = churn_records()
    wanted = [rows[5000]["request_id"], rows[7]["request_id"], rows[12345]["request_id"]]
    frame = select(CHURN, request_ids=(*wanted, "no-such-request"))
    assert ids(frame) == [rows[7]["request_id"], rows[5000]["request_id"], rows[12345]["request_id"]]
    # The request body is the logged one, as JSON text.
    assert json.loads(frame["request"][0]) == rows[7]["request"]


def test_since_is_inclusive_and_until_exclusive(tmp_path):
    times = ["10:00", "10:30", "11:00", "11:30", "12:00"]
    log = write_jsonl(tmp_path / "times.jsonl",
                      [record(ts=f"2026-11-27T{t}:00Z", request_id=t) for t in times])
    frame = select(log, since=utc("2026-11-27T10:30:00Z"), until=utc("2026-11-27T11:30:00Z"))
    assert ids(frame) == ["10:30", "11:00"]
    assert ids(select(log, since=utc("2026-11-27T11:30:00Z"))) == ["11:30", "12:00"]


def test_limit_takes_the_first_requests_in_time_order(tmp_path):
    rows = [record(ts=f"2026-11-27T10:00:{s:02d}Z", request_id=f"at{s:02d}") for s in (30, 10, 50, 0, 20, 40)]
    log = write_jsonl(tmp_path / "shuffled.jsonl", rows)
    assert ids(select(log, limit=3)) == ["at00", "at10", "at20"]
    assert ids(select(log, limit=0)) == []
    assert ids(select(log, limit=100)) == ["at00", "at10", "at20", "at30", "at40", "at50"]


def test_sample_is_seeded():
    where = 'model_version == "v2"'
    population = [r["request_id"] for r in churn_records() if r["model_version"] == "v2"]
    first = ids(select(CHURN, where=where, sample=25, seed=1))
    again = ids(select(CHURN, where=where, sample=25, seed=1))
    other = ids(select(CHURN, where=where, sample=25, seed=2))
    assert first == again
    assert first != other
    assert len(first) == len(set(first)) == 25 and len(other) == 25
    assert set(first) <= set(population) and set(other) <= set(population)
    order = {rid: i for i, rid in enumerate(population)}
    assert [order[r] for r in first] == sorted(order[r] for r in first)  # replayed in logged order
    # --limit applies to the sample; a sample larger than the population is the population.
    assert ids(select(CHURN, where=where, sample=25, seed=1, limit=5)) == first[:5]
    tiny = ids(select(CHURN, request_ids=tuple(population[:3]), sample=10))
    assert tiny == population[:3]


def test_alert_selects_the_requests_of_the_windows_where_the_rule_fired():
    firing, expected = firing_windows_by_hand()
    assert firing == {("churn", "v2", utc("2026-11-26T14:00:00Z"))}
    frame = select(CHURN, alert="churn-error-spike", ruleset=load_rules(RULES))
    assert ids(frame) == expected and len(expected) > 100
    assert set(frame["model"]) == {"churn"} and set(frame["model_version"]) == {"v2"}
    assert frame["ts"].min() >= utc("2026-11-26T14:00:00Z") and frame["ts"].max() < utc("2026-11-26T15:00:00Z")


def test_alert_combined_with_where_keeps_the_firing_windows():
    _, in_window = firing_windows_by_hand()
    by_id = {r["request_id"]: r for r in churn_records()}
    expected = [rid for rid in in_window if by_id[rid]["status"] == 200]
    frame = select(CHURN, alert="churn-error-spike", ruleset=load_rules(RULES), where="status == 200")
    assert ids(frame) == expected


def test_alert_needs_a_rules_file_and_a_known_rule():
    with pytest.raises(UsageError, match="--alert needs --rules"):
        select(CHURN, alert="churn-error-spike")
    with pytest.raises(UsageError, match="no rule named 'nope'") as info:
        select(CHURN, alert="nope", ruleset=load_rules(RULES))
    assert "churn-error-spike" in str(info.value)  # the known rules are listed


# --- comparing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "logged, replayed, tolerance, same",
    [
        ({"p": 0.1}, {"p": 0.1}, Tolerance(), True),
        ({"p": 0.1 + 0.2}, {"p": 0.3}, Tolerance(), True),  # default rtol 1e-9 absorbs float noise
        ({"p": 0.1}, {"p": 0.1004}, Tolerance(), False),
        ({"p": 0.1}, {"p": 0.1004}, Tolerance(atol=0.001), True),
        ({"p": 0.1}, {"p": 0.1004}, Tolerance(atol=0.0001), False),
        ({"p": 100.0}, {"p": 100.5}, Tolerance(rtol=0.01), True),
        ({"p": 100.0}, {"p": 102.0}, Tolerance(rtol=0.01), False),
        ({"n": 3}, {"n": 3.0}, Tolerance(), True),  # JSON numbers: 3 and 3.0 are the same number
        ({"label": "stay"}, {"label": "Stay"}, Tolerance(atol=1, rtol=1), False),  # labels are exact
        ({"label": "1"}, {"label": 1}, Tolerance(atol=1), False),  # a string is not a number
        ({"flag": True}, {"flag": 1}, Tolerance(atol=1), False),  # nor is a boolean
        ({"v": None}, {"v": 0}, Tolerance(atol=1), False),
        ({"xs": [1, 2]}, {"xs": [1, 2, 3]}, Tolerance(), False),
        ({"xs": [1.0, 2.0]}, {"xs": [1.0, 2.0000001]}, Tolerance(atol=1e-6), True),
        ({"a": 1}, {"a": 1, "b": 2}, Tolerance(), False),  # an extra field is a difference
        ({"a": 1, "b": 2}, {"a": 1}, Tolerance(), False),  # so is a missing one
        ([0.5, "x"], [0.5, "x"], Tolerance(), True),
        (0.73, 0.73, Tolerance(), True),
        # No tolerance reaches infinity (numpy.isclose): inf matches only the same inf ...
        ({"p": 0.5}, {"p": INF}, Tolerance(), False),
        ({"p": 0}, {"p": -INF}, Tolerance(rtol=0.5, atol=1e300), False),
        ({"p": INF}, {"p": 1e308}, Tolerance(rtol=1.0), False),
        ({"p": INF}, {"p": INF}, Tolerance(), True),
        ({"p": -INF}, {"p": INF}, Tolerance(rtol=1.0, atol=1.0), False),
        # ... and NaN matches only NaN (numpy.isclose with equal_nan=True).
        ({"p": NAN}, {"p": NAN}, Tolerance(), True),
        ({"p": 0.5}, {"p": NAN}, Tolerance(rtol=1.0, atol=INF), False),
        ({"p": NAN}, {"p": INF}, Tolerance(), False),
        # Integers beyond any float compare exactly, without overflowing.
        ({"n": 10**400}, {"n": 10**400}, Tolerance(), True),
        ({"n": 10**400}, {"n": 1.0}, Tolerance(rtol=1.0), False),
    ],
)
def test_differences_with_tolerances(logged, replayed, tolerance, same):
    assert (differences(logged, replayed, tolerance) == []) is same


# Boundaries and asymmetry: the replayed value is numpy.isclose's ``b``, the one rtol scales, and a
# difference exactly at the bound matches (``<=``). Dyadic numbers make each bound exact in floats.
@pytest.mark.parametrize(
    "logged, replayed, rtol, atol, same",
    [
        (1.0, 2.0, 0.0, 1.0, True),  # |a - b| == atol: on the bound matches
        (1.0, 2.0, 0.0, 0.9375, False),  # just inside it does not
        (1.0, 2.0, 0.5, 0.0, True),  # rtol * |replayed| = 1.0 == |a - b|
        (2.0, 1.0, 0.5, 0.0, False),  # swapped, rtol * |replayed| = 0.5 < 1.0: not symmetric
        (-1.0, -2.0, 0.5, 0.0, True),  # magnitudes, not signed values
        (4.0, 2.0, 0.5, 1.0, True),  # atol + rtol * |replayed| = 2.0 == |a - b|
        (4.0, 2.0, 0.5, 0.75, False),
        (0.0, 0.0, 0.0, 0.0, True),
        (0.0, -0.0, 0.0, 0.0, True),
    ],
)
def test_tolerance_bounds_and_asymmetry_as_numpy_isclose(logged, replayed, rtol, atol, same):
    assert bool(np.isclose(logged, replayed, rtol=rtol, atol=atol, equal_nan=True)) is same  # the oracle agrees
    assert (differences({"p": logged}, {"p": replayed}, Tolerance(rtol=rtol, atol=atol)) == []) is same


def test_tolerance_agrees_with_numpy_isclose_on_random_pairs():
    rng = np.random.default_rng(20261202)
    specials = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-300, 1e300, np.inf, -np.inf, np.nan])
    logged = np.concatenate([rng.normal(0, 10, 3000), rng.choice(specials, 500)])
    replayed = np.concatenate([logged[:3000] * (1 + rng.normal(0, 1e-3, 3000)) + rng.normal(0, 1e-3, 3000),
                               rng.choice(specials, 500)])
    for rtol, atol in [(1e-9, 0.0), (1e-3, 0.0), (0.0, 1e-3), (1e-3, 1e-3), (0.5, 0.0)]:
        expected = np.isclose(logged, replayed, rtol=rtol, atol=atol, equal_nan=True)
        tolerance = Tolerance(rtol=rtol, atol=atol)
        got = np.array([differences(float(a), float(b), tolerance) == [] for a, b in zip(logged, replayed)])
        assert expected.any() and not expected.all()  # both outcomes occur, so the comparison means something
        mismatched = np.flatnonzero(got != expected)
        assert mismatched.size == 0, [(logged[i], replayed[i], rtol, atol) for i in mismatched[:5]]


def test_differences_name_the_paths():
    logged = {"label": "stay", "scores": [0.1, 0.9], "meta": {"id": "a", "ts": "t1"}, "gone": 1}
    replayed = {"label": "churn", "scores": [0.1, 0.8], "meta": {"id": "b", "ts": "t2"}, "new": 2}
    diffs = differences(logged, replayed)
    assert [d.path for d in diffs] == ["label", "scores[1]", "meta.id", "meta.ts", "gone", "new"]
    as_dicts = {d.path: d.to_dict() for d in diffs}
    assert as_dicts["gone"]["missing"] == "replayed" and as_dicts["new"]["missing"] == "logged"
    assert as_dicts["label"] == {"path": "label", "logged": "stay", "replayed": "churn", "missing": None}
    rows = side_by_side(diffs)
    assert rows[0] == ("label", '"stay"', '"churn"') and rows[4] == ("gone", "1", "(missing)")
    # --ignore: ids and timestamps, at any depth below the path, and whole subtrees.
    ignoring = Tolerance(ignore=("meta.id", "meta.ts"))
    assert [d.path for d in differences(logged, replayed, ignoring)] == ["label", "scores[1]", "gone", "new"]
    assert [d.path for d in differences(logged, replayed, Tolerance(ignore=("meta", "scores", "gone", "new")))] == ["label"]
    # A prefix of a name is not a path: --ignore meta.i leaves meta.id alone.
    assert "meta.id" in [d.path for d in differences(logged, replayed, Tolerance(ignore=("meta.i",)))]


def test_classify():
    rec = {"response": {"label": "stay"}, "status": 200, "error": None}
    assert classify(rec, Reply(200, {"label": "stay"}), Tolerance()) == (MATCH, [])
    verdict, diffs = classify(rec, Reply(200, {"label": "churn"}), Tolerance())
    assert verdict == MISMATCH and diffs == [Difference("label", "stay", "churn")]
    assert classify(rec, Reply(500, {"error": "x"}, error="HTTP 500"), Tolerance())[0] == ERROR
    assert classify(rec, Reply(None, error="no answer within 1s", timed_out=True), Tolerance())[0] == TIMEOUT
    # Comparing alone: a logged failure (no response) that now answers differs from the logged error.
    # (The outcome of such a request is failed_before; this is what --include-failed gates on.)
    failed = {"response": None, "status": 503, "error": "upstream timeout"}
    verdict, diffs = classify(failed, Reply(200, {"label": "stay"}), Tolerance())
    assert verdict == MISMATCH and diffs[0].logged == {"error": "upstream timeout"}


# --- requests that failed when they were logged ---------------------------------------------------------

CHANGED = {"label": "churn", "p": 0.1}
#: kind: (logged status, logged error, logged response, the server's answer now,
#:        outcome, reproduced, what comparing the answers alone says)
FAILED_CASES = {
    "ok": (200, None, ANSWER, (200, ANSWER), MATCH, None, MATCH),
    "bad": (200, None, ANSWER, (200, CHANGED), MISMATCH, None, MISMATCH),
    "was503": (503, "upstream timeout", None, (200, ANSWER), FAILED_BEFORE, False, MISMATCH),
    "still503": (503, "busy", {"error": "busy"}, (503, {"error": "busy"}), FAILED_BEFORE, True, MATCH),
    "was400": (400, None, {"detail": "bad"}, (400, {"detail": "worse"}), FAILED_BEFORE, True, MISMATCH),
    "was422": (422, None, {"detail": "x"}, (500, {"error": "boom"}), FAILED_BEFORE, True, ERROR),
    "err200": (200, "partial answer", ANSWER, (200, ANSWER), FAILED_BEFORE, False, MATCH),
}


def failed_cases_log(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "failed.jsonl", [
        record(ts=f"2026-11-27T10:00:0{i}Z", request_id=kind, request={"kind": kind}, status=status, error=error,
               response=response)
        for i, (kind, (status, error, response, *_)) in enumerate(FAILED_CASES.items())])


def test_requests_that_failed_when_logged_are_failed_before_and_say_whether_they_failed_again(tmp_path):
    with ModelServer(lambda handler, body: FAILED_CASES[body["kind"]][3]) as server:
        run = go([failed_cases_log(tmp_path)], TargetSpec(url=server.url))
    assert [(o.record["request_id"], o.outcome, o.reproduced, o.compared) for o in run.outcomes] == \
        [(kind, *case[4:]) for kind, case in FAILED_CASES.items()]
    doc = summary_document(run, fail_over=0.0, show=10)
    assert doc["counts"] == {"match": 1, "mismatch": 1, "error": 0, "timeout": 0, "failed_before": 5}
    assert doc["rates"]["failed_before"] == 5 / 7
    assert doc["mismatches"][0]["request_id"] == "bad" and doc["errors"] == []
    before = doc["failed_before"]
    assert (before["reproduced"], before["answered"], before["truncated"]) == (3, 2, False)
    # Those that failed again first (does the incident reproduce?), then those answered now; each in logged order.
    assert [r["request_id"] for r in before["requests"]] == ["still503", "was400", "was422", "was503", "err200"]
    assert before["requests"][2] == {"request_id": "was422", "logged": {"status": 422, "error": None},
                                     "reproduced": True, "status": 500, "error": "HTTP 500", "traceback": None}
    assert before["requests"][3] == {"request_id": "was503", "logged": {"status": 503, "error": "upstream timeout"},
                                     "reproduced": False, "status": 200, "error": None, "traceback": None}
    assert summary_document(run, 0.0, show=2)["failed_before"]["truncated"] is True


def test_the_gate_leaves_failed_before_out_unless_include_failed(tmp_path):
    with ModelServer(lambda handler, body: FAILED_CASES[body["kind"]][3]) as server:
        run = go([failed_cases_log(tmp_path)], TargetSpec(url=server.url))
    # Left out: only "bad" is a mismatch. Included, each counts as comparing its answer says:
    # was503 and was400 are mismatches, was422 an error, still503 (same status, same body) and err200 match.
    assert gate_rates(run) == (1 / 7, 0.0)
    assert gate_rates(run, include_failed=True) == (3 / 7, 1 / 7)
    assert gate_fired(run, 0.2) is False and gate_fired(run, 0.2, include_failed=True) is True
    assert gate_fired(run, 0.15, include_failed=False) is False and gate_fired(run, 0.14) is True
    doc = summary_document(run, 0.2, 5, include_failed=True)
    assert doc["failed"] is True and doc["include_failed"] is True
    assert doc["gate_rates"] == {"mismatch": 3 / 7, "error": 1 / 7}


# --- HTTP targets ---------------------------------------------------------------------------------


def test_http_posts_the_logged_body_with_only_content_type_and_extra_headers(tmp_path):
    secret_headers = {"Authorization": "Bearer logged-secret", "Cookie": "session=logged", "X-Api-Key": "k"}
    rows = [record(ts=f"2026-11-27T10:00:0{i}Z", request_id=f"h{i}", request={"i": i, "nested": {"x": [1, 2]}},
                   headers=secret_headers, cookies={"session": "logged"}) for i in range(3)]
    log = write_jsonl(tmp_path / "headers.jsonl", rows)
    with ModelServer() as server:
        spec = TargetSpec(url=server.url, headers=(parse_header("X-Debug: 1"), parse_header("X-Trace:  abc ")))
        run = go([log], spec)
    assert [o.outcome for o in run.outcomes] == [MATCH] * 3
    assert server.bodies == [{"i": i, "nested": {"x": [1, 2]}} for i in range(3)]
    for got in server.requests:
        assert got["path"] == "/predict"
        names = {k.lower() for k in got["headers"]}
        assert names - TRANSPORT_HEADERS == {"content-type", "x-debug", "x-trace"}
        assert got["headers"]["Content-Type"] == "application/json"
        assert got["headers"]["X-Debug"] == "1" and got["headers"]["X-Trace"] == "abc"
        assert not any("logged" in v or v == "k" for v in got["headers"].values())


def test_http_keeps_the_connection_alive(tmp_path):
    log = small_log(tmp_path, n=25)
    with ModelServer() as server:
        run = go([log], TargetSpec(url=server.url))
    assert run.count(MATCH) == 25 and len(server.requests) == 25
    # One TCP connection carried every request; mlmon's "is it up?" probe may add one empty connection.
    assert len(server.connections_with_requests) == 1
    assert server.connections <= 2


def test_http_500_is_an_error(tmp_path):
    log = small_log(tmp_path, n=3)
    with ModelServer("status500") as server:
        run = go([log], TargetSpec(url=server.url))
    assert [o.outcome for o in run.outcomes] == [ERROR] * 3
    assert {o.reply.error for o in run.outcomes} == {"HTTP 500"} and {o.reply.status for o in run.outcomes} == {500}
    assert run.rate(ERROR) == 1.0 and gate_fired(run, 0.99)


def test_http_server_that_hangs_past_the_timeout_is_a_timeout(tmp_path):
    log = small_log(tmp_path, n=2)
    with ModelServer("hang") as server:
        t0 = time.monotonic()
        run = go([log], TargetSpec(url=server.url), pace=Pace(timeout=0.3))
        took = time.monotonic() - t0
    assert [o.outcome for o in run.outcomes] == [TIMEOUT, TIMEOUT]
    assert all(o.reply.timed_out and "0.3s" in o.reply.error for o in run.outcomes)
    # The server would hang for 30 s: any answer well short of that is the 0.3 s timeout at work,
    # with room for a slow machine.
    assert all(0.25 <= o.latency_ms / 1000 < 15 for o in run.outcomes)
    assert took < 20


def test_http_server_that_closes_without_answering_is_an_error(tmp_path):
    log = small_log(tmp_path, n=2)
    with ModelServer("close") as server:
        run = go([log], TargetSpec(url=server.url), pace=Pace(timeout=2.0))
    assert [o.outcome for o in run.outcomes] == [ERROR, ERROR]
    assert all("Disconnected" in o.reply.error for o in run.outcomes)


def test_every_outcome_in_one_run_with_counts_and_rates(tmp_path):
    kinds = ["ok", "ok", "other", "500", "close", "hang", "ok"]
    rows = [record(ts=f"2026-11-27T10:00:0{i}Z", request_id=f"{k}{i}", request={"kind": k}) for i, k in enumerate(kinds)]
    log = write_jsonl(tmp_path / "mixed.jsonl", rows)

    def behave(handler, body):
        kind = body["kind"]
        if kind == "ok":
            return 200, ANSWER
        if kind == "other":
            return 200, {"label": "churn", "p": 0.1}
        if kind == "500":
            return 500, {"error": "boom"}
        if kind == "hang":
            handler.server_owner.wait_released(10)
            return None
        return None  # close

    with ModelServer(behave) as server:
        run = go([log], TargetSpec(url=server.url), pace=Pace(timeout=0.3))
    assert outcomes(run) == [("ok0", MATCH), ("ok1", MATCH), ("other2", MISMATCH), ("5003", ERROR),
                             ("close4", ERROR), ("hang5", TIMEOUT), ("ok6", MATCH)]
    doc = summary_document(run, fail_over=0.0, show=5)
    assert doc["requests"] == 7
    assert doc["counts"] == {"match": 3, "mismatch": 1, "error": 2, "timeout": 1, "failed_before": 0}
    assert doc["rates"] == pytest.approx({"match": 3 / 7, "mismatch": 1 / 7, "error": 2 / 7, "timeout": 1 / 7,
                                          "failed_before": 0.0})
    assert [e["request_id"] for e in doc["errors"]] == ["5003", "close4", "hang5"]
    assert doc["mismatches"] == [{"request_id": "other2", "diff": [
        {"path": "label", "logged": "stay", "replayed": "churn", "missing": None}]}]


def test_unreachable_target_is_a_setup_error_before_anything_is_sent(tmp_path):
    log = small_log(tmp_path, n=2)
    port = free_port()
    with pytest.raises(SetupError, match=f"cannot connect to 127.0.0.1:{port}") as info:
        go([log], TargetSpec(url=f"http://127.0.0.1:{port}/predict"))
    assert info.value.exit_code == 2 and "--serve" in str(info.value)
    with pytest.raises(SetupError, match="not an http"):
        go([log], TargetSpec(url=f"127.0.0.1:{port}"))


def test_concurrent_replay_keeps_results_in_logged_order(tmp_path):
    log = small_log(tmp_path, n=8)

    def slow_first(handler, body):
        time.sleep(0.02 * (8 - body["i"]))  # the early requests answer last
        return 200, ANSWER

    with ModelServer(slow_first) as server:
        run = go([log], TargetSpec(url=server.url), pace=Pace(concurrency=4, timeout=2.0))
    assert [o.record["request_id"] for o in run.outcomes] == [f"r{i}" for i in range(8)]
    assert run.count(MATCH) == 8
    assert len(server.connections_with_requests) > 1  # really concurrent


def test_rate_and_speed_pace_the_requests(tmp_path):
    log = small_log(tmp_path, n=5)  # logged one second apart
    # The schedule itself, exactly: the i-th request i/rate seconds, or its logged offset / speed, after the start.
    rows = [{"ts": utc(f"2026-11-27T10:00:0{i}Z")} for i in (0, 1, 3, 4)]
    assert _offsets(rows, Pace(rate=20)) == [0, 0.05, 0.1, 0.15]
    assert _offsets(rows, Pace(speed=20)) == [0, 0.05, 0.15, 0.2]
    assert _offsets(rows, Pace()) is None
    # And it is kept: a run cannot end before its last request is due (a bound a slow machine cannot break).
    with ModelServer() as server:
        for pace in (Pace(rate=20, timeout=2.0), Pace(speed=20, timeout=2.0)):
            started = time.monotonic()
            run = go([log], TargetSpec(url=server.url), pace=pace)
            assert time.monotonic() - started >= 0.2  # 4 gaps of 1/20 s
            assert run.count(MATCH) == 5
    with pytest.raises(UsageError, match="either --rate or --speed"):
        go([log], TargetSpec(url="http://127.0.0.1:1/"), pace=Pace(rate=1, speed=1))


# --- in-process models ----------------------------------------------------------------------------


MODEL_MODULE = """
import asyncio

def predict(features):
    return {"label": "stay", "p": 0.1}

async def apredict(features):
    await asyncio.sleep(0)
    return {"label": "stay", "p": 0.1}

async def slow(features):
    await asyncio.sleep(5)

def broken(features):
    raise ValueError(f"bad features {sorted(features)}")

NOT_A_FUNCTION = 3
"""


@pytest.fixture
def model_module(tmp_path, monkeypatch):
    """A module importable as ``replay_test_model_<n>`` (unique per test), and its file."""
    name = f"replay_test_model_{abs(hash(str(tmp_path))) % 10**8}"
    path = tmp_path / f"{name}.py"
    path.write_text(MODEL_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, path
    sys.modules.pop(name, None)


@pytest.mark.parametrize("function", ["predict", "apredict"])
def test_model_as_module_function_sync_and_async(tmp_path, model_module, function):
    name, _ = model_module
    run = go([small_log(tmp_path)], TargetSpec(model=f"{name}:{function}"))
    assert run.count(MATCH) == 5 and run.target == f"{name}:{function}"


@pytest.mark.parametrize("function", ["predict", "apredict"])
def test_model_as_file_function_sync_and_async(tmp_path, model_module, function):
    _, path = model_module
    run = go([small_log(tmp_path)], TargetSpec(model=f"{path}:{function}"), pace=Pace(concurrency=2, timeout=2))
    assert run.count(MATCH) == 5


def test_model_errors_and_timeouts_are_outcomes(tmp_path, model_module):
    name, _ = model_module
    log = small_log(tmp_path, n=2)
    broken = go([log], TargetSpec(model=f"{name}:broken"))
    assert [o.outcome for o in broken.outcomes] == [ERROR, ERROR]
    assert broken.outcomes[0].reply.error == "ValueError: bad features ['country', 'i']"
    slow = go([log], TargetSpec(model=f"{name}:slow"), pace=Pace(timeout=0.2))
    assert [o.outcome for o in slow.outcomes] == [TIMEOUT, TIMEOUT]


DEEP_MODEL = """
import asyncio

def predict(x):
    return first(x)

def first(x):
    return second(x)

def second(x):
    return third(x)

def third(x):
    return x["missing"]

async def apredict(x):
    await asyncio.sleep(0)
    return first(x)

def recurse(x):
    return recurse(x)

def two(x, y):
    return x
"""


def frame_lines(model: Path, *calls: tuple[str, str]) -> list[str]:
    """The traceback lines Python prints for these (function, line of code) frames, numbered from the file."""
    numbered = model.read_text().splitlines()
    out = []
    for function, code in calls:
        start = next(i for i, line in enumerate(numbered) if f"def {function}(" in line)
        number = next(i for i, line in enumerate(numbered, 1) if i > start and line.strip() == code)
        out += [f'  File "{model}", line {number}, in {function}', f"    {code}"]
    return out


@pytest.mark.parametrize("function, pace", [
    ("predict", Pace()),                             # the plain in-process loop
    ("predict", Pace(concurrency=2, timeout=2.0)),   # a plain function on the event loop
    ("apredict", Pace(timeout=2.0)),                 # an async function, in a task
])
def test_a_model_exception_keeps_the_models_own_frames(tmp_path, function, pace):
    model = tmp_path / "deep_model.py"
    model.write_text(DEEP_MODEL)
    run = go([small_log(tmp_path, n=1)], TargetSpec(model=f"{model}:{function}"), pace=pace)
    (o,) = run.outcomes
    assert o.outcome == ERROR and o.reply.error == "KeyError: 'missing'"
    entry = (function, "return first(x)")
    inner = [("first", "return second(x)"), ("second", "return third(x)"), ("third", 'return x["missing"]')]
    # No frame of mlmon's own: the traceback starts where the model was called.
    assert o.reply.traceback.lines() == frame_lines(model, entry, *inner)
    assert o.reply.traceback.lines(2) == frame_lines(model, *inner[1:])
    assert o.reply.traceback.omitted == 0
    write_results(run, tmp_path / "out.jsonl")
    (written,) = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert written["replay"]["traceback"] == "\n".join(
        ["Traceback (most recent call last):", *frame_lines(model, entry, *inner), "KeyError: 'missing'"])
    assert summary_document(run, 0.0, 5)["errors"][0]["traceback"] == written["replay"]["traceback"]


def test_a_deep_traceback_keeps_its_innermost_frames_and_a_call_that_fails_has_none(tmp_path):
    from mlmon.replay.messages import KEPT_FRAMES

    model = tmp_path / "deep_model.py"
    model.write_text(DEEP_MODEL)
    log = small_log(tmp_path, n=1)
    (o,) = go([log], TargetSpec(model=f"{model}:recurse")).outcomes
    assert o.reply.error.startswith("RecursionError: maximum recursion depth exceeded")
    tb = o.reply.traceback
    assert tb.lines() == frame_lines(model, *[("recurse", "return recurse(x)")] * KEPT_FRAMES)
    assert tb.omitted > sys.getrecursionlimit() // 2
    assert tb.text(o.reply.error).splitlines()[1] == f"  ({tb.omitted:,} outer frames not kept)"
    # Calling the model failed before any line of it ran: nothing of the model to show.
    (o,) = go([log], TargetSpec(model=f"{model}:two")).outcomes
    assert o.outcome == ERROR and "missing 1 required positional argument" in o.reply.error
    assert o.reply.traceback is None and result_record(o)["replay"]["traceback"] is None


def test_model_setup_errors(tmp_path, model_module):
    name, path = model_module
    (tmp_path / "replay_test_raises.py").write_text("raise RuntimeError('weights missing')\n")
    (tmp_path / "replay_test_syntax.py").write_text("def f(:\n")
    cases = {
        "replay_test_raises:predict": "cannot import replay_test_raises: RuntimeError: weights missing",
        f"{tmp_path / 'replay_test_syntax.py'}:f": "SyntaxError",
        f"{name}:missing": f"{name} has no attribute 'missing'",
        f"{name}:NOT_A_FUNCTION": "is not callable",
        f"{tmp_path / 'nope.py'}:predict": "does not exist",
        "replay_test_no_such_module:predict": "No module named 'replay_test_no_such_module'",
        name: "needs the form module:function",
    }
    for spec, message in cases.items():
        with pytest.raises(SetupError, match=None) as info:
            load_callable(spec)
        assert message in str(info.value), spec
        assert info.value.exit_code == 2
    sys.modules.pop("replay_test_raises", None)


def test_demo_model_in_process_matches_the_logs_it_made():
    where = 'model_version == "v2" and status == 200'
    v2 = go([CHURN], TargetSpec(model=f"{DEMO_MODEL}:churn_v2"), Selection(where=where, limit=300))
    assert v2.count(MATCH) == 300
    v2_async = go([CHURN], TargetSpec(model=f"{DEMO_MODEL}:churn_v2_async"), Selection(where=where, limit=50))
    assert v2_async.count(MATCH) == 50
    candidate = go([CHURN], TargetSpec(model=f"{DEMO_MODEL}:churn_candidate"), Selection(where=where, limit=300))
    assert candidate.count(MISMATCH) > 0 and candidate.count(ERROR) == 0 and gate_fired(candidate, 0.0)
    changed = {d.path for o in candidate.outcomes for d in o.diffs}
    assert "churn_probability" in changed


def test_logged_and_replayed_latency_percentiles_are_numpys():
    where = 'model_version == "v2" and status == 200'
    run = go([CHURN], TargetSpec(model=f"{DEMO_MODEL}:churn_v2"), Selection(where=where, limit=200))
    chosen = [r for r in churn_records() if r["model_version"] == "v2" and r["status"] == 200][:200]
    assert [o.record["request_id"] for o in run.outcomes] == [r["request_id"] for r in chosen]
    lat = run.latencies()
    logged = np.array([r["latency_ms"] for r in chosen], dtype=float)
    replayed = np.array([o.latency_ms for o in run.outcomes])
    for q in (50, 95, 99):
        assert lat["logged"][f"p{q}"] == pytest.approx(np.percentile(logged, q), rel=1e-12)
        assert lat["replayed"][f"p{q}"] == pytest.approx(np.percentile(replayed, q), rel=1e-12)


# --- command targets ------------------------------------------------------------------------------


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return shlex.join([sys.executable, str(path)])


def test_command_speaks_json_lines_in_order(tmp_path):
    rows = [record(ts=f"2026-11-27T10:00:0{i}Z", request_id=f"c{i}", request={"i": i}, response={"echo": i})
            for i in range(4)]
    rows.append(record(ts="2026-11-27T10:00:05Z", request_id="fails", request={"i": -1}))
    rows.append(record(ts="2026-11-27T10:00:06Z", request_id="garbled", request={"i": -2}))
    log = write_jsonl(tmp_path / "cmd.jsonl", rows)
    cmd = script(tmp_path, "model.py", """
        import json, sys
        for line in sys.stdin:
            i = json.loads(line)["i"]
            if i == -1:
                print(json.dumps({"error": "cannot score"}), flush=True)
            elif i == -2:
                print("not json", flush=True)
            else:
                print(json.dumps({"echo": i}), flush=True)
    """)
    run = go([log], TargetSpec(command=cmd))
    assert outcomes(run) == [("c0", MATCH), ("c1", MATCH), ("c2", MATCH), ("c3", MATCH), ("fails", ERROR),
                             ("garbled", ERROR)]
    assert run.outcomes[4].reply.error == "cannot score"
    assert "not JSON" in run.outcomes[5].reply.error


def test_command_that_hangs_on_one_request_times_out_and_is_restarted(tmp_path):
    rows = [record(ts=f"2026-11-27T10:00:0{i}Z", request_id=f"c{i}", request={"i": i}, response={"echo": i})
            for i in range(3)]
    log = write_jsonl(tmp_path / "cmd.jsonl", rows)
    cmd = script(tmp_path, "model.py", """
        import json, sys, time
        for line in sys.stdin:
            i = json.loads(line)["i"]
            if i == 1:
                time.sleep(30)
            print(json.dumps({"echo": i}), flush=True)
    """)
    run = go([log], TargetSpec(command=cmd), pace=Pace(timeout=0.5))
    # The late answer to c1 must not be taken for c2's.
    assert outcomes(run) == [("c0", MATCH), ("c1", TIMEOUT), ("c2", MATCH)]


def test_command_that_dies_is_a_setup_error(tmp_path):
    log = small_log(tmp_path, n=5)
    dies = script(tmp_path, "dies.py", """
        import sys
        sys.stderr.write("cannot load weights\\n")
        sys.exit(3)
    """)
    with pytest.raises(SetupError) as info:
        go([log], TargetSpec(command=dies))
    assert "died (exit code 3): cannot load weights" in str(info.value)
    crashes = script(tmp_path, "crashes.py", """
        import json, sys
        for n, line in enumerate(sys.stdin):
            if n == 2:
                raise RuntimeError("model exploded")
            print(json.dumps({"label": "stay", "p": 0.1}), flush=True)
    """)
    with pytest.raises(SetupError) as info:
        go([log], TargetSpec(command=crashes))
    assert "died (exit code 1): RuntimeError: model exploded" in str(info.value)
    with pytest.raises(SetupError, match="cannot start --command"):
        go([log], TargetSpec(command="replay-test-no-such-binary --jsonl"))


def test_command_that_dies_after_much_stderr_shows_the_last_line(tmp_path):
    noisy = script(tmp_path, "noisy_dies.py", """
        import sys
        sys.stderr.write("warning: something\\n" * 200)
        sys.stderr.flush()
        raise RuntimeError("the real reason")
    """)
    with pytest.raises(SetupError) as info:
        go([small_log(tmp_path, n=1)], TargetSpec(command=noisy))
    assert "RuntimeError: the real reason" in str(info.value)


# --- --serve and --pid ----------------------------------------------------------------------------


def serve_command(port: int, model: str = "churn_v2") -> str:
    return shlex.join([sys.executable, str(DEMO_MODEL), "--port", str(port), "--model", model])


def test_serve_starts_the_demo_server_replays_and_stops_it():
    port = free_port()
    url = f"http://127.0.0.1:{port}/predict"
    run = go([CHURN], TargetSpec(url=url, serve=serve_command(port)),
             Selection(where='model_version == "v2" and status == 200', limit=20), pace=Pace(rate=40, timeout=5))
    assert run.count(MATCH) == 20
    assert run.resources.samples > 0 and run.resources.memory_mb_max > 1  # the served process was measured
    assert not listening(port)
    assert processes_with(str(DEMO_MODEL), f"--port {port}") == []


def test_serve_command_that_exits_is_a_setup_error():
    port = free_port()
    with pytest.raises(SetupError, match="exited with code 2: .*invalid choice: 'nope'"):
        go([CHURN], TargetSpec(url=f"http://127.0.0.1:{port}/p", serve=serve_command(port, "nope")),
           Selection(limit=1))
    with pytest.raises(SetupError, match="cannot start --serve"):
        go([CHURN], TargetSpec(url=f"http://127.0.0.1:{port}/p", serve="replay-test-no-such-server"), Selection(limit=1))


def test_serve_on_a_port_already_in_use_is_an_error(tmp_path):
    log = small_log(tmp_path, n=3)
    with ModelServer() as squatter:
        try:
            run = go([log], TargetSpec(url=squatter.url, serve=serve_command(squatter.port)))
        except SetupError:
            run = None
        assert squatter.requests == [], "the requests went to a server mlmon did not start"
    assert run is None


def test_serve_a_server_that_logs_to_stderr(tmp_path):
    port = free_port()
    server = tmp_path / "noisy_server.py"
    server.write_text(textwrap.dedent("""
        import json, sys
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sys.stderr.write("access log line " + "x" * 20000 + "\\n")
                sys.stderr.flush()
                data = json.dumps({"label": "stay", "p": 0.1}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
    """))
    run = go([small_log(tmp_path, n=5)], TargetSpec(url=f"http://127.0.0.1:{port}/predict",
                                                     serve=shlex.join([sys.executable, str(server), str(port)])),
             pace=Pace(timeout=0.5))
    assert run.count(MATCH) == 5, outcomes(run)


def test_pid_measures_the_server_process():
    proc, port = start_demo_server("churn_v2")
    try:
        run = go([CHURN], TargetSpec(url=f"http://127.0.0.1:{port}/predict", pid=proc.pid),
                 Selection(where='model_version == "v2" and status == 200', limit=8), pace=Pace(rate=30, timeout=5))
    finally:
        stop(proc)
    assert run.count(MATCH) == 8
    stats = run.resources
    assert stats.samples >= 1
    assert stats.memory_mb_max is not None and 1 < stats.memory_mb_max < 2000
    assert stats.cpu_percent_mean is not None and 0 <= stats.cpu_percent_mean <= stats.cpu_percent_max


def test_target_spec_checks():
    for spec in (TargetSpec(), TargetSpec(url="http://x/", model="m:f"), TargetSpec(model="m:f", command="c")):
        with pytest.raises(UsageError, match="exactly one target"):
            spec.check()
    # A dry run sends nothing, so it needs no target; two are still one too many.
    TargetSpec().check(dry_run=True)
    with pytest.raises(UsageError, match="exactly one target"):
        TargetSpec(model="m:f", command="c").check(dry_run=True)
    with pytest.raises(UsageError, match="go with --target"):
        TargetSpec(model="m:f", pid=1).check()
    with pytest.raises(UsageError, match="either --pid or --serve"):
        TargetSpec(url="http://x/", pid=1, serve="x").check()
    with pytest.raises(UsageError, match="Name: value"):
        parse_header("no colon here")
    assert parse_header("X-A:b:c") == ("X-A", "b:c")
    assert parse_header("X-A: a\tb ") == ("X-A", "a\tb")  # a tab is allowed inside a value


@pytest.mark.parametrize("text, message", [
    ("X-A: a\r\nEvil: b", "the value of header X-A holds the control character \\r (character 2)"),
    ("X-A: a\nb", "control character \\n"),
    ("X-A: secret\r", "control character \\r (character 7)"),
    ("X-A: a\x00b", "control character \\x00"),
    ("X-A: a\x1b[2Jb", "control character \\x1b"),
    ("X-A: a\x7f", "control character \\x7f"),
    ("X-A\r\nEvil: b", "header name 'X-A\\r\\nEvil' may only hold"),
    ("\nX-A: b", "header name '\\nX-A' may only hold"),
    ("X A: b", "header name 'X A' may only hold"),
])
def test_a_header_is_one_line_name_value(text, message):
    with pytest.raises(UsageError) as info:
        parse_header(text)
    shown = str(info.value)
    assert message in shown and "\n" not in shown and "\r" not in shown and "\x1b" not in shown
    assert "secret" not in shown  # the value may be a secret: it is not echoed


# --- what is written --------------------------------------------------------------------------------


def secret_log(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "secrets.jsonl", [
        record(ts="2026-11-27T10:00:00Z", request_id="s1",
               request={"user": "ann", "password": "hunter2", "auth": {"Authorization": "Bearer abc123"}},
               response={"label": "stay", "p": 0.1}),
        record(ts="2026-11-27T10:00:01Z", request_id="s2", request={"user": "bob"}, response=None, status=503,
               error="upstream timeout", latency_ms=250.0),
        {"ts": "2026-11-27T10:00:02Z", "request_id": "no-body", "model": "churn", "status": 200, "latency_ms": 1.0},
    ])


def test_dry_run_lines_redact_secrets_and_skip_records_without_a_body(tmp_path):
    frame = select(secret_log(tmp_path))
    spec = TargetSpec(url="http://127.0.0.1:9/predict", headers=(("Authorization", "Bearer cli-secret"), ("X-A", "1")))
    lines = [json.loads(line) for line in dry_run_lines(frame, spec)]
    assert [x["request_id"] for x in lines] == ["s1", "s2"]
    assert lines[0]["body"] == {"user": "ann", "password": "[REDACTED]", "auth": {"Authorization": "[REDACTED]"}}
    assert lines[0]["method"] == "POST" and lines[0]["target"] == "http://127.0.0.1:9/predict"
    assert lines[0]["headers"] == {"Content-Type": "application/json", "Authorization": "[REDACTED]", "X-A": "1"}
    text = "\n".join(dry_run_lines(frame, spec))
    assert "hunter2" not in text and "abc123" not in text and "cli-secret" not in text
    in_process = [json.loads(line) for line in dry_run_lines(frame, TargetSpec(model="m:f"))]
    assert "headers" not in in_process[0] and in_process[0]["target"] == "m:f"
    nowhere = [json.loads(line) for line in dry_run_lines(frame, TargetSpec())]
    assert nowhere[0] == {"request_id": "s1", "body": lines[0]["body"]}


def test_results_records_are_mlmon_log_records_with_replay(tmp_path):
    with ModelServer() as server:
        run = go([secret_log(tmp_path)], TargetSpec(url=server.url))
    assert server.bodies[0]["password"] == "hunter2"  # the model gets the logged body as it was
    assert run.skipped_without_request == 1 and len(run.outcomes) == 2
    out = tmp_path / "results.jsonl"
    write_results(run, out)
    text = out.read_text()
    assert "hunter2" not in text and "abc123" not in text
    first, second = [json.loads(line) for line in text.splitlines()]
    assert list(first) == ["ts", "request_id", "model", "model_version", "endpoint", "status", "latency_ms",
                           "request", "response", "error", "replay"]
    assert list(first["replay"]) == ["outcome", "match", "diff", "original", "reproduced", "traceback"]
    assert first["request"]["password"] == "[REDACTED]"
    assert first["replay"] == {"outcome": "match", "match": True, "diff": [],
                               "original": {"ts": "2026-11-27T10:00:00Z", "status": 200, "latency_ms": 10.0,
                                            "error": None},
                               "reproduced": None, "traceback": None}
    assert first["status"] == 200 and first["response"] == ANSWER and first["latency_ms"] > 0
    assert utc(first["ts"]) > utc("2026-11-27T10:00:00Z")  # the time of the replay, not of the log
    # It failed when logged, and the server answers it now.
    assert second["replay"]["outcome"] == "failed_before" and second["replay"]["match"] is False
    assert second["replay"]["reproduced"] is False and second["error"] is None
    assert second["replay"]["original"] == {"ts": "2026-11-27T10:00:01Z", "status": 503, "latency_ms": 250.0,
                                            "error": "upstream timeout"}
    assert second["replay"]["diff"][0]["logged"] == {"error": "upstream timeout"}
    assert result_record(run.outcomes[0]) == first


def test_secrets_in_response_diffs_are_redacted(tmp_path):
    log = write_jsonl(tmp_path / "tokens.jsonl", [
        record(request_id="t1", response={"label": "stay", "access_token": "tok-OLD-123"})])
    with ModelServer(answer=lambda body: {"label": "stay", "access_token": "tok-NEW-456"}) as server:
        run = go([log], TargetSpec(url=server.url))
    assert run.count(MISMATCH) == 1
    out = tmp_path / "results.jsonl"
    write_results(run, out)
    written = out.read_text() + json.dumps(summary_document(run, 0.0, 5))
    assert "tok-OLD-123" not in written and "tok-NEW-456" not in written


def test_summary_document_keys_and_gate():
    with ModelServer() as server:
        run = go([CHURN], TargetSpec(url=server.url), Selection(request_ids=(churn_records()[0]["request_id"],)))
    doc = summary_document(run, fail_over=0.5, show=3)
    assert list(doc) == ["mlmon_version", "target", "requests", "skipped_without_request", "interrupted",
                         "not_replayed", "counts", "rates", "failed", "fail_over", "seconds", "throughput_rps",
                         "latency_ms", "resources", "mismatches", "mismatches_truncated", "errors", "errors_truncated",
                         "include_failed", "gate_rates", "failed_before"]
    assert doc["interrupted"] is False and doc["not_replayed"] == 0
    assert list(doc["latency_ms"]) == ["logged", "replayed"]
    assert list(doc["latency_ms"]["logged"]) == ["p50", "p95", "p99"]
    assert list(doc["resources"]) == ["samples", "cpu_percent_mean", "cpu_percent_max", "memory_mb_max"]
    assert doc["target"] == server.url and doc["requests"] == 1 and doc["fail_over"] == 0.5
    json.dumps(doc)  # JSON as it is


@pytest.mark.parametrize("mismatches, errors, fail_over, fired", [
    (0, 0, 0.0, False),
    (1, 0, 0.0, True),
    (0, 1, 0.0, True),
    (1, 0, 0.25, False),  # 1 of 4 is 0.25: not over 0.25
    (1, 0, 0.2, True),
    (1, 1, 0.25, False),  # mismatch and error rates are gated separately, not summed
    (2, 0, 0.25, True),
])
def test_gate(tmp_path, mismatches, errors, fail_over, fired):
    kinds = ["bad"] * mismatches + ["err"] * errors
    kinds += ["ok"] * (4 - len(kinds))
    rows = [record(ts=f"2026-11-27T10:00:0{i}Z", request_id=f"g{i}", request={"kind": k}) for i, k in enumerate(kinds)]
    log = write_jsonl(tmp_path / "gate.jsonl", rows)
    model = tmp_path / "gate_model.py"
    model.write_text(textwrap.dedent("""
        def predict(x):
            if x["kind"] == "err":
                raise RuntimeError("no")
            return {"label": "churn" if x["kind"] == "bad" else "stay", "p": 0.1}
    """))
    run = go([log], TargetSpec(model=f"{model}:predict"))
    assert run.count(MISMATCH) == mismatches and run.count(ERROR) == errors
    assert gate_fired(run, fail_over) is fired


def test_an_empty_selection_is_a_usage_error_not_a_silent_pass(tmp_path):
    # A CI gate that replayed nothing has proved nothing: say so (exit 2) instead of passing.
    with pytest.raises(UsageError, match="nothing to replay"):
        go([small_log(tmp_path)], TargetSpec(model=f"{DEMO_MODEL}:churn_v2"), Selection(request_ids=("nope",)))


def test_event_loop_falls_back_to_asyncio_without_uvloop(monkeypatch):
    """uvloop speeds up HTTP replay where it installs; without it, the standard loop runs the same code."""
    import builtins

    from mlmon.replay import run as run_module

    async def main():
        import asyncio

        return type(asyncio.get_running_loop()).__module__

    real_import = builtins.__import__

    def no_uvloop(name, *args, **kwargs):
        if name == "uvloop":
            raise ImportError("no uvloop here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_uvloop)
    assert run_module._run_loop(main()).startswith("asyncio")
    monkeypatch.undo()
    pytest.importorskip("uvloop")
    assert run_module._run_loop(main()).startswith("uvloop")
