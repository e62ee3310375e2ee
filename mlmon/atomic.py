"""Write files so that readers see the old content or the new, never half of either."""

from __future__ import annotations

import errno
import glob
import os
import re
import shutil
import stat
import sys
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Iterator

from mlmon.errors import InputError, UsageError


def temp_prefix(target: Path, suffix: str, lead: str = "") -> str:
    """The name's start of a temporary file (or directory) for ``target``: ``.name.LEAD<pid>@<host>.``, where
    host is a digest of this machine's name. First the ones left beside ``target`` by killed runs of this
    machine (their process is gone) are removed: exactly that shape with mkstemp's eight random characters,
    so another target's temporary file (``.name.2024.json.…``) or another machine's (a shared disk) is never
    taken for one."""
    start = f".{target.name}.{lead}"
    host = _host_tag()
    shape = re.compile(re.escape(start) + r"(\d+)@" + host + r"\.[a-z0-9_]{8}" + re.escape(suffix))
    with suppress(OSError):
        for path in target.parent.glob(f"{glob.escape(start)}*@{host}.*{glob.escape(suffix)}"):
            found = shape.fullmatch(path.name)
            if found is None or int(found[1]) == os.getpid() or _alive(int(found[1])):
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with suppress(OSError):
                    path.unlink()
    return f"{start}{os.getpid()}@{host}."


def _host_tag() -> str:
    import hashlib
    import socket

    return hashlib.sha256(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:8]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True  # another user's process, or no number a process has: not ours to judge
    return True


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", *, stdout: IO | None = None) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it replaces ``path`` in one rename.

    If the block raises or the process dies, ``path`` is untouched and the temporary file
    is removed (or, after a kill, left as a hidden ``.name.<pid>@<host>.*.tmp`` file, never as ``path``, which the
    next write to ``path`` removes once that process is gone).

    A symbolic link is followed: the file it points to is replaced and the link kept.
    What is not a regular file (``/dev/null``, ``/dev/stdout``, a FIFO) cannot be
    replaced by a rename; it is written through, as a shell redirection would.
    ``-`` is ``stdout``, sys.stdout by default.
    """
    if str(path) == "-":
        yield from _write_stdout(mode, stdout)
        return
    target = Path(path)
    kind = _existing_kind(target)
    if kind == "directory":
        raise InputError(f"cannot write {target}: it is a directory", "Name a file to write.")
    if kind == "special" or _through_a_descriptor(target):
        yield from _write_through(target, mode)
        return
    target = Path(os.path.realpath(target))  # replace a link's file, not the link
    directory = target.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target, ".tmp"), suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}", "Check that the directory exists and is writable.") from None
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8", newline=None if "b" in mode else "") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
            raise InputError(f"cannot write {path}: {exc.strerror or exc}", "Free some space or write elsewhere.") from None
        raise


@contextmanager
def atomic_path(path: str | Path, *, prefix: str = "", suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that takes a path (a Polars sink); on success
    it replaces ``path`` in one rename, with the mode a new file gets.

    As with :func:`atomic_open`, a failure removes the temporary file and a killed run leaves at most a
    hidden ``.name.*.tmp`` file, never ``path``. A special file (``/dev/null``) is written through.
    """
    target = Path(path)
    kind = _existing_kind(target)
    if kind == "directory":
        raise InputError(f"cannot write {target}: it is a directory", "Name a file to write.")
    if kind == "special" or _through_a_descriptor(target):
        yield target
        return
    target = Path(os.path.realpath(target))
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target, suffix, prefix), suffix=suffix, dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}", "Check that the directory exists and is writable.") from None
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, (target.stat().st_mode & 0o777) if target.exists() else 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException as exc:
        with suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise InputError(f"cannot write {path}: {exc.strerror or exc}", "Free some space or write elsewhere.") from None
        raise


def _existing_kind(path: Path) -> str | None:
    """None (nothing there yet), "file", "directory", or "special" (device, FIFO, socket)."""
    try:
        mode = os.stat(path).st_mode  # follows links: what a write would reach
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(f"cannot write {path}: its symbolic links form a loop", "Name a file to write.") from None
        return None  # let the write itself report it
    if stat.S_ISDIR(mode):
        return "directory"
    return "file" if stat.S_ISREG(mode) else "special"


def _through_a_descriptor(path: Path) -> bool:
    """Whether ``path`` or a link on the way names an open descriptor (``/dev/stdout``, ``/proc/self/fd/1``).

    Renaming over what such a link resolves to would replace the file a shell
    redirected the output to (``-o /dev/stdout >> cron.log`` would lose cron.log).
    """
    current = Path(os.path.abspath(path))
    for _ in range(40):
        text = str(current)
        if text.startswith(("/dev/", "/proc/")):
            return True
        if not current.is_symlink():
            return False
        current = Path(os.path.abspath(current.parent / os.readlink(current)))
    return False


def _write_through(target: Path, mode: str) -> Iterator[IO]:
    try:
        text = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
        # Append: opening /dev/stdout anew with "w" would truncate the file a shell's >> appends to.
        handle = open(target, mode.replace("w", "a"), **text)
    except OSError as exc:
        raise InputError(f"cannot write {target}: {exc.strerror or exc}", "Name a regular file to write.") from None
    try:
        with handle:
            yield handle
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise InputError(f"cannot write {target}: {exc.strerror or exc}", "Free some space or write elsewhere.") from None


def _write_stdout(mode: str, stdout: IO | None = None) -> Iterator[IO]:
    """``-`` names standard output, for every file mlmon writes (it is never closed here)."""
    stream = stdout or sys.stdout
    if stream is None:  # closed by the caller (`>&-`): nowhere to write
        stream = open(os.devnull, "w", encoding="utf-8")
    handle = stream.buffer if "b" in mode else stream
    try:
        yield handle
        handle.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise InputError(f"cannot write to standard output: {exc.strerror or exc}",
                         "Free some space or write to a file instead of -.") from None


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def refuse_overwriting_inputs(outputs: dict[str, str | Path | None], inputs: list[str | Path]) -> None:
    """UsageError when an output would replace a file the run reads, or another output.

    Files are compared by device and inode, so a symbolic or hard link to a log counts as
    the log: ``mlmon report app.jsonl -o app.jsonl`` would otherwise replace the log with
    its own report. Only regular files are at stake; ``-`` and special files are written
    through, never replaced.
    """
    read = {}
    for path in inputs:
        identity = _identity(path)
        if identity is not None:
            read.setdefault(identity, str(path))
    written: dict[tuple[int, int], str] = {}
    for option, path in outputs.items():
        if path is None or str(path) == "-":
            continue
        identity = _identity(path)
        if identity is None:
            continue
        if identity in read:
            same = "" if os.path.abspath(read[identity]) == os.path.abspath(path) else f" ({read[identity]})"
            raise UsageError(f"{option} {path} names a file this run reads{same}; writing it would replace that file",
                             "Write the output elsewhere.")
        if identity in written:
            raise UsageError(f"{option} {path} names the same file as {written[identity]}",
                             "Give each output its own file.")
        written[identity] = option


def _identity(path: str | Path) -> tuple[int, int] | None:
    """(device, inode) of a regular file at ``path`` (links followed), or None."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None
