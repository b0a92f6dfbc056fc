"""Evol-Instruct's elimination rules (Xu et al. 2023, section 3.3), one function each, for answers in any language.

An evolution fails when (1) it adds no information over its parent (a judge answers Equal), (2) the answer
contains "sorry" and is under 80 words, (3) the answer is only punctuation and stop words, or (4) the evolved
instruction copies words from the evolving prompt ("given prompt", "rewritten prompt", ...). Each rule
answers ``None`` (fine) or a stable snake_case reason.

Rules 2 and 3 read any language: words are Unicode words (``\\w``), a Chinese or Japanese character counts as
one word, the stop words are those of several languages together (``stopwords.py``) and "sorry" is also
matched in those languages. Not in the paper: a rewrite cut by the length limit is an incomplete instruction
and fails (``rewrite_truncated``).
"""

from __future__ import annotations

import re

from datagen.generation.stopwords import STOP_WORDS

# Phrases of the evolving prompts; matching is case-insensitive, so "#The Given Prompt#" is covered too.
TEMPLATE_PHRASES = (
    "given prompt", "rewritten prompt", "created prompt", "prompt rewriter", "prompt creator",
)  # fmt: skip
# "sorry" (the paper's word) and the usual apologies of the stop-word languages.
SORRY = (
    "sorry", "entschuldigung", "tut mir leid", "désolé", "désolée", "lo siento", "disculp", "desculp",
    "sinto muito", "mi dispiace", "scusa", "извин", "прости", "抱歉", "对不起", "すみません", "申し訳",
)  # fmt: skip
_WORD = re.compile(r"\w+(?:['’]\w+)*")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def word_count(text: str) -> int:
    """Whitespace-separated words, each Chinese or Japanese character counted as one (the paper's "80 words"
    for text written without spaces)."""
    return len(_CJK.sub(" ", text).split()) + len(_CJK.findall(text))


def copies_template_words(instruction: str) -> str | None:
    low = instruction.lower()
    return "copies_template_words" if any(p in low for p in TEMPLATE_PHRASES) else None


def judged_equal(equal: bool | None) -> str | None:
    if equal is None:
        return "judge_unparseable"
    return "no_information_gain" if equal else None


def rewrite_truncated(finish_reason: str | None) -> str | None:
    return "rewrite_truncated" if finish_reason == "length" else None


def sorry_and_short(answer: str, min_words: int = 80) -> str | None:
    low = answer.lower()
    return "answer_sorry_short" if any(s in low for s in SORRY) and word_count(answer) < min_words else None


def only_stop_words(answer: str) -> str | None:
    """No word with a letter or digit that is not a stop word (an empty answer fails too)."""
    for word in _WORD.findall(answer.lower().replace("’", "'")):
        if any(ch.isalnum() for ch in word) and word not in STOP_WORDS:
            return None
    return "answer_only_stopwords"


def answer_problem(answer: str, min_words: int = 80) -> str | None:
    return sorry_and_short(answer, min_words) or only_stop_words(answer)
