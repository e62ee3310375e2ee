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
from mlmon.errors import MlmonError, UsageError
from mlmon.render.escape import json_safe, printable
from mlmon.rules.matchers import (
    Matcher,
    MatcherError,
    matches_all,
    parse_matcher,
    parse_matchers,
)
from mlmon.timeparse import iso, parse_instant

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
    """The silences saved at ``path`` ([] when there is no file); SilencesFileError when it cannot be read."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise SilencesFileError(f"cannot read silences file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return parse_silences(text)
    except ValueError as exc:
        raise SilencesFileError(f"silences file {path} is corrupt ({printable(str(exc))[:200]})",
                                "Fix or move it; mlmon never drops your silences on its own.") from None


def parse_silences(text: str) -> list[Silence]:
    """Silences from the file's JSON text; ValueError says what is wrong."""
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("silences"), list):
        raise ValueError("expected an object with a 'silences' list")
    if data.get("version") != SILENCES_VERSION:
        raise ValueError(f"unknown version {data.get('version')!r}, expected {SILENCES_VERSION}")
    out = []
    for n, item in enumerate(data["silences"], 1):
        if not isinstance(item, dict):
            raise ValueError(f"silence #{n} is not an object")
        try:
            matchers = tuple(parse_matcher(m) for m in item["matchers"])
            if not matchers or not isinstance(item["id"], str):
                raise ValueError("no matchers")
            times = [parse_instant(item[k]) for k in ("starts_at", "ends_at", "updated_at")]
            out.append(Silence(item["id"], matchers, *times, str(item.get("created_by", "")),
                               str(item.get("comment", ""))))
        except (KeyError, TypeError, ValueError, MatcherError, UsageError) as exc:
            raise ValueError(f"silence #{n} is malformed: {exc}") from None
    return out


def write_silences(path: str | Path, silences: Sequence[Silence], now: datetime) -> None:
    """Save ``silences`` atomically, without those expired more than RETENTION before ``now``."""
    kept = [s for s in silences if s.ends_at + RETENTION > now]
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
        warn(f"mlmon: warning: {exc}; checking without silences")
        return []
