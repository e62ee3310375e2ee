"""Alert state between cron runs, with Alertmanager's semantics, and the notifications of transitions.

A run compares the alerts active in its latest window with the state file:
a newly active alert is ``firing``, one still active is repeated as ``still_firing``
at most every ``repeat_interval``, and one no longer active is ``resolved``.
Notifications that fail stay in the state file's outbox and are retried next run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import http.client
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

from mlmon import __version__
from mlmon.atomic import write_text_atomic
from mlmon.errors import MlmonError, UsageError
from mlmon.render.escape import json_safe, printable
from mlmon.rules.evaluate import Alert, CheckResult
from mlmon.timeparse import iso, parse_instant

STATE_VERSION = 1
LOCK_WAIT_SECONDS = 5.0
#: A notification still failing after this many runs is dropped, with a warning.
MAX_ATTEMPTS = 24
HTTP_TIMEOUT = 10.0
HTTP_ATTEMPTS = 3
COMMAND_TIMEOUT = 30.0


class LockedError(MlmonError):
    pass


@dataclass(frozen=True)
class Transition:
    kind: str  # firing | still_firing | resolved
    alert_key: str
    payload: dict[str, Any]


@contextmanager
def state_lock(state_path: Path, wait: float | None = None) -> Iterator[None]:
    """Hold an exclusive lock beside the state file; wait briefly, then give up with exit 2."""
    wait = LOCK_WAIT_SECONDS if wait is None else wait
    if state_path.is_dir():
        raise MlmonError(f"--state {state_path} is a directory", "Name a file, e.g. /var/lib/mlmon/state.json.")
    lock_path = state_path.with_name(state_path.name + ".lock")
    try:
        handle = open(lock_path, "a+")
    except OSError as exc:
        raise MlmonError(f"cannot create lock file {lock_path}: {exc.strerror or exc}") from None
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() >= deadline:
                    raise LockedError(
                        f"another mlmon check is using {state_path}",
                        "Runs overlap: let the other run finish, or space the cron schedule further apart.",
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        handle.close()


def load_state(path: Path, warn: Callable[[str], Any]) -> dict[str, Any]:
    """The saved state, or a fresh one when the file is missing or unreadable (with a warning)."""
    fresh = {"version": STATE_VERSION, "alerts": {}, "outbox": []}
    if not path.exists():
        return fresh
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("alerts"), dict) or not isinstance(data.get("outbox", []), list):
            raise ValueError("unexpected structure")
        for key, entry in data["alerts"].items():
            if not isinstance(entry, dict) or not isinstance(entry.get("alert"), dict) or "rule" not in entry["alert"]:
                raise ValueError(f"alert {key!r} is malformed")
        for item in data.get("outbox", []):
            if not isinstance(item, dict) or item.get("kind") not in ("webhook", "command") or "payload" not in item:
                raise ValueError("a queued notification is malformed")
        data.setdefault("outbox", [])
        return data
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        warn(f"mlmon: state file {path} is unreadable ({exc}); starting with fresh state")
        return fresh


def slack_escape(text: Any) -> str:
    """``text`` made inert in Slack's mrkdwn: ``&``, ``<`` and ``>`` as entities, so log data cannot
    ``<!channel>`` or hide a link behind ``<https://evil|click>``."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text(kind: str, alert: dict[str, Any]) -> str:
    """The Slack-compatible one-line ``text``; every value in it is escaped, since segments and summaries come from logs."""
    icon = {"firing": "🔴 FIRING", "still_firing": "🔴 STILL FIRING", "resolved": "🟢 RESOLVED"}[kind]
    segment = ", ".join(f"{slack_escape(k)}={slack_escape(v)}" for k, v in (alert.get("segment") or {}).items())
    where = f" ({segment})" if segment else ""
    return f"{icon} [{slack_escape(alert['severity'])}] {slack_escape(alert['rule'])}{where}: {slack_escape(alert['summary'])}"


def _payload(kind: str, alert: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {"text": _text(kind, alert), "status": kind, "alert": alert, "sent_by": f"mlmon {__version__}", "at": iso(now)}


def transitions(state: dict[str, Any], result: CheckResult, now: datetime, repeat_interval: timedelta) -> list[Transition]:
    """What changed since the state was saved; updates ``state`` in place. Pure apart from that."""
    active: dict[str, Alert] = {a.key: a for a in result.alerts if a.active}
    out: list[Transition] = []
    saved: dict[str, Any] = state["alerts"]
    for key, alert in active.items():
        doc = alert.to_dict()
        entry = saved.get(key)
        if alert.muted:  # silenced or inhibited: sends nothing; never notified, it will not send 'resolved' either
            if entry is not None:
                entry["alert"] = doc
            continue
        if entry is None:
            out.append(Transition("firing", key, _payload("firing", doc, now)))
            saved[key] = {"alert": doc, "active_since": iso(now), "last_notified": iso(now)}
            continue
        entry["alert"] = doc
        last = parse_instant(entry.get("last_notified") or iso(now))
        if now - last >= repeat_interval:
            out.append(Transition("still_firing", key, _payload("still_firing", doc, now)))
            entry["last_notified"] = iso(now)
    for key in [k for k in saved if k not in active]:
        doc = saved.pop(key)["alert"]
        out.append(Transition("resolved", key, _payload("resolved", doc, now)))
    return out


def check_webhook_url(url: str) -> str:
    """``url`` when it is an http(s) URL with a host and a valid port; UsageError otherwise.

    Anything else (``file:///etc/passwd``, a typo with no scheme) would be read or fail
    on every run; it is refused before any log is read.
    """
    hint = "Give an http:// or https:// URL, e.g. https://hooks.slack.com/services/…"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range
    except ValueError as exc:
        raise UsageError(f"--notify {printable(url)!r} is not a valid URL ({exc})", hint) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--notify {printable(url)!r} is not an http or https URL", hint)
    if port == 0:
        raise UsageError(f"--notify {printable(url)!r} names port 0", hint)
    return url


def send_webhook(url: str, payload: dict[str, Any]) -> str | None:
    """POST JSON with a timeout and a bounded retry; None on success, else what went wrong.

    A receiver that answers garbage (no valid HTTP status line) is a failed delivery,
    like one that does not answer; what it sent is never printed raw.
    """
    body = json.dumps(payload).encode("utf-8")
    problem = None
    for attempt in range(HTTP_ATTEMPTS):
        request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json",
                                                                                   "User-Agent": f"mlmon/{__version__}"})
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                if 200 <= response.status < 300:
                    return None
                problem = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            problem = f"HTTP {exc.code}"
            if 400 <= exc.code < 500 and exc.code != 429:
                return problem  # the receiver rejects it; retrying will not help
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            problem = printable(str(getattr(exc, "reason", exc)))[:200]
        except (http.client.HTTPException, ValueError) as exc:  # BadStatusLine, a bad header, a bad URL
            problem = f"invalid answer: {printable(type(exc).__name__ + ': ' + str(exc))[:200]}"
        if attempt + 1 < HTTP_ATTEMPTS:
            time.sleep(0.5 * (2**attempt))
    return problem


