"""``for`` and ``keep_firing_for`` as durations: ``for: 5m`` is a count of ``every`` windows."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import record, write_jsonl
from mlmon.errors import ConfigError
from mlmon.logs.reader import read_logs
from mlmon.rules.evaluate import FIRING, INACTIVE, PENDING, evaluate_rules
from mlmon.rules.load import rules_from_text

MLMON = str(Path(sys.executable).parent / "mlmon")


def rule_text(**keys) -> str:
    lines = "".join(f"    {k}: {v}\n" for k, v in keys.items())
    return f"rules:\n  - name: r\n    expr: error_rate > 0.5\n{lines}"


@pytest.mark.parametrize(("keys", "windows"), [
    ({"every": "1m", "for": "5m"}, (5, 0)),
    ({"every": "1m", "for": 5}, (5, 0)),
    ({"every": "2m", "for": "10m", "keep_firing_for": "4m"}, (5, 2)),
    ({"for": "3h", "keep_firing_for": "1h"}, (3, 1)),  # every defaults to 1h
    ({"every": "30s", "for": "1m 30s", "keep_firing_for": "0m"}, (3, 0)),
    ({"every": "90m", "for": "1.5h", "keep_firing_for": "3H"}, (1, 2)),
    ({"every": "5m", "for": "'1h'", "keep_firing_for": '"15m"'}, (12, 3)),
    ({"every": "1m", "keep_firing_for": 2}, (1, 2)),
    ({"keep_firing_for": "0h 0m"}, (1, 0)),
])
def test_durations_become_window_counts(keys, windows):
    rule = rules_from_text(rule_text(**keys)).rules[0]
    assert (rule.for_windows, rule.keep_firing_for) == windows


@pytest.mark.parametrize(("keys", "problem"), [
    ({"every": "2m", "for": "5m"}, 'x.yaml:5:10: rule "r": for 5m is not a multiple of every 2m'),
    ({"every": "1h", "for": "30m"}, 'x.yaml:5:10: rule "r": for 30m is not a multiple of every 1h'),
    ({"every": "1m", "keep_firing_for": "90s"}, 'x.yaml:5:22: rule "r": keep_firing_for 90s is not a multiple of every 1m'),
    ({"every": "1m", "for": "0m"}, "x.yaml:5:10: rule \"r\": 'for' must be at least 1 window: 0m is 0 windows of every 1m"),
    ({"every": "2m", "for": "'5m'"}, 'x.yaml:5:11: rule "r": for 5m is not a multiple of every 2m'),
    ({"for": "999999999d"}, ("x.yaml:4:10: rule \"r\": for '999999999d' is too long. The longest duration mlmon "
                             "takes is 36,525d (about 100 years).")),
    ({"for": "five"}, "x.yaml:4:5: rule \"r\": 'for' must be a whole number of windows or a duration such as 5m, not text"),
    ({"for": "'2'"}, "x.yaml:4:5: rule \"r\": 'for' must be a whole number of windows or a duration such as 5m, not text"),
    ({"for": 0}, "x.yaml:4:5: rule \"r\": 'for' must be at least 1"),
    ({"keep_firing_for": True}, ("x.yaml:4:5: rule \"r\": 'keep_firing_for' must be a whole number of windows or a "
                                 "duration such as 5m, not true/false")),
])
def test_bad_counts_and_durations_are_reported_at_their_value(keys, problem):
    text = rule_text(**{k: (str(v).lower() if isinstance(v, bool) else v) for k, v in keys.items()})
    with pytest.raises(ConfigError) as info:
        rules_from_text(text, "x.yaml")
    assert info.value.details == [problem]


def test_every_problem_of_a_file_at_once_through_the_entry_point(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n"
                    "  - name: a\n    expr: error_rate > 0\n    every: 2m\n    for: 5m\n    keep_firing_for: 3m\n"
                    "  - name: b\n    expr: error_rate > 0\n    every: soon\n    for: 5m\n", encoding="utf-8")
    result = subprocess.run([MLMON, "rules", "validate", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[:3] == [
        f'{path}:5:10: rule "a": for 5m is not a multiple of every 2m',
        f'{path}:6:22: rule "a": keep_firing_for 3m is not a multiple of every 2m',
        (f"{path}:9:5: rule \"b\": every 'soon' is not a duration. Use a number and a unit, such as 30s, 5m, 1h, 1d "
         "or 1h30m."),
    ]
    assert "Traceback" not in result.stderr


def test_rules_schema_knows_durations():
    result = subprocess.run([MLMON, "rules", "schema"], capture_output=True, text=True, timeout=60)
    props = json.loads(result.stdout)["properties"]["rules"]["items"]["properties"]
    for key, low in (("for", 1), ("keep_firing_for", 0)):
        kinds = props[key]["oneOf"]
        assert {"type": "integer", "minimum": low} in kinds
        assert any(k.get("type") == "string" and "pattern" in k for k in kinds)


def test_for_as_a_duration_fires_as_the_same_count(tmp_path):
    """``for: 3m`` with ``every: 1m`` fires at the end of the 3rd consecutive breaching minute, as ``for: 3``."""
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    # Minute i breaches (all errors) for i in 1..5, else no error.
    rows = [record((t0 + timedelta(minutes=i, seconds=s)).isoformat(), request_id=f"{i}-{s}",
                   status=500 if 1 <= i <= 5 else 200)
            for i in range(8) for s in (0, 30)]
    records = read_logs([str(write_jsonl(tmp_path / "l.jsonl", rows))], strict=True).records
    expected = [INACTIVE, PENDING, PENDING, FIRING, FIRING, FIRING, FIRING, INACTIVE]  # keep_firing_for 1 window
    for spelling in ({"for": "3m", "keep_firing_for": "1m"}, {"for": 3, "keep_firing_for": 1}):
        ruleset = rules_from_text(rule_text(every="1m", **spelling))
        states = evaluate_rules(records, ruleset).outcomes[0].windows["state"].to_list()
        assert states == expected, spelling
