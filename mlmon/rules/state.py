"""Alert state between cron runs, with Alertmanager's semantics: the state file, its lock and the transitions.

A run compares the alerts active in its latest window with the state file:
a newly active alert is ``firing``, one still active is repeated as ``still_firing``
when strictly more than ``repeat_interval`` has passed (as Alertmanager waits), and
one no longer active is ``resolved``. What is sent, and how, is :mod:`mlmon.notify`'s
job: this module queues it in the state file's outbox, sends it, and keeps what failed
for the next run.
"""

from __future__ import annotations

import errno
import fcntl
import json
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

from mlmon.atomic import write_text_atomic
from mlmon.errors import MlmonError, UsageError
from mlmon.notify.model import NotifyConfig
from mlmon.notify.outbox import deliver, for_the_file, retarget, shortcut_entries
from mlmon.notify.payload import Notice, label_text, message, notice
from mlmon.notify.plan import plan
from mlmon.safetext import json_safe
from mlmon.rules.evaluate import Alert, CheckResult
from mlmon.timeparse import iso, parse_instant

STATE_VERSION = 1
LOCK_WAIT_SECONDS = 5.0
OUTBOX_KINDS = ("webhook", "slack", "command")
#: The state file's key for the evaluation time (``--now``) of the run that saved it.
LAST_RUN_KEY = "evaluated_at"


class LockedError(MlmonError):
    pass


@dataclass(frozen=True)
class Transition:
    """An alert that changed (or is repeated): ``payload`` is its own message, as the shortcuts send it."""

    kind: str  # firing | still_firing | resolved
    alert_key: str
    payload: dict[str, Any]
    notice: Notice


@contextmanager
def state_lock(state_path: Path, wait: float | None = None) -> Iterator[None]:
    """Hold an exclusive lock beside the state file; wait briefly, then give up with exit 2."""
    wait = LOCK_WAIT_SECONDS if wait is None else wait
    if state_path.is_dir():
        raise MlmonError(f"--state {state_path} is a directory", "Name a file, e.g. /var/lib/mlmon/state.json.")
    lock_path = state_path.with_name(state_path.name + ".lock")
    try:
        handle = open(lock_path, "a+")
    except OSError as exc:
        raise MlmonError(f"cannot create lock file {lock_path}: {exc.strerror or exc}") from None
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() >= deadline:
                    raise LockedError(
                        f"another mlmon check is using {state_path}",
                        "Runs overlap: let the other run finish, or space the cron schedule further apart.",
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        handle.close()


def load_state(path: Path, warn: Callable[[str], Any]) -> dict[str, Any]:
    """The saved state, or a fresh one when the file is missing or unreadable (with a warning)."""
    fresh = {"version": STATE_VERSION, "alerts": {}, "outbox": []}
    if not path.exists():
        return fresh
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("alerts"), dict) or not isinstance(data.get("outbox", []), list):
            raise ValueError("unexpected structure")
        for key, entry in data["alerts"].items():
            if not isinstance(entry, dict) or not isinstance(entry.get("alert"), dict) or "rule" not in entry["alert"]:
                raise ValueError(f"alert {key!r} is malformed")
        for item in data.get("outbox", []):
            if not isinstance(item, dict) or item.get("kind") not in OUTBOX_KINDS or "payload" not in item:
                raise ValueError("a queued notification is malformed")
        if not isinstance(data.get("groups", {}), dict):
            raise ValueError("the notification log is malformed")
        data.setdefault("outbox", [])
        return data
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        warn(f"mlmon: state file {path} is unreadable ({exc}); starting with fresh state")
        return fresh


@contextmanager
def locked_state(path: str | Path, warn: Callable[[str], Any], now: datetime | None = None,
                 what: str = "--now") -> Iterator[dict[str, Any]]:
    """The saved state, loaded under the lock that is held until the block ends: a run loads it once,
    evaluates from it (``for`` progress) and saves it, with no other run in between.

    With ``now``, a state saved by a later run is refused (:func:`refuse_the_past`).
    """
    path = Path(path)
    with state_lock(path):
        state = load_state(path, warn)
        if now is not None:
            refuse_the_past(state, now, path, what)
        yield state


def refuse_the_past(state: dict[str, Any], now: datetime, path: Path, what: str = "--now") -> None:
    """Raise a UsageError when ``now`` is before the evaluation time of the run that saved ``state``.

    State moves forward only: going back would resolve what fires and fire it again, with a
    ``resolved`` that ends before it starts. A state file from before this was recorded passes.
    """
    last = state.get(LAST_RUN_KEY)
    if not isinstance(last, str):
        return
    try:
        then = parse_instant(last)
    except (MlmonError, ValueError):
        return
    if now < then:
        raise UsageError(f"{what} {iso(now)} is before the last run recorded in {path} ({iso(then)}); "
                         "state moves forward only",
                         "Use another --state file to re-evaluate the past.")


def _transition(kind: str, key: str, doc: dict[str, Any], starts_at: str, now: datetime) -> Transition:
    item = notice(key, kind, doc, starts_at, iso(now))
    payload = message([item], receiver="--notify", group_key=f"{{}}:{label_text(item.labels)}",
                      group_labels=item.labels, now=now)
    return Transition(kind, key, payload, item)


