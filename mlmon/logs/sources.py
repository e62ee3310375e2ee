"""Turn the LOGS arguments (files, directories, globs, ``-``) into readable sources."""

from __future__ import annotations

import glob
import gzip
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable

from mlmon.errors import InputError
from mlmon.safetext import printable

#: File names a directory search picks up, plain or gzip-compressed, and their rotated siblings.
LOG_SUFFIXES = (".jsonl", ".ndjson", ".log", ".json")


@dataclass(frozen=True)
class Source:
    """One log stream: a file (maybe gzip-compressed) or standard input."""

    name: str
    path: Path | None = None

    @property
    def is_stdin(self) -> bool:
        return self.path is None

    @property
    def size(self) -> int | None:
        """Bytes on disk, for progress; None for stdin."""
        if self.path is None:
            return None
        try:
            return self.path.stat().st_size
        except OSError:
            return None

    @property
    def is_plain_file(self) -> bool:
        """A regular file on disk that is not gzip-compressed: it can be read at any offset.

        A pipe (``<(zcat x.gz)``, ``/dev/stdin``) or a FIFO is not opened here: a read
        would take data the reader then never sees, or wait for a writer.
        """
        if self.path is None or self.path.name.endswith(".gz"):
            return False
        try:
            if not stat.S_ISREG(os.stat(self.path).st_mode):
                return False
            with open(self.path, "rb") as handle:
                return not _gzip_magic(handle.read(2))
        except OSError:
            return False

    def open(self) -> BinaryIO:
        """Open for binary reading, decompressing ``.gz`` transparently."""
        if self.path is None:
            stdin = sys.stdin.buffer
            peek = getattr(stdin, "peek", None)
            if peek is not None and _gzip_magic(peek(2)):  # gzip piped in: decompress it too
                return gzip.GzipFile(fileobj=stdin, mode="rb")  # type: ignore[return-value]
            return stdin
        try:
            handle = open(self.path, "rb")
        except PermissionError:
            raise InputError(f"cannot read {self.name}: permission denied", "Check the file's permissions.") from None
        except IsADirectoryError:
            raise InputError(f"{self.name} is a directory, not a log file") from None
        except OSError as exc:
            raise InputError(f"cannot open {self.name}: {exc.strerror or exc}") from None
        if self.path.name.endswith(".gz") or _gzip_magic(handle.peek(2)):
            return gzip.GzipFile(fileobj=handle, mode="rb")  # type: ignore[return-value]
        return handle


def _gzip_magic(first: bytes) -> bool:
    return first[:2] == b"\x1f\x8b"


#: A name a directory search reads: a log suffix, then maybe a rotation suffix, then maybe ``.gz``.
#: Rotation suffixes are numbered (``app.log.1``, ``app.log.2.gz``) or logrotate's dateext
#: (``app.log-20261126``, ``app.log-2026112614``).
_LOG_NAME = re.compile(
    r"(?P<base>.+(?:" + "|".join(re.escape(s) for s in LOG_SUFFIXES) + r"))"
    r"(?:\.(?P<number>\d{1,6})|-(?P<date>\d{8,14}))?(?:\.gz)?"
)
#: How many names a note lists for each reason.
_NAMES_SHOWN = 3


def reading_order(path: Path) -> tuple:
    """Sort key that reads rotated siblings oldest first: ``app.log-20261125``, ``app.log.2.gz``,
    ``app.log.1``, then ``app.log``; other names stay in name order."""
    match = _LOG_NAME.fullmatch(path.name)
    if match is None:
        return (str(path.parent), path.name, (2, 0), path.name)
    if match["date"]:
        rank: tuple = (0, match["date"])
    elif match["number"]:
        rank = (1, -int(match["number"]))
    else:
        rank = (2, 0)
    return (str(path.parent), match["base"], rank, path.name)


