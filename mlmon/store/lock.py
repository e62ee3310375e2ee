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
    renewal = _Renewal(ob, handle, key, body, taken.get("e_tag") if isinstance(taken, dict) else None, owner)
    store.confirm_lease = renewal.confirm  # commit_registry asks it before the commit
    try:
        yield
    finally:
        store.confirm_lease = None
        renewal.stop()
        if renewal.ours():
            try:
                ob.delete(handle, key)
            except Exception:
                pass  # it expires


def _refused(ob, exc: BaseException) -> bool:
    """Whether the service refused a conditional put because the lease changed (not a transient failure)."""
    return isinstance(exc, (ob.exceptions.PreconditionError, FileNotFoundError)) or type(exc).__name__ == "NotFoundError"


class _Renewal:
    """Puts the lease again, conditional on its ETag, every third of :data:`LEASE_S` while the run holds it:
    an ingest longer than the lease keeps it. A refused renewal (another run took the lease over) loses it;
    a failed one (the network) is tried again, until the lease would have expired. :meth:`confirm` renews
    once more just before a commit, which a lost lease refuses."""

    def __init__(self, ob, handle, key: str, body, e_tag: str | None, owner: str):
        self.ob, self.handle, self.key, self.body, self.e_tag, self.owner = ob, handle, key, body, e_tag, owner
        self.lost = False
        self.renewed_at = time.monotonic()
        self._put = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlmon-lease", daemon=True)
        if e_tag is not None:  # a service that gives no ETag cannot renew conditionally: the lease just lasts
            self._thread.start()

    def _renew(self) -> None:
        """One conditional renewal; raises what the service raised (``lost`` set when it refused)."""
        with self._put:
            if self.lost:
                raise InputError("lost")
            try:
                put = self.ob.put(self.handle, self.key, self.body(), mode={"e_tag": self.e_tag})
            except Exception as exc:
                if _refused(self.ob, exc):
                    self.lost = True
                raise
            self.e_tag = put.get("e_tag") if isinstance(put, dict) else None
            self.renewed_at = time.monotonic()
            if self.e_tag is None:
                self.lost = True  # no ETag to renew on next time: as good as lost

    def _run(self) -> None:
        while not self._stop.wait(LEASE_S / 3):
            try:
                self._renew()
            except Exception:  # noqa: BLE001 - refused (lost) or failed (tried again below)
                if self.lost or time.monotonic() - self.renewed_at >= LEASE_S:
                    self.lost = True
                    return

    def confirm(self) -> None:
        """Before a commit: the lease is still this run's, renewed now; else InputError (nothing is committed)."""
        if self.e_tag is None and not self.lost:
            return  # never renewable (see __init__): the registry's conditional commit is the guard
        try:
            self._renew()
        except Exception:  # noqa: BLE001 - whatever failed, the lease is not surely ours
            raise InputError("this run lost the store's lock (its lease) to another run, or could not renew it; "
                             "nothing was committed", "Run again: the next run reads the same lines again.") from None

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=30)

    def ours(self) -> bool:
        """Whether the lock object is still this run's (then it is removed; another run's is left alone)."""
        if not self.lost:
            return True
        try:
            doc = json.loads(bytes(self.ob.get(self.handle, self.key).bytes()))
            return doc.get("owner") == self.owner
        except Exception:  # noqa: BLE001 - gone or unreadable: nothing of ours to remove
            return False