def _starts_at(entry: dict[str, Any]) -> str:
    """When the alert became active: the run that first saw it (older state files: its first window)."""
    return entry.get("active_since") or entry["alert"].get("first_window") or ""


def transitions(state: dict[str, Any], result: CheckResult, now: datetime, repeat_interval: timedelta) -> list[Transition]:
    """What changed since the state was saved; updates ``state`` in place. Pure apart from that.

    A still-active alert is repeated when strictly more than ``repeat_interval`` has passed
    since it was last sent, as Alertmanager does: at exactly the interval, it is not.
    A resolved alert's document is this run's (inactive) one when ``result`` still has it, else the
    snapshot saved by the last run that saw it active.
    """
    active: dict[str, Alert] = {a.key: a for a in result.alerts if a.active}
    out: list[Transition] = []
    saved: dict[str, Any] = state["alerts"]
    for key, alert in active.items():
        doc = alert.to_dict()
        entry = saved.get(key)
        if alert.muted:  # silenced or inhibited: sends nothing; never notified, it will not send 'resolved' either
            if entry is not None:
                entry["alert"], entry["fingerprint"] = doc, alert.fingerprint
            continue
        if entry is None:
            saved[key] = {"alert": doc, "active_since": iso(now), "last_notified": iso(now),
                          "fingerprint": alert.fingerprint}
            out.append(_transition("firing", key, doc, iso(now), now))
            continue
        entry["alert"], entry["fingerprint"] = doc, alert.fingerprint
        last = parse_instant(entry.get("last_notified") or iso(now))
        if now - last > repeat_interval:
            out.append(_transition("still_firing", key, doc, _starts_at(entry), now))
            entry["last_notified"] = iso(now)
    # A resolved alert is described by this run when its range still holds it (firing in an earlier
    # window, not the latest), else by the last run that saw it active (its saved snapshot).
    seen: dict[str, Alert] = {a.key: a for a in result.alerts if not a.active}
    for key in [k for k in saved if k not in active]:
        entry = saved.pop(key)
        doc = seen[key].to_dict() if key in seen else entry["alert"]
        out.append(_transition("resolved", key, doc, _starts_at(entry), now))
    return out


def run_notices(state: dict[str, Any], found: list[Transition]) -> list[Notice]:
    """Every alert of this run for the routes: each active one (``firing`` when new), then the resolved ones.

    A muted (silenced or inhibited) alert that was sent before comes as a ``muted`` notice: it sends
    nothing, but keeps its groups in the notification log until it resolves, so that its
    ``resolved`` goes out (one never sent has no state entry, and no ``resolved`` either).
    """
    fresh = {t.alert_key: t.notice for t in found if t.kind != "resolved"}
    out = [fresh.get(key) or replace(notice(key, "still_firing", entry["alert"], _starts_at(entry), None),
                                     muted=_muted(entry["alert"]))
           for key, entry in state["alerts"].items()]
    return out + [t.notice for t in found if t.kind == "resolved"]


def _muted(alert: dict[str, Any]) -> bool:
    return bool(alert.get("silenced_by") or alert.get("inhibited_by"))


def _save(path: Path, state: dict[str, Any]) -> None:
    """Write the state atomically; the outbox's targets as digests (see mlmon.notify.outbox)."""
    on_file = {**state, "outbox": for_the_file(state.get("outbox") or [])}
    write_text_atomic(path, json_safe(json.dumps(on_file, indent=2, ensure_ascii=False)) + "\n")


def apply_transitions(
    state_path: str | Path,
    result: CheckResult,
    *,
    now: datetime,
    repeat_interval: timedelta,
    webhooks: list[str],
    commands: list[str],
    warn: Callable[[str], Any],
    notify: NotifyConfig | None = None,
    loaded: dict[str, Any] | None = None,
) -> list[Transition]:
    """Load the state under a lock, find transitions, queue their notifications, send them, and save atomically.

    The shortcuts (``webhooks``, ``commands``) get one message per transition; the
    receivers of ``notify`` get one message per group that is due (:mod:`mlmon.notify.plan`).

    ``loaded`` is the state a caller already holds under :func:`locked_state`: used as it is, not locked again.
    """
    path = Path(state_path)
    with state_lock(path) if loaded is None else nullcontext():
        state = load_state(path, warn) if loaded is None else loaded
        refuse_the_past(state, now, path)
        found = transitions(state, result, now, repeat_interval)
        outbox = retarget(list(state.get("outbox", [])), webhooks, commands, warn, notify)
        outbox += shortcut_entries([t.payload for t in found], webhooks, commands)
        if notify is not None:
            queued, state["groups"] = plan(run_notices(state, found), notify, state.get("groups") or {}, now,
                                           repeat_interval)
            outbox += queued
        else:
            state.pop("groups", None)  # stale if notify: comes back: its groups would look already sent
        # Save before sending, so a crash mid-delivery cannot lose a transition.
        state["outbox"] = outbox
        state["version"] = STATE_VERSION
        state[LAST_RUN_KEY] = iso(now)
        _save(path, state)
        if outbox:
            state["outbox"] = deliver(outbox, warn)
            _save(path, state)
    return found
