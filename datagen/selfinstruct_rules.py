"""The published instruction and instance rules (Self-Instruct, Wang et al. 2022; Alpaca), one implementation.

Used both by generation (to reject candidate instructions as they are parsed) and by the heuristics filter.
Each rule answers ``None`` (fine) or a stable snake_case reason. Where the two published codes differ, both
are here and named by their source:

* the non-text blacklist: ``self_instruct`` is the 13 words of Self-Instruct's ``bootstrap_instructions.py``,
  ``alpaca`` adds the 5 of Alpaca's ``generate_instruction.py`` (video, audio, music, flowchart, diagram);
* a task-list reply cut by the length limit: Self-Instruct's ``post_process_gpt3_response`` discards the whole
  reply (``reply_truncated``), Alpaca's discards only its last, possibly incomplete, task (``truncated``).

As in both, the rules see the instruction with its whitespace collapsed and ``str.capitalize()`` applied (so
"write a program ..." is caught like "Write a program ..."); the caller stores ``first_upper(text)``, which
the rules judge identically but which keeps "English" and "JSON" as written.
"""

from __future__ import annotations

import random
import re
import string

# Self-Instruct, bootstrap_instructions.py: words that signal non-text input or output.
SELF_INSTRUCT_BLACKLIST = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps", "draw", "plot",
    "go to",
)  # fmt: skip
# Stanford Alpaca, generate_instruction.py: the same 13 and five more.
ALPACA_BLACKLIST = (*SELF_INSTRUCT_BLACKLIST, "video", "audio", "music", "flowchart", "diagram")
BLACKLISTS = {"self_instruct": SELF_INSTRUCT_BLACKLIST, "alpaca": ALPACA_BLACKLIST}
NON_TEXT_WORDS = ALPACA_BLACKLIST  # the default list (the heuristics filter's)
_BLACKLIST_RE = {
    name: re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)
    for name, words in BLACKLISTS.items()
}
MIN_WORDS = 3  # rejected when <= 3 words
MAX_WORDS = 150  # rejected when > 150 words


def first_upper(instruction: str) -> str:
    """The instruction as stored: whitespace collapsed and its first character upper-cased."""
    text = " ".join(instruction.split())
    return text[:1].upper() + text[1:]


def instruction_problem(instruction: str, truncated: bool = False, blacklist: str = "alpaca") -> str | None:
    """Self-Instruct's filters for a generated instruction; ``truncated``: cut off by the length limit;
    ``blacklist``: ``self_instruct`` (13 words) or ``alpaca`` (18)."""
    text = " ".join(instruction.split()).capitalize()
    if truncated:
        return "truncated"
    if not text:
        return "empty_instruction"
    n = len(text.split())
    if n <= MIN_WORDS:
        return "too_few_words"
    if n > MAX_WORDS:
        return "too_many_words"
    if _BLACKLIST_RE[blacklist].search(text):
        return "needs_non_text_io"
    if text.startswith("Write a program"):  # after capitalize(): any casing of the words
        return "write_a_program"
    if text[0] in string.punctuation:
        return "starts_with_punctuation"
    if not text[0].isascii():
        return "starts_with_non_ascii"
    return None


def non_text_word(instruction: str, blacklist: str = "alpaca") -> str | None:
    """The blacklisted word that made ``needs_non_text_io`` fire (for the verdict's details)."""
    m = _BLACKLIST_RE[blacklist].search(instruction)
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
    instances: list[tuple[str, str]], limit: int, rng: random.Random
) -> tuple[list[tuple[str, str]], list[str]]:
    """Self-Instruct's ``prepare_for_finetuning.py``: drop invalid pairs; when one non-empty input has two
    different outputs drop the whole task (empty inputs are exempt: a task without input may have several
    answers); drop exact duplicates; keep a random ``limit`` drawn with the run's ``rng`` (in reply order).
    Returns (kept, reasons dropped)."""
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
        if inp:
            outputs.setdefault(inp, set()).add(out)
    if any(len(outs) > 1 for outs in outputs.values()):
        return [], dropped + ["conflicting_outputs"] * len(ok)
    unique = list(dict.fromkeys(ok))
    dropped += ["duplicate_instance"] * (len(ok) - len(unique))
    if len(unique) > limit:
        keep = sorted(rng.sample(range(len(unique)), limit))
        dropped += ["over_instance_limit"] * (len(unique) - limit)
        unique = [unique[i] for i in keep]
    return unique, dropped
