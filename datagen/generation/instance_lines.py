"""The lines of an instance reply: which are markers (``Example N``, ``Input:``, ``Output:``, ``Class label:``,
``Task:``), where the instances begin and end, and what around them is a chat model's wrapping.

A marker counts only at the start of a line, after optional markdown (``#`` headers, ``>``, a bullet, bold):
``**Example 1**``, ``### Example 1:``, ``- **Input:** x`` all read as the plain marker. ``Example`` is
case-sensitive (as in Self-Instruct's ``prepare_for_finetuning.py``) and must be followed by a number or
nothing, so "For example, ..." and "Example sentences ..." stay text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from datagen.generation import chatter as c
from datagen.generation.chatter import Stripped

_MARKER = re.compile(r"^[>#\s]*(?:[-*•+]\s+)?(?:\*\*|__)?[ \t]*(?=Example|Input|Output|Class label|Task)")
_EXAMPLE = re.compile(r"^Example(?:[ \t]?(\d+))?[ \t]*(?:\*\*|__)?[ \t]*[.:)]?[ \t]*(?:\*\*|__)?[ \t]*(.*)$")
_FIELD = re.compile(
    r"^(Input|Output|Class label)[ \t]*\d*[ \t]*(?:\*\*|__)?[ \t]*:[ \t]*(?:\*\*|__)?[ \t]*(.*)$"
)
_TASK = re.compile(r"^Task[ \t]*\d*[ \t]*(?:\*\*|__)?[ \t]*:[ \t]*(?:\*\*|__)?[ \t]*(.*)$")
_SEPARATOR = re.compile(r"^\s*(?:[-*_]\s*){3,}$")
_FIELD_KIND = {"Input": "input", "Output": "output", "Class label": "label"}
_PREFIX = {"input": "Input: ", "output": "Output: ", "label": "Class label: "}


@dataclass(frozen=True)
class Line:
    """One line of a reply: ``kind`` is example, input, output, label, task, text, blank or rule; ``text`` is
    what follows the marker (the whole line for text)."""

    kind: str
    text: str
    raw: str
    number: int | None = None

    @property
    def canonical(self) -> str:
        """The line as the reference parser expects it (``Input: x``), markdown taken off the marker."""
        return _PREFIX.get(self.kind, "") + self.text

    def with_text(self, text: str) -> Line:
        return Line(self.kind, text, self.raw, self.number)


def _line(raw: str, kinds: tuple[str, ...]) -> Line:
    if not raw.strip():
        return Line("blank", "", raw)
    if _SEPARATOR.match(raw):
        return Line("rule", "", raw)
    m = _MARKER.match(raw)
    if m:
        tail = raw[m.end() :].rstrip()
        e = _EXAMPLE.match(tail)
        if "example" in kinds and e and (e.group(1) or not e.group(2)):
            return Line("example", e.group(2), raw, int(e.group(1)) if e.group(1) else None)
        f = _FIELD.match(tail)
        if f and _FIELD_KIND[f.group(1)] in kinds:
            return Line(_FIELD_KIND[f.group(1)], f.group(2), raw)
        t = _TASK.match(tail)
        if t and "task" in kinds:
            return Line("task", t.group(1), raw)
    return Line("text", raw.rstrip(), raw)


def scan(reply: str, kinds: tuple[str, ...]) -> list[Line]:
    """The reply's lines, each a marker of one of ``kinds`` or text."""
    return [_line(raw, kinds) for raw in reply.splitlines()]


def take_body(
    lines: list[Line], starts: tuple[str, ...], notes: list[Stripped], limit: int | None
) -> list[Line] | None:
    """The lines from the first marker of ``starts`` to the end of the last instance (None: no marker).

    Before it: a preamble or a restated ``Task:`` label. After it: a run-on (a line-start ``Task:``, an
    ``Example N`` above ``limit`` or numbered again from the start) and everything that follows; then a
    trailing sign-off or comment on the examples. Separators are dropped. Each piece is noted."""
    first = next((i for i, ln in enumerate(lines) if ln.kind in starts), None)
    if first is None:
        return None
    for ln in lines[:first]:
        if ln.kind != "blank":
            kind = c.RESTATED_LABEL if ln.kind == "task" else c.MARKDOWN if ln.kind == "rule" else c.PREAMBLE
            notes.append(Stripped(kind, ln.raw.strip()))
    body: list[Line] = []
    last: int | None = None
    for i in range(first, len(lines)):
        ln = lines[i]
        n = ln.number
        restart = n is not None and ((limit is not None and n > limit) or (last is not None and n <= last))
        if ln.kind == "task" or (ln.kind == "example" and restart):
            notes.append(Stripped(c.RUN_ON, "\n".join(x.raw for x in lines[i:]).strip()))
            break
        if ln.kind == "rule":
            notes.append(Stripped(c.MARKDOWN, ln.raw.strip()))
            continue
        last = n if n is not None else last
        body.append(ln)
    _trim_tail(body, notes)
    return body


def _is_closing(text: str) -> bool:
    return c.is_sign_off(text) or c.is_examples_comment(text)


def _trim_tail(body: list[Line], notes: list[Stripped]) -> None:
    """Take trailing sign-offs and comments off: whole text paragraphs or lines, then a glued sentence."""
    while True:
        while body and (body[-1].kind == "blank" or (body[-1].kind == "text" and c.is_debris(body[-1].text))):
            if body[-1].kind == "text":  # "**" left where a stop string cut "**Example 6**"
                notes.append(Stripped(c.MARKDOWN, body[-1].raw.strip()))
            body.pop()
        if not body:
            return
        end = len(body) - 1
        start = end
        while start > 0 and body[start - 1].kind == "text":
            start -= 1
        for s in dict.fromkeys((start, end)):
            seg = body[s:]
            if s == 0 or any(x.kind != "text" for x in seg):
                continue
            joined = " ".join(x.text.strip() for x in seg)
            if _is_closing(joined):
                notes.append(Stripped(c.SIGN_OFF, "\n".join(x.raw.strip() for x in seg)))
                del body[s:]
                break
        else:
            break
    last = body[-1]
    if last.kind in ("text", "input", "output", "label"):
        kept, off = c.split_sign_off(last.text, _is_closing)
        if off and kept.strip():
            notes.append(Stripped(c.SIGN_OFF, off))
            body[-1] = last.with_text(kept)


def split_blocks(body: list[Line], kind: str) -> list[list[Line]]:
    """The body split before each line of ``kind``; lines before the first one form their own block."""
    blocks: list[list[Line]] = []
    for ln in body:
        if ln.kind == kind or not blocks:
            blocks.append([])
        blocks[-1].append(ln)
    return blocks
