"""Message bodies, pure: Alertmanager's webhook v4 JSON plus mlmon's own keys, and the Slack-compatible text.

A message carries one or more *notices*, each an alert at one moment: ``firing`` (newly
active), ``still_firing`` (active before, sent again) or ``resolved`` (no longer active).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlmon import __version__
from mlmon.rules.identity import alert_labels, fingerprint
from mlmon.safetext import printable
from mlmon.timeparse import iso

#: What Alertmanager sends as ``endsAt`` for an alert still firing (Go's zero time).
ZERO_TIME = "0001-01-01T00:00:00Z"
ICONS = {"firing": "🔴 FIRING", "still_firing": "🔴 STILL FIRING", "resolved": "🟢 RESOLVED"}


@dataclass(frozen=True)
class Notice:
    """One alert in a message: how it changed (``kind``), who it is and when it started and ended."""

    key: str
    kind: str  # firing | still_firing | resolved
    alert: dict[str, Any]
    labels: dict[str, str]
    annotations: dict[str, str]
    fingerprint: str
    starts_at: str
    ends_at: str | None
    #: Silenced or inhibited after it was sent: it keeps its place in its groups, so that its ``resolved``
    #: goes out, but is never listed in a message nor makes one due.
    muted: bool = False

    @property
    def status(self) -> str:
        """Alertmanager's status: ``firing`` or ``resolved``."""
        return "resolved" if self.kind == "resolved" else "firing"

    def transition(self) -> dict[str, Any]:
        """The notice as ``--format json`` lists it under ``transitions``."""
        return {"status": self.kind, "alert": self.alert, "fingerprint": self.fingerprint, "labels": self.labels,
                "starts_at": self.starts_at, "ends_at": self.ends_at}


def notice(key: str, kind: str, doc: Mapping[str, Any], starts_at: str, ends_at: str | None) -> Notice:
    """The notice of an alert (``Alert.to_dict()``, as the state file keeps it).

    Its ``alert`` object gains ``fingerprint``, ``starts_at`` and ``ends_at``, and says
    ``active: false`` once resolved. Annotations are the alert's own, else its summary.
    """
    labels = alert_labels(doc["rule"], doc["severity"], doc.get("segment") or {}, doc.get("labels") or {})
    print_ = fingerprint(labels)
    ends = ends_at if kind == "resolved" else None
    alert = {**doc, "active": kind != "resolved", "fingerprint": print_, "starts_at": starts_at, "ends_at": ends}
    annotations = {str(k): str(v) for k, v in (doc.get("annotations") or {"summary": doc.get("summary", "")}).items()}
    return Notice(key, kind, alert, labels, annotations, print_, starts_at, ends)


def slack_escape(text: Any) -> str:
    """``text`` made inert in Slack's mrkdwn, on one visible line: control and bidi characters as escapes
    (:func:`~mlmon.safetext.printable`: no raw ESC, newline or U+202E), then ``&``, ``<`` and ``>``
    as entities, so log data cannot ``<!channel>`` or hide a link behind ``<https://evil|click>``."""
    return printable(str(text)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def line(item: Notice) -> str:
    """The Slack-compatible line of one notice; every value in it is escaped, since segments and summaries come from logs."""
    alert = item.alert
    segment = ", ".join(f"{slack_escape(k)}={slack_escape(v)}" for k, v in (alert.get("segment") or {}).items())
    where = f" ({segment})" if segment else ""
    return (f"{ICONS[item.kind]} [{slack_escape(alert['severity'])}] {slack_escape(alert['rule'])}{where}: "
            f"{slack_escape(alert['summary'])}")


def label_text(labels: Mapping[str, str]) -> str:
    """Labels as Alertmanager prints a label set: ``{alertname="x", model="y"}``, names sorted."""
    inner = ", ".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _common(maps: Iterable[Mapping[str, str]]) -> dict[str, str]:
    maps = list(maps)
    if not maps:
        return {}
    return {k: v for k, v in sorted(maps[0].items()) if all(m.get(k) == v for m in maps[1:])}


def message_status(notices: list[Notice]) -> str:
    """mlmon's status of a message: ``firing`` when an alert is new, ``resolved`` when none fires, else ``still_firing``."""
    if any(n.kind == "firing" for n in notices):
        return "firing"
    if all(n.kind == "resolved" for n in notices):
        return "resolved"
    return "still_firing"


def message(notices: list[Notice], *, receiver: str, group_key: str, group_labels: Mapping[str, str],
            now: datetime) -> dict[str, Any]:
    """Alertmanager's webhook v4 message (``alerts`` in the order given) plus mlmon's keys.

    mlmon's keys: ``text`` (one Slack-compatible line per alert), ``status`` (mlmon's, which
    may be ``still_firing``; each ``alerts[].status`` is Alertmanager's firing/resolved),
    ``alert`` (the first alert's object), ``sent_by`` and ``at``.
    """
    alerts = [{
        "status": n.status,
        "labels": n.labels,
        "annotations": n.annotations,
        "startsAt": n.starts_at,
        "endsAt": n.ends_at or ZERO_TIME,
        "generatorURL": "",
        "fingerprint": n.fingerprint,
    } for n in notices]
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": message_status(notices),
        "receiver": receiver,
        "groupLabels": dict(sorted(group_labels.items())),
        "commonLabels": _common(n.labels for n in notices),
        "commonAnnotations": _common(n.annotations for n in notices),
        "externalURL": "",
        "alerts": alerts,
        "text": "\n".join(line(n) for n in notices),
        "alert": notices[0].alert,
        "sent_by": f"mlmon {__version__}",
        "at": iso(now),
    }


def body(kind: str, full: dict[str, Any]) -> dict[str, Any]:
    """What a receiver of ``kind`` gets: Slack only the ``text``, webhooks and commands the whole message."""
    return {"text": full["text"]} if kind == "slack" else full
