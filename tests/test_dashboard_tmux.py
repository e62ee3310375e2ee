"""``mlmon dashboard`` in a real terminal: tmux runs it on a log, the test appends lines, reads the screen with
``capture-pane`` and checks the numbers against numpy; then ``q`` must give the shell its screen back.

Skipped only when tmux is missing, and not even then in CI (``MLMON_REQUIRE_TMUX=1``, set by .ci/run).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from conftest import record

MLMON = str(Path(sys.executable).parent / "mlmon")
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)

if shutil.which("tmux") is None:
    if os.environ.get("MLMON_REQUIRE_TMUX"):
        pytest.fail("tmux is required here (MLMON_REQUIRE_TMUX=1) but not installed", pytrace=False)
    pytest.skip("tmux is not installed", allow_module_level=True)


class Tmux:
    """One tmux server of our own (its own socket), with one session of a set size."""

    def __init__(self, tmp_path: Path, width: int, height: int):
        self.socket = f"mlmon-test-{uuid.uuid4().hex[:8]}"
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height),
                  "env", "-i", f"PATH={os.environ['PATH']}", f"HOME={tmp_path}", "TERM=xterm-256color", "PS1=READY$ ",
                  "LANG=C.UTF-8", "bash", "--norc", "--noprofile")

    def tmux(self, *args: str) -> str:
        # -u and a UTF-8 locale: the charts and arrows come back as they are, whatever the caller's locale
        return subprocess.run(["tmux", "-u", "-L", self.socket, *args], check=True, capture_output=True, text=True,
                              encoding="utf-8", timeout=20, env={**os.environ, "LC_ALL": "C.UTF-8"}).stdout

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "t", text, "Enter")

    def key(self, key: str) -> None:
        self.tmux("send-keys", "-t", "t", key)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t")

    def wait_for(self, check, what: str, timeout: float = 30) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            text = self.screen()
            if check(text):
                return text
            time.sleep(0.2)
        raise AssertionError(f"waited {timeout:.0f}s for {what}; the screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=20)


def lines(minute: int, latencies: list[float], model="churn") -> str:
    """One record per latency, spread over the minute ``minute`` after T0."""
    out = []
    for i, latency in enumerate(latencies):
        ts = T0 + timedelta(minutes=minute, seconds=i * 59 / max(1, len(latencies)))
        out.append(json.dumps(record(ts=ts.isoformat().replace("+00:00", "Z"), request_id=f"{minute}-{i}",
                                     model=model, latency_ms=latency)))
    return "\n".join(out) + "\n"


def exited(screen: str) -> str | None:
    """The exit status the shell echoed after the dashboard, once it has."""
    found = re.search(r"^EXIT=(\d+)", screen, re.M)
    return found.group(1) if found else None


def headline(screen: str, name: str) -> str:
    found = re.search(rf"^{re.escape(name)}\s+(\S+)", screen, re.M)
    return found.group(1) if found else ""


@pytest.fixture
def tmux(tmp_path):
    session = Tmux(tmp_path, 100, 30)
    yield session
    session.close()


def test_the_numbers_on_screen_follow_the_log_and_q_restores_the_terminal(tmp_path, tmux):
    rng = np.random.default_rng(5)
    log = tmp_path / "app.jsonl"
    first = [round(float(x), 1) for x in rng.gamma(2, 30, 90)]
    log.write_text(lines(0, first))
    tmux.type(f"{MLMON} dashboard {log} --refresh 0.5 --windows 10; echo EXIT=$?")
    screen = tmux.wait_for(lambda s: "refreshed" in s and "req/s" in s, "the first frame")
    assert headline(screen, "req/s") == f"{len(first) / 60:.3f}"  # 90 requests in a minute: 1.500
    assert headline(screen, "p95 ms") == f"{np.percentile(first, 95):,.1f}"

    second = [round(float(x), 1) for x in rng.gamma(3, 50, 42)]
    with log.open("a") as out:  # a new minute: the latest window moves on
        out.write(lines(1, second))
    want_rps, want_p95 = f"{len(second) / 60:.3f}", f"{np.percentile(second, 95):,.1f}"
    screen = tmux.wait_for(lambda s: headline(s, "req/s") == want_rps, f"req/s {want_rps}")
    assert headline(screen, "p95 ms") == want_p95
    assert re.search(r"^req/s\s+\S+\s+▼ -53\.3%", screen, re.M)  # 42 against 90
    assert "p95 ms" in screen and "▲" in screen.split("p95 ms", 1)[1].splitlines()[0]

    with log.open("a") as out:  # a line without its newline yet: it waits
        out.write(lines(1, [5000.0]).rstrip("\n"))
    time.sleep(1.5)
    assert headline(tmux.screen(), "req/s") == want_rps
    with log.open("a") as out:
        out.write("\n")
    tmux.wait_for(lambda s: headline(s, "req/s") == f"{(len(second) + 1) / 60:.3f}", "the completed line")

    tmux.key("q")
    screen = tmux.wait_for(exited, "the dashboard to quit")
    assert exited(screen) == "0"
    assert "Headline" not in screen and "refreshed" not in screen  # the alternate screen is gone
    assert screen.splitlines()[0].startswith("READY$ ") and "dashboard" in screen.splitlines()[0]
    assert tmux.tmux("display-message", "-p", "-t", "t", "#{alternate_on}").strip() == "0"


def test_a_terminal_too_small_says_so_and_ctrl_c_quits(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_text(lines(0, [10.0, 20.0]))
    tmux = Tmux(tmp_path, 40, 10)
    try:
        tmux.type(f"{MLMON} dashboard {log} --refresh 0.5; echo EXIT=$?")
        tmux.wait_for(lambda s: "too small" in s, "the message")
        tmux.tmux("resize-window", "-t", "t", "-x", "80", "-y", "24")
        tmux.wait_for(lambda s: "req/s" in s and "too small" not in s, "the panels at 80×24")
        tmux.key("C-c")
        assert exited(tmux.wait_for(exited, "the dashboard to quit")) == "0"
    finally:
        tmux.close()
