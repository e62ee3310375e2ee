"""Read and validate a rule test file: every problem at once, each at ``file:line:col``.

The format, beside its rules files::

    rule_files: [rules.yaml]           # paths relative to this file
    tests:
      - name: errors spike on v2
        start: 2026-01-01T00:00:00Z    # the first window starts here (default 1970-01-01T00:00:00Z)
        every: 1h                      # default window length of the series below (default 1h)
        windows:                       # or  logs: small.jsonl  (and mapping: FILE), with start required
          - segment: {model: churn}    # the segment's values; a rule reads a series whose keys are its 'by'
            values:                    # one value per window: a list, or promtool's notation '600x2 _ 1+1x3'
              request_count: [600, 600, 580]
              error_rate: 0.001x1 0.03
        alerts:
          - at: 3h                     # an offset from start, or an ISO time
            alertname: churn-errors    # optional: compare this rule's alerts only
            expect:
              - labels: {model: churn, severity: critical}
                state: firing          # firing (default) or pending
                annotations: {summary: ...}   # optional, compared key by key
"""

from __future__ import annotations

import difflib
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from mlmon.errors import ConfigError
from mlmon.rules.load import load_rules
from mlmon.rules.model import Rule, RuleSet
from mlmon.rules.testfile import STATES, Expectation, ExpectedAlert, Series, TestCase, TestFile
from mlmon.rules.testread import Reader, later, text_value
from mlmon.rules.testschema import ALERTS_FIELDS, EXPECT_FIELDS, TEST_FIELDS, TOP_FIELDS, names_of
from mlmon.rules.testseries import series_list, spell
from mlmon.timeparse import is_duration
from mlmon.yamlfile import did_you_mean, load_yaml

TOP_KEYS, TEST_KEYS = names_of(TOP_FIELDS), names_of(TEST_FIELDS)
ALERTS_KEYS, EXPECT_KEYS = names_of(ALERTS_FIELDS), names_of(EXPECT_FIELDS)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def load_test_file(path: str | Path) -> TestFile:
    """A validated test file and its rules; ConfigError lists every problem with its line."""
    doc = load_yaml(path, "rule test file")
    read = Reader(doc)
    data = doc.data
    if not isinstance(data, dict) or not {"rule_files", "tests"} <= set(data):
        raise ConfigError(f"{doc.where()}: a rule test file needs 'rule_files:' and 'tests:'",
                          "See rules.example.test.yaml.")
    read.mapping((), data, TOP_KEYS, "a rule test file")
    for keys, line, col in doc.duplicates:
        read.problems.append(f"{doc.path}:{line}:{col}: key {keys[-1]!r} is given twice; only the last one would count")
    ruleset = _rule_files(read, data["rule_files"])
    tests: list[TestCase] = []
    items = data["tests"]
    if not isinstance(items, list) or not items:
        read.add(("tests",), "'tests' must be a list of at least one test")
        items = []
    names: set[str] = set()
    for i, item in enumerate(items):
        test = _test(read, ("tests", i), item, ruleset, names)
        if test is not None:
            tests.append(test)
    if read.problems:
        read.problems.sort(key=_position)
        n = len(read.problems)
        raise ConfigError(f"rule test file {doc.path} has {n} problem{'s' if n > 1 else ''}",
                          "Fix the lines listed above.", details=read.problems)
    return TestFile(doc.path, ruleset, tuple(tests))


def _position(problem: str) -> tuple[str, int, int]:
    m = re.match(r"^(.*?):(\d+):(\d+): ", problem)
    return (m.group(1), int(m.group(2)), int(m.group(3))) if m else (problem, 0, 0)


def _rule_files(read: Reader, value: Any) -> RuleSet | None:
    """The rules of every rules file, validated as 'mlmon rules validate' does; None when any has problems."""
    files = [value] if isinstance(value, str) else value
    if not isinstance(files, list) or not files:
        read.add(("rule_files",), "'rule_files' must be a list of rules files")
        return None
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    ok = True
    for i, name in enumerate(files):
        keys = ("rule_files",) if isinstance(value, str) else ("rule_files", i)
        path = read.path(keys, name, "rules file")
        if path is None:
            ok = False
            continue
        try:
            ruleset = load_rules(path)
        except ConfigError as exc:
            # Each problem names its place in the rules file; a whole-file one (YAML syntax) may already.
            own = exc.message if exc.message.startswith(f"{path}:") else f"{read.doc.where(*keys)}: {exc.message}"
            read.problems.extend(exc.details or [own])
            ok = False
            continue
        for rule in ruleset.rules:
            if rule.name in seen:
                read.add(keys, f"rule {rule.name!r} is defined in two rules files (first in {seen[rule.name]})")
                ok = False
            seen[rule.name] = path
            rules.append(rule)
    return RuleSet(read.doc.path, tuple(rules)) if ok else None


