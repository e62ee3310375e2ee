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


TEST_FILE_KEYS = ("rule_files", "tests")


def file_kind(path: str | Path) -> str:
    """``rules``, ``notify`` or ``test``: what the file's top level says it is (``rules`` when it cannot tell).

    It reads the keys its unindented lines start with, without parsing the YAML: the loader of that
    kind parses it once, and names a file that does not parse as what it is
    (``notify config ... is not valid YAML``).
    """
    keys = _top_level_keys(path)
    if "rules" in keys:
        return "rules"
    if any(key in keys for key in TEST_FILE_KEYS):
        return "test"
    return "notify" if "notify" in keys else "rules"


def _top_level_keys(path: str | Path) -> set[str]:
    """The keys of the unindented ``key:`` lines (quoted or not); empty when the file cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    return {m.group(2) for m in re.finditer(r"""(?m)^(["']?)([A-Za-z_][A-Za-z0-9_]*)\1[ \t]*:""", text)}


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
