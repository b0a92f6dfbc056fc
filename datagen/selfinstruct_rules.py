"""The published instruction and instance rules (Self-Instruct, Wang et al. 2022; Alpaca), one implementation.

Used both by generation (to reject candidate instructions as they are parsed) and by the heuristics filter.
Each rule answers ``None`` (fine) or a stable snake_case reason.
"""

from __future__ import annotations

import re
import string

# Words that signal the task needs non-text input or output (Self-Instruct's blacklist, plural forms included).
NON_TEXT_WORDS = (
    "image",
    "images",
    "graph",
    "graphs",
    "picture",
    "pictures",
    "file",
    "files",
    "map",
    "maps",
    "draw",
    "plot",
    "go to",
    "video",
    "audio",
    "music",
    "flowchart",
    "diagram",
)
_NON_TEXT_RE = re.compile(r"\b(" + "|".join(re.escape(w) for w in NON_TEXT_WORDS) + r")\b", re.IGNORECASE)
MIN_WORDS = 3  # rejected when <= 3 words
MAX_WORDS = 150  # rejected when > 150 words


def instruction_problem(instruction: str, truncated: bool = False) -> str | None:
    """Self-Instruct's filters for a generated instruction; ``truncated``: cut off by the length limit."""
    text = instruction.strip()
    if truncated:
        return "truncated"
    if not text:
        return "empty_instruction"
    n = len(text.split())
    if n <= MIN_WORDS:
        return "too_few_words"
    if n > MAX_WORDS:
        return "too_many_words"
    if _NON_TEXT_RE.search(text):
        return "needs_non_text_io"
    if text.startswith("Write a program"):
        return "write_a_program"
    if text[0] in string.punctuation:
        return "starts_with_punctuation"
    if not text[0].isascii():
        return "starts_with_non_ascii"
    return None


def non_text_word(instruction: str) -> str | None:
    """The blacklisted word that made ``needs_non_text_io`` fire (for the verdict's details)."""
    m = _NON_TEXT_RE.search(instruction)
    return m.group(1).lower() if m else None


def instance_problem(inp: str, out: str) -> str | None:
    """Self-Instruct's instance clean-up and Alpaca's output rules for one (input, output) pair."""
    i, o = inp.strip(), out.strip()
    if not o:
        return "empty_output"
    if i and i == o:
        return "output_equals_input"
    if i.endswith(":"):
        return "input_ends_with_colon"
    if o.endswith(":"):
        return "output_ends_with_colon"
    return None


def clean_instances(
    instances: list[tuple[str, str]], limit: int = 5
) -> tuple[list[tuple[str, str]], list[str]]:
    """Drop bad pairs and inputs with conflicting outputs; keep at most ``limit``. Returns (kept, reasons dropped)."""
    dropped: list[str] = []
    ok: list[tuple[str, str]] = []
    for inp, out in instances:
        reason = instance_problem(inp, out)
        if reason:
            dropped.append(reason)
        else:
            ok.append((inp.strip(), out.strip()))
    outputs: dict[str, set[str]] = {}
    for inp, out in ok:
        outputs.setdefault(inp, set()).add(out)
    kept: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for inp, out in ok:
        if len(outputs[inp]) > 1:
            dropped.append("conflicting_outputs")
        elif (inp, out) in seen:
            dropped.append("duplicate_instance")
        else:
            seen.add((inp, out))
            kept.append((inp, out))
    dropped.extend("over_instance_limit" for _ in kept[limit:])
    return kept[:limit], dropped
