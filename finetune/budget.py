"""A token budget for training: the train split subsampled (seeded) to at most N tokens, so datasets of
different sizes are trained on the same amount of text (``TrainConfig.max_train_tokens``, set by
``datagen compare``). Tokens are counted as training sees them: prompt + answer through the chat template."""

from __future__ import annotations

import random
from typing import Any

from finetune.data import Example, encode


def example_tokens(tokenizer: Any, ex: Example, system_prompt: str | None = None) -> int:
    """Tokens of one example as training sees it (prompt + answer through the chat template)."""
    return len(encode(tokenizer, ex, system_prompt)[3])


def subsample_to_tokens(
    tokenizer: Any, examples: list[Example], budget: int, seed: int, system_prompt: str | None = None
) -> list[Example]:
    """A seeded subsample of at most ``budget`` tokens: examples in a shuffled order, each taken while it still
    fits (so the budget is nearly used up), returned in record order. All of them when they fit already."""
    sizes = {ex.record_id: example_tokens(tokenizer, ex, system_prompt) for ex in examples}
    if sum(sizes.values()) <= budget:
        return list(examples)
    order = list(examples)
    random.Random(seed).shuffle(order)
    chosen, used = set(), 0
    for ex in order:
        if used + sizes[ex.record_id] <= budget:
            chosen.add(ex.record_id)
            used += sizes[ex.record_id]
    return [ex for ex in examples if ex.record_id in chosen]
