"""Model-side measurements for scoring: answer log-likelihood (for perplexity) and greedy answers.

Both format examples exactly as training does (the chat template over the prompt/completion rows), so the
reference-answer perplexity measures the tokens the adapter was trained on: the assistant's answer, EOS
included, conditioned on the prompt. The computing is ``datagen.lm``'s (``token_nll`` and ``generate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datagen import lm
from finetune.data import Example, encode, prompt_messages


@dataclass(frozen=True)
class Generated:
    text: str
    tokens: int
    hit_limit: bool  # ran into max_new_tokens without emitting EOS


def answer_nll(
    model: Any, tok: Any, examples: list[Example], system_prompt: str | None, batch_size: int = 8
) -> list[tuple[float, int]]:
    """Per example: (summed negative log-likelihood of the answer tokens, number of answer tokens)."""
    pairs = []
    for ex in examples:
        _, _, p_ids, f_ids = encode(tok, ex, system_prompt)
        pairs.append((f_ids, len(p_ids)))
    return lm.token_nll(model, pairs, lm.pad_id(tok), batch_size)


def generate_answers(
    model: Any,
    tok: Any,
    examples: list[Example],
    system_prompt: str | None,
    max_new_tokens: int,
    batch_size: int = 8,
) -> list[Generated]:
    """Greedy answers to each example's prompt (batched), with whether each hit the limit."""
    from datagen.providers.base import SamplingParams

    greedy = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=max_new_tokens)
    prompts = [lm.chat_ids(tok, prompt_messages(ex, system_prompt)) for ex in examples]
    gens = lm.generate(model, tok, prompts, [greedy] * len(prompts), batch_size=batch_size)
    return [Generated(g.text.strip(), len(g.ids), g.finish_reason == "length") for g in gens]
