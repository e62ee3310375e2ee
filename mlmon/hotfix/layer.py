"""``HotfixLayer``: answer some requests without the model, from a file ops can change while serving.

The layer never fails a request because of itself:

- **Hot reload.** At most once a second a request looks at the file's modification time
  and size; when they changed, that request reloads the file and swaps the new rules in
  with one assignment, so every request sees either the old rules or the new ones.
- **A broken file** (bad YAML, a bad rule, a fallback that cannot be imported) keeps the
  last good rules; the problem is logged once per change of the file (stdlib logger
  ``mlmon.hotfix``) and kept in :attr:`HotfixLayer.error`. A file broken when the layer is
  made raises ConfigError there, at start-up, where a bad deploy should stop. A missing
  file means no hot fix (ops create it when they need one).
- **A failing fallback** (it raises): the model answers instead, the failure is logged
  with its traceback and counted (``stats()["fallback_errors"]``), and the request is
  logged as the model's answer (no ``hotfix`` field).
"""

from __future__ import annotations

import copy
import importlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlmon.errors import ConfigError
from mlmon.hotfix.config import Hotfix, HotfixSet, load_hotfixes
from mlmon.requestcontext import note_hotfix

log = logging.getLogger("mlmon.hotfix")

#: Seconds between two looks at the file's modification time.
CHECK_EVERY = 1.0


@dataclass(frozen=True)
class _Rule:
    """An enabled rule, ready to answer: its condition and a function that makes the answer."""

    name: str
    matches: Callable[[dict], bool]
    answer: Callable[..., Any]


@dataclass(frozen=True)
class Answer:
    """What :meth:`HotfixLayer.answer` gives: the response and the hot fix that gave it (None: the model)."""

    response: Any
    hotfix: str | None


