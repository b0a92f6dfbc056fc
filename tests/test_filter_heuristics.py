"""Heuristics and length filters: exact reasons on small inline records (table-driven)."""

from __future__ import annotations

import pytest

from filters.base import RecordView
from filters.heuristics import HeuristicsFilter, ngram_repetition
from filters.length import LengthFilter, LengthSettings

GOOD = "Explain why the sky appears blue during the day."
ANSWER = "Sunlight is scattered by the molecules of the air, and blue light is scattered the most."

HEURISTIC_CASES = [
    ("ok", GOOD, "", ANSWER, {}),
    ("truncated", GOOD, "", ANSWER, {"truncated": True}),
    ("empty_instruction", "   ", "", ANSWER, {}),
    ("too_few_words", "Explain the sky.", "", ANSWER, {}),
    ("too_many_words", " ".join(["word"] * 151), "", ANSWER, {}),
    ("needs_non_text_io", "Draw a picture of a cat sitting on a mat.", "", ANSWER, {}),
    ("write_a_program", "Write a program that sorts a list of numbers.", "", ANSWER, {}),
    ("starts_with_punctuation", "- Explain why the sky is blue today.", "", ANSWER, {}),
    ("starts_with_non_ascii", "Élucidate why the sky is blue today.", "", ANSWER, {}),
    ("empty_output", GOOD, "", "  ", {}),
    ("output_equals_input", GOOD, "the same text", "the same text", {}),
    ("input_ends_with_colon", GOOD, "Here is the text:", ANSWER, {}),
    ("output_ends_with_colon", GOOD, "", "The answer is as follows:", {}),
    ("ngram_repetition", GOOD, "", " ".join(["the sky is blue"] * 12), {}),
    ("non_alphanumeric", GOOD, "", "#### $$$ @@@ !!! ((( ))) ### ^^^ &&& ***", {}),
]


@pytest.mark.parametrize(("reason", "instruction", "inp", "out", "meta"), HEURISTIC_CASES)
def test_heuristics_reason(reason: str, instruction: str, inp: str, out: str, meta: dict) -> None:
    f = HeuristicsFilter()
    (score,) = f.score([RecordView(1, instruction, inp, out, "self_instruct", meta)])
    d = f.decide(score)
    assert d.reason == reason
    assert d.passed == (reason == "ok")
    assert d.details["backend"] == "rules"


def test_heuristics_names_the_non_text_word() -> None:
    f = HeuristicsFilter()
    (score,) = f.score([RecordView(1, "Describe the video of a cat playing piano.", "", ANSWER)])
    assert f.decide(score).details["word"] == "video"


def test_ngram_repetition_ratio() -> None:
    assert ngram_repetition("a b c a b c", 3) == (pytest.approx(1 - 3 / 4), 4)
    assert ngram_repetition("one two", 3) == (0.0, 0)


def test_heuristics_never_modifies_records() -> None:
    r = RecordView(1, GOOD, "", ANSWER, "self_instruct", {"truncated": False})
    before = (r.instruction, r.input, r.output, dict(r.meta))
    HeuristicsFilter().score([r])
    assert (r.instruction, r.input, r.output, dict(r.meta)) == before


@pytest.mark.parametrize(
    ("settings", "instruction", "out", "reason"),
    [
        ({}, GOOD, ANSWER, "ok"),
        ({}, "Say hi.", "Hi.", "too_short"),
        ({"max_tokens": 10}, GOOD, ANSWER, "too_long"),
        ({"fields": {"output": (25, None)}}, GOOD, ANSWER, "output_too_short"),
        ({"fields": {"instruction": (None, 5)}}, GOOD, ANSWER, "instruction_too_long"),
    ],
)
def test_length_reason(settings: dict, instruction: str, out: str, reason: str) -> None:
    f = LengthFilter(LengthSettings(**settings))
    (score,) = f.score([RecordView(1, instruction, "", out)])
    d = f.decide(score)
    assert d.reason == reason
    assert score.value == d.details["tokens"]


def test_length_counts_smollm2_tokens() -> None:
    f = LengthFilter()
    (score,) = f.score([RecordView(1, "hello world", "", "")])
    assert score.value == 2.0
    assert f.backend == "tokenizer:smollm2-135m-instruct"
