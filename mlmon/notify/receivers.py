"""Senders: POST JSON to a webhook (Slack-compatible or Alertmanager's v4), or pipe it to a command.

Each returns None on success, else one line saying what went wrong; what a receiver
answered is never printed raw.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.parse
from typing import Any

from mlmon import __version__
from mlmon.errors import UsageError
from mlmon.safetext import printable

HTTP_TIMEOUT = 10.0
HTTP_ATTEMPTS = 3
COMMAND_TIMEOUT = 30.0
URL_HINT = "Give an http:// or https:// URL, e.g. https://hooks.slack.com/services/…"


_URL_PARTS = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*:)?(?P<slashes>//)?(?:[^/?#]*@)?(?P<host>[^/?#]*)(?P<rest>.*)$",
                        re.S)


def shown_target(kind: str, target: str) -> str:
    """How mlmon prints a receiver's target: a webhook as its scheme, host and port (user info, path and query
    may be secrets: a Slack hook's path is its token), a command as its first word; escaped, never raises."""
    if kind == "command":
        word, _, rest = target.strip().partition(" ")
        return repr(printable(word + (" …" if rest.strip() else "")))
    parts = _URL_PARTS.match(target)
    assert parts is not None  # every group is optional
    shown = (parts["scheme"] or "") + (parts["slashes"] or "") + parts["host"] + ("/…" if parts["rest"] else "")
    return repr(printable(shown))


def webhook_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook (not http(s), no host, a bad port), or None when it can.

    Anything else (``file:///etc/passwd``, a typo with no scheme) would be read or fail
    on every run; it is refused before any log is read.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range
    except ValueError as exc:
        return f"{shown_target('webhook', url)} is not a valid URL ({exc})"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return f"{shown_target('webhook', url)} is not an http or https URL"
    if port == 0:
        return f"{shown_target('webhook', url)} names port 0"
    return None


def check_webhook_url(url: str) -> str:
    """``url`` when ``--notify`` may POST to it; UsageError otherwise."""
    problem = webhook_url_problem(url)
    if problem is not None:
        raise UsageError(f"--notify {problem}", URL_HINT)
    return url


def send_webhook(url: str, payload: dict[str, Any]) -> str | None:
    """POST JSON with a timeout and a bounded retry; None on success, else what went wrong.

    A receiver that answers garbage (no valid HTTP status line) is a failed delivery,
    like one that does not answer.
    """
    import http.client  # here, not at the top: a check that sends nothing need not import http and ssl
    import urllib.error
    import urllib.request

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


def send(kind: str, target: str, payload: dict[str, Any]) -> str | None:
    """Deliver ``payload`` to a receiver of ``kind`` (webhook, slack or command)."""
    if kind == "command":
        return run_command(target, payload)
    return send_webhook(target, payload)
