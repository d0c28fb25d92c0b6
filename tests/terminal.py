"""A command run as a person runs it: on a terminal of its own (a pty), where Ctrl-C sends
SIGINT to what runs in the foreground, and everything it started stays in its session."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import subprocess
import termios
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from tests.waiting import eventually

REPO_ROOT = Path(__file__).resolve().parents[1]


def _take_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """`command` in a session of its own whose controlling terminal is a pty."""

    def __init__(
        self, command: Sequence[str], *, env: Mapping[str, str], cwd: Path = REPO_ROOT
    ) -> None:
        self._master, child_end = pty.openpty()
        self.process = subprocess.Popen(
            command,
            stdin=child_end,
            stdout=child_end,
            stderr=child_end,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
            preexec_fn=_take_terminal,  # after setsid: the pty becomes the session's terminal
        )
        os.close(child_end)
        self._output = b""

    @property
    def output(self) -> str:
        """Everything the command printed so far."""
        while select.select([self._master], [], [], 0)[0]:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # the last process holding the terminal is gone
                break
            if not chunk:
                break
            self._output += chunk
        return self._output.decode(errors="replace").replace("\r\n", "\n")

    async def shows(self, text: str, timeout: float = 30.0) -> None:
        await eventually(lambda: text in self.output, timeout=timeout, what=f"shows {text!r}")

    def type(self, keys: bytes) -> None:
        os.write(self._master, keys)

    async def exits(self, timeout: float = 30.0) -> int:
        await eventually(lambda: self.process.poll() is not None, timeout=timeout, what="exits")
        return self.process.returncode

    def session(self) -> list[psutil.Process]:
        """The processes still in the command's session (what it started and did not end)."""
        found = []
        for process in psutil.process_iter():
            try:
                if os.getsid(process.pid) == self.process.pid:
                    found.append(process)
            except (ProcessLookupError, PermissionError):
                continue
        return found

    def close(self) -> None:
        """Ends what is left of the session (a failed test's), then the terminal."""
        for process in self.session():
            process.send_signal(signal.SIGKILL)
        self.process.wait()
        os.close(self._master)
