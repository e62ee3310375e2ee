"""Silences, as Alertmanager's: matchers and a time span during which matching alerts send nothing.

They are kept in ``STATE.silences.json`` beside the state file, written atomically under the
state file's lock (:func:`mlmon.rules.state.state_lock`)::

    {"version": 1, "silences": [{"id": "…uuid4…", "matchers": ["model=\\"churn\\""],
      "starts_at": "2026-11-27T10:00:00Z", "ends_at": "2026-11-27T12:00:00Z",
      "updated_at": "2026-11-27T10:00:00Z", "created_by": "ana", "comment": "deploy"}]}

A silence is ``pending`` before ``starts_at``, ``active`` from ``starts_at`` until ``ends_at``
(excluded), then ``expired``. Expired silences are kept ``RETENTION`` (5 days, Alertmanager's
default) after they end, then pruned when the file is next written. A file that cannot be read
is an error, never an empty list: users' silences are not dropped silently.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mlmon.atomic import write_text_atomic
from mlmon.errors import ConfigError, MlmonError, UsageError
from mlmon.safetext import json_safe, printable
from mlmon.rules.matchers import (
    Matcher,
    MatcherError,
    matches_all,
    parse_matcher,
    parse_matchers,
)
from mlmon.timeparse import iso, parse_instant
from mlmon.yamlfile import Located, parse_yaml

SILENCES_VERSION = 1
#: How long an expired silence is kept before it is pruned (Alertmanager's --data.retention default).
RETENTION = timedelta(days=5)
PENDING, ACTIVE, EXPIRED = "pending", "active", "expired"


class SilencesFileError(MlmonError):
    """The silences file exists but cannot be read as silences."""


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    updated_at: datetime
    created_by: str = ""
    comment: str = ""

    def state(self, now: datetime) -> str:
        if now < self.starts_at:
            return PENDING
        return ACTIVE if now < self.ends_at else EXPIRED

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        """Whether it is active at ``now`` and every matcher passes ``labels``."""
        return self.state(now) == ACTIVE and matches_all(self.matchers, labels)

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        out = {"id": self.id, "matchers": [str(m) for m in self.matchers], "starts_at": iso(self.starts_at),
               "ends_at": iso(self.ends_at), "updated_at": iso(self.updated_at), "created_by": self.created_by,
               "comment": self.comment}
        if now is not None:
            out["state"] = self.state(now)
        return out


def silences_path(state_path: str | Path) -> Path:
    """Where the silences of a state file live: ``STATE.silences.json`` beside it."""
    path = Path(state_path)
    return path.with_name(path.name + ".silences.json")


def silenced_by(silences: Sequence[Silence], labels: Mapping[str, str], now: datetime) -> list[str]:
    """Ids of the silences that mute an alert with ``labels`` at ``now``."""
    return [s.id for s in silences if s.mutes(labels, now)]


def end_after(starts_at: datetime, duration: timedelta, option: str = "--for") -> datetime:
    """``starts_at + duration``; a UsageError, not an OverflowError, when that is past the last time there is."""
    try:
        return starts_at + duration
    except OverflowError:
        raise UsageError(f"the silence would end after {iso(datetime.max.replace(microsecond=0, tzinfo=starts_at.tzinfo))}, the "
                         "latest time mlmon can hold", f"Give a shorter {option}, or an --until.") from None


def new_silence(matchers: Sequence[str], *, starts_at: datetime, ends_at: datetime, now: datetime,
                created_by: str = "", comment: str = "", silence_id: str | None = None) -> Silence:
    """A silence from ``--match`` texts (each one matcher, or a ``{…}`` list); UsageError for a bad one."""
    parsed: list[Matcher] = []
    for text in matchers:
        try:
            found = parse_matchers(text) if text.strip().startswith("{") else [parse_matcher(text)]
        except MatcherError as exc:
            raise UsageError(f"--match {printable(text)!r}: {exc.reason} (column {exc.col})",
                             'Write name=value, name!=value, name=~regex or name!~regex, e.g. --match model=churn.') from None
        parsed += found
    if not parsed:
        raise UsageError("a silence needs at least one --match", "Add one, e.g. --match model=churn --match severity=warning.")
    if ends_at <= starts_at:
        raise UsageError(f"the silence would end ({iso(ends_at)}) before it starts ({iso(starts_at)})",
                         "Give a later --until, or a positive --for.")
    if ends_at <= now:
        raise UsageError(f"the silence would end in the past ({iso(ends_at)})", "Give a later --until, or --for 2h.")
    return Silence(silence_id or str(uuid.uuid4()), tuple(parsed), starts_at, ends_at, now, created_by, comment)


def read_silences(path: str | Path) -> list[Silence]:
    """The silences saved at ``path`` ([] when there is no file); SilencesFileError, listing every problem at
    its ``file:line:col``, when it cannot be read."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise SilencesFileError(f"cannot read silences file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    silences, problems = parse_silences(text, str(path))
    if problems:
        n = len(problems)
        raise SilencesFileError(f"silences file {path} is corrupt ({n} problem{'s' if n != 1 else ''}; first: "
                                f"{problems[0].split(': ', 1)[-1]})",
                                "Fix or move it; mlmon never drops your silences on its own.", details=problems)
    return silences


