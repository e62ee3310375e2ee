"""Label matchers: the cases of Alertmanager's pkg/labels/parse_test.go and matcher_test.go, then mlmon's own.

Each expected value is written out by hand from the Go tests, not produced by mlmon.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import record, write_jsonl

from mlmon.rules.matchers import (
    MAX_REGEX_CHARS,
    MatcherError,
    format_matchers,
    make_matcher,
    matches_all,
    parse_matcher,
    parse_matchers,
)


def triples(text):
    return [(m.name, m.op, m.value) for m in parse_matchers(text)]


# pkg/labels/parse_test.go TestMatchers: input → matchers (name, op, value)
PARSE_OK = [
    ("{}", []),
    ("{foo='}", [("foo", "=", "'")]),
    ("{foo=`}", [("foo", "=", "`")]),
    ('{foo=\\"}', [("foo", "=", '"')]),
    ("{foo=bar}", [("foo", "=", "bar")]),
    ('{foo="bar"}', [("foo", "=", "bar")]),
    ("{foo=~bar.*}", [("foo", "=~", "bar.*")]),
    ('{foo=~"bar.*"}', [("foo", "=~", "bar.*")]),
    ("{foo!=bar}", [("foo", "!=", "bar")]),
    ('{foo!="bar"}', [("foo", "!=", "bar")]),
    ("{foo!~bar.*}", [("foo", "!~", "bar.*")]),
    ('{foo!~"bar.*"}', [("foo", "!~", "bar.*")]),
    ('{foo="bar", baz!="quux"}', [("foo", "=", "bar"), ("baz", "!=", "quux")]),
    ('{foo="bar", baz!~"quux.*"}', [("foo", "=", "bar"), ("baz", "!~", "quux.*")]),
    ('{foo="bar",baz!~".*quux", derp="wat"}', [("foo", "=", "bar"), ("baz", "!~", ".*quux"), ("derp", "=", "wat")]),
    ('{foo="bar", baz!="quux", derp="wat"}', [("foo", "=", "bar"), ("baz", "!=", "quux"), ("derp", "=", "wat")]),
    ('{foo="bar", baz!~".*quux.*", derp="wat"}',
     [("foo", "=", "bar"), ("baz", "!~", ".*quux.*"), ("derp", "=", "wat")]),
    ('{foo="bar", instance=~"some-api.*"}', [("foo", "=", "bar"), ("instance", "=~", "some-api.*")]),
    ('{foo=""}', [("foo", "=", "")]),
    ('{foo="bar,quux", job="job1"}', [("foo", "=", "bar,quux"), ("job", "=", "job1")]),
    ('{foo = "bar", dings != "bums", }', [("foo", "=", "bar"), ("dings", "!=", "bums")]),
    ("foo=bar,dings!=bums", [("foo", "=", "bar"), ("dings", "!=", "bums")]),
    ('{quote="She said: \\"Hi, ladies! That\'s gender-neutral…\\""}',
     [("quote", "=", "She said: \"Hi, ladies! That's gender-neutral…\"")]),
    ('statuscode=~"5.."', [("statuscode", "=~", "5..")]),
    ("tricky=~~~", [("tricky", "=~", "~~")]),
    ('trickier==\\\\=\\=\\"', [("trickier", "=", '=\\=\\="')]),
    ('contains_quote != "\\"" , contains_comma !~ "foo,bar" , ',
     [("contains_quote", "!=", '"'), ("contains_comma", "!~", "foo,bar")]),
    ("{foo=bar}}", [("foo", "=", "bar}")]),
    ("{foo=bar}},}", [("foo", "=", "bar}}")]),
    ("{foo=,bar=}}", [("foo", "=", ""), ("bar", "=", "}")]),
    ("{foo=bar\\t}", [("foo", "=", "bar\\t")]),
    ("{foo=bar\\n}", [("foo", "=", "bar\n")]),
    ("{foo=bar\\}", [("foo", "=", "bar\\")]),
    ("{foo=bar\\\\}", [("foo", "=", "bar\\")]),
    ('{foo=bar\\"}', [("foo", "=", 'bar"')]),
    ("job=", [("job", "=", "")]),
    ("{foo=", [("foo", "=", "")]),
    ("{foo=}b", [("foo", "=", "}b")]),
    # mlmon: dotted segment fields and quoted names (as Alertmanager's UTF-8 parser takes them)
    ('input.country="DE"', [("input.country", "=", "DE")]),
    ('{"odd name"="x", model=~"churn|fraud"}', [("odd name", "=", "x"), ("model", "=~", "churn|fraud")]),
]


@pytest.mark.parametrize("text, expected", PARSE_OK, ids=[t for t, _ in PARSE_OK])
def test_parses_as_alertmanager_does(text, expected):
    assert triples(text) == expected

MLMON = str(Path(sys.executable).parent / "mlmon")


# The error cases of parse_test.go, each with the column mlmon names (1-based).
PARSE_ERRORS = [
    (",", 1),
    ("{,}", 2),
    ('job="value', 5),
    ('job=value"', 10),
    ('trickier==\\\\=\\=\\""', 18),
    ('contains_unescaped_quote = foo"bar', 31),
    ('{invalid-name = "valid label"}', 9),
    ('{foo=~"invalid[regexp"}', 15),
    ('"{foo=\\"bar"}', 1),
    ('"foo=\\"bar"', 1),
    ('"foo=\\"bar\\""', 1),
    ('"foo=\\"bar\\"', 1),
    ('"{foo=\\"bar\\"}"', 1),
    ('"foo="bar""', 1),
    ("{{foo=", 2),
]


@pytest.mark.parametrize("text, col", PARSE_ERRORS, ids=[t for t, _ in PARSE_ERRORS])
def test_refuses_what_alertmanager_refuses_with_the_column(text, col):
    with pytest.raises(MatcherError) as info:
        parse_matchers(text)
    assert info.value.col == col, str(info.value)
    assert f"(column {col})" in str(info.value)


# pkg/labels/matcher_test.go TestMatcher: (op, matcher value, label value, matches)
MATCH_TABLE = [
    ("=", "bar", "bar", True),
    ("=", "bar", "foo-bar", False),
    ("!=", "bar", "bar", False),
    ("!=", "bar", "foo-bar", True),
    ("=~", "bar", "bar", True),
    ("=~", "bar", "foo-bar", False),
    ("=~", ".*bar", "foo-bar", True),
    ("!~", "bar", "bar", False),
    ("!~", "bar", "foo-bar", True),
    ("!~", ".*bar", "foo-bar", False),
    ("=~", "foo.bar", "foo-bar", True),
    ("=~", "foo\\.bar", "foo-bar", False),
    ("=~", "foo\\.bar", "foo.bar", True),
    ("=", "foo\nbar", "foo\nbar", True),
    ("=~", "foo.bar", "foo\nbar", False),
    ("=~", "(?s)foo.bar", "foo\nbar", True),
    ("=", '~!="', '~!="', True),
    # anchored at both ends, and a trailing line feed is not the end (Go's $, not Python's)
    ("=~", "5..", "1500", False),
    ("=~", "bar", "bar\n", False),
    ("=~", "warning|critical", "critical", True),
    ("=~", "warning|critical", "info", False),
]


@pytest.mark.parametrize("op, pattern, value, expected", MATCH_TABLE)
def test_matches_as_alertmanager_does(op, pattern, value, expected):
    assert make_matcher("x", op, pattern).matches({"x": value}) is expected


def test_a_missing_label_matches_as_the_empty_string():
    labels = {"alertname": "slow-p95"}
    assert parse_matcher('model=""').matches(labels)
    assert parse_matcher("model!=churn").matches(labels)
    assert parse_matcher('model=~".*"').matches(labels)
    assert not parse_matcher('model=~".+"').matches(labels)
    assert not parse_matcher("model=churn").matches(labels)


def test_all_must_match_and_an_empty_list_matches_everything():
    labels = {"alertname": "a", "model": "churn", "severity": "warning"}
    assert matches_all(parse_matchers('{model="churn", severity=~"warning|critical"}'), labels)
    assert not matches_all(parse_matchers('{model="churn", severity="critical"}'), labels)
    assert matches_all([], labels)


# matcher_test.go TestMatcherString
@pytest.mark.parametrize("op, value, text", [
    ("=", "bar", 'foo="bar"'), ("!=", "bar", 'foo!="bar"'), ("=~", "bar", 'foo=~"bar"'), ("!~", "bar", 'foo!~"bar"'),
    ("=", "back\\slash", 'foo="back\\\\slash"'), ("=", 'double"quote', 'foo="double\\"quote"'),
    ("=", "new\nline", 'foo="new\\nline"'), ("=", "tab\tstop", 'foo="tab\tstop"'), ("=", "🙂", 'foo="🙂"'),
])
def test_text_form_and_it_reads_back(op, value, text):
    matcher = make_matcher("foo", op, value)
    assert str(matcher) == text
    assert parse_matchers(format_matchers([matcher])) == [matcher]


def test_a_long_regex_is_refused():
    with pytest.raises(MatcherError, match="more than 1,000"):
        parse_matcher("model=~" + "a" * (MAX_REGEX_CHARS + 1))
    assert parse_matcher("model=~" + "a" * MAX_REGEX_CHARS).matches({"model": "a" * MAX_REGEX_CHARS})


@pytest.mark.parametrize("pattern, col, why", [
    ("(?=a)a", 8, "look-around"), ("(?<!a)b", 8, "look-around"), ("x(?!a)", 9, "look-around"),
    ("(a)\\1", 11, "back-reference"), ("(?P<n>a)(?P=n)", 16, "back-reference"),
    ("(a{1,1000}){1,1000}", 19, "more than RE2 allows"), ("a{1001}", 9, "more than RE2 allows"),
])
def test_what_re2_refuses_is_named_at_its_column(pattern, col, why):
    with pytest.raises(MatcherError, match=why) as info:
        parse_matcher(f"model=~{pattern}")
    assert info.value.col == col, str(info.value)


# The reviewer's runaway regexes (Python's backtracking re took minutes on 150 characters; RE2 is linear),
# with whether each fully matches 150 a's; none matches 149 a's and a '!', the value that made re backtrack.
REDOS = [("(.*a){12}", True), ("(a|aa)+", True), ("(a|a)*", True), ("((a?){30}a{30})", False), ("(a+)+", True),
         ("(a*b*)*x", False), ("(?:x.*)+", False), ("(.*a){25}", True)]


@pytest.mark.parametrize("pattern, matches_150", REDOS, ids=[p for p, _ in REDOS])
def test_runaway_regexes_are_taken_and_match_in_linear_time(pattern, matches_150):
    matcher = parse_matcher(f'model=~"{pattern}"')
    assert matcher.matches({"model": "a" * 150}) is matches_150
    assert matcher.matches({"model": "a" * 149 + "!"}) is False
    assert matcher.matches({"model": "a" * 60}) is (pattern not in ("(a*b*)*x", "(?:x.*)+"))  # 30 a? take none


def test_a_hostile_value_matches_fast():
    matcher = parse_matcher('model=~"(a|b)*c.*d"')
    start = time.perf_counter()
    assert not matcher.matches({"model": "a" * 50_000 + "!"})
    assert time.perf_counter() - start < 10  # a backtracking engine would not end in a lifetime; wide for a slow machine


@pytest.mark.parametrize("text, col, words", [
    (",", 1, "empty matcher"),
    ('"model=\\"churn\\""', 1, "the whole matcher is in double quotes"),
    ("model", 6, "expected =, !=, =~ or !~"),
    ("model==", None, None),  # value '=' (Alertmanager too)
    ("9model=x", 1, "a label name starts with"),
    ('model=~"[a-"', 9, "regex does not compile"),
    ('"model=x', 1, "no closing double quote"),
])
def test_mlmon_errors_say_what_and_where(text, col, words):
    if col is None:
        assert [(m.name, m.op, m.value) for m in parse_matchers(text)] == [("model", "=", "=")]
        return
    with pytest.raises(MatcherError, match=words) as info:
        parse_matchers(text)
    assert info.value.col == col


def test_runaway_regexes_in_silences_and_inhibit_do_not_stall_check(tmp_path):
    """Through the installed entry point: silence add, rules validate and check take the reviewer's regexes, and
    check finishes on a 150-character model name (with Python's re it hung; a hang fails on the timeout)."""
    value = "a" * 149 + "!"
    logs = write_jsonl(tmp_path / "app.jsonl", [
        record(f"2026-11-27T09:{m:02d}:00Z", request_id=f"r{m}", model=value, status=500) for m in range(0, 60, 5)])
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: errors\n    expr: error_rate > 0.5\n    every: 1m\n    by: [model]\n"
                     "inhibit:\n  - source_matchers: ['model=~\"(a|a)*\"']\n"
                     "    target_matchers: ['model=~\"(.*a){12}\"', 'alertname=~\"((a?){30}a{30})|errors\"']\n")
    state = tmp_path / "state.json"

    def run(*args):
        proc = subprocess.run([MLMON, *args], capture_output=True, text=True, timeout=60)
        assert "Traceback" not in proc.stderr
        return proc

    assert run("rules", "validate", str(rules)).returncode == 0
    for pattern in ("(.*a){12}", "(a|aa)+", "(a|a)*", "((a?){30}a{30})"):
        added = run("silence", "add", "--state", str(state), "--match", f'model=~"{pattern}"', "--for", "2h",
                    "--now", "2026-11-27T09:30:00Z")
        assert added.returncode == 0, added.stderr
    refused = run("silence", "add", "--state", str(state), "--match", 'model=~"(a{1,1000}){1,1000}"', "--for", "1h",
                  "--now", "2026-11-27T09:30:00Z")
    assert refused.returncode == 2 and "more than RE2 allows" in refused.stderr and "column" in refused.stderr
    checked = run("check", str(logs), "--rules", str(rules), "--since", "1h", "--now", "2026-11-27T10:00:00Z",
                  "--state", str(state), "--format", "json")
    assert checked.returncode == 1, checked.stderr  # no matcher matches the '!' value: the alert fires
    alerts = json.loads(checked.stdout)["alerts"]
    assert [(a["segment"]["model"], a["silenced_by"], a["inhibited_by"]) for a in alerts] == [(value, [], [])]
