"""Parsing teacher replies, after the published Self-Instruct and WizardLM code.

Every parser returns what it found and leaves the decision about an empty result to the caller, which keeps
the raw text on a ``parse_failed`` record (nothing is silently dropped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ITEM = re.compile(r"(?:^|\n)[ \t]*(?:Task[ \t]*)?\d{1,3}[ \t]?[.):][ \t]*", re.IGNORECASE)
_EXAMPLE = re.compile(r"Example[ \t]?\d*[ \t]*[.:]?", re.IGNORECASE)
_OUTPUT = re.compile(r"Output\s*\d*\s*:")
_INPUT = re.compile(r"Input\s*\d*\s*:")
_LABEL = "Class label:"


@dataclass(frozen=True)
class Candidate:
    """One instruction parsed from a task-list reply; ``truncated``: the reply was cut by the length limit."""

    text: str
    truncated: bool


def parse_task_list(reply: str, finish_reason: str | None) -> list[Candidate]:
    """The numbered list a teacher continued (``9. ...\\n10. ...``); text before the first number is item 9.

    As in Self-Instruct, whitespace is collapsed and, when the reply stopped at the length limit, the last
    item is marked truncated (it is later rejected with that reason, not dropped).
    """
    pieces = [re.sub(r"\s+", " ", p).strip() for p in _ITEM.split(reply)]
    items = [p for p in pieces if p]
    cut = finish_reason == "length"
    return [Candidate(text, cut and k == len(items) - 1) for k, text in enumerate(items)]


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


def parse_instances_input_first(reply: str, finish_reason: str | None) -> tuple[list[tuple[str, str]], int]:
    """``Example 1\\nInput: ...\\nOutput: ...`` (or one bare ``Output:``). Returns (pairs, truncated dropped)."""
    text = reply.strip()
    if _EXAMPLE.search(text):
        pairs = [_input_output(p.strip()) for p in _EXAMPLE.split(text) if p.strip()]
    elif _OUTPUT.search(text):
        pairs = [_input_output(text)]
    else:
        return [], 0
    if finish_reason == "length" and pairs:
        return pairs[:-1], 1
    return pairs, 0


def parse_instances_output_first(reply: str, finish_reason: str | None) -> tuple[list[tuple[str, str]], int]:
    """``Class label: X\\nInput: ...`` blocks (output first). Returns ((input, label) pairs, truncated dropped)."""
    if _LABEL not in reply:
        return [], 0
    pairs = []
    for block in reply.split(_LABEL)[1:]:
        label, _, rest = block.strip().partition("\n")
        rest = re.sub(r"^Input\s*\d*\s*:", "", rest.strip()).strip()
        pairs.append((rest, label.strip()))
    if finish_reason == "length" and pairs:
        return pairs[:-1], 1
    return pairs, 0


def parse_rewrite(reply: str) -> str:
    """An evolved instruction: the reply, stripped (template words are left in for elimination to see)."""
    return reply.strip()


def parse_equal(reply: str) -> bool | None:
    """The elimination judge: ``Equal`` -> True, ``Not Equal`` -> False, anything else -> None."""
    text = reply.strip().lower()
    if re.search(r"\bnot\s+equal\b", text):
        return False
    if re.search(r"\bequal\b", text):
        return True
    return None
