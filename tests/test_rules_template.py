"""The annotation template language: parsing with columns, and filters that print what Prometheus prints.

The expected strings of the filters are copied from Prometheus's own tests
(prometheus/prometheus template/template_test.go), not produced by mlmon.
"""

import math

import pytest

from mlmon.rules.template import (
    apply_filter,
    go_value,
    humanize,
    humanize1024,
    humanize_duration,
    humanize_percentage,
    parse_template,
    render,
)


def joined(function, inputs) -> str:
    """``{{ range . }}{{ f . }}:{{ end }}`` of template_test.go."""
    return "".join(function(float(v)) + ":" for v in inputs)


# --- filters: Prometheus's table ------------------------------------------------------------------

def test_humanize_as_prometheus():
    assert joined(humanize, [0.0, 1.0, 1234567.0, .12]) == "0:1:1.235M:120m:"
    assert joined(humanize, [0, -1, 1, 1234567, 2**63 - 1]) == "0:-1:1:1.235M:9.223E:"
    assert joined(humanize, [0, 1, 1234567, 2**64 - 1]) == "0:1:1.235M:18.45E:"


def test_humanize1024_as_prometheus():
    assert joined(humanize1024, [0.0, 1.0, 1048576.0, .12]) == "0:1:1Mi:0.12:"
    assert joined(humanize1024, [0, -1, 1, 1234567, 2**63 - 1]) == "0:-1:1:1.177Mi:8Ei:"
    assert joined(humanize1024, [0, 1, 1234567, 2**64 - 1]) == "0:1:1.177Mi:16Ei:"


def test_humanize_duration_as_prometheus():
    seconds = [0, 1, 60, 3600, 86400, 86400 + 3600, -(86400 * 2 + 3600 * 3 + 60 * 4 + 5), 899.99]
    assert joined(humanize_duration, seconds) == "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:"
    fractions = [.1, .0001, .12345, 60.1, 60.5, 1.2345, 12.345]
    assert joined(humanize_duration, fractions) == "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:"
    assert joined(humanize_duration, [0, -1, 1, 1234567]) == "0s:-1s:1s:14d 6h 56m 7s:"


def test_humanize_percentage_as_prometheus():
    values = [-0.22222, 0.0, 0.1234567, 1.23456]
    assert ":".join(humanize_percentage(v) for v in values) == "-22.22%:0%:12.35%:123.5%"
    assert joined(humanize_percentage, [0, -1, 1, 1234567, 2**63 - 1]) == "0%:-100%:100%:1.235e+08%:9.223e+20%:"
    assert joined(humanize_percentage, [0, 1, 1234567, 2**64 - 1]) == "0%:100%:1.235e+08%:1.845e+21%:"


def test_infinities_and_nan_as_prometheus():
    out = "".join(f(v) + ":" for v in (math.inf, -math.inf, math.nan) for f in (humanize, humanize1024, humanize_duration))
    assert out == "+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:"


def test_filters_read_decimal_text_as_go_parsefloat_does():
    # template_test.go: the same results from the values as strings
    assert "".join(apply_filter("humanize", s) + ":" for s in ["0.0", "1.0", "1234567.0", ".12"]) == "0:1:1.235M:120m:"
    assert "".join(apply_filter("humanize", s) + ":" for s in ["+Inf", "-Inf", "NaN"]) == "+Inf:-Inf:NaN:"
    assert apply_filter("humanizePercentage", "-0.22222") == "-22.22%"
    assert apply_filter("humanizeDuration", "86400") == "1d 0h 0m 0s"
    # Prometheus fails on text that is not a number, and shows the error in the annotation.
    for text in ("one", "", " 1", "1_000", "1e999", "0x10"):
        assert apply_filter("humanize", text).startswith("<error expanding template: humanize cannot read"), text
    assert apply_filter("humanize", None) == "null"


def test_value_prints_as_go_percent_v():
    # Go's fmt %v of a float64: shortest digits that read back; exponent below 1e-4 and from 1e21.
    assert go_value(0.0) == "0" and go_value(-0.0) == "-0"
    cases = {1.0: "1", 0.1: "0.1", 1234567.0: "1.234567e+06", 0.0001: "0.0001", 0.00001: "1e-05",
             123456.0: "123456", 1e20: "1e+20", 1e21: "1e+21", 123.456: "123.456", -2.5e-7: "-2.5e-07",
             math.inf: "+Inf", -math.inf: "-Inf", math.nan: "NaN", 0.30000000000000004: "0.30000000000000004"}
    for value, text in cases.items():
        assert go_value(value) == text, value
    assert go_value(42) == "42" and go_value(None) == "null"


def printf(fmt, value):
    template, problems = parse_template(f"{{{{ printf `{fmt}` $value }}}}")
    assert problems == []
    return render(template, value, {}, {}.get, str)


