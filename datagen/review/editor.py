"""Editing a record in ``$VISUAL``/``$EDITOR``: what can go wrong is said in one line, and no text is lost.

The record is written to a temporary file as ``=== instruction ===``, ``=== input ===`` and ``=== output ===``
sections under a few ``#`` comment lines (comments are ignored only above the first section, so an answer's
Markdown ``# heading`` is kept). After the editor exits:

* the editor cannot be started (not found, not executable, unbalanced quotes in the variable) or exits with a
  non-zero status (vim's ``:cq``): ``EditorError`` with one line naming the variable; nothing is saved.
* a section marker was removed, renamed or repeated: ``MarkersLost`` carries the text as the reviewer left
  it. The UI then asks: open the editor again on that same text (to put the markers back), or give up — the
  text is then kept in a file whose path is shown. It is never guessed into a field.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from typing import Any

from datagen.review.session import FIELDS

HEAD = "# Edit the sections below; keep the three '=== field ===' lines. '#' lines above the first are ignored.\n"
LOST_HEAD = (
    "# The '=== field ===' lines of this edit were missing or repeated: put back exactly one of each\n"
    "# ('=== instruction ===', '=== input ===', '=== output ===') above its text. Your text is below as you left it.\n"
)


class EditorError(Exception):
    """The editor could not run or failed; the message is one line for the reviewer."""


class MarkersLost(Exception):
    """The edited text no longer has exactly one marker per field; ``text`` is what the reviewer wrote."""

    def __init__(self, text: str, problem: str) -> None:
        super().__init__(problem)
        self.text = text


def editor_command() -> tuple[str, str]:
    """(the editor command line, the variable it came from); ("", "") when neither is set."""
    for var in ("VISUAL", "EDITOR"):
        value = os.environ.get(var, "").strip()
        if value:
            return value, var
    return "", ""


def record_text(view: dict[str, Any]) -> str:
    return HEAD + "".join(f"=== {f} ===\n{view[f]}\n" for f in FIELDS)


def run_editor(editor: str, source: str, text: str) -> str:
    """Open ``text`` in ``editor`` (``source``: the variable it came from) and return the saved text."""
    try:
        argv = shlex.split(editor)
    except ValueError as e:
        raise EditorError(f"${source} ({editor!r}) cannot be read as a command: {e}; nothing saved") from e
    fd, path = tempfile.mkstemp(suffix=".txt", prefix="datagen-review-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        try:
            code = subprocess.run([*argv, path], check=False).returncode
        except OSError as e:  # FileNotFoundError, PermissionError: the editor cannot be started
            why = "not found" if isinstance(e, FileNotFoundError) else e.strerror or type(e).__name__
            raise EditorError(
                f"the editor {argv[0]!r} from ${source} cannot be started ({why}): nothing saved; "
                f"set ${source} to an installed editor, or unset it to edit field by field"
            ) from e
        if code != 0:
            raise EditorError(
                f"the editor {argv[0]!r} from ${source} exited with status {code}: nothing saved"
            )
        with open(path, encoding="utf-8") as f:
            return f.read()
    finally:
        os.unlink(path)


def parse(text: str) -> dict[str, str]:
    """The fields of an edited text; raises MarkersLost unless each field's marker is there exactly once."""
    fields: dict[str, list[str]] = {}
    current = None
    counts = dict.fromkeys(FIELDS, 0)
    stray = False  # text above the first marker: it would belong to no field
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("=== ") and stripped.endswith(" ===") and stripped[4:-4] in FIELDS:
            current = stripped[4:-4]
            counts[current] += 1
            fields[current] = []
        elif current is not None:
            fields[current].append(line)
        elif stripped and not stripped.startswith("#"):
            stray = True
    wrong = [f"'=== {f} ===' {'missing' if n == 0 else 'repeated'}" for f, n in counts.items() if n != 1]
    if stray:
        wrong.append("text above the first '=== field ===' line")
    if wrong:
        raise MarkersLost(text, ", ".join(wrong))
    return {f: "\n".join(lines).strip() for f, lines in fields.items()}


def changed_fields(view: dict[str, Any], new: dict[str, str]) -> dict[str, str] | None:
    changed = {f: v for f, v in new.items() if v != (view[f] or "").strip()}
    return changed or None


def keep_text(record_id: int, text: str) -> str:
    """Save an edit that could not be applied to a file in the temporary folder; returns its path."""
    fd, path = tempfile.mkstemp(suffix=".txt", prefix=f"datagen-review-record{record_id}-unsaved-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def reopen_text(text: str) -> str:
    """What the editor shows again after the markers were lost: an explanation, then the reviewer's text."""
    return LOST_HEAD + text
