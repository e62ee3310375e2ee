"""``mlmon dashboard``'s full-screen app (Textual): the panels of :mod:`.panels`, kept live.

Reading happens in a worker thread, one refresh at a time, so keys stay responsive while a
refresh reads. The app draws what :class:`~mlmon.live.feed.Feed` returns; it computes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from mlmon.errors import MlmonError
from mlmon.render.dashboard import panels

#: The smallest terminal the panels fit in; smaller gets a message instead.
MIN_WIDTH, MIN_HEIGHT = 60, 16
#: The window lengths + and - step through.
STEPS = tuple(timedelta(seconds=s) for s in (1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600,
                                             12 * 3600, 86400, 7 * 86400))


class KeysScreen(ModalScreen):
    """The keys, over the dashboard; any key closes it."""

    DEFAULT_CSS = """
    KeysScreen { align: center middle; }
    KeysScreen > Static { width: 90%; max-width: 100; height: auto; border: round $accent; background: $surface;
                          padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static(panels.titled("Keys (any key closes this)", panels.keys_help()))

    def on_key(self, event) -> None:
        event.stop()
        if event.key in ("q", "ctrl+c"):
            self.app.exit()
            return
        self.dismiss()


class Dashboard(App):
    """The live dashboard over a :class:`~mlmon.live.feed.Feed`, read again every ``refresh`` seconds."""

    TITLE = "mlmon dashboard"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    Screen { layout: vertical; }
    #status { height: 1; background: $panel; }
    #headline { height: auto; max-height: 12; }
    #bottom { height: 1fr; }
    #left { width: 1fr; }
    #right { width: 1fr; padding-left: 1; }
    #keys { height: 1; background: $panel; }
    #too-small { display: none; height: 1fr; content-align: center middle; text-style: bold; }
    .small #too-small { display: block; }
    .small #main { display: none; }
    #main { height: 1fr; }
    """
    BINDINGS = [
        Binding("q", "quit", "quit", priority=True),
        Binding("ctrl+c", "quit", "quit", priority=True),
        Binding("right,down,tab", "pick(1)", "next model", priority=True),
        Binding("left,up,shift+tab", "pick(-1)", "previous model", priority=True),
        Binding("plus,+", "window(1)", "longer windows"),
        Binding("minus,-", "window(-1)", "shorter windows"),
        Binding("p", "pause", "pause"),
        Binding("question_mark,?", "keys", "keys"),
    ]

    def __init__(self, feed, *, refresh_s: float = 2.0):
        super().__init__()
        self.feed, self.refresh_s = feed, refresh_s
        self.segment: tuple | None = None
        self.paused = False
        self.snapshot = None
        self.error: MlmonError | None = None
        self._loaded = False
        self._reading = False

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        with VerticalScroll(id="main"):
            yield Static(id="headline")
            with Horizontal(id="bottom"):
                with VerticalScroll(id="left"):
                    yield Static(id="segments")
                with VerticalScroll(id="right"):
                    yield Static(id="alerts")
                    yield Static(id="errors")
                    yield Static(id="drift")
                    yield Static(id="skipped")
        yield Static(id="too-small")
        yield Static("q quit · ←→/Tab model · +/- window · p pause · ? keys", id="keys")

    def on_mount(self) -> None:
        self.query_one("#status", Static).update("mlmon dashboard · reading the logs…")
        self._fit(self.size.width, self.size.height)
        self.read()
        self.set_interval(self.refresh_s, self._tick)

    def _tick(self) -> None:
        if not self.paused and not self._reading:  # a read longer than --refresh is not stacked up
            self.read()

    def read(self) -> None:
        self._reading = True
        self._read()

    @work(thread=True, group="read")
    def _read(self) -> None:
        """Read what the logs gained, then draw (in the worker: a refresh never blocks the keys)."""
        try:
            self.feed.poll()
        except MlmonError as exc:
            if not self._loaded:  # the first read failed: nothing to show, so say why and stop (exit 2)
                self.call_from_thread(self._fail, exc)
                return
            self.feed.problem_seen(exc)
        finally:
            self._reading = False
        self._loaded = True
        self._show_in_worker()

    def _show_in_worker(self) -> None:
        snap = self.feed.snapshot(self.segment)
        self.call_from_thread(self._draw, snap)

    @work(thread=True, exclusive=True, group="draw")
    def redraw(self) -> None:
        """Draw again from what is kept (a new filter, a pause): no reading."""
        self._show_in_worker()

    def _fail(self, exc: MlmonError) -> None:
        self.error = exc
        self.exit(return_code=2)

    def _draw(self, snap) -> None:
        self.snapshot = snap
        self._status()
        self.query_one("#headline", Static).update(
            panels.titled(f"Headline · {panels.window_caption(snap).plain}", panels.headline(snap)))
        self.query_one("#segments", Static).update(
            panels.titled("Models and versions · latest window", panels.segments_panel(snap, self.segment)))
        alerts = self.query_one("#alerts", Static)
        alerts.display = snap.firing is not None
        if snap.firing is not None:
            alerts.update(panels.titled("Alerts", panels.alerts_table(snap)))
        self.query_one("#errors", Static).update(panels.titled("Top errors · windows shown", panels.errors_table(snap)))
        drift = self.query_one("#drift", Static)
        drift.display = snap.drift is not None
        if snap.drift is not None:
            drift.update(panels.titled("Drift and data quality", panels.drift_table(snap)))
        self.query_one("#skipped", Static).update(panels.titled("Skipped lines", panels.skipped_text(snap)))

    def _status(self) -> None:
        """The status line now: the model picked shows at once, before its numbers are drawn."""
        if self.snapshot is not None:
            shown = replace(self.snapshot, segment=self.segment)
            self.query_one("#status", Static).update(panels.status_line(shown, paused=self.paused))

    def on_resize(self, event) -> None:
        self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int) -> None:
        small = width < MIN_WIDTH or height < MIN_HEIGHT
        self.screen.set_class(small, "small")
        if small:
            self.query_one("#too-small", Static).update(
                f"Terminal too small ({width}×{height}): mlmon dashboard needs at least {MIN_WIDTH}×{MIN_HEIGHT}.\n"
                "Enlarge the window, or press q to quit.")

    def action_pick(self, step: int) -> None:
        """The next (or previous) model and version; before the first comes ``all``."""
        keys = [None, *(self.snapshot.segments if self.snapshot is not None else [])]
        at = keys.index(self.segment) if self.segment in keys else 0
        self.segment = keys[(at + step) % len(keys)]
        self._status()
        self.redraw()

    def action_window(self, step: int) -> None:
        every = self.feed.every
        if step > 0:
            longer = [s for s in STEPS if s > every]
            if not longer:
                return self.notify("windows are as long as they go")
            self.change_every(longer[0])
        else:
            shorter = [s for s in STEPS if s < every]
            if not shorter:
                return self.notify("windows are as short as they go")
            self.change_every(shorter[-1])

    @work(thread=True, exclusive=True, group="read")
    def change_every(self, every: timedelta) -> None:
        try:
            self.feed.set_every(every)
        except MlmonError as exc:
            self.feed.problem_seen(exc)
        self._show_in_worker()

    def action_pause(self) -> None:
        self.paused = not self.paused
        self._status()

    def action_keys(self) -> None:
        self.push_screen(KeysScreen())
