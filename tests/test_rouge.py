"""datagen.rouge agrees with the reference rouge_score package, score for score and decision for decision."""

from __future__ import annotations

import random

import pytest
from rouge_score import rouge_scorer
from rouge_score.tokenize import tokenize as reference_tokenize

from datagen.rouge import NoveltyIndex, rouge_l_f1, tokenize

# Tricky tokens: case, digits, punctuation inside words, unicode letters (dropped or split by the reference's
# [^a-z0-9] rule), lower() that changes length (İ), whitespace of every kind.
WORDS = [
    "the", "The", "THE", "a", "cat", "dog", "Dog.", "run", "running", "2", "3.5", "10,000", "x-y", "don't",
    "café", "İstanbul", "straße", "ß", "naïve", "日本", "Ωmega", "!!", "...", "e.g.", "12ab", "ab12", "write",
    "list", "é", "\t", "\u00a0", "—", "co-op", "U.S.A.", "#1", "50%", "$5", "snake_case", "emoji🙂",
]  # fmt: skip
SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def random_text(rng: random.Random) -> str:
    n = rng.choice([0, 1, 2, 5, 12, 30, 63, 64, 65, 100, 140])
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, n)))


def reference(target: str, prediction: str) -> float:
    return SCORER.score(target, prediction)["rougeL"].fmeasure


def test_tokenizer_matches_the_reference() -> None:
    rng = random.Random(1)
    for _ in range(2000):
        text = random_text(rng)
        assert tokenize(text) == reference_tokenize(text, None)


def test_scores_and_decisions_equal_rouge_score_on_thousands_of_random_pairs() -> None:
    rng = random.Random(7)
    texts = [random_text(rng) for _ in range(120)]
    # near-copies so that decisions near and above 0.7 occur
    for _ in range(60):
        words = rng.choice(texts).split()
        if words:
            words[rng.randrange(len(words))] = rng.choice(WORDS)
        texts.append(" ".join(words))
    index = NoveltyIndex()
    pairs = rejected = 0
    for i, text in enumerate(texts):
        scores = index.scores(text)
        for j in range(i):
            ref = reference(text, texts[j])
            assert scores[j] == ref, (text, texts[j])
            assert (scores[j] > 0.7) == (ref > 0.7)
            rejected += ref > 0.7
            pairs += 1
        index.add(str(i), text)
    assert pairs == 180 * 179 // 2
    assert rejected > 50  # the threshold was exercised


def test_single_pair_function_and_edge_cases() -> None:
    assert rouge_l_f1("", "anything") == 0.0 == reference("", "anything")
    assert rouge_l_f1("!!! ...", "!!!") == 0.0
    a, b = "Classify the sentiment of the tweet", "classify THE sentiment, of a tweet!"
    assert rouge_l_f1(a, b) == reference(a, b)


def test_check_returns_the_max_and_the_most_similar_best_first() -> None:
    index = NoveltyIndex(top_k=2)
    assert index.check("anything at all") == (0.0, [])
    index.add("a", "write a poem about the sea")
    index.add("b", "write a poem about the mountains in winter")
    index.add("c", "translate this sentence into german")
    best, top = index.check("Write a poem about the sea.")
    assert best == 1.0
    assert [(s.key, s.score) for s in top] == [
        ("a", 1.0),
        ("b", reference("write a poem about the sea", top[1].text)),
    ]
    assert not index.is_novel(best)
    assert index.is_novel(0.7)  # the rule is strictly greater than 0.7


@pytest.mark.parametrize("length", [63, 64, 65, 128, 129, 200])
def test_long_instructions_cross_word_boundaries(length: int) -> None:
    rng = random.Random(length)
    base = [rng.choice(["x", "y", "z", "w"]) for _ in range(length)]
    other = [*[t if rng.random() < 0.8 else "q" for t in base][: length - 3], "x", "z"]
    index = NoveltyIndex()
    index.add("long", " ".join(base))
    index.add("short", "x y")
    got = index.scores(" ".join(other))
    assert got[0] == reference(" ".join(other), " ".join(base))
    assert got[1] == reference(" ".join(other), "x y")


def test_the_multi_word_bucket_widens_for_a_longer_entry_and_stays_exact() -> None:
    rng = random.Random(3)
    texts = [
        " ".join(rng.choice(["a", "b", "c", "d", "e", "f"]) for _ in range(k)) for k in (70, 130, 260, 90, 5)
    ]
    index = NoveltyIndex()
    for i, t in enumerate(texts):
        index.add(str(i), t)
    query = " ".join(rng.choice(["a", "b", "c", "d", "e", "f"]) for _ in range(150))
    assert list(index.scores(query)) == [reference(query, t) for t in texts]