def parse_silences(text: str, name: str = "<silences>") -> tuple[list[Silence], list[str]]:
    """The silences of the file's JSON text, and every problem as ``name:line:col: message`` (escaped)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        where = f"{name}:{exc.lineno}:{exc.colno}" if isinstance(exc, json.JSONDecodeError) else name
        return [], [f"{where}: not valid JSON: {printable(getattr(exc, 'msg', str(exc)))}"]
    doc = _positions(text, name)
    if not isinstance(data, dict) or not isinstance(data.get("silences"), list):
        return [], [f"{doc.where()}: expected an object with a 'silences' list"]
    if data.get("version") != SILENCES_VERSION:
        return [], [f"{doc.where('version')}: unknown version {printable(repr(data.get('version')))[:40]}, "
                    f"expected {SILENCES_VERSION}"]
    out: list[Silence] = []
    problems: list[str] = []
    seen: set[str] = set()
    for n, item in enumerate(data["silences"]):
        before = len(problems)

        def problem(keys: tuple, message: str, col: int | None = None, n=n) -> None:
            keys = ("silences", n, *keys)
            where = doc.where_in_value(keys, col) if col is not None else doc.where(*keys)
            problems.append(f"{where}: silence #{n + 1}: {printable(message)}")

        if not isinstance(item, dict):
            problem((), "not an object")
            continue
        for key in ("id", "matchers", "starts_at", "ends_at", "updated_at"):
            if key not in item:
                problem((), f"missing {key!r}")
        sid = item.get("id")
        if "id" in item and (not isinstance(sid, str) or not sid.strip()):
            problem(("id",), "'id' must be non-empty text")
        elif sid in seen:
            problem(("id",), f"id {sid!r} is given twice")
        seen.add(sid if isinstance(sid, str) else "")
        matchers: list[Matcher] = []
        raw = item.get("matchers", [])
        if not isinstance(raw, list) or ("matchers" in item and not raw) or not all(isinstance(m, str) for m in raw):
            problem(("matchers",), "'matchers' must be a non-empty list of matcher texts")
        else:
            for j, text_j in enumerate(raw):
                try:
                    matchers.append(parse_matcher(text_j))
                except MatcherError as exc:
                    problem(("matchers", j), f"matcher: {exc.reason}", exc.col)
        times = {}
        for key in ("starts_at", "ends_at", "updated_at"):
            if key in item:
                try:
                    times[key] = parse_instant(str(item[key]) if isinstance(item[key], str) else "", what=key)
                except UsageError:
                    problem((key,), f"{key!r} must be an ISO time such as 2026-11-27T10:00:00Z")
        if len(problems) == before:
            out.append(Silence(sid, tuple(matchers), times["starts_at"], times["ends_at"], times["updated_at"],
                               str(item.get("created_by", "")), str(item.get("comment", ""))))
    return out, problems


def _positions(text: str, name: str) -> Located:
    """Where each key of the JSON text stands (JSON read as YAML); without positions if YAML cannot read it."""
    try:
        return parse_yaml(text, name, "silences file")
    except ConfigError:
        return Located(name, None, {})


def write_silences(path: str | Path, silences: Sequence[Silence], now: datetime) -> None:
    """Save ``silences`` atomically, without those expired more than RETENTION before ``now``."""
    kept = [s for s in silences if now - s.ends_at < RETENTION]  # not ends_at + RETENTION: it overflows near year 9999
    doc = {"version": SILENCES_VERSION, "silences": [s.to_dict() for s in kept]}
    write_text_atomic(path, json_safe(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n")


def add_silence(state_path: str | Path, silence: Silence, now: datetime) -> Silence:
    """Save a new silence beside the state file, under its lock."""
    from mlmon.rules.state import state_lock

    path = silences_path(state_path)
    with state_lock(Path(state_path)):
        write_silences(path, [*read_silences(path), silence], now)
    return silence


def expire_silence(state_path: str | Path, silence_id: str, now: datetime) -> Silence:
    """End a silence now (a pending one never starts); UsageError for an unknown id."""
    from mlmon.rules.state import state_lock

    path = silences_path(state_path)
    with state_lock(Path(state_path)):
        silences = read_silences(path)
        found = next((s for s in silences if s.id == silence_id), None)
        if found is None:
            raise UsageError(f"no silence has the id {printable(silence_id)!r} in {path}",
                             f"'mlmon silence list --state {state_path} --all' lists the ids.")
        if found.state(now) == EXPIRED:
            return found
        starts = min(found.starts_at, now)
        expired = Silence(found.id, found.matchers, starts, now, now, found.created_by, found.comment)
        write_silences(path, [expired if s.id == silence_id else s for s in silences], now)
    return expired


def list_silences(state_path: str | Path, now: datetime, everything: bool = False) -> list[Silence]:
    """Active, then pending silences (with ``everything``, then expired ones too), each the earliest ending first."""
    silences = read_silences(silences_path(state_path))
    shown = [s for s in silences if everything or s.state(now) != EXPIRED]
    order = {ACTIVE: 0, PENDING: 1, EXPIRED: 2}
    return sorted(shown, key=lambda s: (order[s.state(now)], s.ends_at, s.id))


def silences_for_check(state_path: str | Path, warn) -> list[Silence]:
    """The silences beside a state file, for ``mlmon check``: a file that cannot be read is reported through
    ``warn`` and the run goes on without silences (alerts then notify as if there were none)."""
    try:
        return read_silences(silences_path(state_path))
    except SilencesFileError as exc:
        warn(f"mlmon: warning: {exc.message}; checking without silences")
        return []
