"""Reference metrics: how close each generated answer is to the item's reference answer, with no judge.

Per item and model:

* ``rouge_l`` — ROUGE-L F1 of answer and reference (``datagen.rouge``: rouge_score's tokenizer, no stemming);
* ``embedding_similarity`` — cosine of the answer's and the reference's embeddings (the default embedder,
  all-MiniLM-L6-v2, normalized vectors); an empty answer scores 0;
* ``exact_match`` — 1 when the answer equals the reference up to case, spacing and surrounding punctuation;
* ``accuracy`` (classification items with labels only) — 1 when the label the answer names is the reference:
  the label mentioned first in the answer (as a whole word, case-insensitive; on the same position the
  longer label, so "non-metal" is not read as "metal"), none when it names no label (counts as wrong).

The perplexity of the reference answer comes from the models (``finetune.evaluate.answer_nll``).
"""

from __future__ import annotations

import re
from typing import Any

from datagen.rouge import rouge_l_f1

_EDGE_PUNCT = " \t\n\r.,;:!?\"'`()[]{}"
METRICS = ("rouge_l", "embedding_similarity", "exact_match", "accuracy")


def normalize_answer(text: str) -> str:
    """Lower-case, whitespace collapsed, punctuation and quotes stripped from both ends."""
    return " ".join(text.lower().split()).strip(_EDGE_PUNCT)


def exact_match(answer: str, reference: str) -> float:
    return float(normalize_answer(answer) == normalize_answer(reference))


def predicted_label(answer: str, labels: tuple[str, ...] | list[str]) -> str | None:
    """The label the answer names first (whole word, case-insensitive; the longer label on a tie), or None."""
    best: tuple[int, int, str] | None = None
    low = answer.lower()
    for label in labels:
        m = re.search(rf"(?<![\w-]){re.escape(label.lower())}(?![\w-])", low)
        if m and (best is None or (m.start(), -len(label)) < (best[0], best[1])):
            best = (m.start(), -len(label), label)
    return best[2] if best else None


def label_accuracy(answer: str, reference: str, labels: tuple[str, ...] | list[str]) -> float:
    predicted = predicted_label(answer, labels)
    return float(predicted is not None and predicted.lower() == reference.lower())


def similarities(answers: list[str], references: list[str], encoder: Any) -> list[float]:
    """Cosine of each answer's embedding with its reference's (0 for an empty answer)."""
    from filters.dedup_index import encode

    a, r = encode(encoder, answers), encode(encoder, references)
    return [float(a[i] @ r[i]) if answers[i].strip() else 0.0 for i in range(len(answers))]


def per_item(
    answers: list[str], references: list[str], labels: list[tuple[str, ...]], encoder: Any
) -> dict[str, list[float | None]]:
    """Each metric's value per item (``accuracy`` is None for items without labels)."""
    return {
        "rouge_l": [rouge_l_f1(a, r) for a, r in zip(answers, references, strict=True)],
        "embedding_similarity": list(similarities(answers, references, encoder)),
        "exact_match": [exact_match(a, r) for a, r in zip(answers, references, strict=True)],
        "accuracy": [
            label_accuracy(a, r, ls) if ls else None
            for a, r, ls in zip(answers, references, labels, strict=True)
        ],
    }
