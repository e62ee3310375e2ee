"""Keep the process's standard streams for mlmon while an in-process model (``--model``) runs in it.

A model shares mlmon's process. It may print, at import or per call, from threads that outlive
the call, or from C through file descriptor 1; it may close ``sys.stdout`` or ``sys.stderr``,
replace them with objects that raise, or close descriptor 1 or 2. None of that may mix with the
summary or the ``--output -`` stream on stdout, or stop mlmon from printing them.

Two tools:

* :func:`divert_stdout`, for the owner of the process (the CLI), once, before the model is
  imported: descriptor 1 leads to stderr from then on, so whatever the model writes to stdout,
  by any route and at any time, shows on stderr; mlmon writes its own output to the stream returned.
* :func:`streams_kept`, around model code: afterwards ``sys.stdout``, ``sys.stderr`` and
  descriptors 1 and 2 work as before, whatever the model closed or broke.
"""

from __future__ import annotations

import errno
import io
import os
import sys
from contextlib import contextmanager
from typing import Iterator, TextIO

STDOUT, STDERR = 1, 2
#: Streams ``divert_stdout`` took out of ``sys.stdout`` without a descriptor to keep: held here, because
#: a text stream nobody references is closed when it is collected, and its owner may still read it.
_SET_ASIDE: list[TextIO] = []


def _dup(fd: int) -> int | None:
    try:
        return os.dup(fd)
    except OSError:  # closed (`>&-`)
        return None


def _fill(fd: int) -> None:
    """Make descriptor ``fd`` lead to stderr (or nowhere): a file opened later must never get it."""
    source = STDERR if _is_open(STDERR) else os.open(os.devnull, os.O_WRONLY)
    os.dup2(source, fd)
    if source != STDERR:
        os.close(source)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def divert_stdout() -> TextIO | None:
    """From now on, descriptor 1 and ``sys.stdout`` lead to stderr; return the stream that leads where
    stdout led, for mlmon's own output (None when stdout was closed before mlmon started).

    Nothing is undone afterwards: a thread the model left running may print at any time, and its
    text must still go to stderr. When ``sys.stdout`` is not descriptor 1 (an embedding, a test
    runner), only ``sys.stdout`` is swapped for ``sys.stderr``.
    """
    stream = sys.stdout
    try:
        fileno = stream.fileno() if stream is not None else None
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and a ValueError
        fileno = None
    if stream is not None and fileno != STDOUT:
        _SET_ASIDE.append(stream)
        sys.stdout = sys.stderr
        return stream
    kept = None
    if stream is not None:
        stream.flush()
        kept = _dup(STDOUT)
    _fill(STDOUT)
    if kept is None:
        return None
    return io.TextIOWrapper(io.FileIO(kept, "w"), encoding=stream.encoding, errors=stream.errors,
                            line_buffering=stream.line_buffering)


def _works(stream) -> bool:
    """Whether ``stream`` takes writes: not None, not closed, and writing nothing to it does not raise."""
    try:
        stream.write("")
        stream.flush()
        return not getattr(stream, "closed", False)
    except Exception:  # noqa: BLE001 - whatever a broken stream raises, it is broken
        return False


def _reopened(stream: TextIO, fd: int) -> TextIO:
    """A new text stream on ``fd``, spelled as ``stream`` was."""
    return io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding=stream.encoding, errors=stream.errors,
                            line_buffering=True)


class StreamGuard:
    """Copies of descriptors 1 and 2, taken before model code runs, to put back what the model closes.

    :meth:`mend` is cheap (two ``fstat`` calls) so the replay loop calls it after every in-process call:
    a descriptor the model closed is free for the next file anyone in the process opens (the resource
    sampler's ``/proc`` reads, say), and mlmon's next write to stderr would go there. Mending after
    each call keeps that window to the model's own call.
    """

    def __init__(self) -> None:
        self.copies = {fd: _dup(fd) for fd in (STDOUT, STDERR)}

    def mend(self) -> None:
        for fd, copy in self.copies.items():
            for _ in range(1000):
                if copy is None or _is_open(fd):
                    break  # kept, or another thread's file has it now: mended after that thread closes it
                try:
                    os.dup2(copy, fd)
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:  # EBUSY: another thread is opening a file on it right now
                        raise

    def close(self) -> None:
        self.mend()
        for copy in self.copies.values():
            if copy is not None:
                os.close(copy)
        self.copies = {}


@contextmanager
def streams_kept() -> Iterator[StreamGuard]:
    """Run model code; afterwards ``sys.stdout``, ``sys.stderr`` and descriptors 1 and 2 work as before it.

    What the model closed or broke is put back: a closed descriptor leads where it led, and a stream
    that is closed, None, or raises when written to is the one before it (opened again on its
    descriptor if the model closed it). What the model replaced with something that works is left
    as the model set it: a model may tee its own prints to a file. The block gets the
    :class:`StreamGuard`, to mend the descriptors between calls as well.
    """
    before = {"stdout": (sys.stdout, STDOUT), "stderr": (sys.stderr, STDERR)}
    guard = StreamGuard()
    try:
        yield guard
    finally:
        guard.close()
        for name, (stream, fd) in before.items():
            if stream is not None and not _works(getattr(sys, name)):
                setattr(sys, name, stream if _works(stream) else _reopened(stream, fd))