def _test(read: Reader, keys: tuple, item: Any, ruleset: RuleSet | None, names: set[str]) -> TestCase | None:
    if not isinstance(item, dict):
        read.mapping(keys, item, TEST_KEYS, f"test #{keys[-1] + 1}")  # says what a test must be
        return None
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        read.add(keys + ("name",), "each test needs a 'name': text that says what it checks")
        name = f"#{keys[-1] + 1}"
    elif name in names:
        read.add(keys + ("name",), "two tests have this name", name)
    for key in item:
        if key not in TEST_KEYS:
            read.add(keys + (key,), f"unknown key {key!r}{_test_key_hint(str(key))}", name)
    names.add(name)
    before = len(read.problems)
    start = read.instant(keys + ("start",), item["start"], name) if "start" in item else EPOCH
    every = read.duration(keys + ("every",), item["every"], name) if "every" in item else timedelta(hours=1)
    series: tuple[Series, ...] = ()
    logs: tuple[str, ...] = ()
    mapping = prices = None
    preset = "auto"
    if ("windows" in item) == ("logs" in item):
        read.add(keys, "give the input as either 'windows:' (metric values) or 'logs:' (a log file), one of them", name)
    elif "windows" in item:
        series = series_list(read, keys + ("windows",), item["windows"], every or timedelta(hours=1), ruleset, name)
        for key in ("mapping", "preset", "prices"):
            if key in item:
                read.add(keys + (key,), f"'{key}' reads logs; it goes with 'logs:'", name)
    else:
        logs = _logs(read, keys, item, ruleset, name)
        if "mapping" in item:
            mapping = read.path(keys + ("mapping",), item["mapping"], "mapping file", name)
        preset = _preset(read, keys, item, name)
        if "prices" in item:
            prices = read.path(keys + ("prices",), item["prices"], "prices file", name)
    for s in series:
        if start is not None and later(start, s.length * s.every) is None:
            read.add(keys + ("windows",), f"a series of {s.length:,} windows of {spell(s.every)} from the test's "
                                          f"start ends past the year 9999", name)
    expectations = _expectations(read, keys + ("alerts",), item.get("alerts"), start, ruleset, name)
    if len(read.problems) > before or start is None:
        return None
    return TestCase(name, start, tuple(expectations), series, logs, mapping, read.doc.where(*keys), preset, prices)


def _preset(read: Reader, keys: tuple, item: dict, name: str) -> str:
    from mlmon.logs.presets import AUTO, OWN, PRESETS

    value = item.get("preset", AUTO)
    known = (AUTO, OWN, *PRESETS)
    if value not in known:
        read.add(keys + ("preset",), f"unknown preset {value!r}{did_you_mean(str(value), known)} "
                                     f"(known: {', '.join(known)})", name)
        return AUTO
    if value != AUTO and "mapping" in item:
        read.add(keys + ("preset",), "give 'mapping' or 'preset', not both", name)
    return value


#: promtool's keys of a test and mlmon's for the same thing, for a did-you-mean.
PROMTOOL_TEST_KEYS = {"interval": "every", "input_series": "windows", "alert_rule_test": "alerts"}


def _test_key_hint(key: str) -> str:
    """A did-you-mean for an unknown key of a test: a close mlmon key, else the mlmon key of a close promtool key."""
    hint = did_you_mean(key, TEST_KEYS)
    if hint:
        return hint
    close = difflib.get_close_matches(key, list(PROMTOOL_TEST_KEYS), n=1, cutoff=0.6)
    return f"; did you mean {PROMTOOL_TEST_KEYS[close[0]]!r} (promtool's {close[0]!r})?" if close else ""


def _logs(read: Reader, keys: tuple, item: dict, ruleset: RuleSet | None, test: str) -> tuple[str, ...]:
    if "start" not in item:
        read.add(keys, "a test with 'logs:' needs 'start:', where the checked range begins (as check --since)", test)
    if "every" in item:
        read.add(keys + ("every",), "'every' sets the windows of 'windows:'; with logs each rule uses its own", test)
    value = item["logs"]
    files = [value] if isinstance(value, str) else value
    if not isinstance(files, list) or not files:
        read.add(keys + ("logs",), "'logs' must be a log file or a list of them", test)
        return ()
    paths = [read.path(keys + ("logs",) if isinstance(value, str) else keys + ("logs", i), f, "log file", test)
             for i, f in enumerate(files)]
    if ruleset is not None:
        from mlmon.rules.inputs import require_inputs

        try:  # no baseline or labels here: a rule that needs them could never fire
            require_inputs(ruleset, baseline=False, labels=False)
        except ConfigError as exc:
            read.add(keys + ("logs",), f"{exc.message}: {'; '.join(exc.details)}", test)
    return tuple(p for p in paths if p is not None)


