"""The terminal review UI: one key per decision, a pager for long records, resume where the reviewer left off.

Keys (``page.KEYS``): ``a`` accept, ``r`` reject (then a reason key 1-8), ``e`` edit (in ``$VISUAL``/
``$EDITOR``, else field by field), ``s`` skip (the item comes back at the end of the queue), ``n`` a note for
this item (saved with its decision), ``N`` the note of the last saved decision, ``u`` undo the last decision,
``q`` quit; ``j``/``k``/arrows scroll a line, space/``b``/PgDn/PgUp a page, ``g``/``G`` to the top or bottom;
``?`` the key help. Every decision is saved at once (quitting loses nothing); the time from showing an item to
deciding it is recorded. All decision logic lives in ``ReviewSession``; the layout in ``screen`` and ``page``;
this module reads keys and turns them into decisions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.text import Text

from datagen.review import editor as ed
from datagen.review.keys import ESC, KeyReader, read_line
from datagen.review.page import REASON_PROMPT, frame
from datagen.review.screen import Screen
from datagen.review.session import FIELDS, REASON_CODES, ReviewDecision, ReviewSession

# scroll keys -> lines (PAGE: a body's height less one line)
PAGE = 10**6
SCROLL = {"j": 1, "down": 1, "k": -1, "up": -1, " ": PAGE, "pgdn": PAGE, "b": -PAGE, "pgup": -PAGE}
JUMP = {"g": 0, "home": 0, "G": 10**9, "end": 10**9}


@dataclass
class ItemState:
    """What one item's screen holds between key presses."""

    index: int
    view: dict[str, Any]
    counts: tuple[int, int]  # decided, skipped (before this item's decision)
    again: bool = False  # skipped before: shown again at the end of the queue
    note: str | None = None
    message: str = ""
    offset: int = 0
    show_keys: bool = False


