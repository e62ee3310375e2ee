"""Error text from targets, safe to print and write: bounded, secrets redacted, control characters escaped.

A model's exception message or a command's stderr is text mlmon did not write: it may
quote the logged request (with its password), carry terminal escape sequences, be huge,
or fail to convert to text at all. Everything replay reports about a failing target goes
through :func:`clean` or :func:`exception_text`, and a model's traceback through
:func:`model_traceback`.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from types import TracebackType

from mlmon.redact import redact_text
from mlmon.safetext import printable

#: Characters of one error message kept; the rest is summarized.
MAX_MESSAGE_CHARS = 2000
#: Characters of a longer message searched for secrets: enough that one cut short at the end
#: (which redaction recognizes) lies beyond what is kept.
_SCAN_CHARS = 20_000


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def clean(text: str, secret_keys: tuple[str, ...] = ()) -> str:
    """``text`` on one line, at most about MAX_MESSAGE_CHARS long, with secret values (and those of
    ``secret_keys``) replaced."""
    total = len(text)
    # Redact before cutting, so no secret is cut in two. A message that quotes a request is a
    # Python repr, JSON or key=value text: redact_text finds secret pairs in each, at any depth.
    text = redact_text(text[:_SCAN_CHARS], secret_keys)
    if len(text) > MAX_MESSAGE_CHARS or total > _SCAN_CHARS:
        text = f"{text[:MAX_MESSAGE_CHARS]}… ({total:,} characters in all)"
    return printable(text)


def exception_text(exc: BaseException) -> str:
    """``Type: message`` of an exception raised by the model, cleaned; never raises itself."""
    name = type(exc).__name__
    try:
        message = str(exc)
    except KeyboardInterrupt:
        raise
    except BaseException as inner:  # noqa: BLE001 - a broken __str__ is the model's bug, not a reason to stop
        return f"{name} (its message cannot be shown: str() raised {type(inner).__name__})"
    if isinstance(exc, SystemExit):
        return clean(f"SystemExit: the model called sys.exit({message})")
    return clean(f"{name}: {message}" if message else name)


#: The innermost frames of a model's traceback that replay keeps (``--output`` writes them all);
#: a RecursionError has a thousand, and the last ones say where it went wrong.
KEPT_FRAMES = 30


@dataclass(frozen=True)
class ModelTraceback:
    """Where an in-process model raised: its own frames as cleaned text, innermost last.

    Each frame is ``  File "model.py", line 3, in predict`` and, when the source is at hand, its
    line of code below it; ``omitted`` counts the outer frames beyond KEPT_FRAMES.
    """

    frames: tuple[str, ...]
    omitted: int = 0

    def lines(self, last: int | None = None) -> list[str]:
        """The lines of the innermost ``last`` frames (all kept frames by default)."""
        frames = self.frames if last is None else self.frames[-last:] if last > 0 else ()
        return [line for frame in frames for line in frame.split("\n")]

    def text(self, error: str | None) -> str:
        """Python's layout: a header, the frames, then the error line."""
        head = ["Traceback (most recent call last):"]
        if self.omitted:
            head.append(f"  ({self.omitted:,} outer frame{'' if self.omitted == 1 else 's'} not kept)")
        return "\n".join([*head, *self.lines(), error or ""])


def _shown_path(filename: str) -> str:
    """A file below the current directory by its relative path, as the user named it in ``--model``."""
    here = os.getcwd() + os.sep
    return filename[len(here):] if filename.startswith(here) else filename


def _frame_text(frame: traceback.FrameSummary) -> str:
    where = clean(f'File "{_shown_path(frame.filename)}", line {frame.lineno}, in {frame.name}')
    source = (frame.line or "").strip()
    return f"  {where}\n    {clean(source)}" if source else f"  {where}"


def model_traceback(tb: TracebackType | None) -> ModelTraceback | None:
    """The frames from ``tb`` inwards, cleaned like every error text (None when there are none).

    Pass the traceback below mlmon's own calling frame, so that only the model's frames show.
    """
    total = 0
    walk = tb
    while walk is not None:
        total += 1
        walk = walk.tb_next
    if not total:
        return None
    # Source lines come from linecache, which never raises for a file it cannot read: the line is left out.
    frames = traceback.extract_tb(tb, limit=-KEPT_FRAMES)
    return ModelTraceback(tuple(_frame_text(f) for f in frames), total - len(frames))
