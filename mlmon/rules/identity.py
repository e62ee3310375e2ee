"""Who an alert is: its labels and their fingerprint, as Alertmanager names alerts.

An alert's labels are ``alertname`` (the rule's name), ``severity``, the rule's segment
fields with this alert's values (``model``, ``input.country``), and the rule's own
``labels:``. Everything that picks alerts (silences, inhibition, notification routes
and groups) matches on these labels, and the state file, notifications and silences
name an alert by its fingerprint: a stable hash of its labels.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

ALERTNAME = "alertname"
SEVERITY = "severity"


def alert_labels(rule: str, severity: str, segment: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, str]:
    """The alert's labels, names sorted: alertname, severity, segment values (``null`` as ``""``), rule labels.

    The rule's own labels cannot replace ``alertname`` or a segment value; its ``severity``
    label is the rule's severity (validation refuses the two disagreeing).
    """
    out = {name: str(value) for name, value in labels.items()}
    out.update({name: "" if value is None else str(value) for name, value in segment.items()})
    out[ALERTNAME] = rule
    out[SEVERITY] = severity
    return dict(sorted(out.items()))


def fingerprint(labels: Mapping[str, str]) -> str:
    """16 hex digits that name a set of labels, whatever their order (stable across runs and machines)."""
    text = json.dumps(sorted(labels.items()), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
