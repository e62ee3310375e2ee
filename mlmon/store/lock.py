"""One writer at a time, waited for a bounded time.

On a local disk: an advisory ``flock`` on ``_mlmon/lock``, which the kernel drops when its
holder dies, so a killed ingest never leaves the store locked. In object storage: a lease,
an object ``_mlmon/lock`` created only if absent (a conditional PUT) and holding its expiry;
an expired lease is taken over by a conditional PUT on its ETag, so two runs never both win.
Readers take no lock: they read the last committed registry.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Iterator

from mlmon.errors import InputError
from mlmon.store.layout import LOCK, LocalStore, ObjectStore, StoreDir

DEFAULT_WAIT_S = 30.0
#: How long an object-storage lease lasts. A run that outlives it may lose the lease to another run;
#: the registry's conditional commit then refuses the later of the two commits (see layout.py).
LEASE_S = 15 * 60
_POLL_S = 0.1


def _locked(store: StoreDir, wait_s: float) -> InputError:
    return InputError(f"the store {store} is locked by another mlmon ingest, compact or prune (waited {wait_s:g} s)",
                      "Try again when it has finished, or wait longer with --wait.")


@contextmanager
def store_lock(store: StoreDir, wait_s: float = DEFAULT_WAIT_S, what: str = "ingest") -> Iterator[None]:
    if isinstance(store, ObjectStore):
        with _lease(store, wait_s, what):
            yield
        return
    assert isinstance(store, LocalStore)
    try:
        fd = os.open(store.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise InputError(f"cannot lock the store {store}: {exc.strerror or exc}",
                         "Check that the store directory is writable.") from None
    try:
        deadline = time.monotonic() + max(0.0, wait_s)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _locked(store, wait_s) from None
                time.sleep(_POLL_S)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {what}\n".encode())
        yield
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def _lease(store: ObjectStore, wait_s: float, what: str) -> Iterator[None]:
    ob, handle = store.lease()
    key = f"_mlmon/{LOCK}"
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + max(0.0, wait_s)

    def body() -> bytes:
        return json.dumps({"owner": owner, "what": what, "host": socket.gethostname(), "pid": os.getpid(),
                           "expires": time.time() + LEASE_S}).encode()

    while True:
        try:
            taken = ob.put(handle, key, body(), mode="create")
            break
        except ob.exceptions.AlreadyExistsError:
            pass
        try:
            held = ob.get(handle, key)
            doc = json.loads(bytes(held.bytes()))
            if float(doc.get("expires", 0)) < time.time():
                taken = ob.put(handle, key, body(), mode={"e_tag": held.meta["e_tag"]})  # take over an expired lease
                break
        except (ob.exceptions.PreconditionError, FileNotFoundError):
            continue  # changed under us: look again
        except (ValueError, TypeError):
            pass  # a lease being written; wait
        except Exception as exc:
            if type(exc).__name__ == "NotFoundError":
                continue
            raise InputError(f"cannot lock the store {store}: {str(exc).splitlines()[0][:200]}",
                             "Check the bucket and the credentials.") from None
        if time.monotonic() >= deadline:
            raise _locked(store, wait_s)
        time.sleep(min(1.0, _POLL_S * 5))
    renewal = _Renewal(ob, handle, key, body, taken.get("e_tag") if isinstance(taken, dict) else None)
    try:
        yield
    finally:
        renewal.stop()
        if renewal.held():
            try:
                ob.delete(handle, key)
            except Exception:
                pass  # it expires


class _Renewal:
    """Puts the lease again, conditional on its ETag, every third of :data:`LEASE_S` while the run holds it:
    an ingest longer than the lease keeps it. A renewal refused (another run took an expired lease, the
    network failed long enough) stops it; the registry's conditional commit still refuses a lost race."""

    def __init__(self, ob, handle, key: str, body, e_tag: str | None):
        self.ob, self.handle, self.key, self.body, self.e_tag = ob, handle, key, body, e_tag
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlmon-lease", daemon=True)
        if e_tag is not None:  # a service that gives no ETag cannot renew conditionally: the lease just lasts
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(LEASE_S / 3):
            try:
                put = self.ob.put(self.handle, self.key, self.body(), mode={"e_tag": self.e_tag})
                self.e_tag = put.get("e_tag") if isinstance(put, dict) else None
                if self.e_tag is None:
                    self.lost = True
            except Exception:  # refused (taken over) or failed: the lease is no longer surely ours
                self.lost = True
            if self.lost:
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=30)

    def held(self) -> bool:
        """Whether the lease is still this run's (then it is removed; another run's is left alone)."""
        return not self.lost
