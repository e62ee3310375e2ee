"""The README's examples are run, so they cannot rot; every command is documented.

```console blocks hold ``$ mlmon ...`` lines followed by their exact output. To
refresh them after a deliberate change: ``MLMON_UPDATE_GOLDEN=1 pytest tests/test_docs.py``.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import typer.main

from conftest import ROOT
from mlmon.cli import app

README = ROOT / "README.md"
BLOCK = re.compile(r"```console\n(.*?)```", re.S)
MLMON = str(Path(sys.executable).parent / "mlmon")


def _run(command: str) -> str:
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    env.pop("FORCE_COLOR", None)
    cmd = MLMON + command[len("mlmon"):]
    proc = subprocess.run(cmd, shell=True, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr  # 1: a documented gate that fires
    assert "Traceback" not in proc.stderr
    return proc.stdout


def _blocks(text: str):
    for match in BLOCK.finditer(text):
        lines = match.group(1).splitlines()
        assert lines and lines[0].startswith("$ mlmon "), "a console block starts with '$ mlmon ...'"
        yield match, lines[0][2:], "\n".join(lines[1:]) + ("\n" if len(lines) > 1 else "")


def test_readme_examples_print_what_the_readme_shows():
    text = README.read_text(encoding="utf-8")
    blocks = list(_blocks(text))
    assert blocks, "README has console examples"
    if os.environ.get("MLMON_UPDATE_GOLDEN"):
        out, pos = [], 0
        for match, command, _ in blocks:
            out.append(text[pos:match.start()])
            out.append(f"```console\n$ {command}\n{_run(command)}```")
            pos = match.end()
        README.write_text("".join(out) + text[pos:], encoding="utf-8")
        return
    for _, command, expected in blocks:
        assert _run(command) == expected, command


def _commands(group, prefix="mlmon"):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}", command


def test_every_command_is_documented_in_the_readme():
    text = README.read_text(encoding="utf-8")
    for name, _ in _commands(typer.main.get_command(app)):
        assert f"`{name}" in text, name


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_second():
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)\n```", section, re.S)
    assert len(commands) == 2
    assert commands[0].startswith("pip install . && mlmon report sample_logs/")
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci


def test_core_modules_import_neither_typer_nor_rich():
    for path in (ROOT / "mlmon").rglob("*.py"):
        rel = path.relative_to(ROOT / "mlmon")
        if rel.parts[0] in ("render", "cli"):
            continue
        source = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+(typer|rich|click)\b", source, re.M), f"{rel} imports the UI layer"
        assert not re.search(r"^\s*(import|from)\s+mlmon\.render\b", source, re.M), f"{rel}: computing imports rendering"
        if rel.parts[0] != "render":
            # Polars' list.eval runs an expression on each list, not Python code.
            assert not re.search(r"(?<![.\w])eval\(", source), f"{rel} uses eval"


def test_the_command_line_is_one_thin_module_per_command():
    """mlmon/cli/ holds the commands; core and render modules never import it."""
    cli = ROOT / "mlmon" / "cli"
    assert {p.stem for p in cli.glob("*.py")} >= {"app", "common", "entry", "report", "check", "replay", "baseline",
                                                  "rules"}
    for path in (ROOT / "mlmon").rglob("*.py"):
        if cli not in path.parents and path.name != "__main__.py":  # `python -m mlmon` runs the command line
            assert not re.search(r"^\s*(import|from)\s+mlmon\.cli\b", path.read_text(), re.M), path.name
    for path in cli.glob("*.py"):
        source = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+polars\b", source, re.M), f"{path.name}: Polars belongs in the core"
        assert len(source.splitlines()) < 300, f"{path.name} has grown: move logic into the library"


def test_renderers_do_not_import_typer():
    for path in (ROOT / "mlmon" / "render").rglob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+(typer|click)\b", path.read_text(), re.M), path.name