def run_command(command: str, payload: dict[str, Any]) -> str | None:
    """Pipe the JSON to ``sh -c COMMAND``, as cron runs a line; None on success, else what went wrong.

    The command runs in its own process group, so a timeout stops its children too
    (``cat | mail …``), not only the shell.
    """
    try:
        proc = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
    except (OSError, ValueError) as exc:
        return str(exc)
    try:
        _, stderr = proc.communicate(json.dumps(payload) + "\n", timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return f"timed out after {COMMAND_TIMEOUT:.0f}s"
    except BrokenPipeError:  # the command exited without reading its input
        stderr = proc.communicate()[1]
    if proc.returncode != 0:
        return f"exit code {proc.returncode}: {printable(stderr.strip()[:200])}"
    return None


def retarget(outbox: list[dict[str, Any]], webhooks: list[str], commands: list[str],
             warn: Callable[[str], Any]) -> list[dict[str, Any]]:
    """The outbox with each entry aimed at a receiver this run still has.

    An entry keeps its own target while that target is still given. Otherwise the
    receivers were changed since (a command fixed, a URL moved): the entry goes to each
    current receiver of its kind that was not yet configured when it was queued, so a
    receiver that already had it does not get it twice. With no receiver of its kind
    left, it is dropped with a warning.
    """
    current = {"webhook": webhooks, "command": commands}
    out = []
    for item in outbox:
        targets = current.get(item.get("kind"), [])
        if item["target"] in targets:
            out.append(item)
            continue
        queued_for = set(item.get("queued_for") or [item["target"]])
        new = [t for t in targets if t not in queued_for]
        if not new:
            warn(f"mlmon: a notification for {item['target']} is dropped: no --notify"
                 f"{'-command' if item.get('kind') == 'command' else ''} given now takes its place")
            continue
        for target in new:
            out.append({**item, "target": target, "queued_for": sorted(queued_for | set(targets)), "attempts": 0})
    return out


def deliver(outbox: list[dict[str, Any]], warn: Callable[[str], Any]) -> list[dict[str, Any]]:
    """Send every queued notification; return those that failed, to retry next run."""
    failed = []
    for item in outbox:
        target, payload = item["target"], item["payload"]
        if item["kind"] == "webhook":
            problem = send_webhook(target, payload)
        else:
            problem = run_command(target, payload)
        if problem is not None:
            item["attempts"] = int(item.get("attempts", 0)) + 1
            if item["attempts"] >= MAX_ATTEMPTS:
                warn(f"mlmon: notification to {target} failed {item['attempts']} times ({problem}); dropping it")
                continue
            warn(f"mlmon: notification to {target} failed ({problem}); it will be retried on the next run")
            failed.append(item)
    return failed


def apply_transitions(
    state_path: str | Path,
    result: CheckResult,
    *,
    now: datetime,
    repeat_interval: timedelta,
    webhooks: list[str],
    commands: list[str],
    warn: Callable[[str], Any],
) -> list[Transition]:
    """Load the state under a lock, find transitions, notify, and save the state atomically."""
    path = Path(state_path)
    with state_lock(path):
        state = load_state(path, warn)
        found = transitions(state, result, now, repeat_interval)
        outbox = retarget(list(state.get("outbox", [])), webhooks, commands, warn)
        for t in found:
            outbox += [{"kind": "webhook", "target": url, "payload": t.payload, "queued_for": list(webhooks)}
                       for url in webhooks]
            outbox += [{"kind": "command", "target": cmd, "payload": t.payload, "queued_for": list(commands)}
                       for cmd in commands]
        # Save before sending, so a crash mid-delivery cannot lose a transition.
        state["outbox"] = outbox
        state["version"] = STATE_VERSION
        write_text_atomic(path, json_safe(json.dumps(state, indent=2, ensure_ascii=False)) + "\n")
        if outbox:
            state["outbox"] = deliver(outbox, warn)
            write_text_atomic(path, json_safe(json.dumps(state, indent=2, ensure_ascii=False)) + "\n")
    return found
