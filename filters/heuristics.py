"""Heuristics: the Self-Instruct/Alpaca rules (``datagen.selfinstruct_rules``, shared with generation) + 2 stats.

Checked in this order, the first failure is the reason (a conversation: rule 1 on its first user turn, the others
on every turn):

1. ``datagen.selfinstruct_rules.instruction_problem`` (truncated, empty_instruction, too_few_words,
   too_many_words, needs_non_text_io, write_a_program, starts_with_punctuation, starts_with_non_ascii);
   ``truncated`` comes from ``meta["truncated"]`` when generation recorded it;
2. ``datagen.selfinstruct_rules.instance_problem`` (empty_output, output_equals_input, input_ends_with_colon,
   output_ends_with_colon), on every assistant turn of a conversation;
3. ``ngram_repetition``: the share of repeated word n-grams (n=3) in the example above 0.3 (a looping
   answer); only for examples with at least 10 n-grams;
4. ``non_alphanumeric``: the share of non-space characters that are not letters or digits above 0.4
   (markup debris, symbol soup; code stays well under it).

The score is the n-gram repetition ratio; every measure is in the details.
"""

from __future__ import annotations

from typing import Any

from datagen.selfinstruct_rules import instance_problem, instruction_problem, non_text_word
from filters.base import Filter, FilterScore, FilterSettings, RecordView


class HeuristicsSettings(FilterSettings):
    ngram: int = 3
    max_ngram_repetition: float = 0.3
    min_ngrams: int = 10
    max_non_alphanumeric: float = 0.4


def ngram_repetition(text: str, n: int = 3) -> tuple[float, int]:
    """(share of word n-grams that repeat an earlier one, number of n-grams)."""
    words = text.lower().split()
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0, 0
    return 1.0 - len(set(grams)) / len(grams), len(grams)


def non_alphanumeric_ratio(text: str) -> float:
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return 0.0
    return sum(not c.isalnum() for c in chars) / len(chars)


class HeuristicsFilter(Filter):
    name = "heuristics"
    version = "1"
    cost = 10
    Settings = HeuristicsSettings
    settings: HeuristicsSettings

    @property
    def backend(self) -> str:
        return "rules"

    @classmethod
    def pass_rule(cls, settings: dict[str, Any], details: dict[str, Any]) -> str | None:
        """The score is the n-gram repetition: it passes at or below ``max_ngram_repetition``."""
        limit = settings.get("max_ngram_repetition", HeuristicsSettings().max_ngram_repetition)
        return f"<= {limit}"

    def score(self, records: list[RecordView]) -> list[FilterScore]:
        return [self._one(r) for r in records]

    def _one(self, r: RecordView) -> FilterScore:
        st = self.settings
        rep, n_grams = ngram_repetition(r.text(), st.ngram)
        non_alnum = non_alphanumeric_ratio(r.text())
        details: dict[str, object] = {
            "ngram_repetition": round(rep, 4),
            "ngrams": n_grams,
            "non_alphanumeric": round(non_alnum, 4),
        }
        reason = instruction_problem(r.instruction, truncated=bool(r.meta.get("truncated", False)))
        if reason == "needs_non_text_io":
            details["word"] = non_text_word(r.instruction)
        reason = reason or next(filter(None, (instance_problem(r.input, a) for a in r.answers())), None)
        if reason is None and n_grams >= st.min_ngrams and rep > st.max_ngram_repetition:
            reason = "ngram_repetition"
        if reason is None and non_alnum > st.max_non_alphanumeric:
            reason = "non_alphanumeric"
        return FilterScore(rep, details, reason)
