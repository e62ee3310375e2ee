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
  evaluations. Windows the previous run already judged keep the state they had then: the progress
  keeps the firing windows (``fired``, as intervals) of the range judged so far, so a replayed window
  is firing if it fired then (breaching or held by ``keep_firing_for``), else pending if it breaches,
  else inactive. An alert whose firing windows are still in the range is kept in the state file after
  it stopped firing, until its range moves past them. Windows judged before the kept history
  (``known_from``: a longer ``--since`` than the last run's, or a state file from before this) are
  judged afresh, as without ``--state``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
    #: The firing windows judged so far, as (start of the first, end of the last) of each run of them,
    #: from ``known_from`` on: what a later run replays the windows it sees again from.
    fired: tuple[tuple[datetime, datetime], ...] = ()
    #: Start of the history ``fired`` tells completely; None: no history (a state file from before it).
    known_from: datetime | None = None

    @property
    def live(self) -> bool:
        """Pending, firing, or with firing windows a next run may see again: worth keeping in the state file."""
        return self.active_at is not None or self.firing or bool(self.fired)


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
    before ``prior.judged_until`` were judged by an earlier run: they keep the state that run gave
    them (see :func:`_replay`), and the progress continues from ``prior`` itself.
    """
    # (end − active_at) ≥ for × every, as (start − active_at) ≥ (for − 1) × every: the same for whole windows,
    # and a window cut at the end of time (year 9999) still counts as one window.
    reach = every * (for_windows - 1)
    if prior is None or prior.judged_until is None:
        states, progress = _run(starts, ends, breaches, reach, keep_firing_for, Progress())
        return states, _remember(progress, starts, ends, states, ())
    done = sum(1 for end in ends if end <= prior.judged_until)  # windows come in time order
    replayed = _replay(starts[:done], ends[:done], breaches[:done], reach, keep_firing_for, prior)
    states, progress = _run(starts[done:], ends[done:], breaches[done:], reach, keep_firing_for, prior)
    states = replayed + states
    return states, _remember(progress, starts, ends, states, prior.fired, prior.known_from)


def _replay(starts: Sequence[datetime], ends: Sequence[datetime], breaches: Sequence[bool | None], reach: timedelta,
            keep: int, prior: Progress) -> list[str]:
    """The states an earlier run gave windows it judged: firing if in ``prior.fired``, else pending when the window
    breaches, inactive when it does not, ignored when it has too few requests. Windows before ``prior.known_from``
    (no history of them) are judged afresh, as without saved progress."""
    known = prior.known_from
    fresh = len(starts) if known is None else sum(1 for start in starts if start < known)
    states, _ = _run(starts[:fresh], ends[:fresh], breaches[:fresh], reach, keep, Progress())
    fired, f = prior.fired, 0
    for start, breach in zip(starts[fresh:], breaches[fresh:]):
        while f < len(fired) and fired[f][1] <= start:
            f += 1
        if f < len(fired) and fired[f][0] <= start:
            states.append(FIRING)
        else:
            states.append(IGNORED if breach is None else PENDING if breach else INACTIVE)
    return states


def _remember(progress: Progress, starts: Sequence[datetime], ends: Sequence[datetime], states: Sequence[str],
              prior_fired: Sequence[tuple[datetime, datetime]], prior_known: datetime | None = None) -> Progress:
    """``progress`` with the firing windows of this run added to the earlier ones, from this run's first window on."""
    if not starts:
        return replace(progress, fired=tuple(prior_fired), known_from=prior_known)
    spans = sorted(set(prior_fired) | {(s, e) for s, e, state in zip(starts, ends, states) if state == FIRING})
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    first = starts[0]
    return replace(progress, fired=tuple(span for span in merged if span[1] > first), known_from=first)


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
            **({"fired": [[iso(lo), iso(hi)] for lo, hi in e.progress.fired]} if e.progress.fired else {}),
            **({"known_from": iso(e.progress.known_from)} if e.progress.known_from is not None else {}),
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
    fired_doc = item.get("fired", [])
    if not isinstance(fired_doc, list) or not all(isinstance(span, list) and len(span) == 2 for span in fired_doc):
        raise ValueError("fired is not a list of intervals")
    fired = tuple((_instant(lo), _instant(hi)) for lo, hi in fired_doc)
    if any(lo is None or hi is None or lo >= hi for lo, hi in fired) or list(fired) != sorted(fired):
        raise ValueError("fired is not a list of intervals")
    progress = Progress(active_at, judged_until, windows, firing, hold, fired,  # type: ignore[arg-type]
                        _instant(item.get("known_from")))
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
