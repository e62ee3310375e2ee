"""A progress bar on stderr for long runs: only on a terminal, and only after a couple of seconds.

While the logs are read it fills with the bytes read; after that it names the phase that
runs ("computing drift", "joining labels"), so a long computation never looks like a hang at 100%.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING

from mlmon.logs.reader import PHASE

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress


def _bytes_column():
    """Bytes read while reading; nothing during a later phase, which counts no bytes.

    Made when a bar is first shown: most runs end before, and need not import rich.progress.
    """
    from rich.progress import DownloadColumn
    from rich.text import Text

    class _Bytes(DownloadColumn):
        def render(self, task) -> Text:
            return Text("") if task.fields.get("phase") else super().render(task)

    return _Bytes()


class ReadProgress:
    """A ``Progress`` callback for the core: (bytes done, bytes in all, source name), or (PHASE, None, phase).

    Nothing is written before ``delay`` seconds: a quick run leaves the terminal untouched. A call
    before then arms a timer, so that a phase announced early (a long drift computation, with no
    call after it) still shows once the delay is over.
    """

    def __init__(self, delay: float = 2.0, enabled: bool | None = None, console: Console | None = None):
        self.enabled = (sys.stderr is not None and sys.stderr.isatty()) if enabled is None else enabled
        self.delay = delay
        self.started = time.monotonic()
        self.console = console
        self._progress: Progress | None = None
        self._task = None
        self._latest: tuple[int, int | None, str] | None = None
        self._timer: threading.Timer | None = None
        self._closed = False
        self._lock = threading.Lock()  # the timer's thread starts the display

    def __call__(self, done: int, total: int | None, name: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._latest = (done, total, name)
            if self._progress is not None:
                self._show(done, total, name)
            elif time.monotonic() - self.started >= self.delay:
                self._start()
            elif self._timer is None:
                self._timer = threading.Timer(self.started + self.delay - time.monotonic(), self._when_due)
                self._timer.daemon = True
                self._timer.start()

    def _when_due(self) -> None:
        with self._lock:
            if self._progress is None and not self._closed:
                self._start()

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), _bytes_column(), TimeElapsedColumn(),
            console=self.console or Console(stderr=True), transient=True,
        )
        self._progress.start()
        self._show(*self._latest)

    def _show(self, done: int, total: int | None, name: str) -> None:
        phase = done == PHASE
        if self._task is None or phase or self._progress.tasks[0].fields.get("phase"):
            # a new task for each phase: its bar pulses (no total) and its clock starts with it
            if self._task is not None:
                self._progress.remove_task(self._task)
            self._task = self._progress.add_task(name if phase else "", total=None if phase else total, phase=phase)
        if not phase:
            self._progress.update(self._task, completed=done, total=total, description=f"reading {name[-40:]}")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            if self._progress is not None:
                self._progress.stop()
                self._progress = None

    def __enter__(self) -> "ReadProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
