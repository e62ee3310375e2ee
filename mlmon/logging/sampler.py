"""The process's CPU and memory, sampled by a background thread, read by records for free.

A request reads two attributes; psutil is called once per ``interval`` by one daemon thread,
never on the request path. psutil is imported by that thread, so importing ``mlmon.logging``
stays light.
"""

from __future__ import annotations

import os
import threading
import weakref

#: Every sampler alive, to restart in a child process after fork.
_SAMPLERS: weakref.WeakSet = weakref.WeakSet()


class ResourceSampler:
    """``cpu_percent`` (of one core, over the last interval) and ``memory_mb`` (resident set) of
    this process, refreshed every ``interval`` seconds; None until the first sample."""

    def __init__(self, interval: float = 1.0):
        self.interval = interval
        self.cpu_percent: float | None = None
        self.memory_mb: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        _SAMPLERS.add(self)

    def start(self) -> None:
        """Start the sampling thread, once per process (the logger calls this on its first record)."""
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="mlmon-resource-sampler", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        try:
            import psutil

            process = psutil.Process()
            process.cpu_percent(None)  # the first call only starts the measurement
            while True:
                self.memory_mb = round(process.memory_info().rss / 2**20, 1)
                if self._stop.wait(self.interval):
                    return
                self.cpu_percent = round(process.cpu_percent(None), 1)
        except Exception:  # noqa: BLE001  (no psutil support here: the fields stay null)
            return

    @property
    def running(self) -> bool:
        return self._thread is not None

    def _after_fork_in_child(self) -> None:
        # The thread did not survive the fork, and its lock and event may have been held.
        stopped = self._stop.is_set()
        self.cpu_percent = self.memory_mb = None
        self._lock, self._stop, self._thread = threading.Lock(), threading.Event(), None
        if stopped:
            self._stop.set()


def _restart_in_child() -> None:
    for sampler in list(_SAMPLERS):
        sampler._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_in_child)
