"""The review UI in a real pseudo-terminal: every decision key, notes, undo (of an edit too), the skip queue,
quit and resume, and the resume hint after --new-sample."""

from __future__ import annotations

import os
import re
import sys

from sqlalchemy import select

from datagen.review.stats import review_stats
from datagen.store.models import Record, Review
from tests.pty_term import Term, env_with, review_args
from tests.review_data import Spec, insert

EDITOR = """import sys
p = sys.argv[1]
text = open(p).read()
open(p, "w").write(text.replace("Original answer", "Edited answer"))
"""


def _item(term: Term, n: int, total: int = 4) -> int:
    term.wait(f"Item {n}/{total} · record ")
    m = re.search(rf"Item {n}/{total} · record (\d+)", term.text)
    assert m, term.text
    return int(m.group(1))


def _note(term: Term, prompt: str, text: str) -> None:
    term.wait(prompt)
    term.send("\x15" + text + "\r")  # Ctrl-U clears what the line holds (the note being replaced)


def test_every_decision_key_notes_undo_skip_queue_quit_and_resume(store, tmp_path, run_cli):
    run, ids = insert(store, [Spec(instruction=f"Task {i} asks for [bold]something[/x].", output=f"Original answer {i}.")
                              for i in range(4)])  # fmt: skip
    editor = tmp_path / "editor.py"
    editor.write_text(EDITOR)
    env = env_with(os.environ, EDITOR=f"{sys.executable} {editor}")
    args = review_args(run, "--reviewer", "alice")

    term = Term(args, env)
    term.wait("new sample 1: 4 items, reviewer alice", where="log")
    r1 = _item(term, 1)
    assert "asks for [bold]something[/x]." in term.text  # record text is never parsed as markup
    term.send("u")
    term.wait("Nothing to undo.")
    term.send("h")
    term.wait("Keys")
    term.send("h", "n")
    _note(term, f"Note for record {r1}", "come back to this")
    term.send("s")
    term.wait(f"skip saved for record {r1}")

    r2 = _item(term, 2)
    term.send("n")
    _note(term, f"Note for record {r2} (Enter saves; empty clears):", "first thought")
    term.wait("note: first thought")
    term.send("n")
    _note(term, "Note for record", "")
    term.wait("Note cleared.")
    assert "note: first thought" not in term.text
    term.send("n")
    _note(term, "Note for record", "clear and correct")
    term.wait("note: clear and correct")
    term.send("a")
    term.wait(f"accept saved for record {r2}")

    r3 = _item(term, 3)
    term.send("r")
    term.wait("Reason?")
    term.send("q")
    term.wait("Cancelled.")
    term.send("r", "n")
    _note(term, f"Note for record {r3}:", "bad source")
    term.wait("note: bad source")
    term.send("1")
    term.wait(f"reject saved for record {r3}")
    for digit in "2345678":  # every reason key; undo brings the item back with its note
        term.send("u")
        term.wait(f"Undid the decision on record {r3}")
        assert "note: bad source" in term.text
        term.send("r", digit)
        term.wait(f"reject saved for record {r3}")
    term.send("N")
    _note(term, "Note for the last saved decision", "the source is fine, the answer is wrong")
    term.wait(f"Note saved on the decision on record {r3}.")

    r4 = _item(term, 4)
    term.send("e")
    term.wait(f"edit saved for record {r4}")
    term.send("u")
    term.wait(f"Undid the decision on record {r4}")
    term.send("e")
    term.wait(f"edit saved for record {r4}")

    assert _item(term, 1) == r1  # the skipped item comes back at the end
    assert "decided 3/4 · skipped 1 · skipped before" in term.text and "note: come back to this" in term.text
    term.send("q")
    term.wait("Saved: 3 of 4 items decided in sample 1. Run the same command to resume.", where="log")
    assert term.finish() == 0

    term = Term(args, env)
    term.wait("resuming sample 1: 4 items, reviewer alice", where="log")
    assert _item(term, 1) == r1 and "skipped before" in term.text
    term.send("s")
    term.wait("All 4 items seen: 3 decided; 1 skipped (run the same command to see them again).", where="log")
    assert term.finish() == 0

    term = Term([*args, "--new-sample"], env)
    term.wait("new sample 2: 4 items", where="log")
    assert _item(term, 1) == r1  # the same seed draws the same order
    term.send("a", "q")  # typed ahead: the second key is not lost
    hint = "Saved: 1 of 4 items decided in sample 2. To resume it, run the same command with --sample 2 instead of --new-sample."
    term.wait(hint, where="log")
    assert term.finish() == 0
    term = Term([*args, "--sample", "2"], env)
    term.wait("resuming sample 2: 4 items", where="log")
    _item(term, 2)
    assert "decided 1/4" in term.text
    term.send("q")
    assert term.finish() == 0

    with store.session() as s:
        reviews = s.scalars(select(Review).where(Review.sample_id == 1).order_by(Review.id)).all()
        active = [(r.record_id, r.decision, r.reason_code, r.note) for r in reviews if not r.undone]
        assert active == [
            (r1, "skip", None, "come back to this"), (r2, "accept", None, "clear and correct"),
            (r3, "reject", "other", "the source is fine, the answer is wrong"), (r4, "edit", None, None),
        ]  # fmt: skip
        rejects = [r for r in reviews if r.record_id == r3]
        assert [r.reason_code for r in rejects] == ["incorrect", "incomplete", "off_task", "unsafe", "low_quality",
                                                    "duplicate", "formatting", "other"]  # fmt: skip
        assert [r.undone for r in rejects] == [True] * 7 + [False]
        assert all(r.reviewer == "alice" and r.is_human and r.seconds and r.seconds > 0 for r in reviews)
        status = {i: s.get(Record, i).status for i in (r1, r2, r3, r4)}
        assert status == {r1: "approved", r2: "approved", r3: "rejected", r4: "rejected"}  # r1: in sample 2
        edits = [r for r in reviews if r.decision == "edit"]
        assert [(r.undone, r.edited_record_id is None) for r in edits] == [(True, True), (False, False)]
        revisions = s.scalars(select(Record).where(Record.method == "edit")).all()  # the undone one is gone
        assert [(r.parent_id, r.status, r.output) for r in revisions] == [
            (r4, "approved", f"Edited answer {ids.index(r4)}.")
        ]
    assert review_stats(store, 1)["seconds"]["n"] == 3  # accept, reject, edit (a skip is not a decision)
    assert [n["note"] for n in review_stats(store, 1)["notes"]] == [
        "come back to this",
        "clear and correct", "the source is fine, the answer is wrong"
    ]  # fmt: skip

    shown = run_cli("show", str(r4)).stdout
    assert "  UNDONE edit by alice sample 1\n" in shown
    assert f"  edit by alice -> revision {revisions[0].id} sample 1\n" in shown
    shown = run_cli("show", str(r3)).stdout
    assert "  UNDONE reject by alice (incorrect) sample 1\n    note: bad source\n" in shown
    assert "  reject by alice (other) sample 1\n    note: the source is fine, the answer is wrong" in shown
    stats = run_cli("review", "stats", "--sample", "1").stdout
    assert f"reviewers' notes (3):\n  record {r1} (skip, alice): come back to this\n" in stats


def test_inline_edit_without_editor_and_cancelled_reject(store):
    run, _ = insert(
        store, [Spec(instruction=f"Inline task {i} to review.", output=f"Answer {i}.") for i in range(4)]
    )
    term = Term(review_args(run), env_with(os.environ, DATAGEN_REVIEWER="bea"))
    r1 = _item(term, 1)
    term.send("r")
    term.wait("Reason?")
    term.send("esc")
    term.wait("Cancelled.")
    term.send("esc")  # Esc outside a question does nothing
    term.send("e")
    term.wait("instruction (Enter keeps it):")
    term.send("\r")
    term.wait("input (Enter keeps it):")
    term.send("\r")
    term.wait("output (Enter keeps it):")
    term.send("A better inline answer.\r")
    term.wait(f"edit saved for record {r1}")
    _item(term, 2)
    term.send("q")
    assert term.finish() == 0
    with store.session() as s:
        [review] = s.scalars(select(Review)).all()
        assert (review.reviewer, review.decision) == ("bea", "edit")
        rev = s.get(Record, review.edited_record_id)
        assert (rev.instruction, rev.output) == (s.get(Record, r1).instruction, "A better inline answer.")
