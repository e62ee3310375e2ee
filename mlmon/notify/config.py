"""Validate a ``notify:`` section: every problem at once, each as ``file:line:col: notify: message``.

The section lives in the rules file (one file per alerting setup, validated together by
``mlmon rules validate``) or in a file of its own given with ``mlmon check --notify-config``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mlmon.errors import ConfigError, UsageError
from mlmon.notify.model import (
    EVERY_LABEL,
    KINDS,
    NOT_USED,
    NOTIFY_KEYS,
    RECEIVER_SCHEMA,
    ROUTE_SCHEMA,
    NotifyConfig,
    Receiver,
    Route,
)
from mlmon.notify.receivers import webhook_url_problem
from mlmon.rules.matchers import MatcherError, parse_matcher
from mlmon.rules.model import DURATION_PATTERN, NONBLANK_PATTERN
from mlmon.timeparse import parse_duration
from mlmon.yamlfile import Located, did_you_mean, load_yaml, problem_position

#: Alertmanager's receiver keys, and what mlmon spells instead.
AM_RECEIVER_KEYS = {"webhook_configs": "webhook", "slack_configs": "slack"}
#: Routes nested deeper than this are refused: a tree that deep is a mistake (or an attack on the stack).
MAX_ROUTE_DEPTH = 32


class _Checker:
    def __init__(self, doc: Located, problems: list[str]):
        self.doc, self.problems = doc, problems

    def add(self, keys: tuple, message: str, col: int | None = None) -> None:
        where = self.doc.where(*keys) if col is None else self.doc.where_in_value(keys, col)
        self.problems.append(f"{where}: notify: {message}")

    def keys(self, keys: tuple, item: dict, known: tuple[str, ...], what: str, extra: dict[str, str]) -> None:
        for key in item:
            if key in known:
                continue
            if str(key) in extra:
                self.add(keys + (key,), f"{key!r} is not a {what} key: {extra[str(key)]}")
            else:
                self.add(keys + (key,), f"unknown {what} key {key!r}{did_you_mean(str(key), known)}")

    def text(self, keys: tuple, value: Any, what: str) -> str | None:
        if not isinstance(value, str) or not re.search(NONBLANK_PATTERN, value):
            self.add(keys, f"{what} must be non-empty text")
            return None
        return value

    def boolean(self, keys: tuple, value: Any, what: str) -> bool | None:
        if not isinstance(value, bool):
            self.add(keys, f"{what} must be true or false, not {value!r}")
            return None
        return value


def notify_from_doc(doc: Located, problems: list[str], keys: tuple = ("notify",)) -> NotifyConfig | None:
    """The ``notify:`` section at ``keys`` of ``doc``; problems are appended to ``problems`` (then None)."""
    check = _Checker(doc, problems)
    before = len(problems)
    data = doc.data
    for key in keys:
        data = data[key]
    if not isinstance(data, dict):
        check.add(keys, "'notify' must be a mapping with 'receivers' and 'route'")
        return None
    check.keys(keys, data, NOTIFY_KEYS, "notify", {})
    for key in NOTIFY_KEYS:
        if key not in data:
            check.add(keys, f"missing required key {key!r}")
    receivers = _receivers(check, keys + ("receivers",), data.get("receivers")) if "receivers" in data else {}
    route = None
    if "route" in data:
        route = _route(check, keys + ("route",), data["route"], receivers, top=True, parent_key="", depth=0)
    if len(problems) > before or route is None:
        return None
    return NotifyConfig(receivers, route, doc.path)


def _receivers(check: _Checker, keys: tuple, items: Any) -> dict[str, Receiver]:
    if not isinstance(items, list) or not items:
        check.add(keys, "'receivers' must be a non-empty list, each with a name and a webhook, slack or command")
        return {}
    out: dict[str, Receiver] = {}
    seen: dict[str, str] = {}
    for i, item in enumerate(items):
        here = keys + (i,)
        if not isinstance(item, dict):
            check.add(here, f"receiver #{i + 1} must be a mapping with a name and a webhook, slack or command")
            continue
        check.keys(here, item, tuple(RECEIVER_SCHEMA), "receiver",
                   {k: f"write '{v}: URL' (one URL per receiver)" for k, v in AM_RECEIVER_KEYS.items()})
        name = check.text(here + ("name",), item.get("name"), "a receiver's 'name'") if "name" in item else None
        if "name" not in item:
            check.add(here, f"receiver #{i + 1} needs a 'name'")
        if name is not None and name in seen:
            check.add(here + ("name",), f"receiver {name!r} is defined twice (first at {seen[name]})")
            name = None
        elif name is not None:
            seen[name] = check.doc.where(*here, "name")
        kinds = [k for k in KINDS if k in item]
        if len(kinds) > 1:
            check.add(here + (kinds[1],), f"a receiver has one of webhook, slack or command, not {' and '.join(kinds)}; "
                                           f"define another receiver and route to both with continue: true")
        kind = kinds[0] if kinds else None
        target = ""
        if kind is not None:
            target = check.text(here + (kind,), item[kind], f"{kind!r}") or ""
            if target and kind != "command":
                problem = webhook_url_problem(target)
                if problem is not None:
                    check.add(here + (kind,), f"{kind}: {problem}; give an http:// or https:// URL")
        send_resolved = KINDS.get(kind or "", True)
        if "send_resolved" in item:
            send_resolved = check.boolean(here + ("send_resolved",), item["send_resolved"], "'send_resolved'")
        if name is not None:
            out[name] = Receiver(name, kind, target, bool(send_resolved))
    return out


def _route(check: _Checker, keys: tuple, item: Any, receivers: dict[str, Receiver], *, top: bool, parent_key: str,
           depth: int) -> Route | None:
    if not isinstance(item, dict):
        check.add(keys, "a route must be a mapping of keys such as receiver, group_by and routes")
        return None
    if depth > MAX_ROUTE_DEPTH:
        check.add(keys, f"routes are nested more than {MAX_ROUTE_DEPTH} deep")
        return None
    check.keys(keys, item, tuple(ROUTE_SCHEMA), "route", NOT_USED)
    receiver = None
    if "receiver" in item:
        receiver = check.text(keys + ("receiver",), item["receiver"], "'receiver'")
        if receiver is not None and receivers and receiver not in receivers:
            check.add(keys + ("receiver",), f"unknown receiver {receiver!r}{did_you_mean(receiver, tuple(receivers))}")
    elif top:
        check.add(keys, "the top route needs a 'receiver': where alerts go that no child route takes")
    group_by = _group_by(check, keys + ("group_by",), item["group_by"]) if "group_by" in item else None
    repeat = _duration(check, keys + ("repeat_interval",), item["repeat_interval"]) if "repeat_interval" in item else None
    matchers = []
    if "matchers" in item:
        value = item["matchers"]
        if not isinstance(value, list):
            check.add(keys + ("matchers",), "'matchers' must be a list such as ['severity=\"critical\"']")
        else:
            for i, text in enumerate(value):
                if not isinstance(text, str):
                    check.add(keys + ("matchers", i), f"a matcher must be text such as 'severity=\"critical\"', not {text!r}")
                    continue
                try:
                    matchers.append(parse_matcher(text))
                except MatcherError as exc:
                    check.add(keys + ("matchers", i), f"matcher {text!r}: {exc.reason}", col=exc.col)
    if top and matchers:
        check.add(keys + ("matchers",), "the top route takes every alert, so it has no matchers; put them in 'routes'")
    cont = False
    if "continue" in item:
        cont = bool(check.boolean(keys + ("continue",), item["continue"], "'continue'"))
    key = "{}" if top else f"{parent_key}/{{{','.join(str(m) for m in matchers)}}}"
    children: list[Route] = []
    if "routes" in item:
        value = item["routes"]
        if not isinstance(value, list):
            check.add(keys + ("routes",), "'routes' must be a list of routes")
        else:
            for i, child in enumerate(value):
                found = _route(check, keys + ("routes", i), child, receivers, top=False, parent_key=key, depth=depth + 1)
                if found is not None:
                    children.append(found)
    return Route(receiver, group_by, repeat, tuple(matchers), cont, tuple(children), key)


def _group_by(check: _Checker, keys: tuple, value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        check.add(keys, "'group_by' must be a list of label names, such as [alertname, model], or [...]")
        return None
    if len(set(value)) != len(value):
        check.add(keys, "'group_by' names a label twice")
    if EVERY_LABEL in value and len(value) > 1:
        check.add(keys, "'group_by: [...]' already groups by every label; give it alone")
    return tuple(value)


def _duration(check: _Checker, keys: tuple, value: Any):
    if not isinstance(value, str) or not re.fullmatch(DURATION_PATTERN, value):
        check.add(keys, f"repeat_interval {value!r} is not a duration. Use a number and a unit, such as 30m, 4h or 1d.")
        return None
    try:
        return parse_duration(value, what="repeat_interval")
    except UsageError as exc:
        check.add(keys, str(exc))
        return None


def load_notify(path: str | Path) -> NotifyConfig:
    """The validated ``notify:`` of a file of its own (``--notify-config``); ConfigError lists every problem."""
    doc = load_yaml(path, "notify config")
    data = doc.data
    if not isinstance(data, dict) or "notify" not in data:
        raise ConfigError(f"{doc.where()}: a notify config needs a top-level 'notify:' mapping",
                          "Give it 'notify:' with 'receivers' and 'route', as in the rules file.")
    problems: list[str] = []
    for key in data:
        if key != "notify":
            problems.append(f"{doc.where(key)}: unknown top-level key {key!r}{did_you_mean(str(key), ('notify',))}")
    for dup_path, line, col in doc.duplicates:
        problems.append(f"{doc.path}:{line}:{col}: key {dup_path[-1]!r} is given twice; only the last one would count")
    config = notify_from_doc(doc, problems)
    if problems or config is None:
        problems.sort(key=problem_position)
        n = len(problems)
        raise ConfigError(f"notify config {doc.path} has {n} problem{'s' if n > 1 else ''}",
                          "Fix the lines listed above; 'mlmon check' checks the file before it reads any log.",
                          details=problems)
    return config





def notify_setup(in_rules: NotifyConfig | None, path: Path | None, state: Path | None) -> NotifyConfig | None:
    """The ``notify:`` a check uses: the rules file's, or ``--notify-config``'s; None without ``--state``.

    Without ``--state`` a run sends nothing, so the rules file's section is only validated
    (the same file serves CI gates); ``--notify-config`` without ``--state`` is a mistake.
    """
    if path is not None and state is None:
        raise UsageError("--notify-config needs --state", "Notifications follow transitions, which need a state file.")
    if path is not None and in_rules is not None:
        raise UsageError(f"both the rules file and --notify-config {path} have a notify: section",
                         "Keep one: remove notify: from the rules file, or drop --notify-config.")
    if state is None:
        return None
    return load_notify(path) if path is not None else in_rules
