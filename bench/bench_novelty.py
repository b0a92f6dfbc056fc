"""Benchmark: the Self-Instruct novelty filter, datagen.rouge.NoveltyIndex vs rouge_score per pair.

Builds a pool of N instructions (default 5,000), each checked against every instruction accepted before it
(reject when ROUGE-L F1 > 0.7), once with the project's index and once with the reference approach the
Self-Instruct code uses (``RougeScorer(["rougeL"]).score`` per pair). The reference is timed on a prefix of
the stream (``--ref-prefix``) when the full run would take too long; only its time is extrapolated (pairs
grow quadratically, so by the number of pairs compared), and decisions are compared on that prefix.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_novelty.py [--n 5000] [--ref-prefix 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datagen.rouge import THRESHOLD, NoveltyIndex

VERBS = [
    "write",
    "explain",
    "summarize",
    "classify",
    "translate",
    "describe",
    "list",
    "compare",
    "rewrite",
    "generate",
    "suggest",
    "outline",
]
OBJECTS = [
    "a short poem",
    "an email to a colleague",
    "the main argument",
    "a product review",
    "three reasons",
    "a recipe",
    "a haiku",
    "a tweet",
    "a cover letter",
    "the plot of a novel",
    "a job description",
    "a travel itinerary",
    "a math word problem",
    "a riddle",
    "the pros and cons",
    "a slogan",
    "a headline",
    "a limerick",
    "a dialogue",
    "an apology",
]
TOPICS = [
    "climate change",
    "remote work",
    "the French revolution",
    "photosynthesis",
    "a rainy day",
    "machine learning",
    "coffee",
    "public transport",
    "the ocean",
    "time management",
    "a birthday party",
    "quantum computing",
    "gardening",
    "chess",
    "the stock market",
    "volcanoes",
    "sleep",
    "friendship",
    "city parks",
    "electric cars",
    "ancient Rome",
    "jazz",
    "vaccines",
]
EXTRAS = [
    "in under 50 words",
    "for a ten-year-old",
    "using formal language",
    "with a humorous tone",
    "as a bullet list",
    "in the style of Shakespeare",
    "without using the letter e",
    "in two sentences",
    "for a newsletter",
    "step by step",
]
FILLER = ["very", "also", "quickly", "carefully", "simply", "clearly", "briefly", "please", "really", "then"]


def make_instructions(n: int, seed: int = 0) -> list[str]:
    """Synthetic instructions: templates over a small vocabulary, with some near-copies and odd tokens."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < 0.15:  # a near-copy of an earlier one: a few words changed
            words = rng.choice(out).split()
            for _ in range(rng.randint(1, 4)):
                words[rng.randrange(len(words))] = rng.choice(FILLER)
            out.append(" ".join(words))
            continue
        text = f"{rng.choice(VERBS).capitalize()} {rng.choice(OBJECTS)} about {rng.choice(TOPICS)}"
        if rng.random() < 0.7:
            text += f" {rng.choice(EXTRAS)}"
        if rng.random() < 0.3:
            text += f", and mention {rng.choice(TOPICS)} ({rng.randint(1, 999)} words max)."
        if rng.random() < 0.1:
            text += " " + " ".join(rng.choice(FILLER + TOPICS) for _ in range(rng.randint(20, 90)))
        out.append(text)
    return out


def run_index(texts: list[str]) -> tuple[list[bool], float]:
    t0 = time.perf_counter()
    index = NoveltyIndex()
    decisions = []
    for i, text in enumerate(texts):
        best, _ = index.check(text)
        ok = index.is_novel(best)
        decisions.append(ok)
        if ok:
            index.add(str(i), text)
    return decisions, time.perf_counter() - t0


def run_reference(texts: list[str]) -> tuple[list[bool], float, int]:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    t0 = time.perf_counter()
    pool: list[str] = []
    decisions = []
    pairs = 0
    for text in texts:
        scores = [scorer.score(text, other)["rougeL"].fmeasure for other in pool]
        pairs += len(pool)
        ok = not (max(scores, default=0.0) > THRESHOLD)
        decisions.append(ok)
        if ok:
            pool.append(text)
    return decisions, time.perf_counter() - t0, pairs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--ref-prefix", type=int, default=1000, help="reference runs on this prefix (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    texts = make_instructions(args.n, args.seed)
    prefix = args.ref_prefix or args.n

    fast, fast_s = run_index(texts)
    fast_prefix, fast_prefix_s = run_index(texts[:prefix])
    ref, ref_s, ref_pairs = run_reference(texts[:prefix])

    # Pairs compared by the reference over the full stream: each text against every accepted one before it.
    accepted_before, full_pairs = 0, 0
    for ok in fast:
        full_pairs += accepted_before
        accepted_before += ok
    ref_full_s = ref_s * full_pairs / max(ref_pairs, 1) if prefix < args.n else ref_s
    result = {
        "n": args.n,
        "threads": os.environ.get("OMP_NUM_THREADS", "unset"),
        "accepted": sum(fast),
        "rejected": args.n - sum(fast),
        "index_s": round(fast_s, 3),
        "reference_prefix": prefix,
        "reference_prefix_pairs": ref_pairs,
        "reference_prefix_s": round(ref_s, 3),
        "index_prefix_s": round(fast_prefix_s, 3),
        "full_pairs": full_pairs,
        "reference_full_s": round(ref_full_s, 1),
        "reference_full_extrapolated": prefix < args.n,
        "speedup_full": round(ref_full_s / fast_s, 1),
        "speedup_prefix_same_inputs": round(ref_s / fast_prefix_s, 1),
        "decisions_identical_on_prefix": fast[:prefix] == ref and fast_prefix == ref,
        "prefix_rejected": prefix - sum(ref),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