class ReviewUI:
    """The key loop over one ``ReviewSession``."""

    def __init__(
        self,
        session: ReviewSession,
        screen: Screen,
        key: Callable[[], str],
        editor: tuple[str, str],
        line: Callable[[str, str], str | None],
    ) -> None:
        self.session, self.screen, self.key, self.editor, self.line = session, screen, key, editor, line
        self.made = 0
        self.message = ""

    def loop(self, resume_hint: str) -> dict[str, Any]:
        """Show items until the queue is empty or the reviewer quits; returns a summary with a last message."""
        s, total = self.session, len(self.session.items)
        while True:
            done = s.decided()
            decided = sum(r.decision != "skip" for r in done.values())
            idx = s.next_index(done)
            if idx is None:
                skipped = len(done) - decided
                tail = f"; {skipped} skipped (run the same command to see them again)" if skipped else ""
                message = f"All {total} items seen: {decided} decided{tail}. Statistics: "
                message += f"datagen review stats --sample {s.sample_id}"
                return self._summary(True, message)
            rid = s.items[idx].record_id
            st = ItemState(
                idx, s.view(rid), (decided, len(done) - decided), rid in done, message=self.message
            )
            st.note = done[rid].note if st.again else s.undone_note(rid)  # a skip's note comes back with it
            if self._item(st) == "quit":
                message = f"Saved: {decided} of {total} items decided in sample {s.sample_id}. {resume_hint}"
                return self._summary(False, message)

    def _summary(self, finished: bool, message: str) -> dict[str, Any]:
        out = {"sample_id": self.session.sample_id, "decisions": self.made, "finished": finished}
        return {**out, "message": message}

    def _item(self, st: ItemState) -> str:
        item = self.session.items[st.index]
        t0 = time.monotonic()
        while True:
            self._draw(st)
            k = self.key()
            if k == "q":
                return "quit"
            if self._move(st, k):
                continue
            st.message = ""
            outcome = self._act(st, k)
            if isinstance(outcome, ReviewDecision):
                outcome.seconds = round(time.monotonic() - t0, 3)
                self.session.decide(outcome)
                self.made += 1
                self.message = f"{outcome.decision} saved for record {item.record_id}."
                return "next"
            if outcome == "next":
                return "next"

    def _move(self, st: ItemState, k: str) -> bool:
        """Scrolling and screen keys; True when ``k`` was one."""
        if k in SCROLL:
            step, page = SCROLL[k], max(1, self.screen.page - 1)
            st.offset += page if step == PAGE else -page if step == -PAGE else step
        elif k in JUMP:
            st.offset = JUMP[k]
        elif k in ("?", "h"):
            st.show_keys, st.offset = not st.show_keys, 0
        elif k != "resize":
            return False
        st.offset = max(0, st.offset)
        return True

    def _act(self, st: ItemState, k: str) -> ReviewDecision | str | None:
        rid = st.view["id"]
        if k == "u":
            undone = self.session.undo()
            self.message = f"Undid the decision on record {undone}." if undone else ""
            st.message = "" if undone else "Nothing to undo."
            return "next" if undone else None
        if k == "n":
            st.note = self._ask_note(st, f"Note for record {rid} (Enter saves; empty clears): ", st.note)
        elif k == "N":
            self._note_last(st)
        elif k == "a":
            return ReviewDecision(rid, "accept", note=st.note)
        elif k == "s":
            return ReviewDecision(rid, "skip", note=st.note)
        elif k == "r":
            return self._reject(st)
        elif k == "e":
            changed = self._edit(st)
            return ReviewDecision(rid, "edit", edit=changed, note=st.note) if changed else None
        elif k != ESC:
            st.message = f"Unknown key {k!r}: ? shows the keys."
        return None

    def _ask_note(self, st: ItemState, prompt: str, current: str | None) -> str | None:
        self._draw_asking(st)
        text = self.line(prompt, current or "")
        if text is None:
            return current
        note = text.strip() or None
        st.message = "Note kept for this item's decision." if note else "Note cleared."
        return note

    def _note_last(self, st: ItemState) -> None:
        self._draw_asking(st)
        text = self.line("Note for the last saved decision (Enter saves; empty clears): ", "")
        if text is None:
            return
        rid = self.session.annotate_last(text.strip() or None)
        st.message = (
            "No decision saved yet." if rid is None else f"Note saved on the decision on record {rid}."
        )

    def _reject(self, st: ItemState) -> ReviewDecision | None:
        st.message = REASON_PROMPT
        while True:
            self._draw(st)
            c = self.key()
            if c.isdigit() and 1 <= int(c) <= len(REASON_CODES):
                return ReviewDecision(st.view["id"], "reject", REASON_CODES[int(c) - 1], note=st.note)
            if c in (ESC, "q"):
                st.message = "Cancelled."
                return None
            if c == "n":
                st.note = self._ask_note(st, f"Note for record {st.view['id']}: ", st.note)
                st.message = REASON_PROMPT
            elif not self._move(st, c):
                st.message = f"{REASON_PROMPT} — {c!r} is not a reason key"

    def _edit(self, st: ItemState) -> dict[str, str] | None:
        command, source = self.editor
        changed = self._edit_in_editor(st, command, source) if command else self._edit_inline(st)
        if changed and "instruction" in changed and not changed["instruction"].strip():
            st.message = "The instruction cannot be empty: nothing saved."
            return None
        if changed is None and not st.message:
            st.message = "No change: nothing saved."
        return changed

    def _edit_in_editor(self, st: ItemState, command: str, source: str) -> dict[str, str] | None:
        text = ed.record_text(st.view)
        self.screen.leave()
        try:
            while True:
                try:
                    return ed.changed_fields(st.view, ed.parse(ed.run_editor(command, source, text)))
                except ed.EditorError as e:
                    st.message = str(e)
                    return None
                except ed.MarkersLost as lost:
                    text = lost.text
                    if not self._again(st, str(lost)):
                        st.message = f"Not saved; your text is kept in {ed.keep_text(st.view['id'], text)}"
                        return None
                    text = ed.reopen_text(text)
        finally:
            self.screen.enter()

    def _again(self, st: ItemState, problem: str) -> bool:
        """Ask whether to reopen the editor on a text whose markers were lost."""
        self.screen.enter()
        st.message = (
            f"The edit's field markers are broken ({problem}). Open the editor again on your text? y/n"
        )
        while True:
            self._draw(st)
            c = self.key()
            if c in ("y", "n", ESC):
                self.screen.leave()
                return c == "y"

    def _edit_inline(self, st: ItemState) -> dict[str, str] | None:
        """Ask for each field on the terminal; an empty answer keeps the field."""
        changed = {}
        for f in FIELDS:
            self._draw_asking(st)
            value = self.line(f"{f} (Enter keeps it): ", "")
            if value and value.strip():
                changed[f] = value.strip()
        return changed or None

    def _draw(self, st: ItemState) -> None:
        item = self.session.items[st.index]
        shown = frame(item, st.view, len(self.session.items), st.counts, again=st.again, note=st.note,
                      message=st.message, show_keys=st.show_keys)  # fmt: skip
        st.offset = self.screen.draw(shown, st.offset)

    def _draw_asking(self, st: ItemState) -> None:
        """Draw with an empty message line: the question is asked there."""
        st.message = ""
        self._draw(st)


def run_tui(
    session: ReviewSession,
    console: Console | None = None,
    key: Callable[[], str] | None = None,
    editor: tuple[str, str] | None = None,
    resume_hint: str = "Run the same command to resume.",
) -> dict[str, Any]:
    """Review ``session``'s queue until it is empty or the reviewer quits; returns a summary.

    ``editor``: (command, the variable it came from), default ``$VISUAL`` or ``$EDITOR``; ``("", "")`` edits
    field by field. ``resume_hint`` ends the message printed on quitting."""
    console = console or Console(highlight=False)
    screen = Screen(console)
    ui = ReviewUI(
        session, screen, key or KeyReader(), editor if editor is not None else ed.editor_command(), read_line
    )
    screen.enter()
    try:
        out = ui.loop(resume_hint)
    finally:
        screen.leave()
    console.print(Text(out.pop("message")), soft_wrap=True)
    return out
