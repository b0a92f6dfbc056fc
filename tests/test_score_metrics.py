"""Reference metrics against hand-computed values, paired bootstrap intervals on synthetic data with a known
effect, per-task-type aggregation, and the judge's sanity check (an "always A" judge is unusable)."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest

from finetune.evalset import EvalItem
from finetune.judge import Pick
from finetune.judge_check import CLEAR_CUT_ROUGE, check_judge_sanity, clear_cut_pairs
from finetune.paired import bootstrap_mean, bootstrap_perplexity
from finetune.refmetrics import (
    exact_match,
    label_accuracy,
    normalize_answer,
    per_item,
    predicted_label,
    similarities,
)
from finetune.score_metrics import Measured, compare_metrics, verdict


class FakeEncoder:
    """A sentence-transformers stand-in: each known text has a fixed vector (normalized by ``encode``)."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    def encode(self, texts: list[str], **_: Any) -> np.ndarray:
        return np.array([self.vectors.get(t, [0.0, 0.0, 1.0]) for t in texts], dtype=np.float32)

    def get_sentence_embedding_dimension(self) -> int:
        return 3


def test_rouge_l_and_exact_match_by_hand() -> None:
    enc = FakeEncoder({})
    vals = per_item(["the cat sat", "Paris.", ""], ["the cat sat down", "paris", "x"], [(), (), ()], enc)
    # LCS 3 of 3 and 4 tokens: precision 1, recall 3/4, F1 = 2 * 0.75 / 1.75
    assert vals["rouge_l"][0] == pytest.approx(6 / 7)
    assert vals["rouge_l"][1] == 1.0 and vals["rouge_l"][2] == 0.0
    assert vals["exact_match"] == [0.0, 1.0, 0.0]
    assert vals["accuracy"] == [None, None, None]  # no labels, no accuracy
    assert normalize_answer('  "The  Answer is 4." ') == "the answer is 4"
    assert exact_match("30 dollars.", "30 Dollars") == 1.0 and exact_match("30", "30 dollars") == 0.0


def test_labels_are_read_as_whole_words_first_mention_wins() -> None:
    labels = ("metal", "non-metal")
    assert predicted_label("Oxygen is a non-metal.", labels) == "non-metal"  # not "metal" inside "non-metal"
    assert predicted_label("It is a metal, not a non-metal", labels) == "metal"  # first mention
    assert predicted_label("No idea", labels) is None
    assert predicted_label("metallic", labels) is None  # whole words only
    topics = ("sports", "politics", "science", "business")
    assert label_accuracy("Category: Science", "science", topics) == 1.0
    assert label_accuracy("politics or science", "science", topics) == 0.0
    assert label_accuracy("", "science", topics) == 0.0


def test_embedding_similarity_is_the_cosine_and_zero_for_empty_answers() -> None:
    enc = FakeEncoder({"a": [1.0, 0.0, 0.0], "b": [1.0, 1.0, 0.0], "ref": [1.0, 0.0, 0.0]})
    sims = similarities(["a", "b", " "], ["ref", "ref", "ref"], enc)
    assert sims[0] == pytest.approx(1.0) and sims[1] == pytest.approx(1 / math.sqrt(2)) and sims[2] == 0.0


def test_bootstrap_mean_by_hand_and_degenerate() -> None:
    p = bootstrap_mean([0.0, 1.0], [1.0, 1.0], rounds=500, seed=1)
    assert p is not None and (p.base, p.tuned, p.diff, p.n) == (0.5, 1.0, 0.5, 2)
    assert p.diff_ci[0] == pytest.approx(0.0) and p.diff_ci[1] == pytest.approx(
        1.0
    )  # all-0 / all-1 resamples
    same = bootstrap_mean([0.3] * 5, [0.3] * 5)
    assert same is not None and same.diff_ci == (0.0, 0.0) and not same.distinguishable
    assert bootstrap_mean([], []) is None
    with pytest.raises(ValueError):
        bootstrap_mean([1.0], [1.0, 2.0])


def test_bootstrap_finds_a_known_effect_and_none_where_there_is_none() -> None:
    rng = random.Random(7)
    base = [rng.gauss(0.4, 0.15) for _ in range(200)]
    tuned = [b + 0.1 + rng.gauss(0, 0.05) for b in base]  # true paired effect +0.1
    p = bootstrap_mean(base, tuned, seed=3)
    assert p is not None and p.distinguishable
    assert p.diff_ci[0] < 0.1 < p.diff_ci[1] and p.diff_ci[1] - p.diff_ci[0] < 0.03
    assert p.diff == pytest.approx(sum(tuned) / 200 - sum(base) / 200)
    noise = [b + rng.gauss(0, 0.05) for b in base]  # no effect
    q = bootstrap_mean(base, noise, seed=3)
    assert q is not None and q.diff_ci[0] < 0 < q.diff_ci[1] and not q.distinguishable
    # pairing matters: the paired difference varies far less than either model's own mean
    assert p.diff_ci[1] - p.diff_ci[0] < (p.tuned_ci[1] - p.tuned_ci[0])
    assert p == bootstrap_mean(base, tuned, seed=3)  # seeded


