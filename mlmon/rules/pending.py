"""``for`` and ``keep_firing_for`` in time, and their progress carried across cron runs: pure functions.

Semantics (as Prometheus's ``for``, measured in windows of the rule's ``every``):

- An alert (a rule and one segment) that breaches is **pending** since ``active_at``, the start
  of the first breaching window of its unbroken streak.
- It **fires** once the streak covers ``for`` windows of time: (end of the current breaching
  window − ``active_at``) ≥ ``for`` × ``every``. Within one run's contiguous windows that is
  ``for`` consecutive breaching windows. (A window cut at the end of time, year 9999, counts whole.)
- A judged window that does not breach ends the streak; a firing alert then stays firing for
  ``keep_firing_for`` more such windows. A window ignored for ``min_requests`` changes nothing
  (its time still counts towards ``for`` when the streak goes on).
- With ``--state``, a run starts from the progress the previous run saved (:class:`Progress`)
  and judges only the windows that end after the last window it judged, so that overlapping
  ranges (``--since`` longer than the cron interval) never count a window twice. Time between two
  runs that no run judged does not break a streak, as Prometheus does not evaluate between
  evaluations. Windows the previous run already judged are replayed for display only, from the
  saved ``active_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping, Sequence

from mlmon.errors import MlmonError
from mlmon.timeparse import iso, parse_instant

INACTIVE, PENDING, FIRING, IGNORED = "inactive", "pending", "firing", "ignored"
#: The state file's key for the progress of pending and firing alerts.
STATE_KEY = "progress"


@dataclass(frozen=True)
class Progress:
    """Where one alert stands after the windows judged so far."""

    #: Start of the first breaching window of the unbroken streak; None: no streak.
    active_at: datetime | None = None
    #: End of the last judged window (breaching or not); None: none judged yet.
    judged_until: datetime | None = None
    #: Breaching windows in the streak, for display (``2/5 windows``).
    windows: int = 0
    firing: bool = False
    #: Windows without a breach the alert still stays firing for (``keep_firing_for``).
    hold: int = 0

    @property
    def live(self) -> bool:
        """Pending or firing: worth keeping in the state file."""
        return self.active_at is not None or self.firing


@dataclass(frozen=True)
class Saved:
    """One alert's progress as the state file keeps it: the rule, the segment, the progress."""

    rule: str
    segment: dict[str, Any]
    progress: Progress


@dataclass(frozen=True)
class PriorState:
    """The progress the previous run saved, by alert key (``rule{field=value,…}``)."""

    entries: Mapping[str, Saved]

    def __post_init__(self) -> None:
        by_rule: dict[str, dict[str, Saved]] = {}
        for key, entry in self.entries.items():
            by_rule.setdefault(entry.rule, {})[key] = entry
        object.__setattr__(self, "_by_rule", by_rule)

    def of(self, rule: str) -> dict[str, Saved]:
        """The entries of ``rule``, by alert key."""
        return self._by_rule.get(rule, {})  # type: ignore[attr-defined]

    def segments(self, rule: str) -> list[dict[str, Any]]:
        """The segments of ``rule`` that have a pending or firing alert."""
        return [e.segment for e in self.of(rule).values()]


def advance(starts: Sequence[datetime], ends: Sequence[datetime], breaches: Sequence[bool | None], every: timedelta,
            for_windows: int = 1, keep_firing_for: int = 0,
            prior: Progress | None = None) -> tuple[list[str], Progress]:
    """Each window's state (windows in time order), and the progress to save after them.

    Without ``prior`` every window is judged from a fresh start. With it, windows that end at or
    before ``prior.judged_until`` were judged by an earlier run: their states are replayed from
    the saved ``active_at`` for display, and the progress continues from ``prior`` itself.
    """
    # (end − active_at) ≥ for × every, as (start − active_at) ≥ (for − 1) × every: the same for whole windows,
    # and a window cut at the end of time (year 9999) still counts as one window.
    reach = every * (for_windows - 1)
    if prior is None or prior.judged_until is None:
        return _run(starts, ends, breaches, reach, keep_firing_for, Progress())
    done = sum(1 for end in ends if end <= prior.judged_until)  # windows come in time order
    replayed, _ = _run(starts[:done], ends[:done], breaches[:done], reach, keep_firing_for,
                       Progress(active_at=prior.active_at))
    states, progress = _run(starts[done:], ends[done:], breaches[done:], reach, keep_firing_for, prior)
    return replayed + states, progress


