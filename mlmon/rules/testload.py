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

import re
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from mlmon.errors import ConfigError, UsageError
from mlmon.render.escape import printable
from mlmon.report import check_segment_fields
from mlmon.rules.load import is_field_metric, known_metrics, load_rules
from mlmon.rules.model import Rule, RuleSet
from mlmon.rules.testfile import COUNT_METRICS, STATES, Expectation, ExpectedAlert, Series, TestCase, TestFile
from mlmon.timeparse import is_duration, parse_duration, parse_instant
from mlmon.yamlfile import Located, did_you_mean, load_yaml

TOP_KEYS = ("rule_files", "tests")
TEST_KEYS = ("name", "start", "every", "windows", "logs", "mapping", "alerts")
SERIES_KEYS = ("segment", "every", "values")
ALERTS_KEYS = ("at", "alertname", "expect")
EXPECT_KEYS = ("alertname", "labels", "state", "annotations")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: The most windows one series may give: tests are small, and a typo such as '1x100000000' is not.
MAX_WINDOWS = 10_000
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_TOKEN = re.compile(rf"(?P<a>_|{_NUMBER})(?:(?P<op>[-+])(?P<b>{_NUMBER[5:]}))?(?:x(?P<n>\d+))?")


def expand_values(text: str) -> tuple[list[float | None], int | None, str | None]:
    """Values in promtool's expanding notation, separated by spaces: ``a``, ``_`` (missing), ``a+bxn`` (a, then n
    more, each b larger), ``a-bxn``, ``axn`` (a, n+1 times), ``_xn`` (n missing). Returns the values, or the
    1-based column of the first bad token and why."""
    out: list[float | None] = []
    for match in re.finditer(r"\S+", text):
        token = match.group()
        m = _TOKEN.fullmatch(token)
        if m is None or (m["op"] and (m["a"] == "_" or m["n"] is None)):
            why = ("'stale' has no meaning for windows; write _ for a missing value" if token == "stale" else
                   f"{token!r} is not a value: write a number, _, a+bxn, a-bxn or axn")
            return [], match.start() + 1, why
        n = int(m["n"]) if m["n"] is not None else None
        if len(out) + (n or 0) + 1 > MAX_WINDOWS:
            return [], match.start() + 1, f"more than {MAX_WINDOWS:,} windows"
        if m["a"] == "_":
            out.extend([None] * (n if n is not None else 1))
            continue
        a = float(m["a"])
        step = float(m["b"] or 0) * (-1 if m["op"] == "-" else 1)
        out.extend(a + i * step for i in range((n or 0) + 1))
    return out, None, None


class _Reader:
    """Walks a test file's document, collecting every problem."""

    def __init__(self, doc: Located):
        self.doc = doc
        self.base = Path(doc.path).parent
        self.problems: list[str] = []

    def add(self, keys: tuple, message: str, test: str | None = None) -> None:
        prefix = f'test "{printable(test)}": ' if test else ""
        self.problems.append(f"{self.doc.where(*keys)}: {prefix}{message}")

    def mapping(self, keys: tuple, value: Any, allowed: tuple[str, ...], what: str, test: str | None = None) -> bool:
        """Whether ``value`` is a mapping; its unknown keys are problems."""
        if not isinstance(value, dict):
            self.add(keys, f"{what} must be a mapping of keys such as {', '.join(allowed[:3])}", test)
            return False
        for key in value:
            if key not in allowed:
                self.add(keys + (key,), f"unknown key {key!r}{did_you_mean(str(key), allowed)}", test)
        return True

    def duration(self, keys: tuple, value: Any, test: str | None) -> timedelta | None:
        try:
            if isinstance(value, str) and is_duration(value):
                return parse_duration(value, what=str(keys[-1]))
        except UsageError as exc:
            self.add(keys, str(exc), test)
            return None
        self.add(keys, f"{keys[-1]} {value!r} is not a duration such as 5m or 1h", test)
        return None

    def instant(self, keys: tuple, value: Any, test: str | None, what: str = "an ISO time") -> datetime | None:
        if isinstance(value, datetime):
            return value.replace(tzinfo=value.tzinfo or timezone.utc).astimezone(timezone.utc)
        if isinstance(value, date):
            return datetime.combine(value, time(), timezone.utc)
        if isinstance(value, str):
            try:
                return parse_instant(value, what=str(keys[-1]))
            except UsageError:
                pass
        self.add(keys, f"{keys[-1]} {value!r} is not {what} such as 2026-01-01T00:00:00Z", test)
        return None

    def path(self, keys: tuple, value: Any, what: str, test: str | None = None) -> str | None:
        """A file named relative to the test file; a problem when it is not a readable file."""
        if not isinstance(value, str) or not value.strip():
            self.add(keys, f"{keys[-1]} must be a file name", test)
            return None
        path = self.base / value
        if not path.is_file():
            self.add(keys, f"{what} {str(path)!r} does not exist", test)
            return None
        return str(path)


