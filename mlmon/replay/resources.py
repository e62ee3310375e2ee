"""Sample the CPU and memory of the model's processes (and their children) about ten times a second."""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from typing import Callable

import psutil


@dataclass
class ResourceStats:
    samples: int = 0
    cpu_percent_mean: float | None = None
    cpu_percent_max: float | None = None
    memory_mb_max: float | None = None

    def to_dict(self) -> dict:
        return {"samples": self.samples, "cpu_percent_mean": self.cpu_percent_mean,
                "cpu_percent_max": self.cpu_percent_max, "memory_mb_max": self.memory_mb_max}


def _standard_descriptors_open() -> bool:
    """Whether descriptors 1 and 2 are open: while a model has closed one, a file opened here would take it."""
    try:
        os.fstat(1)
        os.fstat(2)
        return True
    except OSError:
        return False


class ResourceSampler:
    """A background thread summing CPU% and RSS over a process tree; ``stop()`` returns the stats."""

    def __init__(self, pids: Callable[[], list[int]], interval: float = 0.1, quiet: threading.Lock | None = None):
        """``quiet``, for a model in this process: held while a call runs, so that the sampler, which opens
        files under /proc, never takes descriptor 1 or 2 in the moment a model has closed them."""
        self._pids = pids
        self._quiet = quiet or contextlib.nullcontext()
        #: Set while the sampler waits for ``quiet``: the caller lets it have the lock before taking it again
        #: (a lock is not fair: a loop of short calls would take it back every time, and no sample be taken).
        self.wants_quiet = threading.Event()
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlmon-resources", daemon=True)
        self._cpu: list[float] = []
        self._rss: list[float] = []
        self._procs: dict[int, psutil.Process] = {}

    def _tree(self) -> list[psutil.Process]:
        found = []
        for pid in self._pids():
            try:
                root = self._procs.get(pid) or psutil.Process(pid)
                self._procs[pid] = root
                found.append(root)
                for child in root.children(recursive=True):
                    found.append(self._procs.setdefault(child.pid, child))
            except psutil.Error:
                continue
        return found

    def _run(self) -> None:
        with self._quietly():
            if _standard_descriptors_open():
                for proc in self._tree():
                    try:
                        proc.cpu_percent(None)  # the first call only sets the baseline
                    except psutil.Error:
                        pass
        while not self._stop.wait(self.interval):
            with self._quietly():
                if _standard_descriptors_open():  # else an async model has them closed: skip this sample
                    self._sample()

    @contextlib.contextmanager
    def _quietly(self):
        self.wants_quiet.set()
        with self._quiet:
            self.wants_quiet.clear()
            yield

    def _sample(self) -> None:
        cpu = rss = 0.0
        seen = False
        for proc in self._tree():
            try:
                with proc.oneshot():
                    cpu += proc.cpu_percent(None)
                    rss += proc.memory_info().rss
                seen = True
            except psutil.Error:
                continue
        if seen:
            self._cpu.append(cpu)
            self._rss.append(rss / (1024 * 1024))

    def start(self) -> "ResourceSampler":
        self._thread.start()
        return self

    def stop(self) -> ResourceStats:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=2)
        if not self._cpu:
            return ResourceStats()
        return ResourceStats(len(self._cpu), sum(self._cpu) / len(self._cpu), max(self._cpu), max(self._rss))
