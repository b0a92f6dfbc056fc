"""Parsing teacher replies, after the published Self-Instruct and WizardLM code, proof against chat teachers.

The structure is the reference's: a task list is split at item numbers (text before the first number is the
first new task), an instance reply at ``Example N`` markers and then ``Input:`` / ``Output:`` (Self-Instruct's
``parse_input_output``), a classification reply at ``Class label:``; a reply cut by the length limit loses
its last instance. Two things differ, both because chat models answer instead of continuing the prompt:

* markers count only at the start of a line, and ``Example`` only case-sensitively (as in the reference) and
  followed by a number or nothing, so "For example, ..." or "Example sentences ..." inside an output is text;
* what a chat model wraps around the answer is taken off (``chatter.py``): a preamble before the first
  marker, a restated ``Task:`` label, markdown on marker lines (bold, headers, bullets, separators), a sign-off
  or a comment after the last item, and a run-on into the next few-shot item (a line-start ``Task:``, an
  ``Example N`` past ``limit`` or numbering that starts again). Each piece taken off is appended to the
  caller's ``stripped`` list; none can become a task, an instance or an example shown in a later prompt.

Every parser returns what it found and leaves the decision about an empty result to the caller, which keeps
the raw text on a ``parse_failed`` record (nothing is silently dropped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from datagen.generation import chatter as c
from datagen.generation.chatter import Stripped
from datagen.generation.elimination import copies_template_words
from datagen.generation.instance_lines import Line, scan, split_blocks, take_body

_NUMBERED = re.compile(r"^(?:(?:task|instruction)\s*)?(\d{1,3})\s?[.):](?:\s+|$)", re.I)
_LABEL_ONLY = re.compile(r"^(?:task|instruction)\s*\d{1,3}\s*:?$", re.I)
_BULLET = re.compile(r"^[-*•+]\s+")
_RESTATED = re.compile(r"^(?:task|instruction)\s*:\s*", re.I)
_TITLE = re.compile(r"^\*\*([^*\n]{1,80}?)\*\*\s*[:\-–—]\s*(?=\S)|^\*\*([^*\n]{1,80}?)[:\-–—]\*\*\s*(?=\S)")
_BOLD_MARKER = re.compile(r"^\*\*((?:(?:task|instruction)\s*)?\d{1,3})\s?([.):]?)\s*\*\*([.):]?)\s*", re.I)
_BOLD_ONLY = re.compile(r"^\*\*[^*\n]+\*\*:?$")
_ABOUT_TASKS = re.compile(r"\b(?:tasks?|instructions?|prompts?|examples?|list|more)\b", re.I)
_OUTPUT = re.compile(r"Output\s*\d*\s*:")
_INPUT = re.compile(r"Input\s*\d*\s*:")


@dataclass(frozen=True)
class Candidate:
    """One instruction parsed from a task-list reply; ``truncated``: the reply was cut by the length limit."""

    text: str
    truncated: bool


def _item_start(line: str, style: str | None) -> str | None:
    """The text after an item marker (``9.``, ``Task 9:``, a bullet when the list is not numbered), or None."""
    m = _NUMBERED.match(line)
    if m:
        return line[m.end() :]
    if _LABEL_ONLY.match(line):
        return ""
    b = _BULLET.match(line)
    if b and style != "number":
        return line[b.end() :]
    return None


def _before_first_item(line: str, heading: bool) -> str | None:
    """Why a line before the first numbered item is not the first task (None: it is, as in the reference)."""
    if heading or _BOLD_ONLY.match(line):
        return c.HEADING
    if c.is_preamble(line):
        return c.PREAMBLE
    if line.endswith(":") and _ABOUT_TASKS.search(line):  # "Come up with a series of tasks:" restated
        return c.HEADING
    if c.is_sign_off(line):
        return c.SIGN_OFF
    return None


def parse_task_list(
    reply: str, finish_reason: str | None, stripped: list[Stripped] | None = None
) -> list[Candidate]:
    """The numbered list a teacher continued (``9. ...\\n10. ...``); text before the first number is item 9.

    As in Self-Instruct, whitespace is collapsed and, when the reply stopped at the length limit, the last
    item is marked truncated (the caller applies the published policy). Bullets count as items when the list
    has no numbers; an unnumbered paragraph after the list is trailing chatter, not a task.
    """
    notes: list[Stripped] = [] if stripped is None else stripped
    items: list[list[str]] = []
    style: str | None = None
    blank = trailing = False
    for raw in reply.splitlines():
        line = raw.strip()
        if not line:
            blank = True
            continue
        if c.is_rule(line) or c.is_debris(line):
            notes.append(Stripped(c.MARKDOWN, line))
            continue
        line, heading = c.heading_stripped(line)
        rest = _item_start(line, style)
        if rest is None and line.startswith("**"):  # "**Task 9:** ...", "**9. Write ...**"
            m = _BOLD_MARKER.match(line)
            plain = (
                f"{m.group(1)}{m.group(2) or m.group(3) or ':'} {line[m.end() :]}" if m else c.unbold(line)
            )
            rest = _item_start(plain, style)
            if rest is not None:
                notes.append(Stripped(c.MARKDOWN, line))
        if rest is not None:
            style = style or ("number" if not _BULLET.match(line) else "bullet")
            items.append(_item_text(rest.strip(), notes))
            blank = trailing = False
            continue
        if not items:
            why = _before_first_item(line, heading)
            if why:
                notes.append(Stripped(why, raw.strip()))
            else:
                items.append([line])
        elif blank or trailing:
            kind = c.SIGN_OFF if c.is_sign_off(line) else c.COMMENTARY if c.is_commentary(line) else None
            notes.append(Stripped(kind or c.TRAILING_TEXT, raw.strip()))
            trailing = True
        elif heading or c.is_sign_off(line) or c.is_commentary(line):
            notes.append(Stripped(c.HEADING if heading else c.SIGN_OFF, raw.strip()))
        else:
            sub = _BULLET.match(line)  # a sub-bullet of a numbered item joins its text
            items[-1].append(line[sub.end() :] if sub else line)
        blank = False
    texts = [t for t in (_join_item(lines, notes) for lines in items) if t]
    cut = finish_reason == "length"
    return [Candidate(text, cut and k == len(texts) - 1) for k, text in enumerate(texts)]


def _item_text(rest: str, notes: list[Stripped]) -> list[str]:
    """An item's first line without a restated ``Task:`` label or a bold title (``**Haiku**: Write ...``)."""
    m = _RESTATED.match(rest)
    if m:
        notes.append(Stripped(c.RESTATED_LABEL, m.group(0).strip()))
        rest = rest[m.end() :]
    t = _TITLE.match(rest)
    if t:
        notes.append(Stripped(c.MARKDOWN, t.group(0).strip()))
        rest = rest[t.end() :]
    return [rest] if rest else []


