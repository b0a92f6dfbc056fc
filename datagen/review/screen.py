"""The review UI's screen: a fixed header and instruction, a scrolling body, and the keys always at the bottom.

A ``Frame`` is what one item shows; ``Screen.draw`` lays it out for the terminal's current size (read at every
draw, so a resized window is laid out again) and repaints it whole. However small the terminal (40x12 is the
smallest layout we test), the header (position, record, stratum) and the start of the instruction stay at the
top, and the help line and the message line at the bottom; only the body (input, output, lineage, filter
scores) scrolls, from ``offset``. A long instruction keeps its first lines pinned (ending in ``…↓``) and is
shown in full at the top of the body. When stdout is not a terminal, frames are printed one after the other, unpaged.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from rich.console import Console, RenderableType
from rich.text import Text

from datagen.review.keys import terminal_size

ENTER_ALT, LEAVE_ALT = "\x1b[?1049h", "\x1b[?1049l"
SCROLL_HELP = "j/k line, space/b page"


@dataclass
class Frame:
    """One item on screen: ``header`` lines (each cut to one line), the ``instruction``, the scrolling
    ``body``, the ``help`` line and the ``message`` (the last outcome, or a question being asked)."""

    header: list[str]
    instruction: str
    body: list[RenderableType] = field(default_factory=list)
    help: str = ""
    message: str = ""


class Screen:
    """Draws frames on ``console`` (full screen when it is a terminal); ``page`` is the body's height in the
    last layout (what space/b scroll by)."""

    def __init__(self, console: Console, size: tuple[int, int] | None = None) -> None:
        self.console = console
        self.full = console.is_terminal
        self.fixed_size = size
        self.page = 10
        self.body_lines = 0
        self._printed: list[str] = []

    def size(self) -> tuple[int, int]:
        return self.fixed_size or terminal_size()

    def enter(self) -> None:
        if self.full:
            self._write(ENTER_ALT)

    def leave(self) -> None:
        if self.full:
            self._write("\x1b[H\x1b[2J" + LEAVE_ALT)

    def draw(self, frame: Frame, offset: int = 0) -> int:
        """Paint ``frame`` with the body scrolled to ``offset``; returns the offset, clamped to the body."""
        if not self.full:
            self._print_plain(frame)
            return 0
        cols, rows = self.size()
        lines, offset = self.layout(frame, offset, max(20, cols - 1), max(6, rows))
        self._write("\x1b[H" + "\x1b[K\r\n".join(lines) + "\x1b[K\x1b[J")
        return offset

    def layout(self, frame: Frame, offset: int, width: int, rows: int) -> tuple[list[str], int]:
        """The screen's lines (at most ``rows``, each at most ``width`` wide) and the clamped offset."""
        head = [ln for h in frame.header for ln in self._lines(Text(h), width, one_line=True)]
        helps = self._lines(Text(frame.help), width)
        message = self._lines(Text(frame.message), width)[: max(1, min(5, rows // 3))] or [""]
        label = Text.assemble(("Instruction: ", "bold"), frame.instruction)
        wrapped = list(label.wrap(self._capture(io.StringIO(), width), width))
        body = [ln for part in frame.body for ln in self._lines(part, width)]
        avail = rows - len(head) - len(helps) - len(message)
        share = max(1, avail // 2 - 1) if body else max(1, avail)
        if len(wrapped) > share:  # the start stays pinned, marked; the whole instruction opens the body
            wrapped = wrapped[:share]
            wrapped[-1].rstrip()
            wrapped[-1].truncate(width - 3)
            wrapped[-1].append(" …↓", style="dim")
            body = self._lines(Text(frame.instruction), width) + body
        instruction = [self._lines(line, width, one_line=True)[0] for line in wrapped]
        height = max(1, avail - len(instruction))
        scrolling = len(body) > height
        if scrolling:
            height = max(1, height - 1)
        offset = max(0, min(offset, len(body) - height))
        shown = body[offset : offset + height]
        shown += [""] * (height - len(shown))
        if scrolling:
            last = min(len(body), offset + height)
            note = f"── lines {offset + 1}-{last} of {len(body)} ({SCROLL_HELP}) "
            shown.append(self._lines(Text(note.ljust(width, "─"), style="dim"), width, one_line=True)[0])
        self.page, self.body_lines = height, len(body)
        lines = head + instruction + shown + helps + message
        return lines[:rows], offset

    def _capture(self, buf: io.StringIO, width: int) -> Console:
        return Console(
            file=buf,
            width=width,
            force_terminal=self.console.is_terminal,
            color_system=self.console.color_system,  # type: ignore[arg-type]
            no_color=self.console.no_color,
            highlight=False,
            emoji=False,
        )

    def _lines(self, renderable: RenderableType, width: int, one_line: bool = False) -> list[str]:
        buf = io.StringIO()
        c = self._capture(buf, width)
        if one_line:
            c.print(renderable, no_wrap=True, overflow="ellipsis", crop=True)
        else:
            c.print(renderable, crop=True)
        out = buf.getvalue().splitlines()
        return out[:1] if one_line else out

    def _print_plain(self, frame: Frame) -> None:
        c = self.console
        if frame.header == self._printed:
            if frame.message:
                c.print(Text(frame.message))
            return
        self._printed = frame.header
        for h in frame.header:
            c.print(Text(h, style="bold"))
        c.print(Text.assemble(("Instruction: ", "bold"), frame.instruction))
        for part in frame.body:
            c.print(part)
        c.print(Text(frame.help))
        if frame.message:
            c.print(Text(frame.message))

    def _write(self, text: str) -> None:
        self.console.file.write(text)
        self.console.file.flush()
