"""The outbox: notifications queued in the state file, sent, and kept for the next run when they fail.

Each entry names its ``receiver`` (a name from ``notify:``, or ``--notify`` /
``--notify-command`` for the shortcuts), its ``kind`` and ``target``, the ``payload``
and how many runs tried it. A notification is never lost to a failed delivery: it
stays until it goes out, its receiver is gone, or ``MAX_ATTEMPTS`` runs failed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlmon.notify import receivers
from mlmon.notify.model import NotifyConfig

#: A notification still failing after this many runs is dropped, with a warning.
MAX_ATTEMPTS = 24
#: The receiver names of the command-line shortcuts, by kind.
SHORTCUTS = {"webhook": "--notify", "command": "--notify-command"}


def _shortcut(item: dict[str, Any]) -> bool:
    return item.get("receiver", SHORTCUTS.get(item.get("kind", ""))) in SHORTCUTS.values()


def _who(item: dict[str, Any]) -> str:
    """How a warning names an entry's receiver: the target of a shortcut, the name of a configured one."""
    return receivers.shown_target(item["kind"], item["target"]) if _shortcut(item) else f"receiver {item['receiver']!r}"


def retarget(outbox: list[dict[str, Any]], webhooks: list[str], commands: list[str], warn: Callable[[str], Any],
             config: NotifyConfig | None = None) -> list[dict[str, Any]]:
    """The outbox with each entry aimed at a receiver this run still has.

    A configured receiver's entry goes to that receiver's current target; with the
    receiver gone from ``notify:``, it is dropped with a warning. A shortcut's entry keeps
    its own target while that target is still given. Otherwise the receivers were changed
    since (a command fixed, a URL moved): it goes to each current shortcut of its kind that
    was not yet given when it was queued, so one that already had it does not get it twice.
    With no shortcut of its kind left, it is dropped with a warning.
    """
    current = {"webhook": webhooks, "command": commands}
    named = config.receivers if config is not None else {}
    out = []
    for item in outbox:
        if not _shortcut(item):
            receiver = named.get(item["receiver"])
            if receiver is None or receiver.kind is None:
                warn(f"mlmon: a notification for receiver {item['receiver']!r} is dropped: notify: no longer has it")
                continue
            payload = {"text": item["payload"]["text"]} if receiver.kind == "slack" else item["payload"]
            out.append({**item, "kind": receiver.kind, "target": receiver.target, "payload": payload})
            continue
        targets = current.get(item.get("kind"), [])
        if item["target"] in targets:
            out.append(item)
            continue
        queued_for = set(item.get("queued_for") or [item["target"]])
        new = [t for t in targets if t not in queued_for]
        if not new:
            warn(f"mlmon: a notification for {receivers.shown_target(item['kind'], item['target'])} is dropped: no --notify"
                 f"{'-command' if item.get('kind') == 'command' else ''} given now takes its place")
            continue
        for target in new:
            out.append({**item, "target": target, "queued_for": sorted(queued_for | set(targets)), "attempts": 0})
    return out


def shortcut_entries(payloads: list[dict[str, Any]], webhooks: list[str], commands: list[str]) -> list[dict[str, Any]]:
    """One entry per payload and ``--notify`` URL or ``--notify-command``, naming the shortcut as receiver."""
    out = []
    for payload in payloads:
        for kind, targets in (("webhook", webhooks), ("command", commands)):
            out += [{"kind": kind, "receiver": SHORTCUTS[kind], "target": target,
                     "payload": {**payload, "receiver": SHORTCUTS[kind]}, "queued_for": list(targets), "attempts": 0}
                    for target in targets]
    return out


def deliver(outbox: list[dict[str, Any]], warn: Callable[[str], Any]) -> list[dict[str, Any]]:
    """Send every queued notification; return those that failed, to retry next run."""
    failed = []
    for item in outbox:
        problem = receivers.send(item["kind"], item["target"], item["payload"])
        if problem is not None:
            item["attempts"] = int(item.get("attempts", 0)) + 1
            if item["attempts"] >= MAX_ATTEMPTS:
                warn(f"mlmon: notification to {_who(item)} failed {item['attempts']} times ({problem}); dropping it")
                continue
            warn(f"mlmon: notification to {_who(item)} failed ({problem}); it will be retried on the next run")
            failed.append(item)
    return failed
