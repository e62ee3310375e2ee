"""``mlmon hotfix schema`` and ``mlmon hotfix validate`` agree: a table of documents, each judged by both.

The schema is checked with the small JSON Schema checker of tests/test_rules_schema.py (jsonschema is not
installed). Documents only the validator can refuse (a condition's grammar or fields, a name used twice)
are listed apart: the schema accepts them by design, and its descriptions say so.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from test_rules_schema import CHECKED, ANNOTATIONS, conforms, keywords

from mlmon.errors import ConfigError
from mlmon.hotfix.config import hotfixes_from_text
from mlmon.hotfix.schema import json_schema

SCHEMA = json_schema()
MLMON = str(Path(sys.executable).parent / "mlmon")
FIX = "rules:\n  - name: a\n    when: input.x > 1\n"

BOTH_ACCEPT = {
    "respond": FIX + "    respond: {label: 0}\n",
    "respond null": FIX + "    respond: null\n",
    "fallback": FIX + "    fallback: scorers.rules:score\n",
    "disabled, described": FIX + "    respond: 1\n    enabled: false\n    description: for the outage\n",
    "no rules": "rules:\n",
    "empty list": "rules: []\n",
    "two": FIX + "    respond: 1\n  - name: b\n    when: model == \"churn\"\n    fallback: m:f\n",
}
BOTH_REFUSE = {
    "no rules key": "fixes: []\n",
    "unknown top key": "rules: []\nextra: 1\n",
    "unknown rule key": FIX + "    respond: 1\n    respnd: 2\n",
    "no name": "rules:\n  - when: input.x > 1\n    respond: 1\n",
    "blank name": "rules:\n  - name: ' '\n    when: input.x > 1\n    respond: 1\n",
    "number name": "rules:\n  - name: 5\n    when: input.x > 1\n    respond: 1\n",
    "no when": "rules:\n  - name: a\n    respond: 1\n",
    "neither answer": FIX,
    "both answers": FIX + "    respond: 1\n    fallback: m:f\n",
    "bad fallback": FIX + "    fallback: not a function\n",
    "enabled text": FIX + "    respond: 1\n    enabled: 'no'\n",
    "rules a mapping": "rules: {name: a}\n",
    "rule a list": "rules:\n  - [a, b]\n",
    "when a number": "rules:\n  - name: a\n    when: 5\n    respond: 1\n",
}
ONLY_THE_VALIDATOR_REFUSES = {
    "condition grammar": "rules:\n  - name: a\n    when: input.x >\n    respond: 1\n",
    "output field": "rules:\n  - name: a\n    when: output.label == 1\n    respond: 1\n",
    "unknown field": "rules:\n  - name: a\n    when: latency_ms > 1\n    respond: 1\n",
    "duplicate names": FIX + "    respond: 1\n  - name: a\n    when: input.y > 1\n    respond: 2\n",
}


def validator_accepts(text: str) -> bool:
    try:
        hotfixes_from_text(text)
        return True
    except ConfigError:
        return False


def test_the_checker_knows_every_keyword_of_the_schema():
    assert keywords(SCHEMA) - {"properties"} <= CHECKED | ANNOTATIONS


@pytest.mark.parametrize("name", BOTH_ACCEPT)
def test_both_accept(name):
    text = BOTH_ACCEPT[name]
    assert validator_accepts(text) and conforms(yaml.safe_load(text), SCHEMA)


@pytest.mark.parametrize("name", BOTH_REFUSE)
def test_both_refuse(name):
    text = BOTH_REFUSE[name]
    assert not validator_accepts(text) and not conforms(yaml.safe_load(text), SCHEMA)


@pytest.mark.parametrize("name", ONLY_THE_VALIDATOR_REFUSES)
def test_what_only_the_validator_judges(name):
    text = ONLY_THE_VALIDATOR_REFUSES[name]
    assert not validator_accepts(text) and conforms(yaml.safe_load(text), SCHEMA)


def test_the_example_file_conforms_and_the_command_prints_the_schema():
    proc = subprocess.run([MLMON, "hotfix", "schema"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and json.loads(proc.stdout) == SCHEMA
    assert conforms(yaml.safe_load((ROOT / "hotfix.example.yaml").read_text()), SCHEMA)


def test_importing_the_schema_loads_no_heavy_module(tmp_path):
    from importcost import modules_loaded_by

    assert modules_loaded_by("mlmon.hotfix.schema", tmp_path)["third_party"] == []
