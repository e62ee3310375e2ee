"""Option values converted without Pydantic, where the result is known: a start-up cost saved.

Typer converts every option's value, the defaults included, through a Pydantic
``TypeAdapter`` it builds on first use. Importing Pydantic and building the
adapters of the 27 options of ``mlmon report`` took about 0.1 s of every run.
For the values mlmon's options take in practice (a string, a list of strings, a
whole or decimal number within its range, a path, an enum's choice) the result
is known without an adapter. Any other value (one to refuse, with typer's own
message; a type not listed here) goes to typer's adapter as before, so results
and errors stay typer's. ``tests/test_cli_startup.py`` checks that the two agree
on every option of every command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

try:
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer._param_types import coerce_cli_choice, coerce_cli_path
    from typer.core import _TyperParameter
except ImportError:  # a typer without runtime adapters: nothing to save
    RuntimeParam = None

_WHOLE = re.compile(r"0|[1-9][0-9]{0,17}")
_DECIMAL = re.compile(r"(0|[1-9][0-9]{0,14})(\.[0-9]{1,15})?")
_ADAPTER = object()  # "ask typer's adapter"


def install(command) -> None:
    """Convert the values of ``command``'s options, and its built subcommands', the fast way where it is exact."""
    if RuntimeParam is None:
        return
    for param in command.params:
        _install_param(param)
    get_help_option = command.get_help_option

    def help_option(ctx):  # click makes the --help option on first use, a typer option like the others
        option = get_help_option(ctx)
        _install_param(option)
        return option

    command.get_help_option = help_option
    commands = getattr(command, "commands", {})
    for sub in getattr(commands, "built", commands).values():  # a lazy group's: only those built
        install(sub)


def _install_param(param) -> None:
    if isinstance(param, _TyperParameter) and param._runtime_param is None:
        descriptor = param.type_descriptor
        param._runtime_param = _FastParam(descriptor.parameter_info, descriptor.annotation, descriptor)


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class _FastParam(RuntimeParam):
        """Typer's conversion of one parameter, with its adapter built only when a value needs it."""

        descriptor: Any

        def _coerce_value(self, value, param, ctx):
            try:
                result = convert(value, self.descriptor, param, ctx)
            except Exception:  # a value to refuse: typer's adapter says why, in its words
                result = _ADAPTER
            if result is not _ADAPTER:
                return result
            param._runtime_param = slow = build_runtime_param(self.descriptor)
            return slow._coerce_value(value, param=param, ctx=ctx)


def convert(value: Any, descriptor, param=None, ctx=None) -> Any:
    """``value`` as typer's adapter would return it, or ``_ADAPTER`` when only the adapter can tell."""
    info = descriptor.parameter_info
    if info.parser is not None or descriptor.file_annotation is not None:
        return _ADAPTER
    annotation = descriptor.annotation
    if get_origin(annotation) is list:
        if not isinstance(value, (list, tuple)):
            return _ADAPTER
        items = [_leaf(item, get_args(annotation)[0], info, param, ctx) for item in value]
        return _ADAPTER if any(item is _ADAPTER for item in items) else items
    return _leaf(value, annotation, info, param, ctx)


def _leaf(value: Any, annotation: Any, info, param, ctx) -> Any:
    """One value of type ``annotation``, following the order of typer's ``build_leaf_adapter``."""
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return coerce_cli_choice(value, choices=list(annotation), case_sensitive=info.case_sensitive, ctx=ctx)
    if annotation is int or annotation is float:
        return _number(value, annotation, info)
    if annotation is str:
        return value if type(value) is str else _ADAPTER
    if isinstance(annotation, type) and issubclass(annotation, Path) and info.path_type is None:
        if type(value) is str:
            value = annotation(value)
        elif not isinstance(value, annotation):
            return _ADAPTER
        return coerce_cli_path(value, info, path_type=annotation, param=param, ctx=ctx)
    return _ADAPTER


def _number(value: Any, annotation: type, info) -> Any:
    if info.clamp:
        return _ADAPTER
    if type(value) is annotation:
        number = value
    elif type(value) is str and (_WHOLE if annotation is int else _DECIMAL).fullmatch(value):
        number = annotation(value)
    else:
        return _ADAPTER
    if number != number or (info.min is not None and number < info.min) or (info.max is not None and number > info.max):
        return _ADAPTER
    return number
