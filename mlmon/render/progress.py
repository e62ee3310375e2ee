"""A progress bar on stderr for long reads: only on a terminal, and only after a couple of seconds."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn


class ReadProgress:
    """A ``Progress`` callback for the reader (bytes done, bytes in all, source name)."""

    def __init__(self, delay: float = 2.0, enabled: bool | None = None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.delay = delay
        self.started = time.monotonic()
        self._progress: Progress | None = None
        self._task = None

    def __call__(self, done: int, total: int | None, name: str) -> None:
        if not self.enabled or time.monotonic() - self.started < self.delay:
            return
        if self._progress is None:
            self._progress = Progress(
                TextColumn("reading {task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
                console=Console(stderr=True), transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("", total=total)
        self._progress.update(self._task, completed=done, total=total, description=name[-40:])

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> "ReadProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
