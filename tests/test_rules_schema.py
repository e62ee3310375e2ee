"""``mlmon rules schema`` and ``mlmon rules validate`` agree: a table of documents, each judged by both.

jsonschema is not installed, so ``conforms`` below implements the keywords the schema uses
(a test fails if the schema starts using another one). Documents that only the validator
can refuse (an expression's grammar, unknown names, a window under 1s, duplicate names)
are listed apart: the schema accepts them by design, and its descriptions say so.
"""

import re
from datetime import timedelta

import pytest
import yaml
from typer.testing import CliRunner

from mlmon.cli import app
from mlmon.errors import ConfigError
from mlmon.rules.load import rules_from_text
from mlmon.rules.model import DURATION_PATTERN, MIN_EVERY, json_schema

runner = CliRunner()
SCHEMA = json_schema()

# --- a small JSON Schema (2020-12) checker for the keywords mlmon's schema uses ----------------

ANNOTATIONS = {"$schema", "title", "description", "default", "$defs"}
CHECKED = {"$ref", "type", "enum", "pattern", "minLength", "minimum", "minItems", "uniqueItems", "items", "oneOf",
           "properties", "additionalProperties", "required", "propertyNames"}
TYPES = {
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    # JSON Schema: any number with a zero fractional part is an integer
    "integer": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer(),
}


def conforms(value, schema) -> bool:
    if "$ref" in schema:  # only local references into $defs, as the notify routes use
        prefix = "#/$defs/"
        assert schema["$ref"].startswith(prefix), schema["$ref"]
        return conforms(value, SCHEMA["$defs"][schema["$ref"][len(prefix):]])
    kinds = schema.get("type")
    if kinds is not None and not any(TYPES[k](value) for k in ([kinds] if isinstance(kinds, str) else kinds)):
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if "oneOf" in schema and sum(conforms(value, s) for s in schema["oneOf"]) != 1:
        return False
    if isinstance(value, str):
        # ECMA-262 and Python agree on the ASCII-only patterns mlmon uses; patterns are not anchored.
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return False
        if len(value) < schema.get("minLength", 0):
            return False
    if TYPES["number"](value) and "minimum" in schema and value < schema["minimum"]:
        return False
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return False
        if schema.get("uniqueItems") and len({repr(v) for v in value}) != len(value):
            return False
        if "items" in schema and not all(conforms(v, schema["items"]) for v in value):
            return False
    if isinstance(value, dict):
        if any(key not in value for key in schema.get("required", [])):
            return False
        if "propertyNames" in schema and not all(conforms(key, schema["propertyNames"]) for key in value):
            return False
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            sub = properties.get(key, extra)
            if sub is False or isinstance(sub, dict) and not conforms(item, sub):
                return False
    return True


def keywords(schema) -> set[str]:
    out = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            out.add(key)
            if key == "properties":
                for sub in value.values():
                    out |= keywords(sub)
            elif key in ("items", "additionalProperties", "propertyNames"):
                out |= keywords(value)
            elif key == "$defs":
                for sub in value.values():
                    out |= keywords(sub)
            elif key == "oneOf":
                for sub in value:
                    out |= keywords(sub)
    return out


def test_the_checker_knows_every_keyword_of_the_schema():
    assert keywords(SCHEMA) - {"properties"} <= CHECKED | ANNOTATIONS


# --- the documents -----------------------------------------------------------------------------

RULE = "rules:\n  - name: r\n    expr: error_rate > 0\n"
NOTIFY = "notify:\n  receivers:\n    - name: r\n      webhook: https://example.com/hook\n  route:\n    receiver: r\n"

