"""Turn the LOGS arguments (files, directories, globs, ``-``) into readable sources."""

from __future__ import annotations

import glob
import gzip
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable

from mlmon.errors import InputError

#: File names a directory search picks up, plain or gzip-compressed.
LOG_SUFFIXES = (".jsonl", ".ndjson", ".log")


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


def _is_log_name(name: str) -> bool:
    base = name[:-3] if name.endswith(".gz") else name
    return base.endswith(LOG_SUFFIXES)


def _walk_dir(directory: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(root) / f for f in sorted(files) if _is_log_name(f) and not f.startswith("."))
    return found


def _expand(pattern: str) -> list[Path]:
    path = Path(pattern)
    if path.is_dir():
        return _walk_dir(path)
    if path.exists():
        return [path]
    matches = sorted(glob.glob(pattern, recursive=True))
    out: list[Path] = []
    for match in matches:
        p = Path(match)
        out.extend(_walk_dir(p) if p.is_dir() else [p])
    return out


def resolve_inputs(patterns: Iterable[str]) -> list[Source]:
    """Every source named by the patterns, in order, without duplicates.

    Raises InputError when a pattern matches nothing.
    """
    sources: list[Source] = []
    seen: set[str] = set()
    patterns = list(patterns)
    if not patterns:
        raise InputError("no log files given", "Name log files, directories or glob patterns, or - for stdin.")
    for pattern in patterns:
        if pattern == "-":
            if "-" not in seen:
                seen.add("-")
                sources.append(Source("<stdin>"))
            continue
        paths = _expand(pattern)
        if not paths:
            if Path(pattern).is_dir():
                raise InputError(
                    f"directory {pattern} holds no log files",
                    f"mlmon looks for {', '.join('*' + s for s in LOG_SUFFIXES)} and their .gz forms; name files directly otherwise.",
                )
            raise InputError(f"no log files match {pattern!r}", "Check the path or glob pattern.")
        for p in paths:
            key = str(p.resolve())
            if key not in seen:
                seen.add(key)
                sources.append(Source(str(p), p))
    return sources
