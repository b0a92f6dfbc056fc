"""The review UI's pager in a real pty: at 40x12 the header, the instruction and the keys stay on screen while a
long record scrolls with every scroll key; a resize lays the screen out again; ? shows the keys."""

from __future__ import annotations

import os
import re

from tests.pty_term import Term, env_with, review_args
from tests.review_data import Spec, insert

LONG = "\n".join(f"Step {i}: do the thing number {i} with care." for i in range(1, 41))


def _span(term: Term) -> tuple[int, int, int]:
    m = re.search(r"lines (\d+)-(\d+) of (\d+)", term.text)
    assert m, term.text
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def _pinned(term: Term) -> None:
    """Header on rows 1-2, the instruction on row 3, the keys at the bottom: whatever the scroll."""
    rows = term.rows
    assert len(rows) == 12 and all(len(r) <= 40 for r in rows)
    assert re.match(r"Item 1/2 · record \d+ · decided 0/2", rows[0]), rows
    assert rows[1].startswith("stratum self_instruct/-/"), rows
    assert rows[2].startswith("Instruction: Write the long list"), rows
    assert "[a]ccept [r]eject [e]dit [s]kip" in "".join(rows[-7:]), rows


def test_small_terminal_keeps_header_instruction_and_keys_while_scrolling(store):
    run, _ = insert(store, [Spec(instruction=f"Write the long list number {i} of forty careful steps for a "
                                             "beginner, one step per line, nothing else.", output=LONG)
                            for i in range(2)])  # fmt: skip
    term = Term(review_args(run, "--reviewer", "ann", n=2), env_with(os.environ), rows=12, cols=40)
    term.wait("lines 1-")
    _pinned(term)
    assert term.rows[3].endswith(" …↓")  # a long instruction: its start stays pinned, marked
    assert re.match(r"Write the long list number \d of forty", term.rows[4])  # ... and opens the body in full
    first, last, total = _span(term)
    page = last - first + 1
    assert (first, total > 40) == (1, True) and page >= 3
    moves = [("j", 2), ("down", 3), ("k", 2), ("up", 1), (" ", page), ("pgdn", 2 * page - 1),
             ("b", page), ("pgup", 1), ("G", total - page + 1), ("end", total - page + 1), ("g", 1),
             ("home", 1)]  # fmt: skip
    for key, want_first in moves:
        term.send(key)
        term.wait(f"lines {want_first}-")
        _pinned(term)
        assert _span(term)[0] == want_first, (key, term.text)
    term.send("G")
    term.wait(f"of {total} ")
    assert "Step 40: do the thing" in term.text
    term.send("?")
    term.wait("Keys")
    _pinned(term)
    term.send("?")
    term.wait("lines 1-")
    term.send("x")
    term.wait("Unknown key 'x'")
    term.send("r")  # a four-line question at the bottom: the header and instruction stay
    term.wait("Esc cancels")
    _pinned(term)
    assert "Reason? 1 incorrect" in term.text
    term.send("esc")
    term.wait("Cancelled.")
    term.resize(30, 100)
    term.wait("careful steps for a beginner, one step per line")  # laid out again at the new size
    assert term.rows[0].startswith("Item 1/2") and term.rows[2].startswith("Instruction: Write the long list")
    assert "…↓" not in term.text
    term.send("q")
    term.wait("Saved: 0 of 2 items decided in sample 1. Run the same command to resume.", where="log")
    assert term.finish() == 0


def test_layout_of_a_conversation_at_40x12_keeps_every_pinned_part():
    from rich.console import Console

    from datagen.review.page import frame
    from datagen.review.screen import Screen
    from datagen.review.session import SampleItemView

    turns = [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."},
             {"role": "user", "content": "Another?"}, {"role": "assistant", "content": "Red."}]  # fmt: skip
    view = {"id": 7, "method": "import", "operation": None, "round": 0, "model": None, "lineage": [],
            "instruction": "Name a colour.", "input": "", "output": "Red.", "messages": turns,
            "verdicts": [{"filter": "judge", "score": 0.9, "limit": ">= 0.45", "passed": True, "reason": "ok"}]}  # fmt: skip
    item = SampleItemView(2, 7, "import/-/b1", False)
    screen = Screen(Console(width=40, color_system=None, force_terminal=False))
    lines, offset = screen.layout(frame(item, view, 5, (1, 1), note="check it"), 0, 39, 12)
    assert len(lines) == 12 and all(len(ln) <= 39 for ln in lines)
    assert lines[:4] == ["Item 3/5 · record 7 · decided 1/5 · sk…", "stratum import/-/b1", "note: check it",
                         "Instruction: Name a colour."]  # fmt: skip
    assert lines[4:6] == ["import/- round 0, model -", "╭─ user 1/2 (instruction) " + "─" * 12 + "╮"]
    assert [ln.rstrip() for ln in lines[-3:-1]] == [
        "[a]ccept [r]eject [e]dit [s]kip [n]ote",
        "[u]ndo [q]uit [?]keys",
    ]
    _, offset = screen.layout(frame(item, view, 5, (1, 1)), 10**6, 39, 12)  # to the bottom: the scores
    lines, _ = screen.layout(frame(item, view, 5, (1, 1)), offset, 39, 12)
    assert any(ln.split() == ["judge", "0.9", ">=", "0.45", "yes", "ok"] for ln in lines), lines