BOTH_ACCEPT = {
    "minimal": RULE,
    "every 1h 30m": RULE + "    every: 1h 30m\n",
    "every 1H": RULE + "    every: 1H\n",
    "every 1h30m": RULE + "    every: 1h30m\n",
    "every 1.5h": RULE + "    every: 1.5h\n",
    "every 1500ms": RULE + "    every: 1500ms\n",
    "every 1s": RULE + "    every: 1s\n",
    "every padded": RULE + "    every: ' 5m '\n",
    "numeric labels": RULE + "    labels: {team: 5, ratio: 0.5, name: ml}\n",
    "empty labels": RULE + "    labels: {}\n",
    "label names as Prometheus spells them": RULE + "    labels: {_x: a, Team_2: b, alertnames: c}\n",
    "for 2.0": RULE + "    for: 2.0\n",
    "for a duration": RULE + "    every: 1m\n    for: 5m\n",
    "keep_firing_for a duration": RULE + "    every: 5m\n    keep_firing_for: 1h 30m\n",
    "keep_firing_for 0m": RULE + "    keep_firing_for: 0m\n",
    "by string": RULE + "    by: 'model, model_version'\n",
    "by list": RULE + "    by: [model, input.country]\n",
    "by empty": RULE + "    by: []\n",
    "every key": RULE + "    description: d\n    severity: critical\n    where: model == 'x'\n    min_requests: 0\n"
                        "    keep_firing_for: 0\n    summary: ''\n",
    "two rules": RULE + "  - name: s\n    expr: error_rate > 1\n",
    "notify": RULE + NOTIFY,
    "notify every key": RULE + NOTIFY + "    group_by: ['...']\n    repeat_interval: 1h 30m\n"
                                        "    routes:\n      - matchers: ['severity=\"critical\"', 'model=~\"a|b\"']\n"
                                        "        receiver: r\n        continue: true\n        routes: [{receiver: r}]\n",
    "notify receiver kinds": RULE + "notify:\n  receivers:\n    - {name: a, slack: 'https://h/x', send_resolved: true}\n"
                                    "    - {name: b, command: 'cat'}\n    - {name: c}\n  route: {receiver: a}\n",
    "annotations": RULE + "    annotations: {runbook_url: 'https://x/{{ $labels.alertname }}', _note: '{{ $value }}'}\n",
    "empty annotations": RULE + "    annotations: {}\n",
    "labels.severity alone": RULE + "    labels: {severity: critical}\n",
    "severity and labels.severity agree": RULE + "    severity: info\n    labels: {severity: info}\n",
    "prometheus template": RULE + "    summary: '{{ $value | humanizePercentage }} ({{ humanize $value }})'\n",
}

