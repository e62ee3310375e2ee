"""The ``notify:`` section, declared once: the validator (``mlmon.notify.config``) and the JSON Schema both read it.

``notify:`` names receivers (where messages go) and a routing tree (which alerts go to
which receiver, grouped how, repeated how often), with Alertmanager's meaning for each key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mlmon.rules.matchers import Matcher
from mlmon.rules.model import DURATION_PATTERN, NONBLANK_PATTERN

#: Receiver kinds: what the key holds, and whether resolved notices are sent by default (as Alertmanager's
#: webhook_configs and slack_configs default ``send_resolved``).
KINDS = {"webhook": True, "slack": False, "command": True}
#: ``group_by: [...]``: every label, so each alert is its own group (Alertmanager's special value).
EVERY_LABEL = "..."
#: Alertmanager route keys that have no meaning for a run-once cron check, with the reason given when used.
NOT_USED = {
    "group_wait": "each run sends its groups at once, so there is nothing to wait for",
    "group_interval": "each run sends what changed in a group at once; repeat_interval spaces repeats",
    "match": "use matchers: ['name=\"value\"'] (Alertmanager deprecated match)",
    "match_re": "use matchers: ['name=~\"regex\"'] (Alertmanager deprecated match_re)",
    "mute_time_intervals": "use 'mlmon silence' to mute alerts for a time",
    "active_time_intervals": "use 'mlmon silence' to mute alerts for a time",
}

RECEIVER_SCHEMA: dict[str, dict[str, Any]] = {
    "name": {"type": "string", "pattern": NONBLANK_PATTERN,
             "description": "Unique name that routes give as 'receiver'."},
    "webhook": {"type": "string", "pattern": "^[hH][tT][tT][pP][sS]?://",
                "description": "http(s) URL that gets Alertmanager's webhook v4 JSON plus mlmon's keys (POST)."},
    "slack": {"type": "string", "pattern": "^[hH][tT][tT][pP][sS]?://",
              "description": "http(s) URL of a Slack-compatible incoming webhook; gets {\"text\": ...}."},
    "command": {"type": "string", "pattern": NONBLANK_PATTERN,
                "description": "Command run by sh -c with the webhook's JSON on stdin."},
    "send_resolved": {"type": "boolean",
                      "description": "Send resolved notices; default true for webhook and command, false for slack."},
}
ROUTE_SCHEMA: dict[str, dict[str, Any]] = {
    "receiver": {"type": "string", "pattern": NONBLANK_PATTERN,
                 "description": "Receiver name; required at the top route, inherited by child routes."},
    "group_by": {"type": "array", "items": {"type": "string", "pattern": NONBLANK_PATTERN}, "uniqueItems": True,
                 "description": "Labels that split alerts into groups, one message per group per run; [...] is every "
                                "label; default [] (one group per route); inherited."},
    "repeat_interval": {"type": "string", "pattern": DURATION_PATTERN,
                        "description": "Re-send a still-firing group when more than this has passed; default "
                                       "--repeat-interval (4h); inherited."},
    "matchers": {"type": "array", "items": {"type": "string", "pattern": NONBLANK_PATTERN},
                 "description": "Alertmanager matchers, all of which an alert's labels must meet: "
                                "'severity=\"critical\"', 'model=~\"churn|fraud\"', '!=', '!~'."},
    "continue": {"type": "boolean", "description": "Keep looking at the next sibling routes after this one matched."},
    "routes": {"type": "array", "items": {"$ref": "#/$defs/route"}, "description": "Child routes, tried in order."},
}
NOTIFY_KEYS = ("receivers", "route")


def notify_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    """The JSON Schema of ``notify:`` and the ``$defs`` it refers to."""
    receiver = {"type": "object", "additionalProperties": False, "required": ["name"], "properties": RECEIVER_SCHEMA}
    route = {"type": "object", "additionalProperties": False, "properties": ROUTE_SCHEMA}
    top_route = {**route, "required": ["receiver"]}
    notify = {
        "type": "object",
        "additionalProperties": False,
        "required": ["receivers", "route"],
        "description": "Where notifications go (with --state): receivers and Alertmanager's routing tree.",
        "properties": {
            "receivers": {"type": "array", "minItems": 1, "items": receiver},
            "route": top_route,
        },
    }
    return notify, {"route": route}


@dataclass(frozen=True)
class Receiver:
    """Where a message goes: ``kind`` is webhook, slack or command, or None for a receiver that drops messages."""

    name: str
    kind: str | None = None
    target: str = ""
    send_resolved: bool = True


@dataclass(frozen=True)
class Route:
    """A node of the routing tree; None is "as the parent route" (``repeat_interval`` at the top: --repeat-interval)."""

    receiver: str | None = None
    group_by: tuple[str, ...] | None = None
    repeat_interval: timedelta | None = None
    matchers: tuple[Matcher, ...] = ()
    cont: bool = False
    routes: tuple[Route, ...] = ()
    #: Alertmanager's route key: the matchers of the route and its parents, ``{}/{severity="critical"}``.
    key: str = "{}"


@dataclass(frozen=True)
class NotifyConfig:
    """A validated ``notify:`` section; ``path`` is the file it came from."""

    receivers: dict[str, Receiver]
    route: Route
    path: str = ""
