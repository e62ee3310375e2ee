"""The log file one process appends to: opened, checked, rotated and repaired.

Only the writer thread of one process touches a :class:`LogFile`, so nothing here locks.
Rotation is numbered, as logrotate's default and ``mlmon ingest`` expect: ``app.jsonl`` →
``app.jsonl.1`` → ``app.jsonl.2`` …, renamed (never copied), so that ingest recognizes each file
by its inode and reads the lines it had not read yet from the renamed file.

A write that fails halfway (a full disk) is undone by truncating the file back to its size before
it, so that retrying the batch neither tears a line nor writes one twice.
"""

from __future__ import annotations

import os
import time

_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


class LogFile:
    """Appends whole batches of lines to ``path``, rotating it by size and by time.

    ``max_bytes``: rotate before a batch would take the file past this size (None: never).
    ``rotate_every``: seconds; rotate at each multiple of it since the epoch, UTC (None: never).
    ``keep``: rotated files to keep; the oldest beyond this are deleted (None: keep all).
    """

    def __init__(self, path: str, max_bytes: int | None = None, rotate_every: float | None = None,
                 keep: int | None = 10, clock=time.time):
        self.path = path
        self.max_bytes = max_bytes
        self.rotate_every = rotate_every
        self.keep = keep
        self.rotations = 0
        self._clock = clock
        self._fd: int | None = None
        self._ino: int | None = None
        self._size = 0  # bytes known to end in a complete line
        self._next_rotation = self._rotation_after(clock())

    # --- opening -------------------------------------------------------------------------------

    def _open(self) -> None:
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        fd = os.open(self.path, _FLAGS, 0o644)
        try:
            info = os.fstat(fd)
            size = info.st_size
            if info.st_ino == self._ino and size > self._size:
                size = self._size  # the tail of a write that failed halfway: it is written again
                os.ftruncate(fd, size)
            elif size and info.st_ino != self._ino and os.pread(fd, 1, size - 1) != b"\n":
                # A line cut short (by a killed process that had this pid): cut it off, so that the
                # next line is not glued to it.
                size = _after_last_newline(fd, size)
                os.ftruncate(fd, size)
        except OSError:
            os.close(fd)
            raise
        self._fd, self._ino, self._size = fd, info.st_ino, size

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.close(fd)
            except OSError:
                pass

    def _still_ours(self) -> bool:
        """Whether ``path`` is still the file we hold open (not deleted, not renamed by someone else)."""
        try:
            return os.stat(self.path).st_ino == self._ino
        except OSError:
            return False

    # --- writing -------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Append ``data`` (whole lines) in full, or raise OSError and leave the file as it was."""
        if self._fd is not None and not self._still_ours():
            self.close()  # deleted or moved away: write to a new file at the path
        if self._fd is None:
            self._open()
        if self._due(len(data)):
            self.rotate()
        fd, start = self._fd, self._size
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except OSError:
            try:
                os.ftruncate(fd, start)
            except OSError:
                self.close()  # _open cuts the tail back to ``start`` when it can
            raise
        self._size = start + len(data)

    def room(self) -> float:
        """Bytes that fit before the next size rotation."""
        return float("inf") if self.max_bytes is None else max(self.max_bytes - self._size, 0)

    def tick(self) -> None:
        """Rotate on time, also when nothing is written."""
        if self._fd is not None and self._size and self.rotate_every and self._clock() >= self._next_rotation:
            self.rotate()

    # --- rotating ------------------------------------------------------------------------------

    def _rotation_after(self, now: float) -> float:
        if not self.rotate_every:
            return float("inf")
        return (now // self.rotate_every + 1) * self.rotate_every

    def _due(self, adding: int) -> bool:
        if not self._size:
            return False
        if self.max_bytes is not None and self._size + adding > self.max_bytes:
            return True
        return self._clock() >= self._next_rotation

    def rotate(self) -> None:
        """Rename the file to ``.1`` (shifting older ones up, deleting past ``keep``) and start a new one."""
        self.close()
        if self.keep == 0:
            os.unlink(self.path)
        else:
            last = self.keep if self.keep is not None else _highest_number(self.path) + 1
            for number in range(last - 1, 0, -1):
                older = f"{self.path}.{number}"
                if os.path.exists(older):
                    os.replace(older, f"{self.path}.{number + 1}")
            os.replace(self.path, f"{self.path}.1")
        self.rotations += 1
        self._ino, self._size = None, 0
        self._next_rotation = self._rotation_after(self._clock())
        self._open()


def _highest_number(path: str) -> int:
    directory, name = os.path.split(path)
    numbers = [int(entry[len(name) + 1:]) for entry in os.listdir(directory or ".")
               if entry.startswith(name + ".") and entry[len(name) + 1:].isdigit()]
    return max(numbers, default=0)


def _after_last_newline(fd: int, size: int) -> int:
    """The offset after the last newline of the file, or 0."""
    end = size
    while end > 0:
        start = max(0, end - 65536)
        found = os.pread(fd, end - start, start).rfind(b"\n")
        if found != -1:
            return start + found + 1
        end = start
    return 0
