"""What to send this run, pure: Alertmanager's dedup stage over the state file's notification log.

The log (the state file's ``groups``) remembers, per receiver and group, when a message
last went out and which alerts (by fingerprint) it listed as firing and as resolved. A
group is sent when it has a new firing alert, when all its alerts resolved, when a
receiver with ``send_resolved`` has a newly resolved one, or when strictly more than
``repeat_interval`` has passed since the last message (Alertmanager waits strictly longer).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mlmon.notify.model import NotifyConfig
from mlmon.notify.payload import Notice, body, message
from mlmon.notify.routes import Group, groups
from mlmon.timeparse import iso, parse_instant


def reason(entry: dict[str, Any] | None, group: Group, send_resolved: bool, now: datetime) -> str | None:
    """Why ``group`` is sent now (``first``, ``new_alerts``, ``all_resolved``, ``new_resolved``, ``repeat``), or None.

    A muted alert never makes the group due, but while it is there the group has not all resolved.
    """
    firing = {n.fingerprint for n in group.notices if n.status == "firing" and not n.muted}
    held = held_back(entry, group)
    resolved = {n.fingerprint for n in group.notices if n.status == "resolved"}
    if entry is None:
        return "first" if firing else None
    sent_firing = set(entry.get("firing") or [])
    if not firing <= sent_firing:
        return "first" if not sent_firing else "new_alerts"
    if not firing and not held:
        return "all_resolved" if sent_firing else None
    if send_resolved and not resolved <= set(entry.get("resolved") or []):
        return "new_resolved"
    if firing and now - parse_instant(entry["at"]) > group.repeat_interval:
        return "repeat"
    return None


def held_back(entry: dict[str, Any] | None, group: Group) -> list[str]:
    """The muted alerts of ``group`` that its last message listed as firing: their ``resolved`` is still owed."""
    sent = set((entry or {}).get("firing") or [])
    return [n.fingerprint for n in group.notices if n.muted and n.fingerprint in sent]


def plan(notices: list[Notice], config: NotifyConfig, log: dict[str, Any], now: datetime,
         repeat_interval: timedelta) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Outbox entries for the groups due now, and the notification log that follows.

    A group whose alerts all resolved leaves the log, so its next alert is a first message. A muted
    alert is never listed; one the log has as sent stays there, so its group keeps its log entry and
    sends its ``resolved`` when it resolves (with ``send_resolved``), but no repeats while muted.
    A receiver without ``send_resolved`` gets no resolved alerts, and nothing when only
    those are left. Groups not seen this run (routes changed) leave the log too.
    """
    queued: list[dict[str, Any]] = []
    after: dict[str, Any] = {}
    for group in groups(notices, config.route, repeat_interval):
        receiver = config.receivers[group.receiver]
        entry = log.get(group.log_key)
        why = reason(entry, group, receiver.send_resolved, now)
        if why is None:
            if entry is not None:
                after[group.log_key] = entry
            continue
        items = [n for n in group.notices if not n.muted]
        firing = [n.fingerprint for n in items if n.status == "firing"]
        held = held_back(entry, group)
        if firing or held:
            after[group.log_key] = {"receiver": group.receiver, "group_key": group.key, "at": iso(now),
                                    "firing": firing + held,
                                    "resolved": [n.fingerprint for n in items if n.status == "resolved"]}
        sent = items if receiver.send_resolved else [n for n in items if n.status == "firing"]
        if not sent or receiver.kind is None:
            continue
        full = message(sent, receiver=receiver.name, group_key=group.key, group_labels=group.labels, now=now)
        queued.append({"kind": receiver.kind, "receiver": receiver.name, "target": receiver.target,
                       "payload": body(receiver.kind, full), "attempts": 0})
    return queued, after