def resolve_fallback(spec: str) -> Callable[..., Any]:
    """The function ``module:function`` names; ConfigError when it cannot be imported or is not callable."""
    module_name, _, func_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001  (any error importing user code is a bad file, not a crash)
        raise ConfigError(f"fallback {spec!r}: cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ConfigError(f"fallback {spec!r}: {module_name!r} has no function {func_name!r}")
    return func


def _fixed(value: Any) -> Callable[..., Any]:
    if value is None or isinstance(value, (str, int, float, bool)):
        return lambda *args, **kwargs: value
    return lambda *args, **kwargs: copy.deepcopy(value)  # a handler that changes its answer cannot change the rule's


def _ready(hotfixes: HotfixSet) -> tuple[_Rule, ...]:
    """The enabled rules with their answers; ConfigError when a fallback cannot be found."""
    rules = []
    for h in hotfixes.enabled:
        answer = resolve_fallback(h.fallback) if h.fallback is not None else _fixed(h.respond)
        rules.append(_Rule(h.name, h.matches, answer))
    return tuple(rules)


class HotfixLayer:
    """Hot fixes from ``path`` in front of a model: ``HotfixLayer("hotfix.yaml").wrap(predict)``.

    - ``model``, ``model_version``, ``endpoint``: the values a ``when`` reads as those fields.
    - ``logger``: a :class:`mlmon.logging.RequestLogger`; then the wrapped function logs every
      request, with ``"hotfix": "<rule name>"`` when a hot fix answered.
    - ``clock``: seconds, monotonic (for tests).
    """

    def __init__(self, path: str | os.PathLike, *, model: str | None = None, model_version: str | None = None,
                 endpoint: str | None = None, logger: Any = None, clock: Callable[[], float] = time.monotonic):
        self.path = os.fspath(path)
        self.logger = logger
        self._fields = {"model": model, "model_version": model_version, "endpoint": endpoint}
        self._clock = clock
        self._lock = threading.Lock()
        self._counts = {"answered": 0, "fallback_errors": 0, "reloads": 0, "reload_errors": 0}
        #: The last problem with the file (text), or None when the rules in use are the file's.
        self.error: str | None = None
        self.hotfixes: HotfixSet = HotfixSet(self.path, ())
        self._rules: tuple[_Rule, ...] = ()
        self._stamp = self._file_stamp()
        if self._stamp is not None:
            self._install(load_hotfixes(self.path))  # at start-up a broken file stops the deploy
        self._next_check = clock() + CHECK_EVERY

    # --- the file ---------------------------------------------------------------------------

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _install(self, hotfixes: HotfixSet) -> None:
        rules = _ready(hotfixes)
        self.hotfixes, self._rules = hotfixes, rules  # one assignment each: requests read self._rules once

    def _maybe_reload(self, now: float) -> None:
        if not self._lock.acquire(blocking=False):
            return  # another request is reloading; this one uses the rules in place
        try:
            if now < self._next_check:
                return
            self._next_check = now + CHECK_EVERY
            stamp = self._file_stamp()
            if stamp != self._stamp:
                self._stamp = stamp
                self._load(stamp)
        finally:
            self._lock.release()

    def reload(self) -> bool:
        """Read the file now; True when its rules are in use. Never raises: a problem is logged and kept in ``error``."""
        with self._lock:
            self._stamp = self._file_stamp()
            return self._load(self._stamp)

    def _load(self, stamp: tuple[int, int] | None) -> bool:
        try:
            if stamp is None:
                if self._rules or self.error:
                    log.warning("hot-fix file %s is gone: no hot fix applies until it is back", self.path)
                self.hotfixes, self._rules, self.error = HotfixSet(self.path, ()), (), None
                return True
            self._install(load_hotfixes(self.path))
        except Exception as exc:  # noqa: BLE001  (a bad file must never reach a request)
            self._counts["reload_errors"] += 1
            self.error = "\n".join([*getattr(exc, "details", []), str(exc)])
            log.error("hot-fix file %s not loaded; the last good rules (%d enabled) stay in use:\n%s",
                      self.path, len(self._rules), self.error)
            return False
        self._counts["reloads"] += 1
        if self.error is not None:
            log.warning("hot-fix file %s is good again: %d rules enabled", self.path, len(self._rules))
        self.error = None
        return True

    # --- deciding -------------------------------------------------------------------------

    def _match(self, request: Any) -> _Rule | None:
        now = self._clock()
        if now >= self._next_check:
            self._maybe_reload(now)
        rules = self._rules  # read once: a reload swaps the whole tuple
        if rules:
            record = {"input": request, **self._fields}
            for rule in rules:
                if rule.matches(record):
                    return rule
        return None

    def decide(self, request: Any) -> str | None:
        """The name of the first enabled hot fix whose condition holds for ``request``, or None."""
        rule = self._match(request)
        return None if rule is None else rule.name

    def answer(self, predict: Callable[..., Any], request: Any, *args: Any, **kwargs: Any) -> Answer:
        """The first matching hot fix's answer, else ``predict(request, ...)``'s; a failing fallback lets the model answer."""
        rule = self._match(request)
        if rule is not None:
            try:
                response = rule.answer(request, *args, **kwargs)
            except Exception:
                self._counts["fallback_errors"] += 1
                log.exception("hot fix %r: the fallback failed; the model answers instead", rule.name)
            else:
                self._counts["answered"] += 1
                note_hotfix(rule.name)  # for mlmon.logging's middleware, when it logs this request
                return Answer(response, rule.name)
        return Answer(predict(request, *args, **kwargs), None)

    def wrap(self, predict: Callable[..., Any]) -> Callable[..., Any]:
        """``predict`` behind the hot fixes: same arguments, same result type."""
        logger = self.logger

        def hotfixed(request: Any, *args: Any, **kwargs: Any) -> Any:
            if logger is None:
                return self.answer(predict, request, *args, **kwargs).response
            with logger.record(request) as rec:
                result = self.answer(predict, request, *args, **kwargs)
                rec.response, rec.hotfix = result.response, result.hotfix
            return result.response

        hotfixed.__wrapped__ = predict  # type: ignore[attr-defined]
        hotfixed.__name__ = getattr(predict, "__name__", "predict")
        hotfixed.__doc__ = getattr(predict, "__doc__", None)
        return hotfixed

    def stats(self) -> dict[str, int]:
        """Counts since the layer was made: ``answered`` by a hot fix, ``fallback_errors``, ``reloads``, ``reload_errors``."""
        return dict(self._counts)

    @property
    def rules(self) -> tuple[Hotfix, ...]:
        """The rules in use (enabled or not)."""
        return self.hotfixes.rules