def _join_item(lines: list[str], notes: list[Stripped]) -> str:
    if len(lines) > 1 and _BOLD_ONLY.match(lines[0]):  # "9. **Poem**" with the task on the next line
        notes.append(Stripped(c.MARKDOWN, lines[0]))
        lines = lines[1:]
    text = re.sub(r"\s+", " ", " ".join(lines)).strip()
    plain = c.unbold(text)
    if plain.count("**") == 1:  # bold cut open by the length limit
        plain = plain.replace("**", "").strip()
    if plain != text:
        notes.append(Stripped(c.MARKDOWN, text))
    text, off = c.split_sign_off(plain)
    if off:
        notes.append(Stripped(c.SIGN_OFF, off))
    if c.is_sign_off(text) or (text.endswith(":") and c.is_preamble(text)):
        notes.append(Stripped(c.SIGN_OFF if c.is_sign_off(text) else c.PREAMBLE, text))
        return ""
    return text


def parse_yes_no(reply: str) -> bool | None:
    """The classification answer: ``Yes`` / ``No`` (first word, else any whole word), None when neither."""
    words = re.findall(r"[a-z]+", reply.lower())
    if words and words[0] in ("yes", "no"):
        return words[0] == "yes"
    found = {w for w in words if w in ("yes", "no")}
    return (found == {"yes"}) if len(found) == 1 else None