def _expectations(read: Reader, keys: tuple, value: Any, start: datetime | None, ruleset: RuleSet | None,
                  test: str) -> list[Expectation]:
    if not isinstance(value, list) or not value:
        read.add(keys, "each test needs 'alerts': a list of evaluation times ('at') with the alerts expected then", test)
        return []
    rules = {r.name: r for r in ruleset.rules} if ruleset is not None else None
    out = []
    for i, item in enumerate(value):
        here = keys + (i,)
        if not read.mapping(here, item, ALERTS_KEYS, "an 'alerts' item", test):
            continue
        before = len(read.problems)
        at = None
        if "at" not in item:
            read.add(here, "missing 'at': an offset from start such as 3h, or an ISO time", test)
        elif isinstance(item["at"], str) and is_duration(item["at"]):
            offset = read.duration(here + ("at",), item["at"], test)
            at = later(start, offset) if offset is not None and start is not None else None
            if offset is not None and start is not None and at is None:
                read.add(here + ("at",), f"at {item['at']} after the test's start is past the year 9999", test)
            at_text = item["at"].strip()
        else:
            at = read.instant(here + ("at",), item["at"], test, "an offset such as 3h, nor an ISO time")
            at_text = str(item["at"])
            if at is not None and start is not None and at <= start:
                read.add(here + ("at",), f"at {at_text} is not after the test's start", test)
        scope = item.get("alertname")
        if scope is not None:
            _rule_name(read, here + ("alertname",), scope, rules, test)
        expected = []
        if "expect" not in item:
            read.add(here, "missing 'expect': the alerts active then ([] for none)", test)
        else:
            expected = _expected(read, here + ("expect",), item["expect"], scope, rules, test)
        if len(read.problems) == before and at is not None:
            out.append(Expectation(at, at_text, tuple(expected), scope, read.doc.where(*here)))
    return out


def _rule_name(read: Reader, keys: tuple, name: Any, rules: dict[str, Rule] | None, test: str) -> None:
    if not isinstance(name, str):
        read.add(keys, "alertname must be a rule's name", test)
    elif rules is not None and name not in rules:
        read.add(keys, f"no rule is named {name!r}{did_you_mean(name, tuple(rules))}", test)


def _expected(read: Reader, keys: tuple, value: Any, scope: str | None, rules: dict[str, Rule] | None,
              test: str) -> list[ExpectedAlert]:
    if value is None:
        return []  # "expect:" with nothing: no alert
    if not isinstance(value, list):
        read.add(keys, "'expect' must be a list of alerts ([] for none)", test)
        return []
    out = []
    for i, item in enumerate(value):
        here = keys + (i,)
        if not read.mapping(here, item, EXPECT_KEYS, "an expected alert", test):
            continue
        name = item.get("alertname", scope)
        if name is None:
            read.add(here, "missing 'alertname': the rule's name (or give 'alertname' beside 'at')", test)
            continue
        _rule_name(read, here + ("alertname",), name, rules, test)
        if scope is not None and name != scope:
            read.add(here + ("alertname",), f"only alerts of {scope!r} are compared here", test)
        state = item.get("state", "firing")
        if state not in STATES:
            read.add(here + ("state",), f"state must be firing or pending, not {state!r}", test)
        labels = _string_map(read, here + ("labels",), item.get("labels", {}), "labels", test)
        annotations = _string_map(read, here + ("annotations",), item["annotations"], "annotations", test) \
            if "annotations" in item else None
        if labels is not None and "alertname" in labels:
            read.add(here + ("labels", "alertname"), "give the rule's name as 'alertname' beside 'labels'", test)
        spots = {f"annotations.{k}": read.doc.where(*here, "annotations", k) for k in annotations or {}}
        if "state" in item:
            spots["state"] = read.doc.where(*here, "state")
        out.append(ExpectedAlert(str(name), labels or {}, state, annotations, read.doc.where(*here), spots))
    return out


def _string_map(read: Reader, keys: tuple, value: Any, what: str, test: str) -> dict[str, str] | None:
    if value is None:
        return {}
    if not isinstance(value, dict):
        read.add(keys, f"{what} must be a mapping of names to text", test)
        return None
    for k, v in value.items():
        if isinstance(v, (dict, list)):
            read.add(keys + (k,), f"{what[:-1]} {k!r} must be text or a number", test)
    return {str(k): text_value(v) for k, v in value.items()}
