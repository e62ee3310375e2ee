"""Inhibition, as Alertmanager's ``inhibit_rules``: a firing alert mutes related ones. Pure functions.

An alert T is inhibited by an inhibition rule when T passes its ``target_matchers`` and some
**active** (firing in the latest window) alert S passes its ``source_matchers`` with the same
value for each ``equal`` label (a missing label is the empty string). As in Alertmanager, when T
passes the source matchers too, the sources that also pass the target matchers do not count:
an alert never inhibits itself, nor does one of its peers. Sources are every active alert,
silenced or inhibited ones too (Alertmanager does the same).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from mlmon.rules.matchers import Matcher, MatcherError, matches_all, parse_matchers
from mlmon.rules.model import INHIBIT_DEPRECATED, INHIBIT_KEYS, InhibitRule
from mlmon.yamlfile import Located, did_you_mean


def inhibitions(alerts: Sequence[Any], rules: Iterable[InhibitRule]) -> dict[int, list[str]]:
    """For each inhibited alert (by its index in ``alerts``), the fingerprints of the alerts that inhibit it, sorted.

    ``alerts`` have ``all_labels``, ``fingerprint`` and ``active`` (see :class:`mlmon.rules.evaluate.Alert`).
    """
    labels = [a.all_labels for a in alerts]
    out: dict[int, set[str]] = {}
    for rule in rules:
        sources = [i for i, a in enumerate(alerts) if a.active and matches_all(rule.source, labels[i])]
        if not sources:
            continue
        for t, target_labels in enumerate(labels):
            if not matches_all(rule.target, target_labels):
                continue
            two_sided = matches_all(rule.source, target_labels)
            for s in sources:
                if s == t or (two_sided and matches_all(rule.target, labels[s])):
                    continue
                if all(labels[s].get(name, "") == target_labels.get(name, "") for name in rule.equal):
                    out.setdefault(t, set()).add(alerts[s].fingerprint)
    return {t: sorted(fps) for t, fps in out.items()}


def inhibit_from_doc(doc: Located, add: Callable[[str, str], None], rule_names: Iterable[str] = ()) -> tuple[InhibitRule, ...]:
    """The ``inhibit:`` section of a rules document; each problem goes to ``add(where, message)``.

    ``rule_names`` are the file's rules: ``alertname="x"`` naming no rule is a problem (it could never match).
    """
    items = doc.data.get("inhibit") if isinstance(doc.data, dict) else None
    if items is None:
        return ()
    if not isinstance(items, list):
        add(doc.where("inhibit"), "'inhibit' must be a list of entries with source_matchers, target_matchers and equal")
        return ()
    names = tuple(rule_names)
    out = []
    for i, item in enumerate(items):
        rule = _one(doc, add, i, item, names)
        if rule is not None:
            out.append(rule)
    return tuple(out)


def _one(doc: Located, add, i: int, item: Any, rule_names: tuple[str, ...]) -> InhibitRule | None:
    base = ("inhibit", i)
    label = f"inhibit #{i + 1}: "
    if not isinstance(item, dict):
        add(doc.where(*base), label + "an entry must be a mapping with source_matchers, target_matchers and equal")
        return None
    ok = True
    for key in item:
        if key in INHIBIT_DEPRECATED:
            new = INHIBIT_DEPRECATED[key]
            add(doc.where(*base, key), label + f"{key!r} is deprecated in Alertmanager and not taken here; "
                f"did you mean {new!r}? Write matchers such as {new}: ['alertname=\"no-traffic\"']")
            ok = False
        elif key not in INHIBIT_KEYS:
            add(doc.where(*base, key), label + f"unknown key {key!r}{did_you_mean(str(key), INHIBIT_KEYS)}")
            ok = False
    name = item.get("name", "")
    if not isinstance(name, str):
        add(doc.where(*base, "name"), label + "'name' must be text")
        ok = False
    if "source_matchers" not in item and "target_matchers" not in item and ok:
        add(doc.where(*base), label + "needs source_matchers and target_matchers")
        return None
    source = _matchers(doc, add, base, label, "source_matchers", item.get("source_matchers", []), rule_names)
    target = _matchers(doc, add, base, label, "target_matchers", item.get("target_matchers", []), rule_names)
    equal = item.get("equal", [])
    if not isinstance(equal, list) or not all(isinstance(e, str) and e.strip() for e in equal):
        add(doc.where(*base, "equal"), label + "'equal' must be a list of label names, such as [model]")
        equal = None
    elif len(set(equal)) != len(equal):
        add(doc.where(*base, "equal"), label + "'equal' names a label twice")
        equal = None
    if not ok or source is None or target is None or equal is None:
        return None
    return InhibitRule(tuple(source), tuple(target), tuple(equal), name, doc.where(*base))


def _matchers(doc: Located, add, base: tuple, label: str, key: str, value: Any,
              rule_names: tuple[str, ...]) -> list[Matcher] | None:
    """The matchers of ``key``: a list of strings, or one string; None after a problem."""
    texts = [((*base, key), value)] if isinstance(value, str) else None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        texts = [((*base, key, j), v) for j, v in enumerate(value)]
    if texts is None:
        add(doc.where(*base, key), label + f"{key!r} must be a list of matchers such as ['alertname=\"no-traffic\"'], "
            "or one string")
        return None
    out: list[Matcher] = []
    ok = True
    for keys, text in texts:
        try:
            found = parse_matchers(text)
        except MatcherError as exc:
            add(doc.where_in_value(keys, exc.col), label + f"{key}: {exc.reason}")
            ok = False
            continue
        for m in found:
            if m.name == "alertname" and m.op == "=" and rule_names and m.value not in rule_names:
                add(doc.where(*keys), label + f"{key}: no rule is named {m.value!r}, so it can never match"
                    f"{did_you_mean(m.value, rule_names)}")
                ok = False
        out += found
    return out if ok else None
