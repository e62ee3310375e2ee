"""The outbox: notifications queued in the state file, sent, and kept for the next run when they fail.

Each entry names its ``receiver`` (a name from ``notify:``, or ``--notify`` /
``--notify-command`` for the shortcuts), its ``kind`` and ``target``, the ``payload``
and how many runs tried it. A notification is never lost to a failed delivery: it
stays until it goes out, its receiver is gone, or ``MAX_ATTEMPTS`` runs failed.

The state file never holds a target itself: a webhook's path and query, or a command's arguments,
may hold a secret (a Slack hook's token, a bearer token). It keeps the target's SHA-256 and the form
mlmon prints (:func:`for_the_file`); each run finds the target again among the ones it was given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from mlmon.notify import receivers
from mlmon.notify.model import NotifyConfig

#: A notification still failing after this many runs is dropped, with a warning.
MAX_ATTEMPTS = 24
#: The receiver names of the command-line shortcuts, by kind.
SHORTCUTS = {"webhook": "--notify", "command": "--notify-command"}


def digest(target: str) -> str:
    """How the state file names a target: its SHA-256, never the text (which may hold a secret)."""
    return hashlib.sha256(target.encode("utf-8", "surrogatepass")).hexdigest()


def for_the_file(outbox: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The outbox as the state file keeps it: each target as its digest and the form mlmon prints."""
    return [{**item, "target": receivers.shown_target(item["kind"], item["target"]), "target_sha256": digest(item["target"])}
            for item in outbox]


def _target_digest(item: dict[str, Any]) -> str:
    # A state file written before targets were kept as digests holds the target itself.
    return item.get("target_sha256") or digest(item["target"])


def _queued_for(item: dict[str, Any]) -> set[str]:
    if "queued_for_sha256" in item:
        return set(item["queued_for_sha256"])
    return {digest(t) for t in item.get("queued_for") or [item["target"]]}


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
            kept = {k: v for k, v in item.items() if k != "target_sha256"}
            out.append({**kept, "kind": receiver.kind, "target": receiver.target, "payload": payload})
            continue
        targets = current.get(item.get("kind"), [])
        same = [t for t in targets if digest(t) == _target_digest(item)]
        queued_for = _queued_for(item)
        base = {k: v for k, v in item.items() if k not in ("queued_for", "target_sha256")}
        if same:
            out.append({**base, "target": same[0], "queued_for_sha256": sorted(queued_for)})
            continue
        new = [t for t in targets if digest(t) not in queued_for]
        if not new:
            warn(f"mlmon: a notification for {receivers.shown_target(item['kind'], item['target'])} is dropped: no --notify"
                 f"{'-command' if item.get('kind') == 'command' else ''} given now takes its place")
            continue
        for target in new:
            out.append({**base, "target": target, "queued_for_sha256": sorted(queued_for | {digest(t) for t in targets}),
                        "attempts": 0})
    return out


def shortcut_entries(payloads: list[dict[str, Any]], webhooks: list[str], commands: list[str]) -> list[dict[str, Any]]:
    """One entry per payload and ``--notify`` URL or ``--notify-command``, naming the shortcut as receiver."""
    out = []
    for payload in payloads:
        for kind, targets in (("webhook", webhooks), ("command", commands)):
            out += [{"kind": kind, "receiver": SHORTCUTS[kind], "target": target,
                     "payload": {**payload, "receiver": SHORTCUTS[kind]},
                     "queued_for_sha256": sorted(digest(t) for t in targets), "attempts": 0}
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
