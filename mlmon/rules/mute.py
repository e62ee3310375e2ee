"""Which alerts are muted, by silences and by inhibition: a pure function of the alerts, the mutes and the clock.

A muted alert is still shown, marked, but counts neither toward the gate nor for notifications.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from mlmon.rules.evaluate import CheckResult
from mlmon.rules.inhibit import inhibitions
from mlmon.rules.model import InhibitRule
from mlmon.rules.silences import Silence, silenced_by


def mute(result: CheckResult, silences: Sequence[Silence], inhibit: Sequence[InhibitRule], now: datetime) -> CheckResult:
    """Fill each alert's ``silenced_by`` (ids of the silences active at ``now`` that match it) and
    ``inhibited_by`` (fingerprints of the active alerts that inhibit it); returns ``result``."""
    alerts = result.alerts
    inhibited = inhibitions(alerts, inhibit)
    for i, alert in enumerate(alerts):
        alert.silenced_by = silenced_by(silences, alert.all_labels, now)
        alert.inhibited_by = inhibited.get(i, [])
    return result