def load_test_file(path: str | Path) -> TestFile:
    """A validated test file and its rules; ConfigError lists every problem with its line."""
    doc = load_yaml(path, "rule test file")
    read = _Reader(doc)
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


def _rule_files(read: _Reader, value: Any) -> RuleSet | None:
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
            read.problems.extend(exc.details or [f"{read.doc.where(*keys)}: {exc.message}"])
            ok = False
            continue
        for rule in ruleset.rules:
            if rule.name in seen:
                read.add(keys, f"rule {rule.name!r} is defined in two rules files (first in {seen[rule.name]})")
                ok = False
            seen[rule.name] = path
            rules.append(rule)
    return RuleSet(read.doc.path, tuple(rules)) if ok else None


def _test(read: _Reader, keys: tuple, item: Any, ruleset: RuleSet | None, names: set[str]) -> TestCase | None:
    if not read.mapping(keys, item, TEST_KEYS, f"test #{keys[-1] + 1}"):
        return None
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        read.add(keys + ("name",), "each test needs a 'name': text that says what it checks")
        name = f"#{keys[-1] + 1}"
    elif name in names:
        read.add(keys + ("name",), "two tests have this name", name)
    names.add(name)
    before = len(read.problems)
    start = read.instant(keys + ("start",), item["start"], name) if "start" in item else EPOCH
    every = read.duration(keys + ("every",), item["every"], name) if "every" in item else timedelta(hours=1)
    series: tuple[Series, ...] = ()
    logs: tuple[str, ...] = ()
    mapping = None
    if ("windows" in item) == ("logs" in item):
        read.add(keys, "give the input as either 'windows:' (metric values) or 'logs:' (a log file), one of them", name)
    elif "windows" in item:
        series = _series_list(read, keys + ("windows",), item["windows"], every or timedelta(hours=1), ruleset, name)
        if "mapping" in item:
            read.add(keys + ("mapping",), "'mapping' reads logs; it goes with 'logs:'", name)
    else:
        logs = _logs(read, keys, item, ruleset, name)
        if "mapping" in item:
            mapping = read.path(keys + ("mapping",), item["mapping"], "mapping file", name)
    expectations = _expectations(read, keys + ("alerts",), item.get("alerts"), start, ruleset, name)
    if len(read.problems) > before or start is None:
        return None
    return TestCase(name, start, tuple(expectations), series, logs, mapping, read.doc.where(*keys))


def _logs(read: _Reader, keys: tuple, item: dict, ruleset: RuleSet | None, test: str) -> tuple[str, ...]:
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


def _series_list(read: _Reader, keys: tuple, value: Any, every: timedelta, ruleset: RuleSet | None,
                 test: str) -> tuple[Series, ...]:
    if not isinstance(value, list) or not value:
        read.add(keys, "'windows' must be a list of series: segment, values", test)
        return ()
    out: list[Series] = []
    seen: dict[tuple, str] = {}
    for i, item in enumerate(value):
        series = _series(read, keys + (i,), item, every, test)
        if series is None:
            continue
        ident = (series.every, tuple(sorted(series.segment.items())))
        if ident in seen:
            read.add(keys + (i,), f"this segment and every are given twice (first at {seen[ident]})", test)
        seen[ident] = read.doc.where(*keys, i)
        if ruleset is not None and not any(_reads(rule, series) for rule in ruleset.rules):
            by = ", ".join(sorted(series.segment)) or "nothing"
            read.add(keys + (i,), f"no rule reads this series: none has every {_spell(series.every)} and by {by}", test)
        out.append(series)
    return tuple(out)


def _reads(rule: Rule, series: Series) -> bool:
    return rule.every == series.every and set(rule.by) == set(series.segment)


def _spell(delta: timedelta) -> str:
    from mlmon.timeparse import format_duration

    return format_duration(delta)


def _series(read: _Reader, keys: tuple, item: Any, every: timedelta, test: str) -> Series | None:
    if not read.mapping(keys, item, SERIES_KEYS, "a series", test):
        return None
    before = len(read.problems)
    segment_value = item.get("segment") or {}
    segment: dict[str, str] = {}
    if not isinstance(segment_value, dict):
        read.add(keys + ("segment",), "'segment' must map segment fields to values, e.g. {model: churn}", test)
    else:
        try:
            check_segment_fields([str(k) for k in segment_value])
        except UsageError as exc:
            read.add(keys + ("segment",), str(exc), test)
        for k, v in segment_value.items():
            if isinstance(v, (dict, list)) or v is None:
                read.add(keys + ("segment", k), f"segment value {k!r} must be text or a number", test)
            segment[str(k)] = _text(v)
    if "every" in item:
        every = read.duration(keys + ("every",), item["every"], test)
    values = _values(read, keys + ("values",), item.get("values"), test)
    if len(read.problems) > before or every is None or values is None:
        return None
    return Series(segment, every, values, read.doc.where(*keys))


