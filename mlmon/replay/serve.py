"""``--serve CMD``: start the model server, wait until it accepts connections, stop it afterwards."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time

from mlmon.replay.messages import clean
from mlmon.replay.targets import SetupError, command_argv
from mlmon.replay.url import target_host_port


def accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class Server:
    """A server process started by mlmon for the duration of a replay."""

    def __init__(self, command: str, url: str, wait: float = 30.0):
        self.command = command
        self.host, self.port = target_host_port(url)
        self.wait = wait
        self.proc: subprocess.Popen | None = None

    def start(self) -> int:
        if accepts(self.host, self.port, 0.2):
            raise SetupError(f"{self.host}:{self.port} is already taken by another process, so --serve cannot start there",
                             "Stop that process, or use --target alone to replay against it.")
        argv = command_argv(self.command, "--serve")
        # The server's output goes to a file, not a pipe: a pipe nobody reads would block the server.
        self._log = tempfile.TemporaryFile()
        try:
            # Its own session: Ctrl-C in the terminal stops mlmon, which then stops the server after the run.
            self.proc = subprocess.Popen(argv, stdout=self._log, stderr=self._log, start_new_session=True)
        except (OSError, ValueError) as exc:
            raise SetupError(clean(f"cannot start --serve {self.command!r}: {exc}")) from None
        deadline = time.monotonic() + self.wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.seek(0)
                tail = self._log.read()[-4000:].decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
                raise SetupError(clean(f"--serve {self.command!r} exited with code {self.proc.returncode}"
                                       + (f": {tail[0]}" if tail[0] else "")))
            if accepts(self.host, self.port, 0.2):
                return self.proc.pid
            time.sleep(0.05)
        self.stop()
        raise SetupError(f"--serve {self.command!r} did not accept connections on {self.host}:{self.port} "
                         f"within {self.wait:g}s", "Check that it listens on the --target's port.")

    def stop(self) -> None:
        log = getattr(self, "_log", None)
        if log is not None:
            log.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            except KeyboardInterrupt:  # a second Ctrl-C while it stops: kill it, keep the results
                self.proc.kill()
                self.proc.wait()
