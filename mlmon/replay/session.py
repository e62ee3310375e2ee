"""One replay from start to end: choose requests, set up the target (and its server), send, stop."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import polars as pl

from mlmon.errors import UsageError
from mlmon.logs.mapping import Mapping
from mlmon.logs.reader import LogData
from mlmon.redact import redact_obj
from mlmon.safetext import json_safe, printable
from mlmon.replay.compare import Tolerance
from mlmon.replay.output import _redact
from mlmon.replay.messages import shorten
from mlmon.replay.run import Pace, ReplayRun, _json_or_text, replay
from mlmon.replay.select import Selection, select_requests
from mlmon.replay.serve import Server, accepts
from mlmon.replay.targets import CallableTarget, CommandTarget, HttpTarget, SetupError, Target
from mlmon.replay.url import target_host_port


@dataclass(frozen=True)
class TargetSpec:
    """Exactly one of url, model, command; headers, pid and serve go with url."""

    url: str | None = None
    model: str | None = None
    command: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    pid: int | None = None
    serve: str | None = None

    def check(self, dry_run: bool = False) -> None:
        """Raise UsageError unless exactly one target is named; a dry run sends nothing and needs none."""
        given = [n for n, v in (("--target", self.url), ("--model", self.model), ("--command", self.command)) if v]
        if len(given) > 1 or (not given and not dry_run):
            raise UsageError("name exactly one target: --target URL, --model module:function or --command CMD",
                             "Replay sends only to the target you name; --dry-run shows what it would send.")
        if (self.pid or self.serve) and not self.url:
            raise UsageError("--pid and --serve go with --target URL")
        if self.pid and self.serve:
            raise UsageError("use either --pid or --serve, not both")

    def describe(self) -> str | None:
        """The target as it may be printed (a URL's secrets redacted); None when none is named."""
        from mlmon.redact import redact_url

        return redact_url(self.url) if self.url else self.model or self.command or None


#: The characters of a header name (RFC 9110 "token").
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: Control characters a header value must not hold (a tab is allowed); CR and LF would start a new header.
_HEADER_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def parse_header(text: str) -> tuple[str, str]:
    """``Name: value`` from ``-H``; raises UsageError for anything that is not one header line."""
    name, sep, value = text.partition(":")
    name, value = name.strip(" \t"), value.strip(" \t")
    if not sep or not name:
        raise UsageError(f"header '{printable(shorten(text, 100))}' needs the form 'Name: value'")
    if not _HEADER_NAME.fullmatch(name):
        raise UsageError(f"header name '{printable(shorten(name, 100))}' may only hold letters, digits and "
                         "!#$%&'*+-.^_`|~", "Give one header per -H, as 'Name: value'.")
    bad = _HEADER_CONTROL.search(value)
    if bad:
        # The value may be a secret: name the character and its place, not the value.
        raise UsageError(f"the value of header {name} holds the control character {printable(bad.group())} "
                         f"(character {bad.start() + 1})", "Give one header per -H, on one line.")
    return name, value


def dry_run_lines(frame: pl.DataFrame, spec: TargetSpec, secret_keys: tuple[str, ...] = ()) -> list[str]:
    """What would be sent, one JSON line per request, secrets (and the ``secret_keys``) redacted. Nothing is sent.

    A line names the target when one is given, and for ``--target`` the method and headers too.
    """
    lines = []
    from mlmon.replay.targets import merge_headers

    headers = merge_headers({"Content-Type": "application/json"}, dict(spec.headers)) if spec.url else None
    target = spec.describe()
    for row in frame.iter_rows(named=True):
        if row.get("request") is None:
            continue
        entry: dict[str, Any] = {"request_id": row.get("request_id")}
        if target is not None:
            entry["target"] = target
        if headers is not None:
            entry["method"] = "POST"
            entry["headers"] = redact_obj(headers, secret_keys)
        entry["body"] = _redact(_json_or_text(row["request"]), secret_keys)  # (a request may nest deeper than Python walks)
        lines.append(json_safe(json.dumps(entry, ensure_ascii=False)))
    return lines


def run_replay(
    inputs: Sequence[str],
    *,
    mapping: Mapping,
    selection: Selection,
    target: TargetSpec,
    pace: Pace,
    tolerance: Tolerance,
    dry_run: bool = False,
    strict: bool = False,
    progress=None,
    on_done: Callable[[int, int], Any] | None = None,
    on_read: Callable[[LogData], Any] | None = None,
    keep: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
) -> tuple[ReplayRun | None, pl.DataFrame]:
    """Select and replay; with ``dry_run``, only select (the caller prints ``dry_run_lines``).

    ``on_read`` is handed what reading the logs found (warnings, notes, bad lines) before anything is sent;
    ``keep`` narrows the chosen requests to those to send (``--hotfix``: those no hot fix answers).
    """
    target.check(dry_run)
    if pace.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if pace.rate and pace.speed:
        raise UsageError("use either --rate or --speed, not both")
    # Setup problems show before the logs are read.
    callable_target = CallableTarget(target.model) if target.model and not dry_run else None
    if target.url:
        host, port = target_host_port(target.url)
        if not dry_run and not target.serve and not accepts(host, port, timeout=2.0):
            raise SetupError(f"cannot connect to {host}:{port} for --target {target.describe()}",
                             "Start the model server first, or let mlmon start it with --serve CMD.")
    if target.pid is not None:
        import psutil

        # A pid is a positive C int: a larger number overflows os.kill, which psutil asks.
        if not 0 < target.pid < 2**31 or not psutil.pid_exists(target.pid):
            raise SetupError(f"--pid {target.pid}: no such process", "Give the pid of the model server.")
    frame, data = select_requests(inputs, mapping, selection, strict=strict, progress=progress)
    if on_read is not None:
        on_read(data)
    if frame.height == 0:
        raise UsageError("no logged request matches the selection, so there is nothing to replay",
                         "Check --where, --request-id, --since/--until, or --alert (did the rule fire?).")
    if keep is not None:
        frame = keep(frame)
    if dry_run:
        return None, frame
    server = None
    try:
        built: Target
        if target.url:
            pid = target.pid
            if target.serve:
                server = Server(target.serve, target.url)
                pid = server.start()
            built = HttpTarget(target.url, dict(target.headers), pace.concurrency, pid)
        elif callable_target is not None:
            built = callable_target
        else:
            built = CommandTarget(target.command or "")
        run = replay(frame, built, pace, tolerance, on_done)
        run.secret_keys = mapping.redact
        return run, frame
    finally:
        if server is not None:
            server.stop()