def _run(starts: Sequence[datetime], ends: Sequence[datetime], breaches: Sequence[bool | None], reach: timedelta,
         keep: int, p: Progress) -> tuple[list[str], Progress]:
    """The state machine over windows from progress ``p``: a breach starts or goes on with a streak, and fires
    once the window starts ``reach`` after the streak did; a window without breach ends it, or uses up the ``keep`` hold of a firing
    alert; an ignored window (``None``) changes nothing. One loop over plain locals: it runs per window of
    every rule and segment."""
    active_at, judged, windows, firing, hold = p.active_at, p.judged_until, p.windows, p.firing, p.hold
    states: list[str] = []
    for start, end, breach in zip(starts, ends, breaches):
        if breach is None:
            states.append(IGNORED)
            continue
        judged = end
        if breach:
            if active_at is None:
                active_at = start
            windows += 1
            if firing or start - active_at >= reach:
                firing, hold = True, keep
            states.append(FIRING if firing else PENDING)
        else:
            active_at, windows = None, 0
            if firing and hold > 0:
                hold -= 1
                states.append(FIRING)
            else:
                firing, hold = False, 0
                states.append(INACTIVE)
    return states, Progress(active_at, judged, windows, firing, hold)


def to_doc(entries: Mapping[str, Saved]) -> dict[str, Any]:
    """The state file's ``progress`` object."""
    return {
        key: {
            "rule": e.rule,
            "segment": e.segment,
            "active_at": iso(e.progress.active_at),
            "judged_until": iso(e.progress.judged_until),
            "windows": e.progress.windows,
            "firing": e.progress.firing,
            "hold": e.progress.hold,
        }
        for key, e in sorted(entries.items())
    }


def from_doc(doc: Any, warn: Callable[[str], Any], path: Any = "") -> PriorState:
    """The progress in a state file's ``progress`` object; a malformed entry is dropped with one warning."""
    entries: dict[str, Saved] = {}
    if doc is None:
        return PriorState(entries)
    bad = 0
    for key, item in (doc.items() if isinstance(doc, dict) else [(None, doc)]):
        try:
            entries[key] = _entry(key, item)
        except (TypeError, ValueError, KeyError, AttributeError):
            bad += 1
    if bad:
        warn(f"mlmon: state file {path}: {bad} malformed progress entr{'ies' if bad != 1 else 'y'} dropped; "
             f"those alerts start their `for` again")
    return PriorState(entries)


def _entry(key: Any, item: Any) -> Saved:
    if not isinstance(key, str) or not isinstance(item, dict):
        raise ValueError("not an entry")
    rule, segment = item["rule"], item["segment"]
    if not isinstance(rule, str) or not isinstance(segment, dict):
        raise ValueError("no rule or segment")
    if any(v is not None and not isinstance(v, (str, int, float)) or isinstance(v, bool) for v in segment.values()):
        raise ValueError("a segment value is not plain")
    windows, hold, firing = item.get("windows", 0), item.get("hold", 0), item.get("firing", False)
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (windows, hold)):
        raise ValueError("a count is not a whole number")
    if not isinstance(firing, bool):
        raise ValueError("firing is not true/false")
    active_at = _instant(item.get("active_at"))
    judged_until = _instant(item["judged_until"])
    if judged_until is None:
        raise ValueError("no judged_until")
    progress = Progress(active_at, judged_until, windows, firing, hold)
    if not progress.live:
        raise ValueError("neither pending nor firing")
    return Saved(rule, segment, progress)


def _instant(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("not a time")
    try:
        return parse_instant(value)
    except MlmonError as exc:
        raise ValueError(str(exc)) from None


def carried(prior: PriorState | None, rule: str, by: Sequence[str], seen: set[str]) -> dict[str, Saved]:
    """``rule``'s saved entries whose segment this run did not judge at all: kept as they were. An entry whose
    segment fields are not the rule's ``by`` (the rule was changed) is dropped."""
    if prior is None:
        return {}
    return {k: e for k, e in prior.of(rule).items() if k not in seen and set(e.segment) == set(by)}
