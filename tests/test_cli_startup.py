"""Start-up: a run imports what its command needs and no more. No timings here (see benchmarks/bench_startup.py).

Every cron and CI run pays mlmon's start-up, so ``mlmon report`` must not import the
modules of replay, notifications, rules or YAML it does not use, nor Pydantic for
typer's option conversion. These tests look at ``sys.modules`` at the end of a real run.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from conftest import ROOT, record, write_jsonl
from mlmon.cli import fastparams
from mlmon.cli.app import COMMANDS, app

# Runs mlmon's console script in-process and, from an exit handler, writes the imported modules to a file.
SCRIPT = (
    "import atexit, json, sys\n"
    "out = sys.argv.pop(1)\n"
    "atexit.register(lambda: open(out, 'w').write(json.dumps(sorted(sys.modules))))\n"
    "from mlmon.cli import main\n"
    "sys.argv = ['mlmon', *sys.argv[1:]]\n"
    "main()\n"
)

NOT_FOR_REPORT = [
    "mlmon.replay", "mlmon.notify", "mlmon.rules", "mlmon.check", "mlmon.baseline.save",
    "mlmon.cli.check", "mlmon.cli.replay", "mlmon.cli.rules", "mlmon.cli.silence", "mlmon.cli.baseline",
    "re2", "yaml", "pydantic", "rich.progress", "aiohttp", "uvloop", "http.client", "ssl", "urllib.request",
]


def imported(tmp_path: Path, *args: str) -> set[str]:
    """The modules a run of ``mlmon ARGS`` imported, as the console script runs it."""
    out = tmp_path / "modules.json"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(out), *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode in (0, 1), proc.stderr
    return set(json.loads(out.read_text()))


def loaded(modules: set[str], package: str) -> list[str]:
    return sorted(m for m in modules if m == package or m.startswith(package + "."))


@pytest.fixture
def tiny_log(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "tiny.jsonl", [record(request_id=f"r{i}") for i in range(10)])


def test_a_report_imports_neither_other_commands_nor_what_it_does_not_use(tmp_path, tiny_log):
    modules = imported(tmp_path, "report", str(tiny_log))
    assert "mlmon.cli.report" in modules and "polars" in modules
    for package in NOT_FOR_REPORT:
        assert not loaded(modules, package), f"mlmon report imported {loaded(modules, package)}"


def test_a_check_imports_neither_other_commands_nor_replay(tmp_path, tiny_log):
    modules = imported(tmp_path, "check", str(tiny_log), "--rules", str(ROOT / "rules.example.yaml"))
    assert "mlmon.cli.check" in modules and "mlmon.rules.load" in modules
    for package in ["mlmon.replay", "mlmon.cli.report", "mlmon.cli.replay", "mlmon.cli.rules", "mlmon.cli.silence",
                    "mlmon.cli.baseline", "pydantic", "rich.progress", "aiohttp", "uvloop", "http.client", "ssl",
                    "urllib.request"]:
        assert not loaded(modules, package), f"mlmon check imported {loaded(modules, package)}"


def test_version_imports_no_command_and_no_polars(tmp_path):
    modules = imported(tmp_path, "--version")
    assert not loaded(modules, "polars") and not loaded(modules, "pydantic")
    assert not [m for m in modules if m.startswith("mlmon.cli.") and m.split(".")[2] in COMMANDS]


def test_help_lists_every_command_with_its_short_help():
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    group = typer.main.get_command(app)
    for name in COMMANDS:
        assert re.search(rf"│ {name} +\S", result.stdout), name
        assert group.commands[name].get_short_help_str(limit=150)[:30] in result.stdout


def test_every_command_module_is_named_in_commands():
    """A module that registers a command must be in COMMANDS, else the lazy group never imports it."""
    registering = sorted(
        f"mlmon.cli.{path.stem}" for path in (ROOT / "mlmon" / "cli").glob("*.py")
        if re.search(r"^@app\.command|^app\.add_typer\(|^\w+ = command_group\(", path.read_text(encoding="utf-8"), re.M)
    )
    assert registering == sorted(set(COMMANDS.values()))
    group = typer.main.get_command(app)
    assert list(group.commands) == list(COMMANDS)
    for name in COMMANDS:
        assert group.commands[name].name == name


def test_a_name_that_is_no_command_is_not_found():
    group = typer.main.get_command(app)
    assert group.get_command(None, "nosuch") is None
    assert "nosuch" not in group.commands


# The fast conversion of option values against typer's own adapter, the oracle.

SAMPLES = [None, "", "0", "1", "7", "007", "-1", "+3", "1.5", "0.0005", "2.", "1e3", "inf", "nan", " 5", "5 ", "1_000",
           "99999999999999999999", "abc", "table", "json", "JSON", "Json", "warning", "critical", "csv", "classification",
           "auto", "-", "sample_logs", "rules.example.yaml", "no/such/file.yaml", 0, 1, 5, -1, 1000, 0.5, 10.0, 2**64,
           True, False]


def _typer_params(command, path="mlmon"):
    for param in command.params:
        if isinstance(param, fastparams._TyperParameter):
            yield f"{path} {param.name}", param
    for name, sub in getattr(command, "commands", {}).items():
        yield from _typer_params(sub, f"{path} {name}")


def _adapter(descriptor, value, param, ctx):
    from typer._coercion import build_runtime_param

    try:
        return ("ok", build_runtime_param(descriptor)._coerce_value(value, param=param, ctx=ctx))
    except Exception as exc:  # noqa: BLE001 (the oracle's refusal, whatever its kind)
        return ("error", type(exc).__name__)


def test_fast_conversion_agrees_with_typers_adapter_on_every_option(monkeypatch):
    from typer._click import Context

    monkeypatch.chdir(ROOT)
    group = typer.main.get_command(app)
    params = list(_typer_params(group))
    assert len(params) > 100
    checked = 0
    for where, param in params:
        descriptor = param.type_descriptor
        ctx = Context(group)
        is_list = param.multiple or param.nargs == -1
        values = [param.default, *SAMPLES]
        if is_list:
            values += [[v] for v in SAMPLES if v is not None] + [["a", "b"], ("x",), [], ["1", "abc"]]
        for value in values:
            try:
                fast = fastparams.convert(value, descriptor, param, ctx)
            except Exception:  # noqa: BLE001 (refused: the adapter is asked instead)
                continue
            if fast is fastparams._ADAPTER:
                continue
            expected = _adapter(descriptor, value, param, ctx)
            assert expected == ("ok", fast), f"{where} {value!r}: fast {fast!r}, typer {expected}"
            assert type(expected[1]) is type(fast), f"{where} {value!r}"
            checked += 1
    assert checked > 200


def test_a_value_to_refuse_gets_typers_message(tmp_path, tiny_log):
    from typer.testing import CliRunner

    runner = CliRunner()
    result = runner.invoke(app, ["report", str(tiny_log), "--max-line-bytes", "0"])
    assert result.exit_code == 2
    assert "invalid value for --max-line-bytes: it must be at least 1" in result.stderr
    result = runner.invoke(app, ["check", str(tiny_log), "--rules", "r.yaml", "--fail-on", "fatal"])
    assert result.exit_code == 2
    assert "invalid value for --fail-on: 'fatal' is not one of 'info', 'warning', 'critical'" in result.stderr


def test_the_group_builds_commands_as_typer_does():
    """The lazy group's commands are those typer builds when every module is imported first."""
    for module in COMMANDS.values():
        __import__(module)
    lazy = typer.main.get_command(app)
    eager = typer.main.get_group_from_info(
        typer.models.TyperInfo(app), pretty_exceptions_short=app.pretty_exceptions_short,
        rich_markup_mode=app.rich_markup_mode, suggest_commands=app.suggest_commands)
    built = {name: sys.modules["mlmon.cli.app"]._build(name) for name in COMMANDS}
    for name, command in eager.commands.items():
        for one in (lazy.commands[name], built[name]):
            assert type(one) is type(command)
            assert one.help == command.help and one.epilog == command.epilog
            assert [p.opts for p in one.params] == [p.opts for p in command.params]
            assert sorted(getattr(one, "commands", {})) == sorted(getattr(command, "commands", {}))