BOTH_REFUSE = {
    "empty rules": "rules: []\n",
    "rules null": "rules:\n",
    "rules not a list": "rules: {name: r}\n",
    "no rules key": "rulez:\n  - name: r\n    expr: error_rate > 0\n",
    "extra top-level key": RULE + "other: 1\n",
    "top-level list": "- name: r\n  expr: error_rate > 0\n",
    "empty document": "",
    "rule not a mapping": "rules:\n  - just text\n",
    "missing name": "rules:\n  - expr: error_rate > 0\n",
    "missing expr": "rules:\n  - name: r\n",
    "unknown key": RULE + "    fro: 2\n",
    "blank name": "rules:\n  - name: '   '\n    expr: error_rate > 0\n",
    "numeric name": "rules:\n  - name: 5\n    expr: error_rate > 0\n",
    "blank expr": "rules:\n  - name: r\n    expr: ' '\n",
    "blank where": RULE + "    where: ' '\n",
    "every word": RULE + "    every: 1hour\n",
    "every number": RULE + "    every: 5\n",
    "every split number": RULE + "    every: 1 0m\n",
    "every 1m s": RULE + "    every: 1m s\n",
    "every without unit": RULE + "    every: '5'\n",
    "boolean label": RULE + "    labels: {team: true}\n",
    "null label": RULE + "    labels: {team: null}\n",
    "list label": RULE + "    labels: {team: [a]}\n",
    "labels list": RULE + "    labels: [a]\n",
    "label name with a dash": RULE + "    labels: {bad-name: 1}\n",
    "empty label name": RULE + "    labels: {'': e}\n",
    "label name starting with a digit": RULE + "    labels: {1x: y}\n",
    "dotted label name": RULE + "    labels: {input.country: DE}\n",
    "labels.alertname": RULE + "    labels: {alertname: other}\n",
    "for 0": RULE + "    for: 0\n",
    "for 1.5": RULE + "    for: 1.5\n",
    "for true": RULE + "    for: true\n",
    "for text": RULE + "    for: '2'\n",
    "for a word": RULE + "    for: 5 minutes\n",
    "keep_firing_for a list": RULE + "    keep_firing_for: [5m]\n",
    "negative min_requests": RULE + "    min_requests: -1\n",
    "severity case": RULE + "    severity: Warning\n",
    "by twice": RULE + "    by: [model, model]\n",
    "by number": RULE + "    by: 5\n",
    "by list of numbers": RULE + "    by: [5]\n",
    "description number": RULE + "    description: 5\n",
    "notify without route": RULE + "notify:\n  receivers: [{name: r}]\n",
    "notify without receivers": RULE + "notify:\n  route: {receiver: r}\n",
    "notify unknown key": RULE + NOTIFY + "  inhibt: []\n",
    "receiver unknown key": RULE + NOTIFY.replace("      webhook:", "      webhok:"),
    "receiver without name": RULE + "notify:\n  receivers: [{webhook: 'https://h/x'}]\n  route: {receiver: r}\n",
    "webhook not http": RULE + NOTIFY.replace("https://example.com/hook", "file:///etc/passwd"),
    "send_resolved text": RULE + NOTIFY.replace("  route:", "      send_resolved: 'yes'\n  route:"),
    "top route without receiver": RULE + NOTIFY.replace("    receiver: r\n", "    group_by: [model]\n"),
    "route unknown key": RULE + NOTIFY + "    group_wait: 30s\n",
    "group_by text": RULE + NOTIFY + "    group_by: model\n",
    "repeat_interval word": RULE + NOTIFY + "    repeat_interval: 4hours\n",
    "continue text": RULE + NOTIFY + "    routes: [{receiver: r, continue: 'yes'}]\n",
    "routes mapping": RULE + NOTIFY + "    routes: {receiver: r}\n",
    "nested route unknown key": RULE + NOTIFY + "    routes: [{receiver: r, routes: [{recevier: r}]}]\n",
    "summary number": RULE + "    summary: 5\n",
    "annotations list": RULE + "    annotations: [summary]\n",
    "annotation number": RULE + "    annotations: {runbook_url: 5}\n",
    "annotation name with a dash": RULE + "    annotations: {runbook-url: x}\n",
    "annotation name with a digit first": RULE + "    annotations: {1st: x}\n",
}

# What a JSON Schema cannot say; the validator alone refuses these.
VALIDATOR_ONLY = {
    "expression grammar": "rules:\n  - name: r\n    expr: error_rate >\n",
    "unknown metric": "rules:\n  - name: r\n    expr: latncy_p95_ms > 1\n",
    "not a condition": "rules:\n  - name: r\n    expr: error_rate\n",
    "metric in where": RULE + "    where: error_rate > 1\n",
    "unknown segment field": RULE + "    by: [modle]\n",
    "segment field twice in a string": RULE + "    by: 'model, model'\n",
    "window under 1s": RULE + "    every: 1ms\n",
    "zero window": RULE + "    every: 0m\n",
    "duplicate names": RULE + "  - name: r\n    expr: error_rate > 1\n",
    "unknown placeholder": RULE + "    summary: '{{ nope }}'\n",
    "unknown receiver": RULE + NOTIFY.replace("    receiver: r\n", "    receiver: nobody\n"),
    "bad matcher": RULE + NOTIFY + "    routes: [{matchers: ['severity~critical']}]\n",
    "bad matcher regex": RULE + NOTIFY + "    routes: [{matchers: ['model=~\"(\"']}]\n",
    "two receiver kinds": RULE + NOTIFY.replace("  route:", "      command: cat\n  route:"),
    "duplicate receiver": RULE + NOTIFY.replace("  route:", "    - name: r\n  route:"),
    "webhook port 0": RULE + NOTIFY.replace("example.com/hook", "example.com:0/hook"),
    "matchers on the top route": RULE + NOTIFY + "    matchers: ['a=b']\n",
    "unsupported template function": RULE + "    annotations: {summary: '{{ title $value }}'}\n",
    "unknown template label": RULE + "    summary: '{{ $labels.model }}'\n",
    "summary given twice": RULE + "    summary: a\n    annotations: {summary: b}\n",
    "description given twice": RULE + "    description: a\n    annotations: {description: b}\n",
    "labels.severity not a severity": RULE + "    labels: {severity: high}\n",
    "severity and labels.severity disagree": RULE + "    severity: info\n    labels: {severity: critical}\n",
    "for not a multiple of every": RULE + "    every: 2m\n    for: 5m\n",
    "for shorter than every": RULE + "    every: 1h\n    for: 30m\n",
    "for 0m": RULE + "    for: 0m\n",
    "a label that is also a by field": RULE + "    by: [model]\n    labels: {model: fixed}\n",
    "keep_firing_for not a multiple": RULE + "    keep_firing_for: 90m\n",
}