def _skip_reason(path: Path) -> str | None:
    """Why a directory search leaves ``path`` out, or None to read it.

    Only regular files are read: a FIFO would wait for a writer forever, a device never ends.
    """
    if _LOG_NAME.fullmatch(path.name) is None:
        return "not named like logs"
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError:  # a dangling link
        regular = False
    return None if regular else "not a regular file"


@dataclass
class _Walk:
    """The files a directory search reads, and those it leaves out, by reason."""

    directory: str
    found: list[Path] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> str:
        """``skipped 3 files: 2 not named like logs (README.txt, data.csv), 1 not a regular file (pipe.jsonl)``"""
        parts = []
        for reason, names in sorted(self.skipped.items(), key=lambda item: -len(item[1])):
            shown = ", ".join(printable(n) for n in names[:_NAMES_SHOWN]) + (", …" if len(names) > _NAMES_SHOWN else "")
            parts.append(f"{len(names)} {reason} ({shown})")
        count = sum(len(names) for names in self.skipped.values())
        return f"skipped {count} file{'s' if count != 1 else ''}: {', '.join(parts)}"


def _walk_dir(directory: Path, given: str) -> _Walk:
    """Log files below ``directory``, each folder's in reading order; hidden files and folders are left out unsaid."""
    walk = _Walk(given)
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        here = []
        for name in files:
            if name.startswith("."):
                continue
            path = Path(root) / name
            reason = _skip_reason(path)
            if reason is None:
                here.append(path)
            else:
                walk.skipped.setdefault(reason, []).append(str(path.relative_to(directory)))
        walk.found.extend(sorted(here, key=reading_order))
    for names in walk.skipped.values():
        names.sort()
    return walk


def _expand(pattern: str, walks: list[_Walk]) -> list[Path]:
    """The files ``pattern`` names; each directory it names or matches is searched, and its walk kept in ``walks``."""
    path = Path(pattern)
    if path.is_dir():
        walks.append(_walk_dir(path, pattern))
        return walks[-1].found
    if path.exists():
        return [path]
    out: list[Path] = []
    for match in sorted(glob.glob(pattern, recursive=True), key=lambda m: reading_order(Path(m))):
        p = Path(match)
        if p.is_dir():
            walks.append(_walk_dir(p, match))
            out.extend(walks[-1].found)
        else:
            out.append(p)
    return out


@dataclass
class Inputs:
    """The sources to read, in order, and notes on what the directory searches left out."""

    sources: list[Source]
    notes: list[str] = field(default_factory=list)


def resolve_inputs(patterns: Iterable[str]) -> Inputs:
    """Every source named by the patterns, in order, without duplicates, and a note for each
    directory whose search left files out.

    Raises InputError when a pattern matches nothing.
    """
    sources: list[Source] = []
    walks: list[_Walk] = []
    seen: set[str] = set()
    patterns = list(patterns)
    if not patterns:
        raise InputError("no log files given", "Name log files, directories or glob patterns, or - for stdin.")
    for pattern in patterns:
        if not pattern.strip():
            raise InputError("an empty log path was given", "Name log files, directories or glob patterns, or - for stdin.")
        if pattern == "-":
            if "-" not in seen:
                seen.add("-")
                sources.append(Source("<stdin>"))
            continue
        paths = _expand(pattern, walks)
        if not paths:
            if Path(pattern).is_dir():
                left_out = f" ({walks[-1].summary()})" if walks[-1].skipped else ""
                raise InputError(
                    f"directory {printable(pattern)} holds no log files{left_out}",
                    f"mlmon reads {', '.join('*' + s for s in LOG_SUFFIXES)}, their rotated and .gz forms; "
                    "name other files directly.",
                )
            raise InputError(f"no log files match {pattern!r}", "Check the path or glob pattern.")
        for p in paths:
            key = str(p.resolve())
            if key not in seen:
                seen.add(key)
                sources.append(Source(str(p), p))
    return Inputs(sources, [f"{printable(w.directory)}: {w.summary()}" for w in walks if w.skipped])