def _values(read: _Reader, keys: tuple, value: Any, test: str) -> dict[str, list] | None:
    if not isinstance(value, dict) or not value:
        read.add(keys, "each series needs 'values': metric names, each with one value per window", test)
        return None
    known = known_metrics()
    out: dict[str, list] = {}
    for metric, raw in value.items():
        metric = str(metric)
        if metric not in known and not is_field_metric(metric):
            read.add(keys + (metric,), f"unknown metric {metric!r}{did_you_mean(metric, known)}", test)
            continue
        numbers = _numbers(read, keys + (metric,), raw, test)
        if numbers is None:
            continue
        if metric in COUNT_METRICS and any(v is not None and (v < 0 or v != int(v)) for v in numbers):
            read.add(keys + (metric,), f"{metric} counts requests: whole numbers of at least 0", test)
            continue
        out[metric] = [int(v) if v is not None and metric in COUNT_METRICS else v for v in numbers]
    if "request_count" not in value:
        read.add(keys, "values need request_count: a window is judged only when request_count >= the rule's "
                       "min_requests", test)
    lengths = {len(v) for v in out.values()}
    if len(lengths) > 1:
        read.add(keys, f"the metrics give different numbers of windows ({', '.join(map(str, sorted(lengths)))}); "
                       f"write _ for a missing value", test)
    return out if len(out) == len(value) and len(lengths) <= 1 else None


def _numbers(read: _Reader, keys: tuple, raw: Any, test: str) -> list[float | None] | None:
    if isinstance(raw, str):
        values, col, why = expand_values(raw)
        if col is not None:
            read.problems.append(f"{read.doc.where_in_value(keys, col)}: test \"{printable(test)}\": {keys[-1]}: {why}")
            return None
    elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
        values = [float(raw)]
    elif isinstance(raw, list) and all(v is None or isinstance(v, (int, float)) and not isinstance(v, bool)
                                       or v == "_" for v in raw):
        values = [None if v is None or v == "_" else float(v) for v in raw]
        if len(values) > MAX_WINDOWS:
            read.add(keys, f"more than {MAX_WINDOWS:,} windows", test)
            return None
    else:
        read.add(keys, f"{keys[-1]} must be a list of numbers (null or _ for missing) or a string such as "
                       f"'600x2 _ 1+1x3'", test)
        return None
    if not values:
        read.add(keys, f"{keys[-1]} gives no value", test)
        return None
    return values


def _text(value: Any) -> str:
    """A label or segment value as alerts carry it: text; true/false as YAML writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _expectations(read: _Reader, keys: tuple, value: Any, start: datetime | None, ruleset: RuleSet | None,
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
            at = start + offset if offset is not None and start is not None else None
            at_text = item["at"].strip()
        else:
            at = read.instant(here + ("at",), item["at"], test, "an offset such as 3h, nor an ISO time")
            at_text = str(item["at"])
            if at is not None and start is not None and at <= start:
                read.add(here + ("at",), f"at {at_text} is not after the test's start", test)
        scope = item.get("alertname")
        if scope is not None:
            _rule_name(read, here + ("alertname",), scope, rules, test)
        expected = _expected(read, here + ("expect",), item.get("expect", "missing"), scope, rules, test)
        if len(read.problems) == before and at is not None:
            out.append(Expectation(at, at_text, tuple(expected), scope, read.doc.where(*here)))
    return out


def _rule_name(read: _Reader, keys: tuple, name: Any, rules: dict[str, Rule] | None, test: str) -> None:
    if not isinstance(name, str):
        read.add(keys, "alertname must be a rule's name", test)
    elif rules is not None and name not in rules:
        read.add(keys, f"no rule is named {name!r}{did_you_mean(name, tuple(rules))}", test)


def _expected(read: _Reader, keys: tuple, value: Any, scope: str | None, rules: dict[str, Rule] | None,
              test: str) -> list[ExpectedAlert]:
    if value is None:
        return []  # "expect:" with nothing: no alert
    if not isinstance(value, list):
        read.add(keys[:-1] if value == "missing" else keys,
                 "'expect' must be a list of alerts ([] for none)", test)
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


def _string_map(read: _Reader, keys: tuple, value: Any, what: str, test: str) -> dict[str, str] | None:
    if value is None:
        return {}
    if not isinstance(value, dict):
        read.add(keys, f"{what} must be a mapping of names to text", test)
        return None
    for k, v in value.items():
        if isinstance(v, (dict, list)):
            read.add(keys + (k,), f"{what[:-1]} {k!r} must be text or a number", test)
    return {str(k): _text(v) for k, v in value.items()}
