"""The routing tree and grouping, pure, as Alertmanager's dispatcher does them.

An alert enters at the top route. A route whose matchers all match tries its children
depth-first, in order; the first child that matches takes the alert, unless it has
``continue: true``, in which case the next siblings are tried too. A route none of whose
children matched takes the alert itself. Children inherit ``receiver``, ``group_by`` and
``repeat_interval`` from their parent. Each taken alert joins the group of its route,
receiver and values of the ``group_by`` labels: one message per group per run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from mlmon.notify.model import EVERY_LABEL, Route
from mlmon.notify.payload import Notice, label_text


@dataclass(frozen=True)
class Destination:
    """Where a route sends an alert, with inherited settings filled in."""

    receiver: str
    group_by: tuple[str, ...]
    repeat_interval: timedelta
    route_key: str


@dataclass
class Group:
    """Alerts that go out in one message: same route, receiver and ``group_by`` values."""

    receiver: str
    key: str
    labels: dict[str, str]
    repeat_interval: timedelta
    notices: list[Notice] = field(default_factory=list)

    @property
    def log_key(self) -> str:
        """Names the group in the state file's notification log: receiver and Alertmanager's group key."""
        return f"{self.receiver}:{self.key}"


def match(route: Route, labels: Mapping[str, str], repeat_interval: timedelta) -> list[Destination]:
    """Where an alert with ``labels`` goes; ``repeat_interval`` is the top route's when it gives none."""

    def walk(node: Route, receiver: str, group_by: tuple[str, ...], repeat: timedelta) -> list[Destination]:
        if not all(m.matches(labels) for m in node.matchers):
            return []
        receiver = node.receiver or receiver
        group_by = node.group_by if node.group_by is not None else group_by
        repeat = node.repeat_interval or repeat
        found: list[Destination] = []
        for child in node.routes:
            taken = walk(child, receiver, group_by, repeat)
            found += taken
            if taken and not child.cont:
                break
        return found or [Destination(receiver, group_by, repeat, node.key)]

    return walk(route, route.receiver or "", route.group_by or (), repeat_interval)


def group_labels(labels: Mapping[str, str], group_by: tuple[str, ...]) -> dict[str, str]:
    """The ``group_by`` labels the alert has (all of them for ``[...]``); a label it lacks is left out."""
    if EVERY_LABEL in group_by:
        return dict(labels)
    return {name: labels[name] for name in group_by if name in labels}


def groups(notices: list[Notice], route: Route, repeat_interval: timedelta) -> list[Group]:
    """The groups of this run's notices, in order of their first alert; each alert at most once per group."""
    out: dict[tuple[str, str], Group] = {}
    for item in notices:
        for dest in match(route, item.labels, repeat_interval):
            values = group_labels(item.labels, dest.group_by)
            key = f"{dest.route_key}:{label_text(values)}"
            group = out.setdefault((dest.receiver, key), Group(dest.receiver, key, values, dest.repeat_interval))
            if all(n.fingerprint != item.fingerprint for n in group.notices):
                group.notices.append(item)
    return list(out.values())
