"""Compare a replayed response with the logged one, field by field."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

_MISSING = object()


@dataclass(frozen=True)
class Difference:
    path: str
    logged: Any
    replayed: Any

    def to_dict(self, secret_keys: tuple[str, ...] = ()) -> dict[str, Any]:
        """The difference as JSON data, secret values (and those of ``secret_keys``) redacted."""
        from mlmon.redact import REDACTED, is_secret_path, redact_obj

        secret = is_secret_path(self.path, secret_keys)

        def shown(value: Any) -> Any:
            if value is _MISSING:
                return None
            return REDACTED if secret else redact_obj(value, secret_keys)

        return {
            "path": self.path,
            "logged": shown(self.logged),
            "replayed": shown(self.replayed),
            "missing": "replayed" if self.replayed is _MISSING else "logged" if self.logged is _MISSING else None,
        }


@dataclass(frozen=True)
class Tolerance:
    """Numbers match when ``|a - b| <= atol + rtol * |b|`` (numpy.isclose); ``ignore`` paths are skipped.

    No tolerance reaches infinity: inf matches only inf of the same sign, and NaN matches only NaN
    (numpy.isclose with ``equal_nan=True``: a model that kept answering NaN has not changed).
    """

    rtol: float = 1e-9
    atol: float = 0.0
    ignore: tuple[str, ...] = ()

    def ignored(self, path: str) -> bool:
        if not self.ignore:
            return False
        return any(path == p or path.startswith(p + ".") or path.startswith(p + "[") for p in self.ignore)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _close(logged: float, replayed: float, tolerance: Tolerance) -> bool:
    if logged == replayed:  # exact, which includes the same infinity
        return True
    if not (math.isfinite(logged) and math.isfinite(replayed)):
        return math.isnan(logged) and math.isnan(replayed)
    return abs(logged - replayed) <= tolerance.atol + tolerance.rtol * abs(replayed)


def differences(logged: Any, replayed: Any, tolerance: Tolerance = Tolerance(), path: str = "") -> list[Difference]:
    """Every place where the replayed value differs from the logged one (empty: they match)."""
    if path and tolerance.ignored(path):
        return []
    if isinstance(logged, dict) and isinstance(replayed, dict):
        out: list[Difference] = []
        for key in list(logged) + [k for k in replayed if k not in logged]:
            sub = f"{path}.{key}" if path else str(key)
            out.extend(differences(logged.get(key, _MISSING), replayed.get(key, _MISSING), tolerance, sub))
        return out
    if isinstance(logged, list) and isinstance(replayed, list):
        if len(logged) != len(replayed):
            return [Difference(path or "$", logged, replayed)]
        out = []
        for i, (a, b) in enumerate(zip(logged, replayed)):
            out.extend(differences(a, b, tolerance, f"{path}[{i}]"))
        return out
    if logged is _MISSING or replayed is _MISSING:
        if tolerance.ignored(path):
            return []
        return [Difference(path, logged, replayed)]
    if _is_number(logged) and _is_number(replayed):
        try:
            if _close(logged, replayed, tolerance):
                return []
        except OverflowError:  # an integer too large for a float: only an exact match counts
            pass
        return [Difference(path or "$", logged, replayed)]
    if logged == replayed and type(logged) is type(replayed):
        return []
    return [Difference(path or "$", logged, replayed)]


#: Characters of each value a diff shows to people; ``--output`` keeps whole values.
SHOWN_CHARS = 200


def side_by_side(diffs: Iterable[Difference], limit: int | None = SHOWN_CHARS,
                 secret_keys: tuple[str, ...] = ()) -> list[tuple[str, str, str]]:
    """(path, logged, replayed) rows as text, for people: each cell at most ``limit`` characters
    and a note of how many more, so a 30 MB field prints as one short line; secrets (and the values
    of ``secret_keys``) redacted."""
    import json

    from mlmon.redact import REDACTED, is_secret_path, redact_obj
    from mlmon.replay.messages import shorten

    def cut(text: str) -> str:
        return text if limit is None else shorten(text, limit)

    def show(value: Any, secret: bool) -> str:
        if value is _MISSING:
            return "(missing)"
        return cut(json.dumps(REDACTED if secret else redact_obj(value, secret_keys), ensure_ascii=False))

    rows = []
    for d in diffs:
        secret = is_secret_path(d.path, secret_keys)
        rows.append((cut(d.path), show(d.logged, secret), show(d.replayed, secret)))
    return rows
