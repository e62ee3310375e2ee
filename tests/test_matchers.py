"""Label matchers: the cases of Alertmanager's pkg/labels/parse_test.go and matcher_test.go, then mlmon's own.

Each expected value is written out by hand from the Go tests, not produced by mlmon.
"""

import time

import pytest

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


@pytest.mark.parametrize("pattern, why", [
    ("(a+)+", "nests one unbounded repeat"), ("(a*b*)*x", "nests one unbounded repeat"),
    ("(?:x.*)+", "nests one unbounded repeat"), ("(?=a)a", "look-around"), ("(?<!a)b", "look-around"),
    ("(a)\\1", "back-reference"),
])
def test_regexes_that_could_backtrack_forever_are_refused(pattern, why):
    with pytest.raises(MatcherError, match=why) as info:
        parse_matcher(f"model=~{pattern}")
    assert info.value.col == 8


def test_a_hostile_value_matches_fast():
    matcher = parse_matcher('model=~"(a|b)*c.*d"')
    start = time.perf_counter()
    assert not matcher.matches({"model": "a" * 50_000 + "!"})
    assert time.perf_counter() - start < 1.0


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