def test_printf_as_go_fmt():
    # Go's fmt_test.go ("old test/fmt_test.go" rows) for the verbs mlmon accepts.
    rows = [("%e", 1.0, "1.000000e+00"), ("%e", 1234.5678e3, "1.234568e+06"), ("%e", 1234.5678e-8, "1.234568e-05"),
            ("%e", -7.0, "-7.000000e+00"), ("%e", -1e-9, "-1.000000e-09"), ("%f", 1234.5678e3, "1234567.800000"),
            ("%f", 1234.5678e-8, "0.000012"), ("%f", -7.0, "-7.000000"), ("%f", -1e-9, "-0.000000"),
            ("%g", 1234.5678e3, "1.2345678e+06"), ("%g", 1234.5678e-8, "1.2345678e-05"), ("%g", -7.0, "-7"),
            ("%g", -1e-9, "-1e-09"), ("%E", 1.0, "1.000000E+00"), ("%E", 1234.5678e3, "1.234568E+06"),
            ("%G", 1234.5678e3, "1.2345678E+06"), ("%G", -7.0, "-7"), ("%G", -1e-9, "-1E-09"),
            ("%g", 1e6, "1e+06"), ("%g", 0.0001, "0.0001"),
            ("%.2f", 3.14159, "3.14"), ("%.0f", 2.5, "2"), ("%.3e", 1.0, "1.000e+00"), ("%.3g", 1.0, "1"),
            ("%f", math.inf, "+Inf"), ("%.1f", -math.inf, "-Inf"), ("%e", math.nan, "NaN"),
            ("%.1f%%", 12.345, "12.3%"), ("p95 %.0f ms", 238.85, "p95 239 ms"), ("%v", 0.5, "0.5"),
            ("%s", "hello", "hello"), ("%v", "hello", "hello"), ("%f", "hello", "%!f(string=hello)")]
    for fmt, value, want in rows:
        assert printf(fmt, value) == want, (fmt, value)
    assert printf("%.2f", None) == "null"


# --- parsing ------------------------------------------------------------------------------------------

def fill(text, value=0.5, labels=None, names=None):
    template, problems = parse_template(text)
    assert problems == []
    names = names or {}
    return render(template, value, labels or {}, names.get, lambda v: f"<{v}>")


def test_prometheus_forms_render():
    labels = {"alertname": "down", "model": "churn", "input.country": "DE"}
    text = "Instance {{ $labels.model }} down, value {{ $value | humanize }}"
    assert fill(text, 1234567.0, labels) == "Instance churn down, value 1.235M"
    assert fill("{{ .Labels.model }} {{ .Value }} {{ humanizePercentage $value }}", 0.25, labels) == "churn 0.25 25%"
    assert fill("{{$labels.input.country}}|{{ $labels.alertname }}", labels=labels) == "DE|down"
    assert fill("{{ rate | humanizePercentage }} {{ model }}", names={"rate": 0.5, "model": "m"}) == "50% <m>"
    assert fill('{{ $value | printf "%.2f" }} {{ printf "%s!" $labels.model }}', 2 / 3, labels) == "0.67 churn!"


def test_trim_markers_and_comments_work_as_in_go():
    assert fill("a  {{- $value -}}  b{{/* a comment */}}.") == "a0.5b."
    assert fill("{{-3}}") if False else True  # "{{-3" is not a trim marker in Go; mlmon refuses the constant


@pytest.mark.parametrize("text, col, words", [
    ("x {{ title $labels.model }}", 6, ("template function 'title' is not supported; use humanize, "
                                       "humanizePercentage, humanizeDuration or printf \"%.2f\"")),
    ("{{ $value | printf \"%d\" }}", 20, "printf format '%d': only %f, %e, %g"),
    ("{{ printf \"%5.2f\" $value }}", 11, "printf format '%5.2f': only"),
    ("{{ printf \"%.2f %.2f\" $value }}", 11, "has more than one verb"),
    ("{{ printf \"none\" $value }}", 11, "has no verb"),
    ("{{ printf $value }}", 4, "printf takes a format and one value"),
    ("{{ $value | printf }}", 13, "printf after '|' takes a format"),
    ("{{ $value | printf $value }}", 20, "printf needs its format in quotes"),
    ("{{ $value | printf \"%.2f\\x\" }}", 20, "the escape '\\x' is not supported"),
    ("{{ range $labels }}", 4, "template action 'range' is not supported"),
    ("ok {{ if $value }}", 7, "template action 'if' is not supported"),
    ("{{ $foo }}", 4, "unknown template variable '$foo'"),
    ("{{ $externalLabels.env }}", 4, "template variable '$externalLabels' is not supported"),
    ("abc {{ $value", 5, "'{{' is not closed by '}}'"),
    ("ab {{ printf \"%.2f $value }}", 14, "the quote \" is not closed"),
    ("{{ $labels }}", 4, "$labels needs a label name"),
    ("{{ $value | humanize | humanize }}", 24, "one filter at most"),
    ("{{ }}", 1, "empty template action"),
    ("{{ \"text\" }}", 4, "a constant such as \"text\" is not supported"),
    ("{{ $x := $value }}", 4, "unknown template variable '$x'"),
    ("{{ humanize }}", 4, "humanize takes one value"),
    ("{{ $value | }}", 11, "'|' must be followed by a filter"),
    ("{{ .Foo }}", 4, "unknown template field '.Foo'"),
])
def test_bad_templates_name_the_column(text, col, words):
    _, problems = parse_template(text)
    assert len(problems) == 1, problems
    assert problems[0].col == col and words in problems[0].message, problems[0]


def test_every_bad_action_is_reported():
    _, problems = parse_template("{{ title $value }} ok {{ $nope }} {{ $value | humanize }} {{ range }}")
    assert [p.col for p in problems] == [4, 26, 62]