def _input_output(text: str) -> tuple[str, str]:
    """Self-Instruct's ``parse_input_output``: split one example into its input and output."""
    if _OUTPUT.search(text):
        parts = _OUTPUT.split(text)
        inp, out = parts[0].strip(), parts[1].strip()
    else:
        inp, out = "", text.strip()
    if _INPUT.search(out):  # several pairs in one example: keep the first
        out = _INPUT.split(out)[0].strip()
    inp = re.sub(r"^Input\s*\d*\s*:", "", inp).strip()
    return inp, out


def _cut(pairs: list[tuple[str, str]], finish_reason: str | None) -> tuple[list[tuple[str, str]], int]:
    """Self-Instruct: when the reply stopped at the length limit, its last instance is dropped."""
    if finish_reason == "length" and pairs:
        return pairs[:-1], 1
    return pairs, 0


def parse_instances_input_first(
    reply: str,
    finish_reason: str | None,
    limit: int | None = None,
    stripped: list[Stripped] | None = None,
) -> tuple[list[tuple[str, str]], int]:
    """``Example 1\\nInput: ...\\nOutput: ...`` (or one bare ``Output:``). Returns (pairs, truncated dropped).

    ``limit``: an ``Example N`` with N above it is a run-on (Self-Instruct stops generation there)."""
    notes: list[Stripped] = [] if stripped is None else stripped
    lines = scan(reply, ("example", "input", "output", "task"))
    body = take_body(lines, ("example", "input", "output"), notes, limit=limit)
    if body is None:
        return [], 0
    blocks = split_blocks(body, "example")  # no Example marker: one input/output pair, as in the reference
    pairs = [_input_output(text) for text in (_block_text(b) for b in blocks) if text]
    return _cut(pairs, finish_reason)


def parse_instances_output_first(
    reply: str, finish_reason: str | None, stripped: list[Stripped] | None = None
) -> tuple[list[tuple[str, str]], int]:
    """``Class label: X\\nInput: ...`` blocks (output first). Returns ((input, label) pairs, truncated dropped)."""
    notes: list[Stripped] = [] if stripped is None else stripped
    body = take_body(scan(reply, ("label", "input", "task")), ("label",), notes, limit=None)
    if body is None:
        return [], 0
    pairs = []
    for block in split_blocks(body, "label"):
        label = c.unbold(block[0].text).strip()
        rest = re.sub(r"^Input\s*\d*\s*:", "", _block_text(block[1:])).strip()
        pairs.append((rest, label))
    return _cut(pairs, finish_reason)


def _block_text(lines: list[Line]) -> str:
    return "\n".join(ln.canonical for ln in lines).strip()


_REWRITE_LABEL = re.compile(
    r"(?:the\s+)?(?:(?:new|revised|evolved|updated|modified|improved|final|complex|harder|more\s+\w+)\s+)*"
    r"(?:prompt|instruction|version|task|question)s?\s*:",
    re.I,
)
_ANSWER_LABEL = re.compile(r"(?:final\s+)?(?:answer|response)\s*:", re.I)
_QUOTES = {'"': '"', "“": "”", "'": "'"}


def _paragraphs(lines: list[str]) -> list[list[str]]:
    paras: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            paras[-1].append(line)
        elif paras[-1]:
            paras.append([])
    return [p for p in paras if p]


def _drop_closing(paras: list[list[str]], notes: list[Stripped], commentary: bool) -> list[list[str]]:
    """Trailing paragraphs that are a sign-off (or, for rewrites, a comment on the rewrite), then a glued
    sentence; the first paragraph always stays."""

    def closing(text: str) -> bool:
        return c.is_sign_off(text) or (commentary and c.is_commentary(text)) or markdown(text)

    def markdown(text: str) -> bool:
        return c.is_rule(text) or c.is_debris(text)

    def kind(text: str) -> str:
        return c.SIGN_OFF if c.is_sign_off(text) else c.MARKDOWN if markdown(text) else c.COMMENTARY

    while len(paras) > 1 and closing(" ".join(x.strip() for x in paras[-1])):
        text = "\n".join(paras.pop()).strip()
        notes.append(Stripped(kind(text), text))
    if paras:
        kept, off = c.split_sign_off(paras[-1][-1], closing)
        if off and kept:
            notes.append(Stripped(kind(off), off))
            paras[-1][-1] = kept
    return paras


