"""Evol-Instruct's elimination rules (Xu et al. 2023, section 3.3), one function each.

An evolution fails when (1) it adds no information over its parent (a judge answers Equal), (2) the answer
contains "sorry" and is under 80 words, (3) the answer is only punctuation and stop words, or (4) the evolved
instruction copies words from the evolving prompt ("given prompt", "rewritten prompt", ...). Each rule
answers ``None`` (fine) or a stable snake_case reason.
"""

from __future__ import annotations

import re

# Phrases of the evolving prompts; matching is case-insensitive, so "#The Given Prompt#" is covered too.
TEMPLATE_PHRASES = (
    "given prompt", "rewritten prompt", "created prompt", "prompt rewriter", "prompt creator",
)  # fmt: skip
# NLTK's English stop-word list (the usual meaning of "stop words").
_NLTK_STOP_WORDS = """i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself yourselves he him
    his himself she she's her hers herself it it's its itself they them their theirs themselves what which who
    whom this that that'll these those am is are was were be been being have has had having do does did doing a
    an the and but if or because as until while of at by for with about against between into through during
    before after above below to from up down in out on off over under again further then once here there when
    where why how all any both each few more most other some such no nor not only own same so than too very s t
    can will just don don't should should've now d ll m o re ve y ain aren aren't couldn couldn't didn didn't
    doesn doesn't hadn hadn't hasn hasn't haven haven't isn isn't ma mightn mightn't mustn mustn't needn needn't
    shan shan't shouldn shouldn't wasn wasn't weren weren't won won't wouldn wouldn't"""
STOP_WORDS = frozenset(_NLTK_STOP_WORDS.split())
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def copies_template_words(instruction: str) -> str | None:
    low = instruction.lower()
    return "copies_template_words" if any(p in low for p in TEMPLATE_PHRASES) else None


def judged_equal(equal: bool | None) -> str | None:
    if equal is None:
        return "judge_unparseable"
    return "no_information_gain" if equal else None


def sorry_and_short(answer: str, min_words: int = 80) -> str | None:
    return "answer_sorry_short" if "sorry" in answer.lower() and len(answer.split()) < min_words else None


def only_stop_words(answer: str) -> str | None:
    words = _WORD.findall(answer.lower().replace("’", "'"))
    return "answer_only_stopwords" if all(w in STOP_WORDS for w in words) else None


def answer_problem(answer: str, min_words: int = 80) -> str | None:
    return sorry_and_short(answer, min_words) or only_stop_words(answer)
