"""Editing in $VISUAL/$EDITOR: a missing or failing editor is one clear line and the item stays undecided; an
edit whose field markers were removed is asked about again (reopen on the same text, or keep it in a file)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from datagen.review import editor as ed
from datagen.store.models import Record, Review
from tests.pty_term import Term, env_with, review_args
from tests.review_data import Spec, insert

VIEW = {"instruction": "Task.", "input": "", "output": "# Title\nBody."}


def test_parse_keeps_markdown_headings_and_refuses_lost_markers():
    assert ed.parse(ed.record_text(VIEW)) == {"instruction": "Task.", "input": "", "output": "# Title\nBody."}
    with pytest.raises(ed.MarkersLost, match="'=== input ===' missing") as lost:
        ed.parse("=== instruction ===\nTask.\n=== output ===\nNew.\n")
    assert lost.value.text == "=== instruction ===\nTask.\n=== output ===\nNew.\n"
    with pytest.raises(ed.MarkersLost, match="'=== output ===' repeated"):
        ed.parse(ed.record_text(VIEW) + "=== output ===\nagain\n")
    with pytest.raises(ed.MarkersLost, match="text above the first"):
        ed.parse("Hello\n" + ed.record_text(VIEW))


def test_an_editor_that_cannot_start_or_fails_is_one_line(tmp_path):
    with pytest.raises(
        ed.EditorError, match=r"the editor '/no/such/editor' from \$EDITOR cannot be started \(not found\)"
    ):
        ed.run_editor("/no/such/editor --wait", "EDITOR", "x")
    with pytest.raises(
        ed.EditorError, match=r"the editor 'false' from \$VISUAL exited with status 1: nothing saved"
    ):
        ed.run_editor("false", "VISUAL", "x")
    with pytest.raises(ed.EditorError, match=r"\$EDITOR \('vi \"x'\) cannot be read as a command"):
        ed.run_editor('vi "x', "EDITOR", "x")


EDITOR = """import pathlib, sys
p, count = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[0]).with_suffix(".count")
n = int(count.read_text()) + 1 if count.exists() else 1
count.write_text(str(n))
text = p.read_text()
if n == 1:
    sys.exit(3)
if n in (2, 4):
    p.write_text(text.replace("=== input ===\\n", "").replace("=== output ===\\n", "").replace("Original", "Reworded"))
if n == 3:
    assert text.startswith("# The '=== field ===' lines of this edit were missing") and "Reworded" in text
    p.write_text("=== instruction ===\\nFixed task.\\n=== input ===\\n\\n=== output ===\\n# Heading\\nFixed answer.\\n")
"""


def test_missing_failing_and_marker_losing_editors_in_the_ui(store, tmp_path):
    run, _ = insert(
        store, [Spec(instruction=f"Edit task {i}.", output=f"Original answer {i}.") for i in range(2)]
    )
    term = Term(review_args(run, n=2), env_with(os.environ, VISUAL="/no/such/visual", EDITOR="true",
                                               DATAGEN_REVIEWER="eve"))  # fmt: skip
    r1 = int(re.search(r"record (\d+)", (term.wait("Item 1/2"), term.text)[1]).group(1))  # type: ignore[union-attr]
    term.send("e")
    term.wait("the editor '/no/such/visual' from $VISUAL cannot be started (not found): nothing saved")
    assert "decided 0/2" in term.text  # the item stays undecided
    term.send("q")
    assert term.finish() == 0

    script = tmp_path / "editor.py"
    script.write_text(EDITOR)
    env = env_with(os.environ, EDITOR=f"{sys.executable} {script}", DATAGEN_REVIEWER="eve", TMPDIR=tmp_path)
    term = Term(review_args(run, n=2), env)
    term.wait("Item 1/2")
    term.send("e")
    term.wait(f"the editor '{sys.executable}' from $EDITOR exited with status 3: nothing saved")
    term.send("e")
    term.wait("The edit's field markers are broken ('=== input ===' missing, '=== output ===' missing).")
    term.wait("on your text? y/n")
    term.send("y")
    term.wait(f"edit saved for record {r1}")
    term.wait("Item 2/2")
    r2 = int(re.search(r"record (\d+)", term.text).group(1))  # type: ignore[union-attr]
    term.send("e")
    term.wait("on your text? y/n")
    term.send("n")
    term.wait("Not saved; your text is kept in")
    kept = re.search(r"kept in\s*(\S+?\.txt)", "".join(term.rows)).group(1)  # type: ignore[union-attr]
    assert os.path.dirname(kept) == str(tmp_path) and f"record{r2}-unsaved" in kept
    assert "Reworded answer" in Path(kept).read_text(encoding="utf-8")
    assert "decided 1/2" in term.text
    term.send("q")
    assert term.finish() == 0
    with store.session() as s:
        [review] = s.scalars(select(Review)).all()
        rev = s.get(Record, review.edited_record_id)
        assert (review.record_id, rev.instruction, rev.input, rev.output) == (
            r1, "Fixed task.", "", "# Heading\nFixed answer."
        )  # fmt: skip
