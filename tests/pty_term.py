"""A real pseudo-terminal for UI tests: ``datagen`` runs under pexpect and its output feeds a VT100 emulator
(pyte), so a test asserts what is on the screen, row by row, at the window size it set (TIOCSWINSZ)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pexpect
import pyte

DATAGEN = str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "datagen")
KEY = {"down": "\x1b[B", "up": "\x1b[A", "pgdn": "\x1b[6~", "pgup": "\x1b[5~", "esc": "\x1b",
       "home": "\x1b[H", "end": "\x1b[F"}  # fmt: skip


class Term:
    """``datagen ARGS`` in a pty of ``rows`` x ``cols``; ``wait`` until text is on the screen."""

    def __init__(self, args: list[str], env: dict[str, str], rows: int = 30, cols: int = 100) -> None:
        self.child = pexpect.spawn(
            DATAGEN, args, env=env, dimensions=(rows, cols), encoding="utf-8", timeout=30
        )
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.Stream(self.screen)
        self.log = ""  # everything written, for messages printed after the screen is left
        self.eof = False

    @property
    def rows(self) -> list[str]:
        return [r.rstrip() for r in self.screen.display]

    @property
    def text(self) -> str:
        return "\n".join(self.rows)

    def _pump(self, timeout: float) -> None:
        try:
            data = self.child.read_nonblocking(65536, timeout)
        except pexpect.TIMEOUT:
            return
        except pexpect.EOF:
            self.eof = True
            return
        self.stream.feed(data)
        self.log += data

    def wait(self, what: str, timeout: float = 30, where: str = "screen") -> None:
        """Until ``what`` is on the screen (``where="log"``: anywhere in the output so far)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if what in (self.text if where == "screen" else self.log):
                self._settle()
                return
            if self.eof:
                break
            self._pump(0.1)
        raise AssertionError(f"{what!r} not on the screen; it shows:\n{self.text}")

    def _settle(self) -> None:
        """Read what follows at once (the rest of a frame) so the screen is whole."""
        while not self.eof:
            before = self.log
            self._pump(0.05)
            if self.log == before:
                return

    def send(self, *keys: str) -> None:
        for k in keys:
            self.child.send(KEY.get(k, k))

    def resize(self, rows: int, cols: int) -> None:
        self.child.setwinsize(rows, cols)
        self.screen.resize(rows, cols)

    def finish(self) -> int:
        """Wait for the process to end; returns its exit status."""
        while not self.eof:
            self._pump(0.2)
        self.child.close()
        return int(self.child.exitstatus or 0)


def review_args(run: int, *more: str, n: int = 4) -> list[str]:
    return [
        "review",
        "--run",
        str(run),
        "--fraction",
        "1",
        "--min-count",
        str(n),
        "--filtered-fraction",
        "0",
        *more,
    ]


def env_with(base: dict[str, str], **extra: Any) -> dict[str, str]:
    env = {k: v for k, v in base.items() if k not in ("EDITOR", "VISUAL")}
    env.update(NO_COLOR="1", TERM="xterm", **{k: str(v) for k, v in extra.items()})
    return env
