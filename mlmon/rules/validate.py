"""``mlmon rules validate``'s core: any of the three alerting files, told apart by what its top level holds.

A rules file has ``rules:`` (and maybe ``inhibit:`` and ``notify:``); a notify config
(``mlmon check --notify-config``) has only ``notify:``; a rule test file (``mlmon rules
test``) has ``rule_files:`` or ``tests:``. Each is validated by its own loader, which lists
every problem at ``file:line:col``; a file that is none of them is read as a rules file,
whose loader says what is missing.
"""

from __future__ import annotations

import re
from pathlib import Path

from mlmon.errors import MlmonError
from mlmon.yamlfile import load_yaml

TEST_FILE_KEYS = ("rule_files", "tests")


def file_kind(path: str | Path) -> str:
    """``rules``, ``notify`` or ``test``: what the file's top level says it is (``rules`` when it cannot tell).
    A file that is not valid YAML is told apart by the keys its unindented lines start with, so that its loader
    names it as what it is (``notify config ... is not valid YAML``)."""
    try:
        data = load_yaml(path, "rules file").data
    except MlmonError:
        data = _top_level_keys(path)  # the loader of that kind reports why it cannot be read
    if not isinstance(data, dict) or "rules" in data:
        return "rules"
    if any(key in data for key in TEST_FILE_KEYS):
        return "test"
    return "notify" if "notify" in data else "rules"


def _top_level_keys(path: str | Path) -> dict:
    """The keys of the unindented ``key:`` lines of a file that does not parse (empty when it cannot be read)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    return {m.group(1): None for m in re.finditer(r"(?m)^([A-Za-z_][A-Za-z0-9_]*)[ \t]*:", text)}


def validate_file(path: str | Path) -> str:
    """The one-line verdict on a clean file (``rules.yaml: 4 rules, no problems``); ConfigError lists its problems."""
    kind = file_kind(path)
    if kind == "test":
        from mlmon.rules.testload import load_test_file

        tests = load_test_file(path).tests
        return f"{path}: rule test file, {len(tests)} test{'s' if len(tests) != 1 else ''}, no problems"
    if kind == "notify":
        from mlmon.notify.config import load_notify

        receivers = load_notify(path).receivers
        return f"{path}: notify config, {len(receivers)} receiver{'s' if len(receivers) != 1 else ''}, no problems"
    from mlmon.rules.load import load_rules

    ruleset = load_rules(path)
    return f"{path}: {len(ruleset.rules)} rule{'s' if len(ruleset.rules) != 1 else ''}, no problems"
