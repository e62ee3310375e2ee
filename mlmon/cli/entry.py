"""The console script: run the command group, then leave without the interpreter's teardown."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from typing import NoReturn

from mlmon import allocator
from mlmon.cli.app import app
from mlmon.cli.common import EXIT_ERROR, EXIT_OK

#: What a terminal that cannot show a character gets instead (box drawing, arrows, dashes).
_ASCII = {"→": "->", "←": "<-", "–": "-", "—": "-", "─": "-", "━": "-", "│": "|", "┃": "|", "·": "|",
          "…": "...", "≥": ">=", "≤": "<=", "×": "x", "•": "*", "✓": "v", "✗": "x", "🔴": "[!]", "✅": "[ok]",
          "╭": "+", "╮": "+", "╰": "+", "╯": "+", "┌": "+", "┐": "+", "└": "+", "┘": "+", "├": "+", "┤": "+",
          "┬": "+", "┴": "+", "┼": "+"}


def _ascii_fallback(exc: UnicodeError):
    """A codec error handler: known symbols as ASCII look-alikes, anything else as a backslash escape."""
    text = exc.object[exc.start:exc.end]
    return "".join(_ASCII.get(ch) or ch.encode("ascii", "backslashreplace").decode() for ch in text), exc.end


def _degrade_stdio() -> None:
    """Let output to an ASCII or latin-1 stream degrade instead of raising UnicodeEncodeError.

    With ``PYTHONIOENCODING=ascii``, or a terminal set to latin-1, the table's ``→`` and
    the box lines cannot be encoded; they are written as ``->`` and ``-``.
    """
    import codecs

    codecs.register_error("mlmon-ascii", _ascii_fallback)
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("_", "-")
        if stream is not None and not encoding.startswith("utf") and hasattr(stream, "reconfigure"):
            with contextlib.suppress(ValueError, OSError):
                stream.reconfigure(errors="mlmon-ascii")


def main() -> None:
    allocator.tune()
    if sys.stderr is None:  # started with stderr closed (`2>&-`): notes go nowhere, the exit code still tells
        sys.stderr = open(os.devnull, "w", encoding="utf-8")
    _degrade_stdio()
    try:
        app()
    except SystemExit as exc:
        _leave(exc.code)
    except OSError as exc:  # writing --help or --version to a full disk, say: outside any command
        try:
            print(f"mlmon: error: {exc.strerror or exc}", file=sys.stderr)
        except (OSError, AttributeError):
            pass  # stderr is full or closed too: the exit code still says it
        _leave(EXIT_ERROR)
    _leave(EXIT_OK)


def _leave(code: object) -> NoReturn:
    """End the process with ``code``, skipping the interpreter's teardown.

    After a report over a large log, tearing the interpreter down (freeing every
    frame and module one object at a time) took about 0.1 s of a 3.5 s run, paid
    again by every cron run. The work is done by now: output is flushed and exit
    handlers run first, so nothing is lost.
    """
    if code is None:
        code = EXIT_OK
    elif not isinstance(code, int):  # sys.exit("message"), as Python itself handles it
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # closed by the caller (`>&-`)
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a reader that closed early (`| head`), a full disk (reported already), a closed stream
    os._exit(code)
