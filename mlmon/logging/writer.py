"""The one thread per logger that turns queued records into lines in the file, off the request path.

The request path only appends to a bounded queue (a deque: one append, no lock, no wake-up):
when the queue is full the record is dropped and counted, so a request never waits for the disk.
The thread wakes every ``interval`` seconds, takes what is queued, finishes each record (parses
middleware bodies, redacts secrets, bounds the line's size) and appends the batch with one
``write``. A failed write (full disk, deleted or unwritable directory) is counted, warned about at
most once a minute through the stdlib ``logging`` module (logger ``mlmon.logging``), and retried
with the same batch, reopening the file, until the cause goes away; meanwhile new records queue up,
then are dropped and counted. Nothing here ever raises into the caller.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque

from mlmon.logging.record import encode, finish
from mlmon.logging.rotate import LogFile

#: Most records, and about the most bytes, written with one ``write``.
MAX_BATCH = 2000
MAX_BATCH_BYTES = 4 << 20
#: Seconds between two warnings of one kind.
WARN_EVERY = 60.0


def _log():
    """The ``mlmon.logging`` logger of the standard library's ``logging`` (imported when first needed:
    only a failure is logged, and serving code should not pay for the import)."""
    import logging as _stdlog  # the standard library's: mlmon.logging imports nothing relatively

    return _stdlog.getLogger("mlmon.logging")


def _redaction():
    """mlmon.redaction, imported by the writer thread when it first needs it, not by ``import mlmon.logging``."""
    from mlmon import redaction

    return redaction


class Writer:
    """A bounded queue of records and the thread that appends them to a :class:`LogFile`."""

    def __init__(self, file: LogFile, *, queue_size: int = 10_000, queue_bytes: int = 64 << 20,
                 redact_keys: tuple[str, ...] | None = (),
                 max_line_bytes: int = 1 << 20, interval: float = 0.05):
        self.file = file
        self.queue_size = queue_size
        self.queue_bytes = queue_bytes
        self.redact_keys = redact_keys
        self.max_line_bytes = max_line_bytes
        self.interval = interval
        self.written = self.dropped = self.lost = self.write_errors = 0
        self._queue: deque = deque()  # of (size, record)
        # Bytes queued, about: only the writer takes away, and it starts again from 0 whenever the
        # queue is empty, so that an increment lost to a race does not accumulate.
        self._queued_bytes = 0
        self._taken = 0  # records taken from the queue and not yet written or given up
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._deadline = float("inf")
        self._warned: dict[str, float] = {}
        self._dropped_warned = 0
        self._failing = False

    # --- the request path ----------------------------------------------------------------------

    def put(self, item, size: int) -> bool:
        """Queue a record (an encoded line or a middleware record) of about ``size`` bytes; False if
        it was dropped: the queue holds ``queue_size`` records or ``queue_bytes`` bytes already."""
        if self._thread is None:
            self._start()
        queue = self._queue
        if len(queue) >= self.queue_size or self._queued_bytes + size > self.queue_bytes or self._closed:
            with self._lock:
                self.dropped += 1
            return False
        self._queued_bytes += size
        queue.append((size, item))
        return True

    def count_lost(self, exc: BaseException) -> None:
        """Count a record that could not be made (on the request path), and warn about it."""
        with self._lock:
            self.lost += 1
        self._warn("encode", f"mlmon.logging: a record could not be made and was left out: {exc!r}")

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="mlmon-log-writer", daemon=True)
                self._thread.start()

    # --- the writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        queue = self._queue
        while True:
            if not queue:
                self._queued_bytes = 0
                if self._closed:
                    break
                if self._wake.wait(self.interval):
                    self._wake.clear()
                self._housekeeping()
                continue
            lines, size = [], 0
            while queue and len(lines) < MAX_BATCH and size < MAX_BATCH_BYTES:
                self._taken += 1  # before the pop: flush() may count a record twice, never miss one
                queued, item = queue.popleft()
                self._queued_bytes -= queued
                line = self._line(item)
                if line:
                    lines.append(line)
                    size += len(line)
                else:
                    self._taken -= 1
            try:
                self._write_lines(lines)
            except Exception as exc:  # noqa: BLE001  (a bug must cost this batch, not the thread)
                self.lost += len(lines)
                self._warn("bug", f"mlmon.logging: {len(lines)} records lost to an unexpected error: {exc!r}")
            self._taken = 0
        self.file.close()

    def _line(self, item) -> bytes:
        """One finished line with its newline, or b"" (counted as lost) if it cannot be made."""
        try:
            line = item if isinstance(item, str) else encode(finish(item))
            keys = self.redact_keys
            if keys is not None and _redaction().may_hold_secret(line, keys):
                line = encode(_redaction().redact_obj(json.loads(line), keys))
            data = line.encode("utf-8", "replace")
            if len(data) >= self.max_line_bytes:
                data = self._shrink(data)
            return data + b"\n"
        except Exception as exc:  # noqa: BLE001  (a bug here must cost one record, not the thread)
            self.lost += 1
            self._warn("encode", f"mlmon.logging: a record could not be written as JSON and was left out: {exc!r}")
            return b""

    def _shrink(self, data: bytes) -> bytes:
        """A line past ``max_line_bytes`` (mlmon's reader would reject it): the same record without its
        request and response, and ``omitted_bytes`` saying how long it was."""
        record = json.loads(data)
        record["request"] = record["response"] = None
        record["omitted_bytes"] = len(data)
        small = encode(record).encode("utf-8", "replace")
        if len(small) >= self.max_line_bytes:
            raise ValueError(f"a record of {len(small)} bytes without its request and response")
        return small

    def _write_lines(self, lines: list[bytes]) -> None:
        """Append the lines, in as few writes as size rotation allows (a write never spans two files)."""
        first = 0
        while first < len(lines):
            room, end, size = self.file.room(), first + 1, len(lines[first])
            while end < len(lines) and size + len(lines[end]) <= room:
                size += len(lines[end])
                end += 1
            self._write(b"".join(lines[first:end]), end - first)
            first = end

    def _write(self, payload: bytes, count: int) -> None:
        """Append the batch, retrying until it is written or, when closing, the deadline passes."""
        delay = 0.05
        while True:
            try:
                self.file.write(payload)
            except OSError as exc:
                self.write_errors += 1
                self._failing = True
                self._warn("write", f"mlmon.logging: cannot write {self.file.path}: {exc.strerror or exc}; "
                                    f"{self.write_errors} failed writes so far, {self.dropped} records dropped; "
                                    "retrying (requests are not affected)")
                if self._closed:
                    remaining = self._deadline - time.monotonic()
                    if remaining <= 0:
                        self.lost += count
                        return
                    time.sleep(min(delay, remaining))
                elif self._wake.wait(delay):
                    self._wake.clear()
                delay = min(delay * 2, 1.0)
                continue
            self.written += count
            if self._failing:
                self._failing = False
                self._warn("resumed", f"mlmon.logging: writing {self.file.path} again after "
                                      f"{self.write_errors} failed writes")
            return

    def _housekeeping(self) -> None:
        try:
            self.file.tick()
        except OSError as exc:
            self.write_errors += 1
            self._warn("rotate", f"mlmon.logging: cannot rotate {self.file.path}: {exc.strerror or exc}")
        if self.dropped > self._dropped_warned:
            self._warn("dropped", f"mlmon.logging: {self.dropped} records dropped so far: the queue of "
                                  f"{self.queue_size} records or {self.queue_bytes} bytes was full (the disk is slow or failing, "
                                  "or the load too high)")
            self._dropped_warned = self.dropped

    def _warn(self, kind: str, message: str) -> None:
        now = time.monotonic()
        if now - self._warned.get(kind, -WARN_EVERY) >= WARN_EVERY:
            self._warned[kind] = now
            _log().warning(message)

    # --- shutdown ------------------------------------------------------------------------------

    def pending(self) -> int:
        """Records queued or being written."""
        return len(self._queue) + self._taken

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far is written (or given up); False on timeout."""
        deadline = time.monotonic() + timeout
        while self.pending() and self._thread is not None and self._thread.is_alive():
            if time.monotonic() >= deadline:
                return False
            self._wake.set()
            time.sleep(0.002)
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Stop taking records, write what is queued within ``timeout`` seconds, close the file.
        Records still queued after that are counted as lost; False then."""
        with self._lock:
            if self._closed:
                return True
            self._deadline = time.monotonic() + timeout
            self._closed = True
        thread = self._thread
        if thread is None:
            self.file.close()
            return True
        self._wake.set()
        thread.join(max(timeout, 0.0) + 0.1)
        if thread.is_alive():
            self.lost += self.pending()
            self._warn("close", f"mlmon.logging: {self.pending()} records not written to {self.file.path} "
                                f"within {timeout:g} s of closing")
            return False
        return True

    def abandon(self) -> None:
        """In a forked child: forget the parent's queue and thread, close the inherited file."""
        self._closed = True
        self._queue = deque()
        self.file.close()