def parse_rewrite(reply: str, stripped: list[Stripped] | None = None) -> str:
    """An evolved instruction: the reply without a chat preamble, a label line ("**Revised prompt:**"), markdown
    bold, wrapping quotes and a trailing sign-off or comment ("This version adds ...").

    Text that copies the evolving prompt's words ("#Rewritten Prompt#:", "Here is the rewritten prompt:") is
    left in for elimination to see, as the paper's rule 4 expects."""
    notes: list[Stripped] = []
    text = _rewrite(reply, notes)
    if stripped is not None:
        stripped.extend(notes)
    return text if notes else reply.strip()


def _rewrite(reply: str, notes: list[Stripped]) -> str:
    lines = reply.strip().splitlines()
    while lines:
        first = lines[0].strip()
        if not first or c.is_rule(first):
            if first:
                notes.append(Stripped(c.MARKDOWN, first))
            lines.pop(0)
            continue
        if copies_template_words(first):  # left for elimination
            break
        text, heading = c.heading_stripped(first)
        text = c.unbold(text).strip()
        label = _REWRITE_LABEL.match(text)
        label_only = bool(label and label.end() == len(text))
        if heading or label_only or c.is_preamble(first):
            notes.append(Stripped(c.HEADING if heading or label_only else c.PREAMBLE, first))
            lines.pop(0)
            continue
        if label and text[label.end() :].strip():
            notes.append(Stripped(c.RESTATED_LABEL, label.group(0)))
            lines[0] = text[label.end() :].strip()
        break
    paras = _drop_closing(_paragraphs(lines), notes, commentary=True)
    text = "\n\n".join("\n".join(p) for p in paras).strip()
    plain = c.unbold(text)
    if plain != text:
        notes.append(Stripped(c.MARKDOWN, text))
    close = _QUOTES.get(plain[:1])
    if close and len(plain) > 1 and plain.endswith(close) and close not in plain[1:-1]:
        notes.append(Stripped(c.MARKDOWN, plain[0] + plain[-1]))
        plain = plain[1:-1].strip()
    return plain


def parse_answer(reply: str, stripped: list[Stripped] | None = None) -> str:
    """An answer without a chat preamble ("Certainly! Here's a detailed explanation:") or a label line, and
    without a trailing sign-off ("I hope this helps! Let me know if you have any other questions."). Markdown
    inside the answer is the answer's own formatting and stays."""
    notes: list[Stripped] = []
    text = _answer(reply, notes)
    if stripped is not None:
        stripped.extend(notes)
    return text if notes else reply.strip()


def _answer(reply: str, notes: list[Stripped]) -> str:
    lines = reply.strip().splitlines()
    while len(lines) > 1:
        first = c.unbold(lines[0]).strip()
        label_only = bool(_ANSWER_LABEL.fullmatch(first))
        if first and not (label_only or c.is_answer_preamble(first)):
            break
        if first:
            notes.append(Stripped(c.HEADING if label_only else c.PREAMBLE, lines[0].strip()))
        lines.pop(0)
    label = _ANSWER_LABEL.match(c.unbold(lines[0]).strip()) if lines else None
    if label:  # "Answer: Paris is ..."
        notes.append(Stripped(c.RESTATED_LABEL, label.group(0)))
        lines[0] = c.unbold(lines[0]).strip()[label.end() :].strip()
    paras = _drop_closing(_paragraphs(lines), notes, commentary=False)
    return "\n\n".join("\n".join(p) for p in paras).strip()


def parse_equal(reply: str) -> bool | None:
    """The elimination judge: ``Equal`` -> True, ``Not Equal`` -> False, anything else -> None."""
    text = reply.strip().lower()
    if re.search(r"\bnot\s+equal\b", text):
        return False
    if re.search(r"\bequal\b", text):
        return True
    return None
