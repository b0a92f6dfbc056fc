"""Key presses for the review UI: one character, or a name for a special key (arrows, pages, Esc, a resize).

In a terminal the keyboard is read in cbreak mode one press at a time; an escape sequence (an arrow key sends
``ESC [ B``) is read whole and named. While waiting, a change of the terminal's size ends the wait with
``"resize"`` so the screen is laid out again at once. Without a terminal, a line is read and its first
character is the key (end of input is ``q``).
"""

from __future__ import annotations

import os
import select
import shutil
import sys
from collections.abc import Callable

# escape sequences -> key names (xterm and VT100 "application" variants)
SEQUENCES = {
    "\x1b[A": "up",
    "\x1bOA": "up",
    "\x1b[B": "down",
    "\x1bOB": "down",
    "\x1b[5~": "pgup",
    "\x1b[6~": "pgdn",
    "\x1b[H": "home",
    "\x1b[1~": "home",
    "\x1b[F": "end",
    "\x1b[4~": "end",
}
ESC = "esc"


def terminal_size() -> tuple[int, int]:
    """(columns, rows) of the terminal on stdout (80x24 when it has none)."""
    size = shutil.get_terminal_size((80, 24))
    return size.columns, size.lines


class KeyReader:
    """Reads one key press per call: a character, a name from ``SEQUENCES``, ``"esc"``, or ``"resize"`` when
    the terminal's size changed while waiting. A byte read past a lone Esc is kept for the next call."""

    def __init__(self, size: Callable[[], tuple[int, int]] = terminal_size) -> None:
        self.size = size
        self.pending = b""

    def __call__(self) -> str:
        fd = sys.stdin.fileno()
        if not os.isatty(fd):
            line = sys.stdin.readline()
            return line.strip()[:1] if line else "q"
        import termios
        import tty

        old = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd, termios.TCSANOW)  # not the default TCSAFLUSH: keys typed ahead must not be lost
            data = self._read(fd)
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)
        if data is None:
            return "resize"
        text = data.decode(errors="ignore")
        if text == "\x03":
            raise KeyboardInterrupt
        if text.startswith("\x1b"):
            return SEQUENCES.get(text, ESC)
        return text

    def _read(self, fd: int) -> bytes | None:
        if self.pending:
            data, self.pending = self.pending[:1], self.pending[1:]
        else:
            start = self.size()
            while not select.select([fd], [], [], 0.2)[0]:
                if self.size() != start:
                    return None
            data = os.read(fd, 1)
        if data != b"\x1b" or not select.select([fd], [], [], 0.05)[0]:
            return data
        nxt = os.read(fd, 1)
        if nxt not in (b"[", b"O"):  # a lone Esc, then another key
            self.pending += nxt
            return data
        data += nxt
        while len(data) < 8 and select.select([fd], [], [], 0.05)[0]:
            data += os.read(fd, 1)
            if data[-1:].isalpha() or data[-1:] == b"~":
                break
        return data


def read_line(prompt: str, prefill: str = "") -> str | None:
    """A line typed on the terminal (cooked mode, with line editing), ``prefill`` already in it; None at the
    end of input."""
    try:
        import readline
    except ImportError:  # pragma: no cover - a Python built without readline
        readline = None  # type: ignore[assignment]
    if readline is not None:
        readline.set_startup_hook(lambda: readline.insert_text(prefill))
    try:
        return input(prompt)
    except EOFError:
        return None
    finally:
        if readline is not None:
            readline.set_startup_hook()
