"""Perplexity with the real SmolLM2: fluent < repetitive < gibberish; batching changes nothing; reasons."""

from __future__ import annotations

import pytest

from filters.base import RecordView
from filters.perplexity import PerplexityFilter, PerplexitySettings

pytestmark = pytest.mark.slow

INSTRUCTION = "Explain how plants make their food."
FLUENT = (
    "Plants use sunlight, water and carbon dioxide to make glucose in their leaves. This process is called "
    "photosynthesis, and it releases oxygen into the air."
)
REPETITIVE = "plants plants plants plants plants plants plants plants"
GIBBERISH = "Xq zrt vlop mnaqe, brutz klen ofwa jjiq pe dorv; smek laq uuy trobn."
RECORDS = [RecordView(i, INSTRUCTION, "", t) for i, t in enumerate([FLUENT, REPETITIVE, GIBBERISH])]


@pytest.mark.parametrize("mode", ["answer", "text"])
def test_ordering_fluent_repetitive_gibberish(mode: str) -> None:
    f = PerplexityFilter(PerplexitySettings(mode=mode))
    scores = f.score(RECORDS)
    fluent, repetitive, gibberish = (s.value for s in scores)
    assert fluent is not None and repetitive is not None and gibberish is not None
    assert fluent < repetitive < gibberish
    decisions = [f.decide(s) for s in scores]
    assert [(d.passed, d.reason) for d in decisions] == [
        (True, "ok"),
        (True, "ok"),
        (False, "perplexity_too_high"),
    ]
    assert decisions[2].details["threshold"] == 100.0
    assert decisions[2].details["backend"] == "smollm2-135m-instruct/float32"


def test_batching_and_padding_do_not_change_scores() -> None:
    batched = [s.value for s in PerplexityFilter(PerplexitySettings(batch_size=3)).score(RECORDS)]
    single = [s.value for s in PerplexityFilter(PerplexitySettings(batch_size=1)).score(RECORDS)]
    assert batched == pytest.approx(single, rel=1e-3)


def test_truncation_keeps_the_answer() -> None:
    long_instruction = INSTRUCTION + " " + " ".join(["Please be precise."] * 60)
    (score,) = PerplexityFilter(PerplexitySettings(max_length=64)).score(
        [RecordView(1, long_instruction, "", FLUENT)]
    )
    assert score.details["truncated"] is True
    assert score.details["tokens"] == 29  # every answer token still scored
