"""``hotfix.yaml`` validation: every problem at file:line:col, through the library, CliRunner and the installed ``mlmon``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA, ROOT
from typer.testing import CliRunner

from mlmon.cli import app
from mlmon.errors import ConfigError
from mlmon.hotfix import hotfixes_from_text, load_hotfixes

HOTFIX = DATA / "hotfix"
EVERY_PROBLEM = HOTFIX / "every_problem.bad.yaml"
MLMON = str(Path(sys.executable).parent / "mlmon")
runner = CliRunner()

#: The problems of every_problem.bad.yaml, each at its line and column, in file order.
EXPECTED = [
    ("3:36", 'hot fix "one": \'output.label\' is not known when a hot fix decides'),
    ("5:5", "give 'respond' or 'fallback', not both"),
    ("6:5", "duplicate name (first defined at"),
    ("7:25", "when does not parse: expected a value but found the end"),
    ("9:5", "unknown key 'nme'; did you mean 'name'?"),
    ("9:5", "missing required key 'name'"),
    ("10:11", "'latency_ms' is not known when a hot fix decides"),
    ("11:5", "'fallback' must be module:function"),
    ("12:5", "'enabled' must be true or false"),
    ("14:5", "'when' must be a condition"),
    ("16:1", "unknown top-level key 'extra'"),
]


def _check_every_problem(lines: list[str]) -> None:
    problems = [line for line in lines if line.startswith(str(EVERY_PROBLEM))]
    assert len(problems) == len(EXPECTED), lines
    for line, (where, words) in zip(problems, EXPECTED):
        assert line.startswith(f"{EVERY_PROBLEM}:{where}: "), (line, where)
        assert words in line, (line, words)
    assert lines[-1].startswith(f"mlmon: error: hot-fix file {EVERY_PROBLEM} has {len(EXPECTED)} problems")


def test_library_lists_every_problem():
    with pytest.raises(ConfigError) as exc:
        load_hotfixes(EVERY_PROBLEM)
    assert len(exc.value.details) == len(EXPECTED)


def test_cli_runner_lists_every_problem_and_exits_2():
    result = runner.invoke(app, ["hotfix", "validate", str(EVERY_PROBLEM)])
    assert result.exit_code == 2
    assert result.stdout == ""
    _check_every_problem(result.stderr.splitlines())


def test_installed_mlmon_lists_every_problem_and_passes_a_good_file():
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    bad = subprocess.run([MLMON, "hotfix", "validate", str(EVERY_PROBLEM)], capture_output=True, text=True, env=env,
                         check=False, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    _check_every_problem(bad.stderr.splitlines())
    good = subprocess.run([MLMON, "hotfix", "validate", str(HOTFIX / "good.yaml"), str(ROOT / "hotfix.example.yaml")],
                          capture_output=True, text=True, env=env, check=False, timeout=60)
    assert good.returncode == 0, good.stderr
    assert good.stdout.splitlines() == [f"{HOTFIX / 'good.yaml'}: 3 hot-fix rules (2 enabled), no problems",
                                        f"{ROOT / 'hotfix.example.yaml'}: 3 hot-fix rules (2 enabled), no problems"]


@pytest.mark.parametrize("name, words", [
    ("bad_yaml.bad.yaml", "bad_yaml.bad.yaml:3:11: hot-fix file is not valid YAML"),
    ("no_rules.bad.yaml", "a hot-fix file needs a top-level 'rules:' list; did you mean 'rules'?"),
    ("duplicate_key.bad.yaml", "duplicate_key.bad.yaml:5:5: key 'name' is given twice"),
])
def test_bad_files_say_what_and_where(name, words):
    result = runner.invoke(app, ["hotfix", "validate", str(HOTFIX / name)])
    assert result.exit_code == 2
    assert words in result.stderr, result.stderr


def test_a_missing_file():
    result = runner.invoke(app, ["hotfix", "validate", str(HOTFIX / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml does not exist" in result.stderr


@pytest.mark.parametrize("text, words", [
    ('rules:\n  - name: a\n    when: request.x > 1\n    respond: 1\n', "did you mean 'input.x'?"),
    ('rules:\n  - name: a\n    when: modle == "v"\n    respond: 1\n', "did you mean 'model'?"),
    ('rules:\n  - name: a\n    when: not input.x\n    respond: 1\n', "'not' needs a condition"),
    ('rules:\n  - name: a\n    when: input.x > 1\n', "give 'respond' (a fixed answer) or 'fallback'"),
    ('rules:\n  - name: a\n    when: input.x in 3\n    respond: 1\n', "'in' needs a list"),
    ('rules: {a: 1}\n', "'rules' must be a list"),
    ("rules:\n  - just text\n", "rule #1 must be a mapping"),
])
def test_each_problem_has_its_words(text, words):
    with pytest.raises(ConfigError) as exc:
        hotfixes_from_text(text, "h.yaml")
    assert any(words in d for d in exc.value.details) or words in str(exc.value), (exc.value.details, exc.value)


def test_good_file_loads_its_rules():
    rules = load_hotfixes(HOTFIX / "good.yaml").rules
    assert [(r.name, r.kind, r.enabled) for r in rules] == [
        ("block-test-country", "respond", True), ("nested", "fallback", True), ("switched-off", "respond", False)]
    assert rules[0].respond == {"label": "stay", "p": 0.0}
    assert rules[0].matches({"input": {"amount": "2e6"}}) and not rules[0].matches({"input": {"amount": None}})
    assert rules[1].matches({"input": {"user": {"tier": "vip"}}, "model": "churn"})
    assert hotfixes_from_text("rules:\n", "empty.yaml").rules == ()  # every fix switched off


def test_a_name_yaml_reads_as_a_boolean_is_told_to_be_quoted():
    with pytest.raises(ConfigError) as exc:
        hotfixes_from_text("rules:\n  - name: off\n    when: input.a > 1\n    respond: 1\n", "h.yaml")
    assert exc.value.details == [("h.yaml:2:5: hot fix \"#1\": 'name' must be text; YAML reads this one as False, "
                                  "so quote it")]
