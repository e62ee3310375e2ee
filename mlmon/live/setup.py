"""A :class:`~mlmon.live.feed.Feed` from the dashboard's options: checked, with the logs or store found and the
rules and mapping loaded, before anything is drawn (so a bad option is one line and exit 2, not a broken screen)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Sequence

from mlmon.errors import UsageError
from mlmon.live.feed import Feed
from mlmon.store.source import store_input


def open_feed(inputs: Sequence, *, store: str | None, every: str, windows: int, mapping: Path | None = None,
              rules: Path | None = None, baseline: Path | None = None, max_line_bytes: int | None = None,
              max_segments: int = 1000, clock=None, prices=None) -> Feed:
    """The feed for ``inputs`` (log patterns, or a store's input from ``log_inputs``); nothing is read yet."""
    from mlmon.baseline.load import BaselineSpec
    from mlmon.logs.mapping import load_mapping
    from mlmon.logs.reader import DEFAULT_MAX_LINE_BYTES
    from mlmon.timeparse import parse_duration

    length = parse_duration(every, what="--every")
    if length.total_seconds() <= 0:
        raise UsageError(f"--every {every} is not a window length", "Give a positive duration, e.g. --every 1m.")
    if length.total_seconds() < 1:
        raise UsageError(f"--every {every} is shorter than a second", "Give at least 1s.")
    if length * windows > timedelta(days=366 * 100):
        raise UsageError(f"--windows {windows} of --every {every} span more than a century",
                         "Show fewer or shorter windows.")
    ruleset = None
    if rules is not None:
        from mlmon.rules.load import load_rules

        ruleset = load_rules(rules)
    base = BaselineSpec(path=str(baseline)) if baseline is not None else None
    max_line = max_line_bytes or DEFAULT_MAX_LINE_BYTES
    if store_input(inputs) is not None:
        from mlmon.live.tail import StoreTailer
        from mlmon.store.read import store_mapping

        the_mapping = store_mapping(store)
        make = lambda fields, span: StoreTailer(store, fields, span)  # noqa: E731
        source, patterns = f"store {store}", []
    else:
        from mlmon.live.tail import LogTailer
        from mlmon.logs.sources import resolve_inputs

        patterns = [str(p) for p in inputs]
        if "-" in patterns:
            raise UsageError("mlmon dashboard cannot read standard input: it follows files as they grow",
                             "Name the log files, or a directory of them.")
        resolve_inputs(patterns)  # a missing file or an empty directory is an error now, not on screen
        from mlmon.logs.mapping import Mapping

        the_mapping = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
        from mlmon.store.ingest import DEFAULT_PAIR_WAIT
        from mlmon.timeparse import utc_now

        # A request waits for its response at most half the screen (so that its failure shows on it).
        make = lambda fields, span: LogTailer(patterns, the_mapping, fields, max_line_bytes=max_line,  # noqa: E731
                                              pair_wait=min(DEFAULT_PAIR_WAIT, span / 2), clock=clock or utc_now)
        source = patterns[0] if len(patterns) == 1 else f"{patterns[0]} and {len(patterns) - 1} more"
    return Feed(make, every=length, windows=windows, source=source, mapping=the_mapping, ruleset=ruleset,
                baseline=base, patterns=patterns, max_segments=max_segments, prices=prices,
                **({"clock": clock} if clock else {}))