def validator_accepts(text: str) -> bool:
    try:
        rules_from_text(text, "doc.yaml")
    except ConfigError:
        return False
    return True


@pytest.mark.parametrize("name", list(BOTH_ACCEPT))
def test_both_accept(name):
    text = BOTH_ACCEPT[name]
    assert validator_accepts(text), name
    assert conforms(yaml.safe_load(text), SCHEMA), name


@pytest.mark.parametrize("name", list(BOTH_REFUSE))
def test_both_refuse(name):
    text = BOTH_REFUSE[name]
    assert not validator_accepts(text), name
    assert not conforms(yaml.safe_load(text), SCHEMA), name


@pytest.mark.parametrize("name", list(VALIDATOR_ONLY))
def test_what_only_the_validator_refuses(name):
    text = VALIDATOR_ONLY[name]
    assert not validator_accepts(text), name
    assert conforms(yaml.safe_load(text), SCHEMA), name


def test_the_printed_schema_is_the_declared_one():
    import json

    result = runner.invoke(app, ["rules", "schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == SCHEMA
    every = SCHEMA["properties"]["rules"]["items"]["properties"]["every"]
    assert every["pattern"] == DURATION_PATTERN and "at least 1s" in every["description"]
    assert SCHEMA["properties"]["rules"]["minItems"] == 1


# --- every: at least 1s ------------------------------------------------------------------------


def test_a_window_under_one_second_is_refused_with_its_line():
    text = RULE + "    every: 1ms\n  - name: s\n    expr: error_rate > 0\n    every: 0.5s\n"
    with pytest.raises(ConfigError) as info:
        rules_from_text(text, "tiny.yaml")
    assert info.value.details == [
        ("tiny.yaml:4:5: rule \"r\": every '1ms' is shorter than 1s, the shortest window a rule may use; "
         "did you mean '1m'?"),
        "tiny.yaml:7:5: rule \"s\": every '0.5s' is shorter than 1s, the shortest window a rule may use",
    ]


def test_one_second_and_longer_are_fine():
    assert MIN_EVERY == timedelta(seconds=1)
    for text, seconds in (("1s", 1), ("1000ms", 1), ("1s 500ms", 1.5), ("1 h", 3600)):
        rule = rules_from_text(RULE + f"    every: {text}\n").rules[0]
        assert rule.every.total_seconds() == seconds, text


def test_check_with_a_tiny_window_exits_2_before_reading_logs(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(RULE + "    every: 1ms\n")
    result = runner.invoke(app, ["check", str(tmp_path / "missing.jsonl"), "--rules", str(path)])
    assert result.exit_code == 2
    assert "every '1ms' is shorter than 1s" in result.stderr and "missing.jsonl" not in result.stderr


def test_schema_notify_is_the_notify_config_schema_and_the_example_conforms():
    from pathlib import Path

    result = runner.invoke(app, ["rules", "schema", "--notify"])
    assert result.exit_code == 0, result.output
    import json

    schema = json.loads(result.output)
    assert schema["title"] == "mlmon notify config" and schema["required"] == ["notify"]
    assert schema["properties"]["notify"] == SCHEMA["properties"]["notify"] and schema["$defs"] == SCHEMA["$defs"]
    example = yaml.safe_load((Path(__file__).parent.parent / "notify.example.yaml").read_text())
    assert conforms(example, schema)
    assert not conforms({"notify": example["notify"], "rules": []}, schema)  # a notify config holds only notify:
    assert not conforms({"notify": {"receivers": [{"name": "r", "webhok": "x"}], "route": {"receiver": "r"}}}, schema)
    assert runner.invoke(app, ["rules", "schema", "--notify", "--test"]).exit_code == 2
