"""The review UI in a real pseudo-terminal (pexpect): accept, reject, edit in $EDITOR, undo, quit and resume."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
from sqlalchemy import select

from datagen.review.stats import review_stats
from datagen.store.models import Record, Review
from tests.review_data import Spec, insert

DATAGEN = str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "datagen")
EDITOR = """import sys
p = sys.argv[1]
text = open(p).read()
open(p, "w").write(text.replace("Original answer", "Edited answer"))
"""


def _spawn(args, env):
    child = pexpect.spawn(DATAGEN, args, env=env, dimensions=(60, 120), encoding="utf-8", timeout=60)
    return child


def _item(child, n):
    child.expect(rf"Item {n}/4 \| record (\d+)")
    rid = int(child.match.group(1))
    child.expect(r"\[q\]uit")
    return rid


def test_accept_reject_edit_undo_quit_resume(store, tmp_path):
    run, ids = insert(store, [Spec(instruction=f"Task {i} asks for [bold]something[/x].", output=f"Original answer {i}.")
                              for i in range(4)])  # fmt: skip
    editor = tmp_path / "editor.py"
    editor.write_text(EDITOR)
    env = {**os.environ, "EDITOR": f"{sys.executable} {editor}", "NO_COLOR": "1", "TERM": "xterm"}
    args = ["review", "--run", str(run), "--fraction", "1", "--min-count", "4", "--filtered-fraction", "0",
            "--reviewer", "alice"]  # fmt: skip

    child = _spawn(args, env)
    child.expect("new sample 1: 4 items, reviewer alice")
    r1 = _item(child, 1)
    assert "asks for [bold]something[/x]." in child.before  # record text is never parsed as markup
    child.send("a")
    child.expect(f"accept saved for record {r1}")
    r2 = _item(child, 2)
    child.send("r")
    child.expect("Reason\\?")
    child.send("1")
    child.expect(f"reject saved for record {r2}")
    r3 = _item(child, 3)
    child.send("e")
    child.expect(f"edit saved for record {r3}")
    _item(child, 4)
    child.send("u")
    child.expect(f"Undid the decision on record {r3}")
    assert _item(child, 3) == r3
    child.send("e")
    child.expect(f"edit saved for record {r3}")
    r4 = _item(child, 4)
    child.send("q")
    child.expect("Saved 3 of 4. Run the same command to resume.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    child = _spawn(args, env)
    child.expect("resuming sample 1: 4 items, reviewer alice")
    assert _item(child, 4) == r4
    child.send("s")
    child.expect("All 4 items decided.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    with store.session() as s:
        reviews = s.scalars(select(Review).order_by(Review.id)).all()
        assert [(r.record_id, r.decision, r.undone) for r in reviews] == [
            (r1, "accept", False), (r2, "reject", False), (r3, "edit", True), (r3, "edit", False),
            (r4, "skip", False),
        ]  # fmt: skip
        assert all(r.reviewer == "alice" and r.is_human and r.seconds and r.seconds > 0 for r in reviews)
        assert reviews[1].reason_code == "incorrect"
        status = {i: s.get(Record, i).status for i in (r1, r2, r3, r4)}
        assert status == {r1: "approved", r2: "rejected", r3: "rejected", r4: "candidate"}
        first, second = (s.get(Record, reviews[k].edited_record_id) for k in (2, 3))
        assert first.status == "rejected"  # the undone revision is withdrawn
        assert (second.status, second.method, second.parent_id) == ("approved", "edit", r3)
        assert second.output == f"Edited answer {ids.index(r3)}." and second.instruction.startswith("Task")
    assert review_stats(store, 1)["seconds"]["n"] == 3  # accept, reject, edit (a skip is not a decision)


def test_inline_edit_without_editor_and_cancelled_reject(store):
    run, _ = insert(
        store, [Spec(instruction=f"Inline task {i} to review.", output=f"Answer {i}.") for i in range(4)]
    )
    env = {k: v for k, v in os.environ.items() if k not in ("EDITOR", "VISUAL")}
    env.update(NO_COLOR="1", TERM="xterm", DATAGEN_REVIEWER="bea")
    child = _spawn(
        ["review", "--run", str(run), "--fraction", "1", "--min-count", "4", "--filtered-fraction", "0"], env
    )
    r1 = _item(child, 1)
    child.send("r")
    child.expect("Reason\\?")
    child.send("\x1b")
    child.expect("Cancelled.")
    child.send("e")
    child.expect("instruction \\(Enter keeps it\\): ")
    child.sendline("")
    child.expect("input \\(Enter keeps it\\): ")
    child.sendline("")
    child.expect("output \\(Enter keeps it\\): ")
    child.sendline("A better inline answer.")
    child.expect(f"edit saved for record {r1}")
    _item(child, 2)
    child.send("q")
    child.expect(pexpect.EOF)
    with store.session() as s:
        [review] = s.scalars(select(Review)).all()
        assert (review.reviewer, review.decision) == ("bea", "edit")
        rev = s.get(Record, review.edited_record_id)
        assert (rev.instruction, rev.output) == (s.get(Record, r1).instruction, "A better inline answer.")
