"""Scoring token sequences with a causal LM: log-likelihoods over chosen positions, next-token probabilities.

Both run the same batched forward: sequences sorted by length (little padding), right-padded, in batches of
``batch_size``; the tokens every sequence of a batch starts with (a chat template's system prompt, a judge's
rubric) run once and are shared through the KV cache; the vocabulary projection runs only on the positions
that are read, in chunks of ``LOGIT_ROWS`` rows (a full [batch, length, 49k] float logits tensor would cost
~0.6 GB per batch of 16 x 200 tokens, and the time to fill it). Results do not depend on the batch size
beyond float rounding.
"""

from __future__ import annotations

import math
from typing import Any

from datagen import progress
from datagen.lm.batch import common_prefix, pad_batch

LOGIT_ROWS = 512
MIN_SHARED_PREFIX = 8  # shorter shared prefixes are not worth a separate forward


def _parts(model: Any) -> tuple[Any, Any, Any]:
    """(body, output head, config) of a causal LM, or of the model under a PEFT adapter (LoRA layers kept)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return getattr(base, base.base_model_prefix), base.get_output_embeddings(), base.config


def _logits(head: Any, config: Any, hidden: Any) -> Any:
    """Float logits from hidden states, with the model's final soft-capping where it has one (Gemma 2)."""
    import torch

    logits = head(hidden).float()
    cap = getattr(config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def _forward(
    body: Any, seqs: list[list[int]], first_read: int, pad: int, device: Any
) -> tuple[Any, Any, int]:
    """(hidden states from column ``p`` on, padded input ids, ``p``) for one right-padded batch.

    ``first_read`` is the first column whose hidden state the caller reads: the shared prefix ``p`` never
    reaches it, so every read position is in the second forward.
    """
    from transformers import DynamicCache

    ids, mask = pad_batch(seqs, pad, "right", device)
    p = min(common_prefix(seqs), first_read)
    cache = None
    if p >= MIN_SHARED_PREFIX:
        cache = DynamicCache()
        body(input_ids=ids[:1, :p], cache=cache, use_cache=True)
        cache.batch_repeat_interleave(len(seqs))
    else:
        p = 0
    out = body(input_ids=ids[:, p:], attention_mask=mask, cache=cache, use_cache=cache is not None)
    return out.last_hidden_state, ids, p


def token_nll(
    model: Any, examples: list[tuple[list[int], int]], pad: int, batch_size: int = 8
) -> list[tuple[float, int]]:
    """Per example ``(ids, start)``: (summed negative log-likelihood of ``ids[start:]``, number of those tokens).

    Each token is predicted from the ones before it, so ``start`` 0 scores from the second token.
    """
    import torch

    body, head, config = _parts(model)
    device = model.device
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
    out: list[tuple[float, int]] = [(0.0, 0)] * len(examples)
    with torch.inference_mode():
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            seqs = [examples[i][0] for i in idx]
            hidden, ids, p = _forward(body, seqs, min(examples[i][1] for i in idx) - 1, pad, device)
            scored = torch.zeros(ids.shape, dtype=torch.bool)
            for row, i in enumerate(idx):
                toks, start = examples[i]
                scored[row, max(start, 1) : len(toks)] = True
            keep = scored[:, p + 1 :].to(device)
            rows_of = keep.nonzero()[:, 0]
            h, target = hidden[:, :-1][keep], ids[:, p + 1 :][keep]  # position p + j predicts token p + j + 1
            loss = torch.empty(h.shape[0], device=device)
            for c in range(0, h.shape[0], LOGIT_ROWS):
                loss[c : c + LOGIT_ROWS] = torch.nn.functional.cross_entropy(
                    _logits(head, config, h[c : c + LOGIT_ROWS]), target[c : c + LOGIT_ROWS], reduction="none"
                )
            sums = torch.zeros(len(idx), device=device).index_add_(0, rows_of, loss)
            counts = torch.zeros(len(idx), device=device).index_add_(0, rows_of, torch.ones_like(loss))
            for row, i in enumerate(idx):
                out[i] = (float(sums[row]), int(counts[row]))
            progress.tick(len(idx))  # the stage's meter being counted, if any
    return out


def perplexities(
    model: Any, examples: list[tuple[list[int], int]], pad: int, batch_size: int = 8
) -> list[float]:
    """exp(mean token NLL over ``ids[start:]``) per example ``(ids, start)``; NaN where nothing is scored."""
    return [math.exp(s / n) if n else math.nan for s, n in token_nll(model, examples, pad, batch_size)]


def next_token_probs(
    model: Any, seqs: list[list[int]], pad: int, token_ids: list[int], batch_size: int = 8
) -> list[list[float]]:
    """Per sequence, the probability of each of ``token_ids`` as the token that follows it (full softmax)."""
    import torch

    body, head, config = _parts(model)
    device = model.device
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    out: list[list[float]] = [[] for _ in seqs]
    with torch.inference_mode():
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            batch = [seqs[i] for i in idx]
            last = torch.tensor([len(s) - 1 for s in batch])
            hidden, _, p = _forward(body, batch, int(last.min()), pad, device)
            h = hidden[torch.arange(len(idx), device=device), (last - p).to(device)]
            probs = torch.softmax(_logits(head, config, h), dim=-1)[:, token_ids]
            for row, i in enumerate(idx):
                out[i] = probs[row].tolist()
            progress.tick(len(idx))
    return out