def test_bootstrap_perplexity_constant_per_item() -> None:
    base = [(2 * math.log(4), 2), (3 * math.log(4), 3)]
    tuned = [(2 * math.log(2), 2), (3 * math.log(2), 3)]
    p = bootstrap_perplexity(base, tuned, rounds=200, seed=0)
    assert p is not None and p.base == pytest.approx(4.0) and p.tuned == pytest.approx(2.0)
    assert p.diff_ci == pytest.approx((-2.0, -2.0)) and p.distinguishable
    assert bootstrap_perplexity([(0.0, 0)], [(0.0, 0)]) is None


def _item(key: str, task_type: str, ref: str, labels: tuple[str, ...] = ()) -> EvalItem:
    return EvalItem(key, task_type, f"question {key}", "", ref, labels)


def test_compare_metrics_per_task_type() -> None:
    items = [
        _item("c1", "classification", "yes", ("yes", "no")),
        _item("c2", "classification", "no", ("yes", "no")),
        _item("g1", "open", "the sky is blue"),
        _item("g2", "open", "grass is green"),
    ]
    nll = [(math.log(2), 1)] * 4
    base = Measured(nll, ["no", "no", "blue", "grass"], [False, True, False, False])
    tuned = Measured(nll, ["yes", "No.", "the sky is blue", "grass is green"], [False, False, False, False])
    res = compare_metrics(items, base, tuned, FakeEncoder({}), rounds=200, seed=0)
    assert set(res) == {"perplexity", "rouge_l", "embedding_similarity", "exact_match", "accuracy",
                        "hit_max_new_tokens"}  # fmt: skip
    acc = res["accuracy"]
    assert (acc.overall.n, acc.overall.base, acc.overall.tuned) == (2, 0.5, 1.0)
    assert set(acc.by_type) == {"classification"}  # only labelled items count
    em = res["exact_match"]
    assert em.by_type["open"].base == 0.0 and em.by_type["open"].tuned == 1.0
    assert em.by_type["classification"].base == 0.5 and em.by_type["classification"].tuned == 1.0
    assert res["hit_max_new_tokens"].overall.base == 0.25 and res["perplexity"].overall.diff == pytest.approx(
        0.0
    )
    d = res["exact_match"].details()
    assert d["per_item"]["keys"] == ["c1", "c2", "g1", "g2"] and d["per_item"]["tuned"] == [
        1.0,
        1.0,
        1.0,
        1.0,
    ]
    assert "beyond noise on" in verdict(res, 4) or "no difference" in verdict(res, 4)


def test_verdict_sentences() -> None:
    items = [_item(str(k), "t", "a b c") for k in range(40)]
    nll = [(1.0, 1)] * 40
    same = Measured(nll, ["a b c"] * 40, [False] * 40)
    res = compare_metrics(items, same, same, FakeEncoder({}), rounds=200, seed=0)
    assert verdict(res, 40).startswith(
        "On these 40 items no difference between tuned and base is distinguishable"
    )
    better = Measured(nll, ["a b c"] * 40, [False] * 40)
    worse = Measured(nll, ["x"] * 40, [False] * 40)
    res = compare_metrics(items, worse, better, FakeEncoder({}), rounds=200, seed=0)
    text = verdict(res, 40)
    assert "beyond noise on rouge_l (better: +1.000" in text and "within noise" in text  # perplexity equal


class AlwaysA:
    name = "always-a"

    def pick(self, items: list[tuple[str, str, str]]) -> list[Pick]:
        return [Pick("A") for _ in items]


class KnowsTheReference:
    """Picks whichever answer is the reference of its instruction."""

    name = "oracle"

    def __init__(self, refs: dict[str, str]) -> None:
        self.refs = refs

    def pick(self, items: list[tuple[str, str, str]]) -> list[Pick]:
        return [Pick("A" if a == self.refs[q] else "B") for q, a, _ in items]


PROMPTS = [f"Task {k}: say something about topic {k}." for k in range(12)]
REFS = [f"{w} alpha{k} beta{k} gamma{k}" for k, w in enumerate("abcdefghijkl")]


def test_a_judge_that_always_answers_a_is_unusable() -> None:
    check = check_judge_sanity(AlwaysA(), PROMPTS, REFS)
    assert check.pairs == 12 and check.agreement == 0.5 and check.consistency == 0.0
    assert check.position_a_share == 1.0 and not check.usable
    assert len(check.reasons) == 2 and "50%" in check.reasons[0] and "picked A in 100%" in check.reasons[1]
    assert check.as_dict()["usable"] is False


def test_a_judge_that_prefers_the_reference_passes() -> None:
    check = check_judge_sanity(KnowsTheReference(dict(zip(PROMPTS, REFS, strict=True))), PROMPTS, REFS)
    assert (check.agreement, check.consistency, check.usable) == (1.0, 1.0, True)
    assert check.position_a_share == 0.5


def test_clear_cut_pairs_differ_in_prompt_and_reference() -> None:
    prompts = ["p1", "p1", "p2", "p3"]
    refs = ["the same answer here", "the same answer here", "totally other words", "and more unrelated text"]
    pairs = clear_cut_pairs(prompts, refs, seed=0)
    from datagen.rouge import rouge_l_f1

    assert len(pairs) == 4
    for i, j in pairs:
        assert prompts[i] != prompts[j] and rouge_l_f1(refs[i], refs[j]) < CLEAR_CUT_ROUGE
    assert clear_cut_pairs(["p"], ["only one"], seed=0) == []
