"""YAML that would hang or exhaust memory is refused quickly, with its line, and exit 2.

Aliases share nodes, so a 400-byte "billion laughs" file stands for ~10^9 nodes. Loading
must never walk (or build) the expansion: the loader counts it per distinct node instead.
"""

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import record, write_jsonl

from mlmon.errors import ConfigError
from mlmon.rules.load import rules_from_text
from mlmon.yamlfile import MAX_ALIAS_NODES, parse_yaml

MLMON = str(Path(sys.executable).parent / "mlmon")


def bomb(levels: int, rule: str = "    labels: *{last}\n") -> str:
    """The classic billion-laughs document, ``levels`` deep, used by a rule on its last line."""
    names = "abcdefghijklmnop"[:levels]
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\nrules:\n  - name: x\n    expr: error_rate > 0.1\n" + rule.format(last=names[-1])


def test_a_billion_laughs_document_is_refused_with_the_alias_line():
    text = bomb(9)
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, "bomb.yaml", "rules file")
    message = str(info.value)
    assert message.startswith("bomb.yaml:13:13: rules file grows by ")  # `labels: *i`, the biggest alias
    assert "through YAML aliases" in message and f"at most {MAX_ALIAS_NODES:,}" in message and "*i here" in message


def test_a_small_bomb_is_refused_too():
    # Six levels: 9^6 = 531,441 strings. Before the fix this took 2.5 s and 268 MB (speed is not asserted here:
    # a regression expands the aliases and hangs this test instead).
    with pytest.raises(ConfigError, match="through YAML aliases"):
        rules_from_text(bomb(6), "small-bomb.yaml")


def test_a_bomb_built_from_merge_keys_is_refused():
    lines = ["a: &a {k0: 1, k1: 1, k2: 1, k3: 1, k4: 1, k5: 1, k6: 1, k7: 1, k8: 1}"]
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} {{<<: [{', '.join(['*' + prev] * 9)}], z: 1}}")
    with pytest.raises(ConfigError, match="through YAML aliases"):
        parse_yaml("\n".join(lines) + "\n", "merge-bomb.yaml", "rules file")


def test_an_alias_inside_the_node_it_names_is_refused():
    with pytest.raises(ConfigError) as info:
        parse_yaml("a: &a [1, *a]\n", "cycle.yaml", "rules file")
    assert str(info.value).startswith("cycle.yaml:1:11: rules file has the alias *a inside the node it names")


def test_deeply_nested_yaml_is_a_config_error_not_a_recursion_error():
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_yaml("a: " + "[" * 5000 + "]" * 5000 + "\n", "deep.yaml", "rules file")


def test_ordinary_aliases_and_merge_keys_still_load_as_safe_load_does():
    import yaml

    text = (
        "rules:\n"
        "  - &base\n    name: a\n    expr: error_rate > 0.1\n    severity: critical\n    labels: &team {team: ml}\n"
        "  - <<: *base\n    name: b\n    labels: *team\n"
    )
    doc = parse_yaml(text, "ok.yaml", "rules file")
    assert doc.data == yaml.safe_load(text)
    assert doc.duplicates == ()  # merged keys are not "given twice"
    assert doc.where("rules", 1, "name") == "ok.yaml:8:5"
    ruleset = rules_from_text(text, "ok.yaml")
    assert [(r.name, r.severity, r.labels) for r in ruleset.rules] == [("a", "critical", {"team": "ml"}),
                                                                       ("b", "critical", {"team": "ml"})]


def test_many_aliases_within_the_bound_load():
    # 2,000 rules sharing one labels mapping: aliases add 8,000 nodes, far below the bound.
    text = "x: &d {a: 1, b: 2}\n" + "".join(f"y{i}: *d\n" for i in range(2000))
    assert parse_yaml(text, "many.yaml", "rules file").data["y1999"] == {"a": 1, "b": 2}


def test_python_tags_are_still_refused():
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_yaml("a: !!python/object/apply:os.system ['true']\n", "tag.yaml", "rules file")


def _run(*args, cwd):
    env = {**os.environ, "COLUMNS": "80"}
    return subprocess.run([MLMON, *args], check=False, capture_output=True, text=True, env=env, cwd=cwd, timeout=30)


@pytest.mark.parametrize("command", ["validate", "check"])
def test_validate_and_check_refuse_the_bomb_with_exit_2(command, tmp_path):
    (tmp_path / "bomb.yaml").write_text(bomb(9))
    write_jsonl(tmp_path / "x.jsonl", [record()])
    args = ["rules", "validate", "bomb.yaml"] if command == "validate" else ["check", "x.jsonl", "--rules", "bomb.yaml"]
    proc = _run(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "bomb.yaml:13:13: rules file grows by" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_a_mapping_file_bomb_is_refused_too(tmp_path):
    (tmp_path / "map.yaml").write_text(bomb(9).split("rules:")[0] + "fields:\n  ts: *i\n")
    write_jsonl(tmp_path / "x.jsonl", [record()])
    proc = _run("report", "x.jsonl", "--mapping", "map.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert "map.yaml:11:7: mapping file grows by" in proc.stderr
