"""The ``mlmon`` command group: its help, ``--version``, and click's usage errors said as mlmon says its own.

Commands are loaded lazily, to keep start-up short for cron and CI: a run imports
the module of the command it runs, not the others (``--help`` imports them all
for their short help). Each command module registers its command on ``app`` when
imported, as usual; ``COMMANDS`` says which module registers which command.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import MutableMapping
from typing import Optional

import typer
from typer.core import TyperGroup

from mlmon import __version__
from mlmon.cli.common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, stderr_console


#: Every command, in the order ``mlmon --help`` lists them, and the module that registers it on ``app``.
#: A new command module registers its command with ``@app.command()`` (or ``app.add_typer``) and is named here.
COMMANDS = {
    "check": "mlmon.cli.check",
    "replay": "mlmon.cli.replay",
    "report": "mlmon.cli.report",
    "inspect": "mlmon.cli.inspect",
    "dashboard": "mlmon.cli.dashboard",
    "ingest": "mlmon.cli.ingest",
    "export": "mlmon.cli.export",
    "store": "mlmon.cli.store",
    "baseline": "mlmon.cli.baseline",
    "rules": "mlmon.cli.rules",
    "hotfix": "mlmon.cli.hotfix",
    "mapping": "mlmon.cli.mapping",
    "silence": "mlmon.cli.silence",
}


class _Group(TyperGroup):
    """The command group, with click's usage errors said as mlmon says its own: one line, exit 2.

    Its commands are built when first looked up (see ``_Commands``).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.commands = _Commands(self.commands)
        from mlmon.cli import fastparams

        fastparams.install(self)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        from typer._click import exceptions as click_errors

        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_errors.NoArgsIsHelpError:
            code = EXIT_ERROR  # the help is printed already
        except click_errors.UsageError as exc:
            try:
                stderr_console().print(f"mlmon: error: {usage_message(exc)}")
            except OSError:
                pass
            code = EXIT_ERROR
        except typer.Abort:
            code = EXIT_INTERRUPTED
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else EXIT_OK)


class _Commands(MutableMapping):
    """The group's commands by name, each built, and its module imported, when first looked up.

    Names and their order need no import; ``items()`` and ``values()`` build every command.
    """

    def __init__(self, built: dict):
        self.built = dict(built)

    def __getitem__(self, name: str):
        if name not in self.built and name in COMMANDS:
            command = _build(name)
            if command is not None:
                self.built[name] = command
        return self.built[name]

    def __contains__(self, name: object) -> bool:
        return name in self.built or name in COMMANDS

    def __iter__(self):
        return iter(dict.fromkeys([*COMMANDS, *self.built]))

    def __len__(self) -> int:
        return len(dict.fromkeys([*COMMANDS, *self.built]))

    def __setitem__(self, name: str, command) -> None:
        self.built[name] = command

    def __delitem__(self, name: str) -> None:
        del self.built[name]


def _build(name: str):
    """The click command ``name``, as typer would have built it among the group's, after importing its module."""
    from typer.main import get_command_from_info, get_command_name, get_group_from_info

    from mlmon.cli import fastparams

    importlib.import_module(COMMANDS[name])
    command = None
    for info in app.registered_commands:
        if (info.name or get_command_name(info.callback.__name__)) == name:
            command = get_command_from_info(info, pretty_exceptions_short=app.pretty_exceptions_short,
                                            rich_markup_mode=app.rich_markup_mode)
    # suggest_commands: only typer releases that have it take it
    suggest = {"suggest_commands": app.suggest_commands} if hasattr(app, "suggest_commands") else {}
    for info in app.registered_groups:
        if info.name == name:
            command = get_group_from_info(info, pretty_exceptions_short=app.pretty_exceptions_short,
                                          rich_markup_mode=app.rich_markup_mode, **suggest)
    if command is not None:
        fastparams.install(command)
    return command


def usage_message(exc) -> str:
    """One sentence for a usage error click found, saying what to fix."""
    from typer._click import exceptions as click_errors

    ctx = exc.ctx
    command = ctx.command_path if ctx is not None else "mlmon"
    is_group = ctx is not None and hasattr(ctx.command, "commands")
    help_hint = f"Run '{command} --help' to see {'its commands' if is_group else 'its options'}."
    if isinstance(exc, click_errors.NoSuchOption):
        known = [opt for p in (ctx.command.params if ctx else []) for opt in (*p.opts, *p.secondary_opts)
                 if opt.startswith("-")]
        return f"{command} has no option {exc.option_name}{_suggest(exc.option_name, known)}. {help_hint}"
    if isinstance(exc, click_errors.MissingParameter):
        param = exc.param
        if param is not None and param.param_type_name == "argument":
            return f"{command} needs {_argument_name(param)}. {help_hint}"
        name = max(param.opts, key=len) if param is not None else "an option"
        return f"{command} needs {name}. {help_hint}"
    if isinstance(exc, click_errors.BadParameter):
        param = exc.param
        name = max(param.opts, key=len) if param is not None and param.opts else (exc.param_hint or "a value")
        if param is not None and param.param_type_name == "argument":
            name = _argument_name(param)
        return f"invalid value for {name}: {_plain_reason(exc.message)}. {help_hint}"
    message = exc.format_message().rstrip(".")
    if message.startswith("No such command") and ctx is not None:
        names = list(getattr(ctx.command, "commands", {}))
        typed = next((a for a in ctx.protected_args + ctx.args if not a.startswith("-")), "") if hasattr(
            ctx, "protected_args") else ""
        typed = typed or re.sub(r"^No such command '(.*?)'.*$", r"\1", message, flags=re.S)
        return f"{command} has no command {typed!r}{_suggest(typed, names)}. {help_hint}"
    return f"{message[:1].lower()}{message[1:]}. {help_hint}"


def _argument_name(param) -> str:
    return (param.metavar or param.name.upper()).rstrip(".")


def _suggest(word: str, choices: list[str]) -> str:
    """`` (did you mean --format?)`` or an empty string."""
    import difflib

    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


_PYDANTIC_REASONS = (
    (r"Input should be greater than or equal to (\S+)", r"it must be at least \1"),
    (r"Input should be greater than (\S+)", r"it must be more than \1"),
    (r"Input should be less than or equal to (\S+)", r"it must be at most \1"),
    (r"Input should be less than (\S+)", r"it must be less than \1"),
    (r"Input should be a valid integer.*", "it must be a whole number"),
    (r"Input should be a (valid number|finite number).*", "it must be a number"),
    (r"Input should be a valid boolean.*", "it must be true or false"),
)


def _plain_reason(text: str) -> str:
    """A validator's reason in mlmon's words: no 'Value error, ' prefix, no trailing period."""
    text = re.sub(r"^Value error, ", "", str(text)).strip().rstrip(".")
    for pattern, replacement in _PYDANTIC_REASONS:
        if re.fullmatch(pattern, text):
            return re.sub(pattern, replacement, text)
    return text


app = typer.Typer(
    cls=_Group,
    name="mlmon",
    help="Monitor machine-learning models in production from their request/response logs (JSONL).\n\n"
    "Exit codes: 0 fine, 1 the gate fired (alerts, replay mismatches), 2 usage, config or input error, "
    "130 interrupted (Ctrl-C).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def command_group(name: str, help: str, *examples: str) -> typer.Typer:
    """A group of subcommands (``mlmon rules validate``) with its help and examples, added to ``app``."""
    group = typer.Typer(help=help, no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]})
    app.add_typer(group, name=name, epilog="Examples:\n\n" + "\n\n".join(f"  {e}" for e in examples))
    return group


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlmon {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    pass


