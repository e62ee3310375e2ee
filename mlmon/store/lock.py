"""One writer at a time: an advisory lock on ``_mlmon/lock``, waited for a bounded time.

The kernel drops a ``flock`` when its holder dies, so a killed ingest never leaves the
store locked. Readers take no lock: they read the last committed registry.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from typing import Iterator

from mlmon.errors import InputError
from mlmon.store.layout import StoreDir

DEFAULT_WAIT_S = 30.0
_POLL_S = 0.1


@contextmanager
def store_lock(store: StoreDir, wait_s: float = DEFAULT_WAIT_S, what: str = "ingest") -> Iterator[None]:
    try:
        fd = os.open(store.lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise InputError(f"cannot lock the store {store.root}: {exc.strerror or exc}",
                         "Check that the store directory is writable.") from None
    try:
        deadline = time.monotonic() + max(0.0, wait_s)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise InputError(
                        f"the store {store.root} is locked by another mlmon ingest, compact or prune "
                        f"(waited {wait_s:g} s)",
                        "Try again when it has finished, or wait longer with --wait.") from None
                time.sleep(_POLL_S)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {what}\n".encode())
        yield
    finally:
        os.close(fd)  # releases the lock
