"""``mlmon replay --hotfix FILE``: what a hot-fix file would have done to the logged traffic, before it ships.

Each chosen request goes through the file's enabled rules as :class:`mlmon.hotfix.HotfixLayer`
would take it (the same conditions, evaluated in Python, with the logged ``model``,
``model_version`` and ``endpoint``): the first matching rule answers, with its fixed answer or
by calling its fallback. The preview counts, per rule, the requests it answers, in which
segments (model, model_version), and how many of those answers differ from the logged ones
(compared as replay compares answers). Without a target nothing is sent; with one, the
requests no hot fix answers are replayed against it, as they would reach the model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from mlmon.hotfix.config import HotfixSet, load_hotfixes
from mlmon.hotfix.layer import resolve_fallback
from mlmon.logs.mapping import Mapping
from mlmon.replay.compare import Difference, Tolerance, differences
from mlmon.replay.run import _json_or_text, failed_when_logged
from mlmon.replay.select import Selection, select_requests

#: The fields a segment is named by in the preview.
SEGMENT = ("model", "model_version")


@dataclass
class RulePreview:
    """What one enabled rule would have done."""

    name: str
    kind: str
    answered: int = 0
    changed: int = 0
    failed_before: int = 0
    fallback_errors: int = 0
    segments: Counter = field(default_factory=Counter)

    @property
    def same(self) -> int:
        return self.answered - self.changed - self.fallback_errors


@dataclass(frozen=True)
class Example:
    request_id: Any
    rule: str
    diffs: tuple[Difference, ...]


@dataclass
class HotfixPreview:
    path: str
    rules: list[RulePreview]
    disabled: list[str]
    requests: int = 0
    examples: list[Example] = field(default_factory=list)

    @property
    def answered(self) -> int:
        return sum(r.answered - r.fallback_errors for r in self.rules)

    @property
    def changed(self) -> int:
        return sum(r.changed for r in self.rules)


class HotfixPreviewer:
    """The rules of a hot-fix file, ready to go over logged requests; ConfigError for a bad file or fallback."""

    def __init__(self, path: str | Path, tolerance: Tolerance | None = None, show: int = 5):
        self.hotfixes: HotfixSet = load_hotfixes(path)
        self.tolerance, self.show = tolerance or Tolerance(), show
        self._answers: list[tuple[Any, Callable[[Any], Any] | None]] = [
            (h, resolve_fallback(h.fallback) if h.fallback is not None else None) for h in self.hotfixes.enabled]
        self.preview = HotfixPreview(str(path), [RulePreview(h.name, h.kind) for h in self.hotfixes.enabled],
                                     [h.name for h in self.hotfixes.rules if not h.enabled])

    def take(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Go over the chosen requests (a frame of :func:`select_requests`); the rows no hot fix answers."""
        keep = [self._one(row) for row in frame.iter_rows(named=True)]
        return frame.filter(pl.Series(keep, dtype=pl.Boolean)) if keep else frame

    def _one(self, row: dict[str, Any]) -> bool:
        """Count one request; True when the model would still answer it."""
        self.preview.requests += 1
        request = _json_or_text(row["request"]) if row.get("request") is not None else None
        record = {"input": request, "model": row.get("model"), "model_version": row.get("model_version"),
                  "endpoint": row.get("endpoint")}
        for (hotfix, fallback), stats in zip(self._answers, self.preview.rules):
            if not hotfix.matches(record):
                continue
            stats.answered += 1
            stats.segments[tuple(row.get(k) for k in SEGMENT)] += 1
            if fallback is None:
                answer = hotfix.respond
            else:
                try:
                    answer = fallback(request)
                except Exception:  # noqa: BLE001  (as in serving: the model answers instead)
                    stats.fallback_errors += 1
                    return True
            if failed_when_logged(row):
                stats.failed_before += 1
            logged = _json_or_text(row["response"]) if row.get("response") is not None else None
            diffs = differences(logged, answer, self.tolerance)
            if diffs:
                stats.changed += 1
                if len(self.preview.examples) < self.show:
                    self.preview.examples.append(Example(row.get("request_id"), hotfix.name, tuple(diffs)))
            return False
        return True


def preview_hotfixes(inputs: Sequence[str], mapping: Mapping, selection: Selection, previewer: HotfixPreviewer, *,
                     strict: bool = False, progress=None, on_read=None) -> HotfixPreview:
    """The preview over the requests ``selection`` chooses, sending nothing."""
    frame, data = select_requests(inputs, mapping, selection, strict=strict, progress=progress)
    if on_read is not None:
        on_read(data)
    previewer.take(frame)
    return previewer.preview


def preview_document(preview: HotfixPreview, secret_keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """The ``hotfix`` part of ``mlmon replay --format json``: keys are added, never renamed."""
    from mlmon.replay.output import _redact

    n = preview.requests
    return {
        "file": preview.path,
        "requests": n,
        "answered_by_hotfix": preview.answered,
        "answered_by_model": n - preview.answered,
        "hotfix_rate": preview.answered / n if n else 0.0,
        "changed": preview.changed,
        "disabled_rules": preview.disabled,
        "rules": [
            {"name": r.name, "kind": r.kind, "answered": r.answered - r.fallback_errors, "changed": r.changed,
             "same": r.same, "failed_before": r.failed_before, "fallback_errors": r.fallback_errors,
             "segments": [{**dict(zip(SEGMENT, key)), "answered": count}
                          for key, count in sorted(r.segments.items(), key=lambda kv: (-kv[1], str(kv[0])))]}
            for r in preview.rules
        ],
        "examples": [{"request_id": e.request_id, "rule": e.rule,
                      "diff": [_redact(d.to_dict(secret_keys), secret_keys) for d in e.diffs]}
                     for e in preview.examples],
    }
