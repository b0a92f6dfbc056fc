"""The terminal review UI: rich rendering, one key per decision, resume where the reviewer left off.

Keys: ``a`` accept, ``r`` reject (then a reason key 1-8), ``e`` edit (in ``$VISUAL``/``$EDITOR``, else inline
prompts), ``s`` skip, ``u`` undo the last decision, ``q`` quit. Every decision is saved at once (quitting
loses nothing); the time from showing an item to deciding it is recorded. All decision logic lives in
``ReviewSession``; this module only draws and reads keys.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from datagen.review.session import FIELDS, REASON_CODES, ReviewDecision, ReviewSession
from datagen.review.turns import turn_panels

HELP = "[a]ccept  [r]eject  [e]dit  [s]kip  [u]ndo  [q]uit"


def read_key() -> str:
    """One key press from the terminal (cbreak mode), or the first character of a line when not a terminal."""
    fd = sys.stdin.fileno()
    if not os.isatty(fd):
        line = sys.stdin.readline()
        return line.strip()[:1] if line else "q"
    import termios
    import tty

    old = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        ch = os.read(fd, 1).decode(errors="ignore")
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)
    if ch == "\x03":
        raise KeyboardInterrupt
    return ch


def render(console: Console, view: dict[str, Any], pos: int, total: int, done: int, stratum: str) -> None:
    console.rule()
    header = f"Item {pos + 1}/{total} | record {view['id']} | {stratum} | decided {done}/{total}"
    if stratum.startswith("filtered/"):
        header += " | dropped by the filters (deciding here measures them; it does not rescue the record)"
    console.print(Text(header, style="bold"))
    lineage = " <- ".join(f"#{p['id']} {p['method']}/{p['operation'] or '-'}" for p in view["lineage"])
    console.print(
        Text(
            f"{view['method']}/{view['operation'] or '-'} round {view['round']}, model {view['model'] or '-'}"
        )
    )
    if lineage:
        console.print(Text(f"lineage: {lineage}"))
        parent = view["lineage"][0]["text"]
        console.print(Text(f"parent: {parent[:300]}{'…' if len(parent) > 300 else ''}", style="dim"))
    # Text(...) so that brackets in a record are shown as written, never parsed as rich markup
    if view.get("messages"):
        console.print(*turn_panels(view))
    else:
        console.print(Panel(Text(view["instruction"]), title="instruction", title_align="left"))
        if view["input"]:
            console.print(Panel(Text(view["input"]), title="input", title_align="left"))
        console.print(Panel(Text(view["output"] or "(empty)"), title="output", title_align="left"))
    if view["verdicts"]:
        table = Table("filter", "score", "passed", "reason", box=None, pad_edge=False)
        for v in view["verdicts"]:
            score = "-" if v["score"] is None else f"{v['score']:.4g}"
            table.add_row(v["filter"], score, "yes" if v["passed"] else "NO", v["reason"])
        console.print(table)
    console.print(Text(HELP))


def edit_in_editor(view: dict[str, Any], editor: str) -> dict[str, str] | None:
    """Open the record in the editor; returns the changed fields, or None when nothing changed."""
    body = "# Edit below; keep the '=== field ===' lines. Lines starting with '#' are ignored.\n"
    body += "".join(f"=== {f} ===\n{view[f]}\n" for f in FIELDS)
    fd, path = tempfile.mkstemp(suffix=".txt", prefix="datagen-review-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(body)
        subprocess.run([*shlex.split(editor), path], check=False)
        with open(path, encoding="utf-8") as f:
            text = f.read()
    finally:
        os.unlink(path)
    fields: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("=== ") and stripped.endswith(" ===") and stripped[4:-4] in FIELDS:
            current = stripped[4:-4]
            fields[current] = []
        elif current is not None and not line.startswith("#"):
            fields[current].append(line)
    new = {f: "\n".join(lines).strip() for f, lines in fields.items()}
    changed = {f: v for f, v in new.items() if v != view[f].strip()}
    return changed or None


def edit_inline(console: Console) -> dict[str, str] | None:
    """Ask for each field on the terminal; an empty answer keeps the field."""
    changed = {}
    for f in FIELDS:
        value = console.input(f"{f} (Enter keeps it): ")
        if value.strip():
            changed[f] = value.strip()
    return changed or None


def run_tui(
    session: ReviewSession,
    console: Console | None = None,
    key: Callable[[], str] = read_key,
    editor: str | None = None,
) -> dict[str, Any]:
    """Loop over the sample until every item is decided or the reviewer quits; returns a summary."""
    console = console or Console(highlight=False)
    editor = editor if editor is not None else (os.environ.get("VISUAL") or os.environ.get("EDITOR") or "")
    total = len(session.items)
    made = 0
    while True:
        decided = session.decided()
        idx, done = session.next_index(decided), len(decided)
        if idx is None:
            console.print(
                Text(
                    f"All {total} items decided. Statistics: datagen review stats --sample {session.sample_id}"
                )
            )
            return {"sample_id": session.sample_id, "decisions": made, "finished": True}
        item = session.items[idx]
        view = session.view(item.record_id)
        render(console, view, idx, total, done, item.stratum)
        t0 = time.monotonic()
        while True:
            k = key().lower()
            if k == "q":
                console.print(Text(f"Saved {done} of {total}. Run the same command to resume."))
                return {"sample_id": session.sample_id, "decisions": made, "finished": False}
            if k == "u":
                rid = session.undo()
                console.print(Text(f"Undid the decision on record {rid}." if rid else "Nothing to undo."))
                break
            decision = _decide(console, k, view, editor, key)
            if decision is None:
                continue
            decision.seconds = round(time.monotonic() - t0, 3)
            session.decide(decision)
            made += 1
            console.print(Text(f"{decision.decision} saved for record {item.record_id}."))
            break


def _decide(
    console: Console, k: str, view: dict[str, Any], editor: str, key: Callable[[], str]
) -> ReviewDecision | None:
    rid = view["id"]
    if k == "a":
        return ReviewDecision(rid, "accept")
    if k == "s":
        return ReviewDecision(rid, "skip")
    if k == "r":
        codes = "  ".join(f"{i}:{c}" for i, c in enumerate(REASON_CODES, 1))
        console.print(Text(f"Reason? {codes}  (Esc cancels)"))
        while True:
            c = key()
            if c.isdigit() and 1 <= int(c) <= len(REASON_CODES):
                return ReviewDecision(rid, "reject", reason_code=REASON_CODES[int(c) - 1])
            if c in ("\x1b", "q"):
                console.print(Text("Cancelled."))
                return None
    if k == "e":
        changed = edit_in_editor(view, editor) if editor else edit_inline(console)
        if not changed:
            console.print(Text("No change: nothing saved."))
            return None
        if "instruction" in changed and not changed["instruction"].strip():
            console.print(Text("The instruction cannot be empty: nothing saved."))
            return None
        return ReviewDecision(rid, "edit", edit=changed)
    if k in ("?", "h"):
        console.print(Text(HELP))
    return None
